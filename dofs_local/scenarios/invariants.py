"""The contract's invariants (docs/CONTRACT.md section 4), checked against the tables and logs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from chalicelib.states import OPERATOR, OrderStatus, can_transition, is_redrive
from chalicelib.workflow_tasks import TRANSIENT_WORKFLOW_ERRORS

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
    """Invariants 1, 2 and 6 and the forward-only history, for one accepted order.

    An operator's redrive (DEAD_LETTERED -> PENDING, `by: operator`) is the one move back: it
    starts a new round, and each round but the last ends in its one DEAD_LETTERED entry.
    """
    if order is None:
        return [f"1: accepted order {order_id} is missing"]
    found: list[str] = []
    entries: list[Item] = list(order.get("history", []))
    history = [OrderStatus(entry["status"]) for entry in entries]
    rounds = _rounds(entries)
    last_terminal = [OrderStatus(e["status"]) for e in rounds[-1] if OrderStatus(e["status"]).is_terminal]
    if not OrderStatus(order["status"]).is_terminal or len(last_terminal) != 1:
        found.append(f"1: order {order_id} is {order['status']} with terminal history {last_terminal}")
    for number, earlier in enumerate(rounds[:-1], start=1):
        terminal = [OrderStatus(e["status"]) for e in earlier if OrderStatus(e["status"]).is_terminal]
        if terminal[-1:] != [OrderStatus.DEAD_LETTERED] or len(terminal) != 1:
            found.append(f"1: order {order_id} was redriven after round {number} ended {terminal}, not DEAD_LETTERED")
    if history.count(OrderStatus.FULFILLED) > 1:
        found.append(f"2: order {order_id} was fulfilled {history.count(OrderStatus.FULFILLED)} times")
    for before, after in pairwise(entries):
        old, new = OrderStatus(before["status"]), OrderStatus(after["status"])
        if old != new and not can_transition(old, new) and not _is_operators_redrive(before, after):
            found.append(f"5: order {order_id} moved backwards, {old} -> {new} (by {after.get('by', 'the pipeline')})")
    redrives = len(rounds) - 1
    if redrives != int(order.get("redrive_count", 0)):
        found.append(
            f"6: order {order_id} was redriven {order.get('redrive_count', 0)} times, {redrives} in its history"
        )
    # `attempts` counts across rounds: each failed attempt has a higher number than the last.
    failed = [int(e["attempt"]) for e in entries if e["status"] == OrderStatus.FAILED and "attempt" in e]
    if any(later <= earlier for earlier, later in pairwise(failed)):
        found.append(f"6: order {order_id}'s failed attempts are numbered {failed}, not counting up")
    return found


def _is_operators_redrive(before: Item, after: Item) -> bool:
    return is_redrive(OrderStatus(before["status"]), OrderStatus(after["status"])) and after.get("by") == OPERATOR


def _rounds(entries: list[Item]) -> list[list[Item]]:
    """The history split at each redrive: the first round, then one per redrive."""
    rounds: list[list[Item]] = [[]]
    for before, entry in zip([None, *entries], entries, strict=False):
        if before is not None and _is_operators_redrive(before, entry):
            rounds.append([])
        rounds[-1].append(entry)
    return rounds


def _failure_record_violations(snapshot: Snapshot) -> list[str]:
    """Invariant 3: one failed_orders record, complete, for each DEAD_LETTERED order, kept (and
    brought up to date) for a redriven one whatever it became; none for any other order."""
    found: list[str] = []
    dead = {order_id for order_id, order in snapshot.orders.items() if order["status"] == OrderStatus.DEAD_LETTERED}
    redriven = {order_id for order_id, order in snapshot.orders.items() if int(order.get("redrive_count", 0)) > 0}
    for order_id in sorted(dead - snapshot.failures.keys()):
        found.append(f"3: DEAD_LETTERED order {order_id} has no failed_orders record")
    for order_id in sorted(snapshot.failures.keys() - dead - redriven):
        found.append(f"3: order {order_id} has a failed_orders record but was never dead-lettered")
    for order_id in sorted(snapshot.failures.keys() & (dead | redriven)):
        found += _record_violations(order_id, snapshot.orders[order_id], snapshot.failures[order_id])
    return found


def _record_violations(order_id: str, order: Item, record: Item) -> list[str]:
    """The one record agrees with the order: every dead-letter counted, every redrive listed."""
    missing = [name for name in FAILURE_FIELDS if name not in record]
    if missing:
        return [f"3: failed_orders record of {order_id} lacks {', '.join(missing)}"]
    found: list[str] = []
    # The operator's undoing of a redrive writes DEAD_LETTERED too, but is no new dead-letter.
    dead_letters = sum(
        1 for e in order.get("history", []) if e["status"] == OrderStatus.DEAD_LETTERED and e.get("by") != OPERATOR
    )
    if int(record.get("dead_letter_count", 1)) != dead_letters:
        found.append(f"3: failed_orders record of {order_id} counts {record.get('dead_letter_count')} dead-letters,")
        found[-1] += f" its history {dead_letters}"
    redrives = int(order.get("redrive_count", 0))
    if (int(record.get("redrive_count", 0)), len(record.get("redrives", []))) != (redrives, redrives):
        found.append(
            f"3: failed_orders record of {order_id} lists {len(record.get('redrives', []))} redrives of {redrives}"
        )
    if order["status"] == OrderStatus.DEAD_LETTERED and int(record["attempts"]) != int(order.get("attempts", 0)):
        found.append(
            f"3: failed_orders record of {order_id} holds {record['attempts']} attempts of {order['attempts']}"
        )
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


def dead_letter_causes(
    snapshot: Snapshot, accepted: Iterable[str], max_receive_count: int, crashed_attempts: Mapping[str, int]
) -> dict[str, list[str]]:
    """Invariant 7: why each accepted DEAD_LETTERED order was dead-lettered, by cause:

    - `simulated failures`: its last round holds maxReceiveCount FAILED attempts;
    - `simulated failures and crashes`: it does with its fulfillment attempts that died in an
      injected crash (`crashed_attempts`, by order: an error, which no history entry shows);
    - `workflow`: the state machine gave up on a persistent error (a crash, a bug) before it was
      queued; one that gave up on a transient error (throttling, a timeout) leaves the order open;
    - `too few attempts`: anything else, a receive spent on throttling, a timeout or a conflict.
    """
    causes: dict[str, list[str]] = {}
    for order_id in sorted(set(accepted)):
        order = snapshot.orders.get(order_id)
        if order is None or order["status"] != OrderStatus.DEAD_LETTERED:
            continue
        record = snapshot.failures.get(order_id, {})
        failed = failed_attempts_in_last_round(order)
        if failed >= max_receive_count:
            cause = "simulated failures"
        elif failed + crashed_attempts.get(order_id, 0) >= max_receive_count:
            cause = "simulated failures and crashes"
        elif record.get("source") == "workflow" and not _transient(str(record.get("last_error", ""))):
            cause = "workflow"
        else:
            cause = "too few attempts"
        causes.setdefault(cause, []).append(order_id)
    return causes


def _transient(last_error: str) -> bool:
    """A failed_orders record's `last_error` ("Error: cause") names an error a retry can fix."""
    return last_error.split(":", 1)[0] in TRANSIENT_WORKFLOW_ERRORS


def failed_attempts_in_last_round(order: Item) -> int:
    """The FAILED attempts of the order's last round (the reconciler's claims, `by`, are none)."""
    last_round = _rounds(list(order.get("history", [])))[-1]
    return sum(1 for entry in last_round if entry["status"] == OrderStatus.FAILED and "by" not in entry)


def premature_dead_letter_violations(
    causes: Mapping[str, list[str]], snapshot: Snapshot, max_receive_count: int
) -> list[str]:
    """Invariant 7: no order dead-lettered with fewer than maxReceiveCount real attempts."""
    return [
        f"7: order {order_id} was dead-lettered (source {snapshot.failures.get(order_id, {}).get('source')}) after"
        f" {failed_attempts_in_last_round(snapshot.orders[order_id])} failed attempts in its round, fewer than"
        f" maxReceiveCount {max_receive_count}"
        for order_id in causes.get("too few attempts", [])
    ]
