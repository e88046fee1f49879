"""`show` at prod's execution log level (ERROR), on the local stack: an order's history tells its
story; the workflow's events are added where the stage would have logged them (a failed
execution's), as on AWS, where EXPRESS executions are read from their log group."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from dofs_config.stage import load_stage
from dofs_local.emulated import lambda_bridge
from dofs_ops.operations import Story, show
from dofs_ops.target import Target
from tests.integration.conftest import RunningStack, StackFactory, order

pytestmark = pytest.mark.emulator


@pytest.fixture(scope="module")
def stack(start_stack: StackFactory) -> RunningStack:
    return start_stack(1.0)


def story(stack: RunningStack, order_id: str, level: str) -> Story:
    stage = replace(stack.stack.stage, workflow_log_level=level)
    return show(Target(stage, stage.region, stack.endpoint), order_id, None)


def statuses(told: Story) -> list[str]:
    return [entry["status"] for entry in told.order["history"]]


def test_prod_logs_execution_errors_only() -> None:
    assert load_stage("prod").workflow_log_level == "ERROR"


def test_a_fulfilled_order_is_told_by_its_history_without_execution_logs(stack: RunningStack) -> None:
    assert stack.post(order("show-fulfilled"))[0] == 202
    assert stack.wait_terminal("show-fulfilled")["status"] == "FULFILLED"
    told = story(stack, "show-fulfilled", "ERROR")
    assert statuses(told) == ["ACCEPTED", "PENDING", "FULFILLED"]
    assert told.executions == []
    assert "workflow executions: this stage logs only their ERROR events" in told.notes
    # The emulator holds the execution: ALL (dev) shows every event of it.
    [execution] = story(stack, "show-fulfilled", "ALL").executions
    assert {"ExecutionStarted", "ExecutionSucceeded"} <= {event["type"] for event in execution["events"]}


def test_a_rejected_order_is_told_by_its_history_and_reason(stack: RunningStack) -> None:
    body = order("show-rejected", items=[{"sku": "SKU-1", "quantity": 1, "unit_price": "99999.00"}])
    assert stack.post(body)[0] == 202
    assert stack.wait_terminal("show-rejected")["status"] == "REJECTED"
    told = story(stack, "show-rejected", "ERROR")
    assert statuses(told) == ["ACCEPTED", "REJECTED"]
    assert told.order["reason"]
    assert told.executions == []  # a rejection is a successful execution: nothing logged at ERROR


def test_a_failed_execution_adds_its_logged_events(stack: RunningStack) -> None:
    name = stack.stack.stage.function_name("validate_order")
    original = lambda_bridge._handlers[name]

    def broken(event: Any, context: Any) -> Any:
        raise ValueError("validate_order is broken")

    lambda_bridge.install({name: broken})
    try:
        assert stack.post(order("show-broken"))[0] == 202
        assert stack.wait_terminal("show-broken")["status"] == "DEAD_LETTERED"
    finally:
        lambda_bridge.install({name: original})
    told = story(stack, "show-broken", "ERROR")
    assert statuses(told) == ["ACCEPTED", "DEAD_LETTERED"]
    assert told.failure is not None
    assert told.failure["source"] == "workflow"
    [execution] = told.executions
    assert execution["status"] == "FAILED"
    types = [event["type"] for event in execution["events"]]
    assert "ExecutionFailed" in types
    assert any(kind.endswith("Failed") and kind != "ExecutionFailed" for kind in types)  # the failed state's
    assert "ExecutionStarted" not in types
