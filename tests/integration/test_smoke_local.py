"""`make smoke` (scripts/smoke.py) against the local stack, as the pipeline runs it against AWS."""

from __future__ import annotations

import subprocess

import pytest

from dofs_config.stage import PROJECT_DIR
from tests.integration.conftest import StackFactory

pytestmark = pytest.mark.emulator


@pytest.mark.parametrize(("success_rate", "expect"), [(1.0, "FULFILLED"), (0.0, "DEAD_LETTERED")])
def test_make_smoke_passes_against_the_local_stack(start_stack: StackFactory, success_rate: float, expect: str) -> None:
    stack = start_stack(success_rate)
    smoke = subprocess.run(  # noqa: S603 - our own make target
        ["make", "--no-print-directory", "smoke", f"API_URL={stack.api_url}", f"SMOKE_EXPECT={expect}"],  # noqa: S607
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    assert expect in smoke.stdout


def test_make_smoke_fails_when_the_expectation_is_not_met(start_stack: StackFactory) -> None:
    stack = start_stack(0.0)
    smoke = subprocess.run(  # noqa: S603
        ["make", "--no-print-directory", "smoke", f"API_URL={stack.api_url}", "SMOKE_EXPECT=FULFILLED",  # noqa: S607
         "SMOKE_TIMEOUT=60"],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert smoke.returncode != 0
