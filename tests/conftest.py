"""Shared fixtures: emulated AWS (moto, with its Step Functions interpreter) provisioned from
the `local` stage, and the app's settings pointed at it."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib import runtime
from chalicelib.models import Order, OrderRequest
from chalicelib.repository import DynamoOrderRepository
from dofs_local.provision import Resources, provision
from dofs_local.stage import Stage, load_stage

REGION = "us-east-1"


@pytest.fixture
def stage() -> Stage:
    return load_stage("local")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield


@pytest.fixture
def resources(aws: None, stage: Stage, monkeypatch: pytest.MonkeyPatch) -> Iterator[Resources]:
    created = provision(stage, boto3.Session(region_name=REGION))
    for name, value in stage.api_environment().items():
        monkeypatch.setenv(name, value)
    runtime.reset()
    yield created
    runtime.reset()


@pytest.fixture
def repository(resources: Resources, stage: Stage) -> DynamoOrderRepository:
    return DynamoOrderRepository(boto3.resource("dynamodb"), stage.orders_table, stage.failed_orders_table)


def order_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer_id": "customer-1",
        "items": [{"sku": "SKU-1", "quantity": 2, "unit_price": "12.50"}],
        "currency": "USD",
    }
    body.update(overrides)
    return body


def make_order(order_id: str = "order-1", **overrides: Any) -> Order:
    return Order.from_request(OrderRequest.model_validate(order_body(order_id=order_id, **overrides)))


def sqs_event(*records: dict[str, Any]) -> dict[str, Any]:
    """An SQS event as Lambda's event source mapping delivers it."""
    return {"Records": list(records)}


def sqs_record(order_id: str, *, receive_count: int = 1, message_id: str | None = None) -> dict[str, Any]:
    return {
        "messageId": message_id or f"msg-{order_id}-{receive_count}",
        "receiptHandle": f"handle-{order_id}-{receive_count}",
        "body": json.dumps({"order_id": order_id}),
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": "1764000000000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1764000000100",
        },
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:dofs-local-order_queue",
        "awsRegion": REGION,
    }


def seeded(seed: int) -> random.Random:
    return random.Random(seed)


@pytest.fixture
def workflow_functions(resources: Resources, stage: Stage) -> Iterator[dict[str, Any]]:
    """The app's workflow functions, reachable through moto's Lambda by their deployed names."""
    from app import record_workflow_failure, store_order, validate_order
    from dofs_local import lambda_bridge

    functions: dict[str, Any] = {
        stage.function_name("validate_order"): validate_order,
        stage.function_name("store_order"): store_order,
        stage.function_name("record_workflow_failure"): record_workflow_failure,
    }
    lambda_bridge.install(functions)
    yield functions
    wait_for_executions(resources.state_machine_arn)
    lambda_bridge.uninstall()


def wait_for_executions(state_machine_arn: str, timeout: float = 60.0) -> None:
    """Lets running executions finish, so none outlives the test that started it."""
    stepfunctions = boto3.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            running = stepfunctions.list_executions(stateMachineArn=state_machine_arn, statusFilter="RUNNING")
        except stepfunctions.exceptions.StateMachineDoesNotExist:
            return
        if not running["executions"]:
            return
        time.sleep(0.05)
    raise AssertionError("workflow executions still running after the test")
