"""The faults the reconciler exists for, on the local stack: executions lost before their first
step and queue messages lost. Every order still ends terminal, within the stuck-order threshold
plus two reconciler periods, and each rescue is in the order's history (`by: reconciler`)."""

from __future__ import annotations

from pathlib import Path

from dofs_local.emulated.faults import FaultSettings
from dofs_local.emulated.pipeline import LocalPipeline, PipelineOptions
from dofs_local.scenarios import chaos

FAULTS = FaultSettings(execution_lost=0.3, message_lost=0.3, seed=5)


def test_lost_executions_and_messages_are_reconciled_within_the_threshold(tmp_path: Path) -> None:
    log_file = tmp_path / "reconciler.jsonl"
    with log_file.open("w") as log_stream:
        options = PipelineOptions(
            api_port=0, aws_port=0, success_rate=0.5, log_stream=log_stream, quiet_http=True, faults=FAULTS
        )
        with LocalPipeline(options) as stack:
            result = chaos.run_chaos(stack, 30, seed=3, log_file=log_file, timeout=150, progress=lambda _: None)
    figures = result.figures
    assert result.problems == [], "\n".join(result.problems)
    assert sum(figures["terminal"].values()) == figures["accepted"] == 30
    assert figures["faults_injected"]["execution_lost"] > 0
    assert figures["faults_injected"]["message_lost"] > 0
    rescued = figures["reconciler_actions"]
    assert rescued.get("ACCEPTED", 0) > 0, "lost executions restarted"
    assert rescued.get("PENDING", 0) + rescued.get("FAILED", 0) > 0, "lost messages queued again or dead-lettered"
    assert figures["longest_untouched_seconds"] <= figures["stuck_bound_seconds"]
