"""`make test` (what CI runs) and `make check` run mypy beside the tests: each fails when either
fails. Checked with stand-ins for ruff, mypy and pytest that exit as told."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cicd.hcl import ROOT

MAKE = shutil.which("make")
pytestmark = pytest.mark.skipif(MAKE is None, reason="make is not on PATH")
# What `make test` and `make check` install first, left alone here.
INSTALL_STAMPS = (".venv/.installed", ".venv/.dev-installed", ".venv-checkov/.installed")


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
