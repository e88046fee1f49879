"""The local stack, started in this process on free ports, one per fulfillment success rate."""

from __future__ import annotations

import io
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from chalicelib.states import TERMINAL_STATUSES
from dofs_local.emulated.pipeline import LocalPipeline, PipelineOptions


class RunningStack:
    """A started stack as a client sees it: an HTTP API, an AWS endpoint, and the function logs."""

    def __init__(self, stack: LocalPipeline, logs: io.StringIO) -> None:
        self.stack = stack
        self._logs = logs
        self.api_url = stack.api_url
        self.aws = boto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")
        self.endpoint = stack.aws_endpoint

    def client(self, service: str) -> Any:
        return self.aws.client(service, endpoint_url=self.endpoint)

    def post(self, body: Any) -> tuple[int, dict[str, Any], dict[str, str]]:
        request = urllib.request.Request(  # noqa: S310 - loopback http
            f"{self.api_url}/order", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return response.status, json.loads(response.read()), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}"), dict(error.headers)

    def get(self, order_id: str) -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(f"{self.api_url}/order/{order_id}", timeout=30) as response:  # noqa: S310
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def wait_terminal(self, order_id: str, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        order: dict[str, Any] = {}
        while time.monotonic() < deadline:
            _, order = self.get(order_id)
            if order.get("status") in TERMINAL_STATUSES:
                return order
            time.sleep(0.1)
        raise AssertionError(f"order {order_id} is not terminal after {timeout} s: {order}")

    def log_lines(self, order_id: str) -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in self._logs.getvalue().splitlines() if line.strip()]
        return [line for line in lines if line.get("order_id") == order_id]

    def failed_orders(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.client("dynamodb").scan(
            TableName=self.stack.stage.failed_orders_table, ConsistentRead=True
        )["Items"]
        return items


StackFactory = Callable[[float], RunningStack]


@pytest.fixture(scope="module")
def start_stack() -> Iterator[StackFactory]:
    """Starts a stack, stopping the one before: only one can run in a process."""
    stacks: list[LocalPipeline] = []

    def start(success_rate: float) -> RunningStack:
        for earlier in stacks:
            earlier.stop()
        logs = io.StringIO()
        stack = LocalPipeline(
            PipelineOptions(api_port=0, aws_port=0, success_rate=success_rate, log_stream=logs, quiet_http=True)
        )
        stack.start()
        stacks.append(stack)
        return RunningStack(stack, logs)

    yield start
    for stack in stacks:
        stack.stop()


def order(order_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "order_id": order_id,
        "customer_id": "c-1",
        "items": [{"sku": "SKU-1", "quantity": 2, "unit_price": "12.50"}],
    }
    body.update(overrides)
    return body
