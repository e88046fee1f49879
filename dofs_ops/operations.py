"""What the CLI does, as data: an order's story, orders by status, redrives. Rendering is elsewhere."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chalicelib.redrive import Redriver
from chalicelib.repository import RedriveOutcome
from chalicelib.states import OrderStatus
from dofs_local.emulated.execution_logs import logged
from dofs_ops.target import Target

Item = dict[str, Any]
Progress = Callable[[str], None]


class UnknownOrderError(LookupError):
    """An order id the stage's table does not hold."""


@dataclass
class Story:
    """One order's whole story (`show`)."""

    order: Item
    failure: Item | None
    executions: list[Item] = field(default_factory=list)
    logs: list[Item] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what could not be read, and why


def show(target: Target, order_id: str, log_file: Path | None) -> Story:
    order = target.repository.get(order_id)
    if order is None:
        raise UnknownOrderError(order_id)
    story = Story(order=order, failure=target.repository.get_failure(order_id))
    level = target.stage.workflow_log_level
    if level != "ALL":
        # The order's history is its story; the workflow's events add to it where logged.
        story.notes.append(f"workflow executions: this stage logs only their {level} events")
    if target.is_emulated:
        story.executions = _emulated_executions(target, order_id, story.notes)
    else:
        story.executions = _logged_executions(target, order_id, story.notes)
    if log_file is not None:
        story.logs = _file_log_lines(log_file, order_id)
    elif target.is_emulated:
        story.notes.append("log lines: the local stack logs to its console; pass --log-file with a saved copy")
    else:
        story.logs = _cloudwatch_log_lines(target, order_id, story.notes)
    return story


def _execution_name_pattern(order_id: str) -> re.Pattern[str]:
    # The API names each execution {order_id}-{12 hex digits} (chalicelib/workflow.py).
    return re.compile(rf"^{re.escape(order_id)}-[0-9a-f]{{12}}$")


def _emulated_executions(target: Target, order_id: str, notes: list[str]) -> list[Item]:
    """Locally the emulator keeps every execution and its history (not so on AWS for EXPRESS):
    `show` reads what the stage's log level would have logged, and no more."""
    arn = target.state_machine_arn()
    if arn is None:
        notes.append(f"workflow: no state machine {target.stage.state_machine_name}")
        return []
    stepfunctions = target.client("stepfunctions")
    ours = _execution_name_pattern(order_id)
    executions: list[Item] = []
    for page in stepfunctions.get_paginator("list_executions").paginate(stateMachineArn=arn):
        for execution in page["executions"]:
            if not ours.match(execution["name"]):
                continue
            history = stepfunctions.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)
            events = [
                _history_event(event)
                for event in history["events"]
                if logged(event["type"], target.stage.workflow_log_level)
            ]
            if not events:
                continue
            executions.append(
                {
                    "arn": execution["executionArn"],
                    "status": execution["status"],
                    "started": _iso(execution["startDate"]),
                    "stopped": _iso(execution["stopDate"]) if execution.get("stopDate") else None,
                    "events": events,
                }
            )
    return sorted(executions, key=lambda execution: str(execution["started"]))


def _history_event(event: Item) -> Item:
    details: Item = next((value for key, value in event.items() if key.endswith("EventDetails")), {})
    return {
        "at": _iso(event["timestamp"]),
        "type": event["type"],
        "state": details.get("name"),
        "error": details.get("error"),
    }


def _logged_executions(target: Target, order_id: str, notes: list[str]) -> list[Item]:
    """On AWS, EXPRESS executions have no history API: their events are in the state machine's
    log group, each carrying its execution's ARN, whose name starts with the order id."""
    ours = _execution_name_pattern(order_id)
    by_execution: dict[str, Item] = {}
    for event in _filter_log_events(target, target.workflow_log_group, f'"{order_id}-"', notes):
        try:
            entry = json.loads(event["message"])
        except ValueError:
            continue
        arn = str(entry.get("execution_arn", ""))
        # An EXPRESS execution ARN: arn:aws:states:region:account:express:machine:name:uuid
        parts = arn.split(":")
        if len(parts) < 8 or not ours.match(parts[7]):
            continue
        execution = by_execution.setdefault(arn, {"arn": arn, "status": "RUNNING", "events": []})
        execution["events"].append(
            {
                "at": _iso(datetime.fromtimestamp(event["timestamp"] / 1000, tz=UTC)),
                "type": entry.get("type"),
                "state": (entry.get("details") or {}).get("name"),
                "error": (entry.get("details") or {}).get("error"),
            }
        )
        if entry.get("type") in {"ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"}:
            execution["status"] = str(entry["type"]).removeprefix("Execution").upper()
    return list(by_execution.values())


def _cloudwatch_log_lines(target: Target, order_id: str, notes: list[str]) -> list[Item]:
    """Every function logs one JSON line per operation with `order_id` (invariant 5)."""
    lines: list[Item] = []
    pattern = f'{{ $.order_id = "{order_id}" }}'
    for group in target.function_log_groups():
        for event in _filter_log_events(target, group, pattern, notes):
            try:
                lines.append(json.loads(event["message"]))
            except ValueError:
                continue
    return sorted(lines, key=lambda line: str(line.get("timestamp", "")))


def _filter_log_events(target: Target, group: str, pattern: str, notes: list[str]) -> Iterator[Item]:
    logs = target.client("logs")
    try:
        for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group, filterPattern=pattern):
            yield from page["events"]
    except logs.exceptions.ResourceNotFoundException:
        notes.append(f"no log group {group}")


def _file_log_lines(log_file: Path, order_id: str) -> list[Item]:
    lines: list[Item] = []
    for text in log_file.read_text().splitlines():
        try:
            entry = json.loads(text)
        except ValueError:
            continue  # the local stack's console mixes in other lines
        if isinstance(entry, dict) and entry.get("order_id") == order_id:
            lines.append(entry)
    return lines


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# What `list` lists: open orders (the open-orders index) and dead-lettered ones (failed_orders'
# dead-lettered index). FULFILLED and REJECTED orders are in no index: listing them would scan
# every order ever taken.
OPEN_STATUSES = (OrderStatus.ACCEPTED, OrderStatus.PENDING, OrderStatus.FAILED)
LISTABLE_STATUSES = (*OPEN_STATUSES, OrderStatus.DEAD_LETTERED)


class NotListableError(ValueError):
    """A status `list` does not list (FULFILLED, REJECTED): the message names those it does."""

    def __init__(self, status: OrderStatus) -> None:
        listable = ", ".join(s.value for s in LISTABLE_STATUSES)
        super().__init__(
            f"{status.value} orders are not listed by status (that would read every order ever taken); "
            f"list one of {listable}, or show an order by its id"
        )


def list_orders(
    target: Target, status: OrderStatus, since: str | None, page_size: int, progress: Progress
) -> Iterator[tuple[str, str]]:
    """(order_id, updated_at) of the orders in `status`, oldest first by when they entered it (open
    orders: accepted or redriven; dead-lettered ones: dead-lettered), at or after `since`. Index
    queries shard by shard, each page's orders then read in one batch to keep those in `status`."""
    if status not in LISTABLE_STATUSES:
        raise NotListableError(status)
    repository = target.repository
    if status is OrderStatus.DEAD_LETTERED:
        found = repository.dead_lettered_order_ids(since=since, page_size=page_size)
    else:
        found = repository.open_order_ids(opened_since=since, page_size=page_size)
    count = 0
    for page in _pages(found, page_size):
        count += len(page)
        progress(f"{count} orders read")
        # The indexes hold no status, and lag the table: the order's item says where it is now.
        orders = {item["order_id"]: item for item in repository.get_many([order_id for order_id, _ in page])}
        for order_id, _ in page:
            order = orders.get(order_id)
            if order is not None and order["status"] == status.value:
                yield order_id, str(order["updated_at"])


def _pages(pairs: Iterator[tuple[str, str]], size: int) -> Iterator[list[tuple[str, str]]]:
    page: list[tuple[str, str]] = []
    for pair in pairs:
        page.append(pair)
        if len(page) == size:
            yield page
            page = []
    if page:
        yield page


@dataclass(frozen=True)
class RedriveResult:
    order_id: str
    outcome: RedriveOutcome


def check_orders_exist(target: Target, order_ids: list[str]) -> None:
    """Before any redrive: an unknown id is an error, and then nothing is changed."""
    for order_id in order_ids:
        if target.repository.get(order_id) is None:
            raise UnknownOrderError(order_id)


def redrive(
    target: Target, order_ids: Iterator[str] | list[str], total: int | None, progress: Progress
) -> list[RedriveResult]:
    redriver = Redriver(target.repository, target.client("sqs"), target.order_queue_url())
    results: list[RedriveResult] = []
    for number, order_id in enumerate(order_ids, start=1):
        outcome = redriver.redrive(order_id)
        results.append(RedriveResult(order_id, outcome))
        progress(f"[{number}/{total if total is not None else '?'}] {order_id}: {describe_outcome(outcome)}")
    return results


OUTCOME_WORDS = {
    RedriveOutcome.REDRIVEN: "redriven",
    RedriveOutcome.ALREADY_REDRIVEN: "already redriven",
    RedriveOutcome.NOT_DEAD_LETTERED: "not dead-lettered",
    RedriveOutcome.UNKNOWN_ORDER: "unknown order",
    RedriveOutcome.NOT_QUEUED: "not queued (the redrive was undone; try again)",
}


def describe_outcome(outcome: RedriveOutcome) -> str:
    return OUTCOME_WORDS[outcome]
