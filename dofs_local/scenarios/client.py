"""The scenarios' one HTTP client of the local pipeline's API, and their one wait for
orders to become terminal (read from the orders table)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from typing import Any

import boto3

from chalicelib.states import TERMINAL_STATUSES
from dofs_local.emulated.pipeline import LocalPipeline
from dofs_local.scenarios.invariants import Snapshot


def post(api_url: str, body: bytes, content_type: str = "application/json") -> tuple[int, dict[str, Any], float]:
    request = urllib.request.Request(  # noqa: S310 - the local stack's http URL
        f"{api_url}/order", data=body, headers={"Content-Type": content_type}, method="POST"
    )
    began = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            status, payload = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, payload = error.code, error.read()
    latency_ms = (time.perf_counter() - began) * 1000
    return status, json.loads(payload or b"{}"), latency_ms


def wait_until_terminal(
    stack: LocalPipeline, order_ids: set[str], timeout: float, progress: Callable[[str], None]
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        snapshot = read_snapshot(stack)
        counts = Counter(snapshot.statuses(order_ids).values())
        done = sum(counts[status] for status in TERMINAL_STATUSES)
        progress(f"  terminal {done}/{len(order_ids)}  " + "  ".join(f"{s} {n}" for s, n in sorted(counts.items())))
        if done == len(order_ids) or time.monotonic() > deadline:
            return
        time.sleep(1.0)


def read_snapshot(stack: LocalPipeline) -> Snapshot:
    """The tables as they are now, read with a session of its own: injected faults never hit it."""
    session = boto3.Session(region_name=stack.stage.region)
    dynamodb = session.client("dynamodb", endpoint_url=stack.aws_endpoint)
    return Snapshot.read(dynamodb, stack.stage.orders_table, stack.stage.failed_orders_table)
