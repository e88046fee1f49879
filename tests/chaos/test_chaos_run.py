"""A small `make chaos`: 60 orders through the local stack with every fault on."""

from __future__ import annotations

from pathlib import Path

import pytest

from dofs_local.emulated.faults import FaultKind, FaultSettings
from tests.chaos.conftest import run_small_chaos

pytestmark = pytest.mark.emulator

FAULTS = FaultSettings(
    crash_before_write=0.05,
    crash_after_write=0.05,
    throttle=0.05,
    duplicate_delivery=0.2,
    lambda_timeout=0.05,
    send_message_failure=0.2,
    execution_lost=0.05,
    message_lost=0.05,
    throttle_window=0.05,
    lambda_throttle=0.05,
    start_execution_throttle=0.1,
    seed=11,
)


def test_sixty_orders_under_every_fault_keep_every_invariant(tmp_path: Path) -> None:
    result = run_small_chaos(tmp_path, FAULTS, orders=60, seed=5)
    figures = result.figures
    assert result.problems == [], "\n".join(result.problems)
    assert figures["accepted"] == 60
    assert sum(figures["terminal"].values()) == 60
    injected = figures["faults_injected"]
    assert all(injected[kind.value] > 0 for kind in FaultKind), injected
    assert figures["post_retries"] > 0
    assert sum(figures["repeat_invocations"].values()) > 0
    assert figures["fulfillment_writes"] == figures["terminal"].get("FULFILLED", 0)
