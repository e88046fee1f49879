"""`make plan|deploy|destroy` say clearly what is missing (scripts/infra.py check)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest

from scripts import infra
from tests.infra.conftest import PROJECT_DIR


def isolated_environment(tmp_path: Path, path: str) -> dict[str, str]:
    """What the check runs with: `path` as PATH, no AWS settings of this machine's."""
    return {
        "PATH": path,
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": str(tmp_path / "missing-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "missing-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def run_check(tmp_path: Path, path: str) -> subprocess.CompletedProcess[str]:
    """`scripts/infra.py check` as make runs it: a script, in an interpreter of its own."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AWS_") and name not in {"STATE_BUCKET"}
    }
    env.update(isolated_environment(tmp_path, path))
    return subprocess.run(  # noqa: S603 - this interpreter running the project's script
        [sys.executable, str(PROJECT_DIR / "scripts" / "infra.py"), "check", "--stage", "dev"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def check_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[object, str]]:
    """`scripts/infra.py check` run in this process, in the environment run_check gives it: the
    same code without an interpreter's start-up (about 1 s of CPU a run). Its exit code and stderr."""

    def check(path: str = "", stage: str = "dev") -> tuple[object, str]:
        for name in [name for name in os.environ if name.startswith("AWS_")] + ["STATE_BUCKET"]:
            monkeypatch.delenv(name, raising=False)
        for name, value in isolated_environment(tmp_path, path).items():
            monkeypatch.setenv(name, value)
        # boto3's default session keeps the credentials an earlier test's client resolved.
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
        with pytest.raises(SystemExit) as exited:
            infra.main(["check", "--stage", stage])
        return exited.value.code, capsys.readouterr().err

    return check


@pytest.mark.unit
def test_missing_terraform_and_credentials_are_named(tmp_path: Path) -> None:
    result = run_check(tmp_path, path=str(tmp_path))  # an empty PATH: no terraform
    assert result.returncode == 2
    assert "terraform is not on PATH" in result.stderr
    assert "no usable AWS credentials" in result.stderr
    assert "aws sts get-caller-identity" in result.stderr


@pytest.mark.unit
@pytest.mark.parametrize("stage", ["nope", "local"])
def test_unknown_stage_is_refused(stage: str, check_in_process: Callable[..., tuple[object, str]]) -> None:
    code, _ = check_in_process(path=os.environ["PATH"], stage=stage)
    assert code == f"stage {stage!r} is not a deployable stage of .chalice/config.json; known stages: dev, prod"


# make checks the stage with the system Python, before the venv exists: `-S` leaves out every
# installed package, as on a machine whose Python has none.
BARE_PYTHON = f"PYTHON={sys.executable} -S"


def run_make(*arguments: str) -> subprocess.CompletedProcess[str]:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not on PATH")
    return subprocess.run(  # noqa: S603 - fixed arguments
        [make, "--no-print-directory", *arguments, BARE_PYTHON],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.unit
@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_make_accepts_a_known_stage_on_a_python_without_packages(stage: str) -> None:
    result = run_make("stage-check", f"STAGE={stage}")
    assert (result.returncode, result.stderr) == (0, "")


@pytest.mark.unit
@pytest.mark.parametrize("target", ["package", "plan", "deploy", "destroy", "infra-check"])
def test_make_refuses_an_unknown_stage_before_anything_runs(target: str) -> None:
    result = run_make(target, "STAGE=qa")
    assert result.returncode != 0
    assert result.stderr.startswith(
        "stage 'qa' is not a deployable stage of .chalice/config.json; known stages: dev, prod"
    )
    assert result.stdout == ""  # nothing else ran: no package, no terraform


def fake_terraform(directory: Path, version: str) -> Path:
    directory.mkdir()
    binary = directory / "terraform"
    binary.write_text(f'#!/bin/sh\necho \'{{"terraform_version": "{version}"}}\'\n')
    binary.chmod(0o755)
    return directory


@pytest.mark.aws
def test_terraform_older_than_1_10_is_refused(
    tmp_path: Path, check_in_process: Callable[..., tuple[object, str]]
) -> None:
    """The S3 backend's use_lockfile needs Terraform 1.10."""
    _, old = check_in_process(path=str(fake_terraform(tmp_path / "old", "1.9.8")))
    assert "terraform 1.9 is too old: Terraform >= 1.10 is needed (S3 use_lockfile)" in old
    _, new = check_in_process(path=str(fake_terraform(tmp_path / "new", "1.10.0")))
    assert "Missing prerequisites" in new  # no credentials here
    assert "too old" not in new
