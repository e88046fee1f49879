"""Output: human tables by default, JSON with --json (the same data, machine-readable)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from decimal import Decimal
from typing import Any

from dofs_ops.operations import RedriveResult, Story, describe_outcome


def to_json(value: Any) -> str:
    return json.dumps(value, default=_plain, indent=2, sort_keys=True)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):  # DynamoDB numbers
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, set):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], indent: str = "") -> str:
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max([len(header), *(len(row[i]) for row in cells)]) for i, header in enumerate(headers)]
    lines = [headers, *cells]
    return "\n".join(
        indent + "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return str(_plain(value))
    return str(value)


def story_json(story: Story) -> str:
    return to_json(asdict(story))


def story_text(story: Story) -> str:
    order = story.order
    parts = [
        table(
            ["order", "status", "attempts", "redrives", "total", "created", "updated"],
            [
                [
                    order["order_id"],
                    order["status"],
                    order.get("attempts"),
                    order.get("redrive_count", 0),
                    f"{order.get('total')} {order.get('currency', '')}",
                    order.get("created_at"),
                    order.get("updated_at"),
                ]
            ],
        )
    ]
    for name in ("reason", "last_error"):
        if order.get(name):
            parts.append(f"{name}: {order[name]}")
    parts.append(
        "\nhistory\n"
        + table(
            ["at", "status", "attempt", "by", "note"],
            [
                [
                    entry.get("at"),
                    entry.get("status"),
                    entry.get("attempt"),
                    entry.get("by", "pipeline"),
                    entry.get("reason"),
                ]
                for entry in order.get("history", [])
            ],
            indent="  ",
        )
    )
    parts.append("\nfailed_orders record\n" + _failure_text(story.failure))
    parts.append("\nworkflow executions" + ("" if story.executions else "\n  none found"))
    for execution in story.executions:
        parts.append(f"  {execution['arn']}  {execution['status']}")
        parts.append(
            table(
                ["at", "event", "state", "error"],
                [
                    [event["at"], event["type"], event.get("state"), event.get("error")]
                    for event in execution["events"]
                    if _worth_a_line(event)
                ],
                indent="    ",
            )
        )
    parts.append("\nlog lines" + ("" if story.logs else "\n  none found"))
    if story.logs:
        parts.append(
            table(
                ["timestamp", "level", "operation", "message", "attempt"],
                [
                    [
                        line.get("timestamp"),
                        line.get("level"),
                        line.get("operation"),
                        line.get("message"),
                        line.get("attempt"),
                    ]
                    for line in story.logs
                ],
                indent="  ",
            )
        )
    if story.notes:
        parts.append("\nnotes\n" + "\n".join(f"  {note}" for note in story.notes))
    return "\n".join(parts)


def _worth_a_line(event: dict[str, Any]) -> bool:
    """In the table, the states entered, the execution's start and end, and every error (--json has all)."""
    kind = str(event["type"])
    return kind.endswith("StateEntered") or kind.startswith("Execution") or event.get("error") is not None


def _failure_text(failure: dict[str, Any] | None) -> str:
    if failure is None:
        return "  none"
    fields = [
        "source",
        "attempts",
        "last_error",
        "first_dead_lettered_at",
        "dead_lettered_at",
        "dead_letter_count",
        "queued_at",
        "message_id",
        "original_message",
        "last_redriven_at",
    ]
    rows = [[name, failure[name]] for name in fields if name in failure]
    text = table(["field", "value"], rows, indent="  ")
    redrives = failure.get("redrives", [])
    if redrives:
        text += "\n  redrives\n" + table(
            ["round", "at", "by", "attempts before", "undone"],
            [
                [
                    entry.get("round"),
                    entry.get("at"),
                    entry.get("by"),
                    entry.get("attempts_before"),
                    (entry.get("undone") or {}).get("reason"),
                ]
                for entry in redrives
            ],
            indent="    ",
        )
    return text


def redrive_json(results: list[RedriveResult]) -> str:
    counts: dict[str, int] = {}
    for result in results:
        counts[result.outcome.value] = counts.get(result.outcome.value, 0) + 1
    return to_json(
        {
            "results": [{"order_id": result.order_id, "outcome": result.outcome.value} for result in results],
            "counts": counts,
        }
    )


def redrive_text(results: list[RedriveResult]) -> str:
    if not results:
        return "no orders to redrive"
    return table(["order", "outcome"], [[result.order_id, describe_outcome(result.outcome)] for result in results])


def orders_json(status: str, since: str | None, orders: list[tuple[str, str]]) -> str:
    return to_json(
        {
            "status": status,
            "since": since,
            "count": len(orders),
            "orders": [{"order_id": order_id, "updated_at": updated_at} for order_id, updated_at in orders],
        }
    )


def orders_text(orders: list[tuple[str, str]]) -> str:
    return table(["order", "updated"], orders) + f"\n{len(orders)} orders"
