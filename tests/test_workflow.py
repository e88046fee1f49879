"""The real state-machine JSON, run by moto's Step Functions interpreter, its Lambda tasks
dispatched in-process to the app's functions."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from chalicelib.repository import DynamoOrderRepository
from chalicelib.workflow import StepFunctionsWorkflow
from dofs_config.stage import Stage
from dofs_local.emulated import lambda_bridge
from dofs_local.emulated.provisioning import Resources
from tests.conftest import make_order, wait_for_executions

pytestmark = pytest.mark.aws

NOW = "2026-11-25T10:00:00.000Z"


def run(resources: Resources, repository: DynamoOrderRepository, order_id: str, **overrides: Any) -> dict[str, Any]:
    """Accepts an order as the API does, runs its workflow to the end, returns the execution."""
    order = make_order(order_id, **overrides)
    repository.create(order, NOW)
    stepfunctions = boto3.client("stepfunctions")
    execution_arn = StepFunctionsWorkflow(stepfunctions, resources.state_machine_arn).start(order)
    wait_for_executions(resources.state_machine_arn)
    return stepfunctions.describe_execution(executionArn=execution_arn)  # type: ignore[no-any-return]


def queued_order_ids(resources: Resources) -> list[str]:
    sqs = boto3.client("sqs")
    messages = sqs.receive_message(QueueUrl=resources.order_queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"])["order_id"] for message in messages]


def status(repository: DynamoOrderRepository, order_id: str) -> dict[str, Any]:
    item = repository.get(order_id)
    assert item is not None
    return item


def test_a_valid_order_ends_pending_with_one_message(
    resources: Resources, repository: DynamoOrderRepository, workflow_functions: dict[str, Any]
) -> None:
    execution = run(resources, repository, "ok-1")
    assert execution["status"] == "SUCCEEDED"
    assert status(repository, "ok-1")["status"] == "PENDING"
    assert queued_order_ids(resources) == ["ok-1"]


@pytest.mark.parametrize(
    ("overrides", "rule"),
    [
        ({"currency": "JPY"}, "UNSUPPORTED_CURRENCY"),
        (
            {"items": [{"sku": "A", "quantity": 1, "unit_price": "1"}, {"sku": "A", "quantity": 1, "unit_price": "1"}]},
            "DUPLICATE_SKU",
        ),
        ({"items": [{"sku": "A", "quantity": 10_000, "unit_price": "5.01"}]}, "ORDER_TOTAL_EXCEEDED"),
    ],
)
def test_each_business_rule_ends_rejected(
    resources: Resources,
    repository: DynamoOrderRepository,
    workflow_functions: dict[str, Any],
    overrides: dict[str, Any],
    rule: str,
) -> None:
    execution = run(resources, repository, "bad-1", **overrides)
    assert execution["status"] == "SUCCEEDED"
    item = status(repository, "bad-1")
    assert item["status"] == "REJECTED"
    assert item["reason"].startswith(rule)
    assert queued_order_ids(resources) == []


def test_a_transient_task_failure_is_retried(
    resources: Resources, repository: DynamoOrderRepository, workflow_functions: dict[str, Any], stage: Stage
) -> None:
    from chalicelib.errors import TransientError

    real_store = workflow_functions[stage.function_name("store_order")]
    calls: list[int] = []

    def throttled_once(event: Any, context: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise TransientError("ProvisionedThroughputExceededException")
        return real_store(event, context)

    lambda_bridge.install({stage.function_name("store_order"): throttled_once})
    execution = run(resources, repository, "retry-1")
    assert execution["status"] == "SUCCEEDED"
    assert len(calls) == 2
    assert status(repository, "retry-1")["status"] == "PENDING"
    assert queued_order_ids(resources) == ["retry-1"]


def test_a_step_throttled_past_its_retries_leaves_the_order_open_for_the_reconciler(
    resources: Resources, repository: DynamoOrderRepository, workflow_functions: dict[str, Any], stage: Stage
) -> None:
    """Invariant 7: DynamoDB throttling for longer than the workflow retries never dead-letters."""
    from chalicelib.errors import TransientError

    calls: list[int] = []

    def throttled(event: Any, context: Any) -> Any:
        calls.append(1)
        raise TransientError("ProvisionedThroughputExceededException")

    lambda_bridge.install({stage.function_name("store_order"): throttled})
    execution = run(resources, repository, "throttled-1")
    assert execution["status"] == "FAILED"
    assert len(calls) > 1, "retried first"
    assert status(repository, "throttled-1")["status"] == "ACCEPTED", "open: the reconciler restarts it"
    assert repository.get_failure("throttled-1") is None
    assert queued_order_ids(resources) == []


def test_a_step_that_keeps_failing_dead_letters_the_order(
    resources: Resources, repository: DynamoOrderRepository, workflow_functions: dict[str, Any], stage: Stage
) -> None:
    def broken(event: Any, context: Any) -> Any:
        raise KeyError("a bug: retried as a crash, then given up")

    lambda_bridge.install({stage.function_name("validate_order"): broken})
    execution = run(resources, repository, "bug-1")
    assert execution["status"] == "FAILED"
    assert status(repository, "bug-1")["status"] == "DEAD_LETTERED"
    failure = repository.get_failure("bug-1")
    assert failure is not None
    assert failure["source"] == "workflow"
    assert failure["last_error"].startswith("KeyError")
    assert queued_order_ids(resources) == []


def test_a_second_execution_for_the_same_order_queues_nothing(
    resources: Resources, repository: DynamoOrderRepository, workflow_functions: dict[str, Any]
) -> None:
    run(resources, repository, "twice-1")
    second = StepFunctionsWorkflow(boto3.client("stepfunctions"), resources.state_machine_arn).start(
        make_order("twice-1")
    )
    wait_for_executions(resources.state_machine_arn)
    assert boto3.client("stepfunctions").describe_execution(executionArn=second)["status"] == "SUCCEEDED"
    assert queued_order_ids(resources) == ["twice-1"]
