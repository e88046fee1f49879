"""Security scanners, part of `make test`: bandit, pip-audit and detect-secrets.

- bandit over the deployed code (app.py, chalicelib) and the local stack (dofs_local): no
  finding of medium or high severity, except those listed in BANDIT_EXCEPTIONS with a reason,
  each of which must also carry its ruff `noqa` at the line.
- pip-audit over requirements.txt (what the Lambda package ships): no known vulnerability,
  except those in AUDIT_EXCEPTIONS with a reason. Skipped, saying why, when PyPI cannot be
  reached or knows none of the pinned versions (a mirror's builds have no advisory data).
- detect-secrets over the tracked files: nothing beyond the audited `.secrets.baseline`
  (all false positives: fake moto credentials, the name of the x-api-key header).
"""

from __future__ import annotations

import fnmatch
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.scanners

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

# (file, bandit test id) -> why it is acceptable. The line must say so too (`noqa: S310`).
BANDIT_EXCEPTIONS: dict[tuple[str, str], str] = {
    ("dofs_local/scenarios/client.py", "B310"): "urlopen of the local stack's own http://127.0.0.1 URL (make demo)",
    ("dofs_local/emulated/emulator.py", "B310"): "urlopen of moto's own http://127.0.0.1 control API",
}
# vulnerability id -> why it does not affect us (none so far).
AUDIT_EXCEPTIONS: dict[str, str] = {}


def run(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed tool paths and arguments
        [str(BIN / args[0]), *args[1:]], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_bandit_finds_nothing_of_medium_or_high_severity() -> None:
    result = run("bandit", "-q", "-r", "app.py", "chalicelib", "dofs_local", "-f", "json")
    report = json.loads(result.stdout)
    assert not report["errors"], report["errors"]
    findings = []
    for issue in report["results"]:
        if issue["issue_severity"] == "LOW":
            continue
        filename = str(Path(issue["filename"]))
        if (filename, issue["test_id"]) in BANDIT_EXCEPTIONS:
            line = (ROOT / filename).read_text().splitlines()[issue["line_number"] - 1]
            if "noqa: S" in line:
                continue
        findings.append(f"{filename}:{issue['line_number']} {issue['test_id']} {issue['issue_text']}")
    assert findings == []


def test_pip_audit_finds_no_known_vulnerability_in_the_lambda_package() -> None:
    result = run("pip-audit", "-r", "requirements.txt", "--progress-spinner", "off", "-f", "json")
    try:
        report: dict[str, Any] = json.loads(result.stdout)
    except ValueError:
        pytest.skip(f"pip-audit could not reach PyPI's vulnerability data: {result.stderr.strip()[-300:]}")
    vulnerable = [
        f"{dep['name']} {dep['version']}: {vuln['id']} (fixed in {', '.join(vuln['fix_versions']) or 'nothing yet'})"
        for dep in report["dependencies"]
        for vuln in dep.get("vulns", [])
        if vuln["id"] not in AUDIT_EXCEPTIONS
    ]
    assert vulnerable == []
    unaudited = [f"{dep['name']}: {dep['skip_reason']}" for dep in report["dependencies"] if "skip_reason" in dep]
    if unaudited:
        pytest.skip("no vulnerability found, but PyPI has no advisory data for " + "; ".join(unaudited))


def _secrets(report: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (filename, secret["type"], secret["hashed_secret"])
        for filename, found in report["results"].items()
        for secret in found
    }


def ignored_paths(root: Path) -> str:
    """The tree's .gitignore as one regex of paths (its patterns are directories and file globs)."""
    regexes = []
    for line in (root / ".gitignore").read_text().splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        body = fnmatch.translate(pattern.rstrip("/")).removesuffix(r"\Z")
        start = "^" if "/" in pattern.rstrip("/") else "(^|/)"
        # "dir/" names a directory; "name" a file or a directory, and then everything in it.
        regexes.append(start + body + ("/" if pattern.endswith("/") else "(/|$)"))
    return "|".join(regexes)


def scan_for_secrets(root: Path) -> subprocess.CompletedProcess[str]:
    """detect-secrets over the files git tracks; in a tree without git (the pipeline's Test build
    gets the source as a zip, CODE_ZIP) it would scan nothing, so there every file .gitignore
    does not leave out."""
    command = [str(BIN / "detect-secrets"), "scan", "--exclude-files", r"^\.secrets\.baseline$"]
    if not (root / ".git").exists():
        command += ["--all-files", "--exclude-files", ignored_paths(root)]
    return subprocess.run(  # noqa: S603 - fixed tool path and arguments
        command, cwd=root, capture_output=True, text=True, timeout=240, check=False
    )


def test_no_secret_beyond_the_audited_baseline() -> None:
    baseline = json.loads((ROOT / ".secrets.baseline").read_text())
    assert all(not secret.get("is_secret", True) for found in baseline["results"].values() for secret in found), (
        "every baseline entry is audited as a false positive"
    )
    result = scan_for_secrets(ROOT)
    assert result.returncode == 0, result.stderr
    new = _secrets(json.loads(result.stdout)) - _secrets(baseline)
    assert new == set(), "possible secrets (remove them, or audit them into .secrets.baseline): " + repr(sorted(new))


def test_a_tree_without_git_is_scanned_too(tmp_path: Path) -> None:
    """A planted key is found in a tree without git, and what .gitignore leaves out is not read."""
    key = "AKIAIOSFODNN7EXAMPLE"  # pragma: allowlist secret - AWS's documented example key id
    shutil.copy(ROOT / ".gitignore", tmp_path / ".gitignore")
    (tmp_path / "chalicelib").mkdir()
    (tmp_path / "chalicelib" / "settings.py").write_text(f'ACCESS_KEY_ID = "{key}"\n')
    (tmp_path / ".venv" / "lib").mkdir(parents=True)
    (tmp_path / ".venv" / "lib" / "vendored.py").write_text(f'ACCESS_KEY_ID = "{key}"\n')
    result = scan_for_secrets(tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(json.loads(result.stdout)["results"]) == ["chalicelib/settings.py"]
