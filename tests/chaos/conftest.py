"""What the chaos tests share: the fault injector switched on for one test, and a small chaos run
on a local stack of its own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from dofs_local.emulated import faults
from dofs_local.emulated.faults import FaultSettings
from dofs_local.emulated.provisioning import Resources

if TYPE_CHECKING:
    from dofs_local.scenarios import chaos

Inject = Callable[..., faults.FaultInjector]


@pytest.fixture
def inject(resources: Resources) -> Iterator[Inject]:
    """Activates an injector (seed 0) with the given probabilities; build the app's clients
    afterwards, so they carry its hooks. Deactivated after the test."""

    def start(**probabilities: float) -> faults.FaultInjector:
        injector = faults.activate(FaultSettings(**probabilities, seed=0))
        assert injector is not None
        return injector

    yield start
    faults.deactivate()


def run_small_chaos(
    tmp_path: Path, settings: FaultSettings, orders: int, seed: int, timeout: float = 150, **options: Any
) -> chaos.ChaosResult:
    """`make chaos` in small: a stack of its own at 50 % fulfillment success (the DLQ path busy),
    `orders` orders, every invariant checked. `options`: more PipelineOptions, or `order_wait`."""
    # Imported here: the local stack imports Chalice's CLI (about 0.4 s), which the inner loop,
    # collecting this file on every worker, never runs.
    from dofs_local.emulated.pipeline import LocalPipeline, PipelineOptions
    from dofs_local.scenarios import chaos

    order_wait = options.pop("order_wait", None)
    log_file = tmp_path / "chaos.jsonl"
    with log_file.open("w") as log_stream:
        stack_options = PipelineOptions(
            api_port=0,
            aws_port=0,
            success_rate=0.5,
            log_stream=log_stream,
            quiet_http=True,
            faults=settings,
            **options,
        )
        with LocalPipeline(stack_options) as stack:
            return chaos.run_chaos(
                stack,
                orders,
                seed=seed,
                log_file=log_file,
                timeout=timeout,
                progress=lambda _: None,
                order_wait=order_wait,
            )
