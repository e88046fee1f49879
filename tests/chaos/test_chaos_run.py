"""A small `make chaos`: 60 orders through the local stack with every fault on."""

from __future__ import annotations

from pathlib import Path

from dofs_local.emulated.faults import FaultKind, FaultSettings
from dofs_local.emulated.pipeline import LocalPipeline, PipelineOptions
from dofs_local.scenarios import chaos

FAULTS = FaultSettings(
    crash_before_write=0.05,
    crash_after_write=0.05,
    throttle=0.05,
    duplicate_delivery=0.2,
    lambda_timeout=0.05,
    send_message_failure=0.2,
    execution_lost=0.05,
    message_lost=0.05,
    seed=11,
)


def test_sixty_orders_under_every_fault_keep_every_invariant(tmp_path: Path) -> None:
    log_file = tmp_path / "chaos.jsonl"
    with log_file.open("w") as log_stream:
        options = PipelineOptions(
            api_port=0, aws_port=0, success_rate=0.5, log_stream=log_stream, quiet_http=True, faults=FAULTS
        )
        with LocalPipeline(options) as stack:
            result = chaos.run_chaos(stack, 60, seed=5, log_file=log_file, timeout=150, progress=lambda _: None)
    figures = result.figures
    assert result.problems == [], "\n".join(result.problems)
    assert figures["accepted"] == 60
    assert sum(figures["terminal"].values()) == 60
    injected = figures["faults_injected"]
    assert all(injected[kind.value] > 0 for kind in FaultKind), injected
    assert figures["post_retries"] > 0
    assert sum(figures["repeat_invocations"].values()) > 0
    assert figures["fulfillment_writes"] == figures["terminal"].get("FULFILLED", 0)
