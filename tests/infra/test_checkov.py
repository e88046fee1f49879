"""checkov (--skip-download) over infra/ and the packaged app: zero failed checks.

checkov lives in its own virtualenv, .venv-checkov (`make checkov-venv`; `make test` creates
it): it installs bc-python-hcl2, which replaces python-hcl2's `hcl2` module, and the project's
own HCL checks need the real one.

- infra/ (HCL): each skip is a `#checkov:skip=ID:reason` comment inside its resource.
- the packaged app (Terraform JSON, where comments cannot go): checkov's terraform_json parser
  neither merges override files nor accepts the `terraform` block, so it scans one merged file
  of the module's resources, data sources, variables and outputs; the skips are
  PACKAGE_SKIPS below, each with its reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from scripts.tfmodel import load_module
from tests.infra.conftest import COPY_IGNORE, INFRA_DIR, PROJECT_DIR

pytestmark = pytest.mark.scanners

Reports = list[dict[str, Any]]

PACKAGE_SKIPS = {
    # Caching: GET /order/{id} must show the latest status right after a POST or an update.
    "CKV_AWS_120": "API caching would serve stale order status",
    "CKV_AWS_225": "method caching would serve stale order status",
    # Clients authenticate with API keys (usage plan); mutual TLS is not part of the contract.
    "CKV2_AWS_51": "API key authentication, no client certificates",
    # WAF costs a web ACL per stage; the usage plan throttles each key. Add one for production.
    "CKV2_AWS_29": "throttled by stage settings and the usage plan; WAF left to production",
    # Service-managed encryption of the access log group; see the log-group skips in infra/.
    "CKV_AWS_158": "CloudWatch Logs encrypts at rest with service-managed keys",
    "CKV_AWS_338": "log retention is a per-stage cost setting",
    # Lambda hardening that does not fit this serverless, VPC-less design:
    "CKV_AWS_116": "SQS-triggered functions dead-letter through the queue's redrive policy; "
    "workflow functions are retried and caught by the state machine",
    "CKV_AWS_117": "the functions reach only AWS APIs; a VPC would add NAT cost and cold starts",
    "CKV_AWS_115": "no reserved concurrency in dev; the usage plan and batch sizes bound load",
    "CKV_AWS_173": "environment variables hold names and settings, no secrets",
    "CKV_AWS_272": "code signing needs a signing profile and pipeline; out of scope",
}


def checkov_binary() -> str | None:
    candidates = [os.environ.get("DOFS_CHECKOV"), str(PROJECT_DIR / ".venv-checkov" / "bin" / "checkov")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    return shutil.which("checkov")


@pytest.fixture(scope="module")
def checkov() -> str:
    binary = checkov_binary()
    if binary is None:
        pytest.skip("checkov is not installed: `make checkov-venv` creates .venv-checkov (make test does it)")
    return binary


def run_checkov(binary: str, *args: str) -> list[dict[str, Any]]:
    result = subprocess.run(  # noqa: S603 - checkov from the project's own virtualenv
        [binary, "--skip-download", "--quiet", "-o", "json", *args],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"},
    )
    assert result.returncode in (0, 1), result.stderr[-3000:]
    parsed = json.loads(result.stdout)
    return parsed if isinstance(parsed, list) else [parsed]


def failures(reports: list[dict[str, Any]]) -> list[str]:
    return [
        f"{check['check_id']} {check['resource']} ({check['file_path']}): {check['check_name']}"
        for report in reports
        for check in report.get("results", {}).get("failed_checks", [])
    ]


@pytest.fixture(scope="module")
def reports(checkov: str, packaged_app: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Reports]:
    """Both scans, run at once (each spends most of its time starting checkov)."""
    infra_copy = tmp_path_factory.mktemp("checkov-infra") / "infra"
    shutil.copytree(INFRA_DIR, infra_copy, ignore=COPY_IGNORE)
    package_copy = tmp_path_factory.mktemp("checkov-package")
    module = load_module(packaged_app)
    merged = {"resource": module.resources, "data": module.data, "variable": module.variables, "output": module.outputs}
    (package_copy / "package.tf.json").write_text(json.dumps(merged, indent=1))
    with ThreadPoolExecutor(max_workers=2) as pool:
        infra = pool.submit(run_checkov, checkov, "-d", str(infra_copy), "--framework", "terraform")
        package = pool.submit(
            run_checkov,
            checkov,
            *("-d", str(package_copy), "--framework", "terraform_json", "--skip-check", ",".join(PACKAGE_SKIPS)),
        )
        return {"infra": infra.result(), "package": package.result()}


def test_infra_passes_checkov(reports: dict[str, Reports]) -> None:
    found = reports["infra"]
    assert all(report["summary"]["parsing_errors"] == 0 for report in found)
    assert sum(report["summary"]["resource_count"] for report in found) > 20
    assert failures(found) == []


def test_packaged_app_passes_checkov(reports: dict[str, Reports]) -> None:
    found = reports["package"]
    assert all(report["summary"]["parsing_errors"] == 0 for report in found)
    assert sum(report["summary"]["passed"] for report in found) > 5
    assert failures(found) == []
