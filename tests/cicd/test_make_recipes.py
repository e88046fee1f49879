"""`make test` (what CI runs) and `make check` run mypy beside the tests: each fails when either
fails. Checked with stand-ins for ruff, mypy and pytest that exit as told."""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from scripts.timing import smoke_worst_case_seconds
from tests.cicd.hcl import ROOT

MAKE = shutil.which("make")
pytestmark = [pytest.mark.unit, pytest.mark.skipif(MAKE is None, reason="make is not on PATH")]
# What `make test` and `make check` install first, left alone here.
INSTALL_STAMPS = (".venv/.installed", ".venv/.dev-installed", ".venv-checkov/.installed", ".venv-load/.installed")


def run_with(tmp_path: Path, target: str, *, mypy: int, pytest_: int) -> int:
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool, status in {"ruff": 0, "mypy": mypy, "pytest": pytest_}.items():
        (tools / tool).write_text(f"#!/bin/sh\nexit {status}\n")
        (tools / tool).chmod(0o755)
    assert MAKE is not None
    return subprocess.run(  # noqa: S603 - fixed arguments
        [MAKE, "--no-print-directory", *(f"--old-file={stamp}" for stamp in INSTALL_STAMPS), target, f"BIN={tools}"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False, env={**os.environ, "MAKEFLAGS": ""},
    ).returncode  # fmt: skip


@pytest.mark.parametrize("target", ["test", "check"])
@pytest.mark.parametrize(("mypy", "pytest_"), [(0, 0), (1, 0), (0, 3), (1, 3)])
def test_the_recipe_fails_when_mypy_or_the_tests_fail(tmp_path: Path, target: str, mypy: int, pytest_: int) -> None:
    status = run_with(tmp_path, target, mypy=mypy, pytest_=pytest_)
    assert (status == 0) == (mypy == 0 and pytest_ == 0)


def smoke_timeout_of(*variables: str) -> str:
    """The --timeout `make smoke` passes to scripts/smoke.py (a dry run: nothing is posted)."""
    assert MAKE is not None
    dry_run = subprocess.run(  # noqa: S603 - fixed arguments
        [MAKE, "--no-print-directory", "-n", "smoke", *variables],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True, env={**os.environ, "MAKEFLAGS": ""},
    )  # fmt: skip
    found = re.search(r"--timeout '(\d+)'", dry_run.stdout)
    assert found is not None, dry_run.stdout
    return found.group(1)


def worst_case(stage: str) -> str:
    return str(math.ceil(smoke_worst_case_seconds(stage, package_dir=ROOT / "build" / "package" / stage)))


@pytest.mark.parametrize("api_url", ["http://127.0.0.1:8000", "http://localhost:9000/"])
def test_smoke_against_the_local_stack_waits_the_local_stage_s_worst_case(api_url: str) -> None:
    assert worst_case("local") != worst_case("dev")  # else this test could not fail
    assert smoke_timeout_of(f"API_URL={api_url}") == worst_case("local")


def test_smoke_against_a_deployment_waits_its_stage_s_worst_case() -> None:
    url = "https://abc123.execute-api.us-east-1.amazonaws.com/api"
    assert smoke_timeout_of(f"API_URL={url}") == worst_case("dev")
    assert smoke_timeout_of(f"API_URL={url}", "STAGE=prod") == worst_case("prod")
    assert smoke_timeout_of("API_URL=http://127.0.0.1:8000", "SMOKE_TIMEOUT=42") == "42"
