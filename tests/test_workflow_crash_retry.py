"""A crash in a workflow step is retried (every step is idempotent), boundedly: the ASL's
catch-all retrier after the transient errors' one. Run by moto's interpreter on the real ASL."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.repository import DynamoOrderRepository
from dofs_config.stage import Stage
from dofs_local.emulated import lambda_bridge
from dofs_local.emulated.provisioning import ASL_PATH, Resources
from scripts.timing import load_asl
from tests.test_workflow import queued_order_ids, run, status

pytestmark = pytest.mark.aws


def _crash_retries(state: str) -> int:
    """MaxAttempts of the state's catch-all retrier, from the ASL."""
    retriers = load_asl(ASL_PATH)["States"][state]["Retry"]
    return int(next(r["MaxAttempts"] for r in retriers if r["ErrorEquals"] == ["States.ALL"]))


def test_a_crash_after_the_write_is_retried_and_queues_the_order_once(
    resources: Resources, repository: DynamoOrderRepository, workflow_functions: dict[str, Any], stage: Stage
) -> None:
    real_store = workflow_functions[stage.function_name("store_order")]
    calls: list[int] = []

    def crashes_once_after_its_write(event: Any, context: Any) -> Any:
        calls.append(1)
        result = real_store(event, context)
        if len(calls) == 1:
            raise RuntimeError("the process died after the write")
        return result

    lambda_bridge.install({stage.function_name("store_order"): crashes_once_after_its_write})
    execution = run(resources, repository, "crash-1")
    assert execution["status"] == "SUCCEEDED"
    assert len(calls) == 2
    assert status(repository, "crash-1")["status"] == "PENDING"
    assert queued_order_ids(resources) == ["crash-1"]
    assert repository.get_failure("crash-1") is None


def test_a_step_that_keeps_crashing_is_retried_boundedly_then_dead_lettered(
    resources: Resources, repository: DynamoOrderRepository, workflow_functions: dict[str, Any], stage: Stage
) -> None:
    calls: list[int] = []

    def broken(event: Any, context: Any) -> Any:
        calls.append(1)
        raise KeyError("a bug: every attempt fails")

    lambda_bridge.install({stage.function_name("validate_order"): broken})
    execution = run(resources, repository, "bug-2")
    assert execution["status"] == "FAILED"
    assert len(calls) == 1 + _crash_retries("ValidateOrder")
    assert status(repository, "bug-2")["status"] == "DEAD_LETTERED"
    failure = repository.get_failure("bug-2")
    assert failure is not None
    assert failure["source"] == "workflow"
