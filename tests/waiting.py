"""Polling helpers for tests that watch the asynchronous pipeline."""

from __future__ import annotations

import time
from typing import Any

import boto3

from dofs_config.stage import load_stage


def wait_for_status(order_id: str, statuses: set[str], timeout: float = 30.0) -> dict[str, Any]:
    table = boto3.resource("dynamodb").Table(load_stage("local").orders_table)
    deadline = time.monotonic() + timeout
    item: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        item = table.get_item(Key={"order_id": order_id}, ConsistentRead=True).get("Item")
        if item is not None and item["status"] in statuses:
            return item
        time.sleep(0.05)
    raise AssertionError(f"order {order_id} did not reach {sorted(statuses)}; last seen {item}")
