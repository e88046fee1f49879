"""The contract's invariants (docs/CONTRACT.md section 4), checked against the tables and logs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from chalicelib.states import OrderStatus, can_transition

Item = dict[str, Any]
FAILURE_FIELDS = ("original_message", "attempts", "last_error", "dead_lettered_at")


@dataclass(frozen=True)
class Snapshot:
    orders: dict[str, Item]
    failures: dict[str, Item]

    @classmethod
    def read(cls, dynamodb: Any, orders_table: str, failed_orders_table: str) -> Snapshot:
        return cls(_scan(dynamodb, orders_table), _scan(dynamodb, failed_orders_table))

    def statuses(self, order_ids: Iterable[str]) -> dict[str, str]:
        return {order_id: str(self.orders[order_id]["status"]) for order_id in order_ids if order_id in self.orders}


def _scan(dynamodb: Any, table: str) -> dict[str, Item]:
    items: dict[str, Item] = {}
    for page in dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        for raw in page["Items"]:
            item = _plain(raw)
            items[item["order_id"]] = item
    return items


def _plain(raw: dict[str, Any]) -> Item:
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    return {key: deserializer.deserialize(value) for key, value in raw.items()}


def violations(snapshot: Snapshot, accepted: Iterable[str]) -> list[str]:
    """Every broken invariant, one line each; empty when the contract holds."""
    found: list[str] = []
    for order_id in sorted(set(accepted)):
        found += _order_violations(order_id, snapshot.orders.get(order_id))
    return found + _failure_record_violations(snapshot)


def _order_violations(order_id: str, order: Item | None) -> list[str]:
    """Invariants 1, 2 and the forward-only history, for one accepted order."""
    if order is None:
        return [f"1: accepted order {order_id} is missing"]
    found: list[str] = []
    history = [OrderStatus(entry["status"]) for entry in order.get("history", [])]
    terminal = [status for status in history if status.is_terminal]
    if not OrderStatus(order["status"]).is_terminal or len(terminal) != 1:
        found.append(f"1: order {order_id} is {order['status']} with terminal history {terminal}")
    if history.count(OrderStatus.FULFILLED) > 1:
        found.append(f"2: order {order_id} was fulfilled {history.count(OrderStatus.FULFILLED)} times")
    for before, after in pairwise(history):
        if before != after and not can_transition(before, after):
            found.append(f"5: order {order_id} moved backwards, {before} -> {after}")
    return found


def _failure_record_violations(snapshot: Snapshot) -> list[str]:
    """Invariant 3: a failed_orders record, complete, for exactly the DEAD_LETTERED orders."""
    found: list[str] = []
    dead = {order_id for order_id, order in snapshot.orders.items() if order["status"] == OrderStatus.DEAD_LETTERED}
    for order_id in sorted(dead - snapshot.failures.keys()):
        found.append(f"3: DEAD_LETTERED order {order_id} has no failed_orders record")
    for order_id in sorted(snapshot.failures.keys() - dead):
        found.append(f"3: order {order_id} has a failed_orders record but is not DEAD_LETTERED")
    for order_id in sorted(dead & snapshot.failures.keys()):
        missing = [name for name in FAILURE_FIELDS if name not in snapshot.failures[order_id]]
        if missing:
            found.append(f"3: failed_orders record of {order_id} lacks {', '.join(missing)}")
    return found


def log_violations(log_file: Path, excused: Callable[[Item], bool] | None = None) -> list[str]:
    """Invariant 5's other half: every log line is one JSON object carrying `order_id`.

    `excused` lines need no `order_id` (the chaos run's injected crashes, logged by Chalice).
    """
    found: list[str] = []
    for number, line in enumerate(log_file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            found.append(f"5: log line {number} is not JSON: {line[:120]}")
            continue
        if isinstance(entry, dict) and excused is not None and excused(entry):
            continue
        if not isinstance(entry, dict) or "order_id" not in entry:
            found.append(f"5: log line {number} carries no order_id: {line[:120]}")
    return found


def fulfillment_violations(snapshot: Snapshot, writes: Mapping[str, int], logged: Mapping[str, int]) -> list[str]:
    """Invariant 2 from the side effects, not the statuses: every committed FULFILLED write
    (`writes`, counted where the app talks to DynamoDB) and every "order fulfilled" log line
    (`logged`) happens at most once per order, and a FULFILLED order has exactly one write."""
    found: list[str] = []
    for order_id in sorted(set(writes) | set(logged) | set(snapshot.orders)):
        done, lines = writes.get(order_id, 0), logged.get(order_id, 0)
        if done > 1:
            found.append(f"2: order {order_id} was fulfilled {done} times (committed writes)")
        if lines > 1:
            found.append(f"2: order {order_id} logged 'order fulfilled' {lines} times")
        status = snapshot.orders.get(order_id, {}).get("status")
        if (status == OrderStatus.FULFILLED) != (done == 1):
            found.append(f"2: order {order_id} is {status} after {done} fulfillment writes")
    return found


def log_lines(log_file: Path) -> list[dict[str, Any]]:
    """The JSON objects of a log file (other lines are skipped; `log_violations` reports them)."""
    entries: list[dict[str, Any]] = []
    for line in log_file.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries
