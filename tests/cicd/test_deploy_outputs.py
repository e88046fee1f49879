"""`make deploy-outputs` (issue 10, defect 4): the DeployOutput artifact never holds a sensitive
output. A fake terraform prints what `terraform output -json` prints for the stage, with a
sensitive output added (the stage has none: no output holds an API key); the saved file must keep
every other output and drop it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dofs_config.stage import load_stage

ROOT = Path(__file__).resolve().parents[2]
MAKE = shutil.which("make")
SECRET = "the-secret-value"  # pragma: allowlist secret - a fake value the test looks for
OUTPUTS = {
    "api_url": {"sensitive": False, "type": "string", "value": "https://example.test/api/"},
    "api_usage_plan_name": {"sensitive": False, "type": "string", "value": "dofs-dev-usage-plan"},
    "a_secret": {"sensitive": True, "type": "string", "value": SECRET},
}

pytestmark = [pytest.mark.unit, pytest.mark.skipif(MAKE is None, reason="make is not on PATH")]


def fake_terraform(directory: Path, output_json: str, exit_code: int = 0) -> Path:
    """A terraform that accepts `init` and answers `output -json` with output_json; it records
    each call's arguments in `calls`, a line a call."""
    script = directory / "terraform"
    script.write_text(
        "#!/bin/sh\n"
        'echo "$*" >> "$(dirname "$0")/calls"\n'
        'for arg in "$@"; do [ "$arg" = output ] && { cat "$(dirname "$0")/outputs.json"; exit '
        f"{exit_code}; }}; done\nexit 0\n"
    )
    (directory / "outputs.json").write_text(output_json)
    script.chmod(0o755)
    return script


def deploy_outputs(tmp_path: Path, terraform: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    saved = tmp_path / "deploy" / "outputs.json"
    assert MAKE is not None
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [
            MAKE, "--no-print-directory", "-o", "infra-check", "deploy-outputs",  # no AWS account here
            f"TERRAFORM={terraform}", "STATE_BUCKET=state-bucket", f"DEPLOY_OUTPUTS={saved}",
            f"PYTHON={sys.executable}",
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False, env={**os.environ},
    )  # fmt: skip
    return result, saved


def test_the_saved_outputs_keep_everything_but_the_sensitive_ones(tmp_path: Path) -> None:
    result, saved = deploy_outputs(tmp_path, fake_terraform(tmp_path, json.dumps(OUTPUTS)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(saved.read_text()) == {name: OUTPUTS[name] for name in ("api_url", "api_usage_plan_name")}
    assert SECRET not in saved.read_text()
    assert SECRET not in result.stdout + result.stderr


def test_a_failed_terraform_output_saves_nothing(tmp_path: Path) -> None:
    result, saved = deploy_outputs(tmp_path, fake_terraform(tmp_path, "", exit_code=1))
    assert result.returncode != 0
    assert not saved.exists()
    assert not list(saved.parent.glob("*"))


def test_init_reads_the_stage_s_state_in_the_stage_s_region(tmp_path: Path) -> None:
    """The same backend arguments as `make plan` (scripts/infra.py backend), the region the stage's."""
    result, _ = deploy_outputs(tmp_path, fake_terraform(tmp_path, json.dumps(OUTPUTS)))
    assert result.returncode == 0, result.stdout + result.stderr
    inits = [line.split() for line in (tmp_path / "calls").read_text().splitlines() if " init " in f" {line} "]
    assert inits == [[
        "-chdir=infra/stage", "init", "-input=false", "-reconfigure", "-backend-config=../stages/dev.s3.tfbackend",
        "-backend-config=bucket=state-bucket", f"-backend-config=region={load_stage('dev').region}",
    ]]  # fmt: skip
