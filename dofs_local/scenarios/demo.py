"""`make demo`: the pipeline end to end on the local stack, with figures and invariant checks."""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from chalicelib.states import TERMINAL_STATUSES, OrderStatus
from dofs_local.emulated.pipeline import LocalPipeline, PipelineOptions
from dofs_local.scenarios.client import post, read_snapshot, wait_until_terminal
from dofs_local.scenarios.invariants import Snapshot, log_violations, violations
from dofs_local.scenarios.orders import order_bodies

BAD_REQUESTS: list[tuple[str, bytes, str, int]] = [
    ("a field out of range", b'{"customer_id": "c", "items": [{"sku": "A", "quantity": 0, "unit_price": "1"}]}',
     "application/json", 400),
    ("a body that is not JSON", b"{not json", "application/json", 400),
    ("a form post", b"customer_id=c", "application/x-www-form-urlencoded", 415),
]  # fmt: skip


@dataclass
class Posted:
    order_id: str
    status_code: int
    started: float  # wall clock, to compare with the server's timestamps
    latency_ms: float
    replay: bool = False
    valid: bool = True


@dataclass
class DemoResult:
    posts: list[Posted] = field(default_factory=list)
    bad_requests: list[tuple[str, int, int]] = field(default_factory=list)  # (what, expected, got)
    problems: list[str] = field(default_factory=list)


def run_demo(
    stack: LocalPipeline,
    orders: int,
    seed: int,
    concurrency: int = 8,
    timeout: float = 180.0,
    progress: Callable[[str], None] = print,
) -> DemoResult:
    rng = random.Random(seed)  # noqa: S311 - a reproducible order mix, not a secret
    result = DemoResult()
    bodies = order_bodies(orders, rng, uuid.uuid4().hex[:6])
    replays = rng.sample(bodies, k=max(1, orders // 10))
    jobs = [(body, valid, False) for body, valid in bodies] + [(body, valid, True) for body, valid in replays]

    def send(job: tuple[dict[str, Any], bool, bool]) -> Posted:
        body, valid, replay = job
        started = time.time()
        status, payload, latency = post(stack.api_url, json.dumps(body).encode())
        if status != 202 or payload.get("order_id") != body["order_id"]:
            result.problems.append(f"4: POST {body['order_id']} answered {status} {payload}")
        return Posted(body["order_id"], status, started, latency, replay, valid)

    progress(f"posting {orders} orders and {len(replays)} duplicate retries ({concurrency} clients)")
    with ThreadPoolExecutor(concurrency) as pool:
        result.posts = list(pool.map(send, jobs))
    for what, body, content_type, expected in BAD_REQUESTS:
        status, _, _ = post(stack.api_url, body, content_type)
        result.bad_requests.append((what, expected, status))
        if status != expected:
            result.problems.append(f"4: {what} answered {status}, expected {expected}")
    wait_until_terminal(stack, {p.order_id for p in result.posts if p.status_code == 202}, timeout, progress)
    return result


def report(stack: LocalPipeline, result: DemoResult, log_file: Path | None, success_rate: float) -> list[str]:
    """Prints the summary and returns every problem found (empty: all invariants hold)."""
    snapshot = read_snapshot(stack)
    accepted = [p for p in result.posts if p.status_code == 202]
    new_ids = {p.order_id for p in accepted if not p.replay}
    problems = list(result.problems) + violations(snapshot, new_ids)
    if log_file is not None:
        problems += log_violations(log_file)
    problems += _rate_checks(
        snapshot, [p for p in accepted if not p.replay], success_rate, stack.stage.max_receive_count
    )

    statuses = Counter(str(snapshot.orders[i]["status"]) for i in new_ids if i in snapshot.orders)
    attempts = Counter(int(snapshot.orders[i]["attempts"]) for i in new_ids if i in snapshot.orders)
    to_terminal = [_terminal_ms(snapshot.orders[p.order_id], p.started) for p in accepted if not p.replay]
    print()
    print(f"POST responses  : {dict(Counter(p.status_code for p in result.posts))} "
          f"({len(new_ids)} new orders, {sum(p.replay for p in result.posts)} duplicate retries)")  # fmt: skip
    for what, expected, got in result.bad_requests:
        print(f"bad request     : {what} -> {got} (expected {expected})")
    print(f"terminal states : {dict(sorted(statuses.items()))}")
    print(f"attempts        : {dict(sorted(attempts.items()))}  (fulfillment attempts per order)")
    print(f"failed_orders   : {len(snapshot.failures)} records")
    print(f"POST latency    : {_percentiles([p.latency_ms for p in result.posts])}")
    print(f"POST -> terminal: {_percentiles([ms for ms in to_terminal if ms is not None])}")
    print("invariants      : " + ("all hold" if not problems else f"{len(problems)} violations"))
    for problem in problems[:50]:
        print(f"  VIOLATION {problem}")
    return problems


def _rate_checks(snapshot: Snapshot, accepted: list[Posted], success_rate: float, max_receive: int) -> list[str]:
    """At rate 0 every valid order dead-letters after maxReceiveCount attempts; at 1 all succeed at once."""
    expected = {0.0: (OrderStatus.DEAD_LETTERED, max_receive), 1.0: (OrderStatus.FULFILLED, 1)}.get(success_rate)
    if expected is None:
        return []
    found = []
    for posted in accepted:
        order = snapshot.orders.get(posted.order_id)
        if posted.valid and order is not None and (order["status"], int(order["attempts"])) != expected:
            found.append(f"rate {success_rate}: {posted.order_id} ended {order['status']} after {order['attempts']}")
    return found


def _terminal_ms(order: dict[str, Any], started: float) -> float | None:
    terminal = [entry for entry in order.get("history", []) if entry["status"] in TERMINAL_STATUSES]
    if not terminal:
        return None
    at = datetime.fromisoformat(terminal[0]["at"].replace("Z", "+00:00")).timestamp()
    return (at - started) * 1000


def _percentiles(values: list[float]) -> str:
    if not values:
        return "n/a"
    if len(values) == 1:
        return f"p50 {values[0]:.0f} ms  p99 {values[0]:.0f} ms  (n=1)"
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return f"p50 {cuts[49]:.0f} ms  p99 {cuts[98]:.0f} ms  (n={len(values)})"


def main(orders: int, success_rate: float, seed: int, api_port: int, aws_port: int, log_path: Path) -> int:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log_stream:
        options = PipelineOptions(
            api_port=api_port, aws_port=aws_port, success_rate=success_rate, log_stream=log_stream, quiet_http=True
        )
        print(f"DOFS demo: {orders} orders, fulfillment success rate {success_rate}, seed {seed}")
        with LocalPipeline(options) as stack:
            print(f"local stack up: API {stack.api_url}  AWS {stack.aws_endpoint}  (function logs: {log_path})")
            result = run_demo(stack, orders, seed)
            log_stream.flush()
            problems = report(stack, result, log_path, success_rate)
    print("demo " + ("passed" if not problems else "FAILED"))
    sys.stdout.flush()
    return 0 if not problems else 1
