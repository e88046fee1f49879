"""The faults the reconciler exists for, on the local stack: executions lost before their first
step and queue messages lost. Every order still ends terminal, within the stuck-order threshold
plus two reconciler periods, and each rescue is in the order's history (`by: reconciler`); with
the reconciler off, the chaos run's bound check fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.reconciler import Reconciler, ReconcileReport
from dofs_config.stage import load_stage
from dofs_local.emulated.faults import FaultSettings
from tests.chaos.conftest import run_small_chaos

pytestmark = pytest.mark.emulator

FAULTS = FaultSettings(execution_lost=0.3, message_lost=0.3, seed=5)


def test_lost_executions_and_messages_are_reconciled_within_the_threshold(tmp_path: Path) -> None:
    result = run_small_chaos(tmp_path, FAULTS, orders=30, seed=3)
    figures = result.figures
    assert result.problems == [], "\n".join(result.problems)
    assert sum(figures["terminal"].values()) == figures["accepted"] == 30
    assert figures["faults_injected"]["execution_lost"] > 0
    assert figures["faults_injected"]["message_lost"] > 0
    rescued = figures["reconciler_actions"]
    assert rescued.get("ACCEPTED", 0) > 0, "lost executions restarted"
    assert rescued.get("PENDING", 0) + rescued.get("FAILED", 0) > 0, "lost messages queued again or dead-lettered"
    assert figures["reconciler_runs"] > 0


def test_without_the_reconciler_the_bound_check_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same faults with the reconciler switched off (its timer still runs, its runs find
    nothing): lost orders sit untouched past the bound, and the chaos run says so."""
    monkeypatch.setattr(Reconciler, "run", lambda self: ReconcileReport())
    # No pacing (every order posted at once), and a wait long enough for three runs of the timer
    # (a run every third of the threshold) after a lost order became stuck.
    wait = 3.0 * load_stage("local").stuck_order_threshold_seconds
    result = run_small_chaos(tmp_path, FAULTS, orders=10, seed=3, timeout=wait, order_wait=0)
    untouched = [line for line in result.problems if "neither acted on it" in line]
    assert untouched, result.problems
    assert result.figures["orders_over_stuck_bound"] >= 1
