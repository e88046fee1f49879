"""Throttling never dead-letters an order (invariant 7): a small chaos run with only the
throttling faults on, hard enough that DynamoDB refuses a table for seconds at a time, Lambda
refuses the pollers' invocations and Step Functions refuses StartExecution."""

from __future__ import annotations

from pathlib import Path

import pytest

from dofs_local.emulated.faults import FaultKind, FaultSettings
from tests.chaos.conftest import run_small_chaos

pytestmark = pytest.mark.emulator

THROTTLING = FaultSettings(throttle_window=0.3, lambda_throttle=0.2, start_execution_throttle=0.3, seed=3)


def test_throttling_dead_letters_no_order(tmp_path: Path) -> None:
    result = run_small_chaos(tmp_path, THROTTLING, orders=30, seed=8)
    figures = result.figures
    assert result.problems == [], "\n".join(result.problems)
    assert figures["accepted"] == 30
    injected = figures["faults_injected"]
    throttling = (FaultKind.THROTTLE_WINDOW, FaultKind.LAMBDA_THROTTLE, FaultKind.START_EXECUTION_THROTTLE)
    assert all(injected[kind.value] > 0 for kind in throttling), injected
    # At 50 % success some orders fail three times: dead-lettered, and each by its failures alone.
    causes = figures["dead_lettered_by_cause"]
    assert set(causes) <= {"simulated failures"}, causes
