"""The invariant checker of `make chaos` and `make demo` knows an operator's redrive: a redriven
order's rounds, its one failed_orders record, and the one move back it allows. Each broken case
is built from a healthy redriven order by one change, and must be caught."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from dofs_local.scenarios.invariants import Snapshot, violations

pytestmark = pytest.mark.unit

Item = dict[str, Any]


def entry(status: str, at: str, *, attempt: int | None = None, by: str | None = None) -> Item:
    made: Item = {"status": status, "at": f"2026-11-25T10:00:{at}.000Z"}
    if attempt is not None:
        made["attempt"] = attempt
    if by is not None:
        made["by"] = by
    return made


def redriven_then_fulfilled() -> Snapshot:
    """Dead-lettered after three attempts, redriven by an operator, fulfilled at its fourth."""
    history = [
        entry("ACCEPTED", "00"),
        entry("PENDING", "01"),
        entry("FAILED", "02", attempt=1),
        entry("FAILED", "04", attempt=2),
        entry("FAILED", "06", attempt=3),
        entry("DEAD_LETTERED", "08"),
        entry("PENDING", "20", by="operator"),
        entry("FULFILLED", "21", attempt=4),
    ]
    order = {"order_id": "o", "status": "FULFILLED", "attempts": 4, "redrive_count": 1, "history": history}
    record = {
        "order_id": "o",
        "source": "fulfillment",
        "original_message": '{"order_id": "o"}',
        "attempts": 3,
        "last_error": "simulated fulfillment failure on attempt 3",
        "dead_lettered_at": "2026-11-25T10:00:08.000Z",
        "dead_letter_count": 1,
        "redrive_count": 1,
        "redrives": [{"at": "2026-11-25T10:00:20.000Z", "by": "operator", "round": 1, "attempts_before": 3}],
    }
    return Snapshot({"o": order}, {"o": record})


def redriven_and_dead_lettered_again(snapshot: Snapshot) -> None:
    order, record = snapshot.orders["o"], snapshot.failures["o"]
    order["history"][-1:] = [
        entry("FAILED", "21", attempt=4),
        entry("FAILED", "23", attempt=5),
        entry("FAILED", "25", attempt=6),
        entry("DEAD_LETTERED", "27"),
    ]
    order.update(status="DEAD_LETTERED", attempts=6)
    record.update(attempts=6, dead_letter_count=2, dead_lettered_at="2026-11-25T10:00:27.000Z")


def undone_redrive(snapshot: Snapshot) -> None:
    """The redrive's message could not be queued: the operator's write undone."""
    order = snapshot.orders["o"]
    order["history"][-1] = entry("DEAD_LETTERED", "21", by="operator")
    order.update(status="DEAD_LETTERED", attempts=3)


def checked(change: Callable[[Snapshot], None] | None = None) -> list[str]:
    snapshot = copy.deepcopy(redriven_then_fulfilled())
    if change is not None:
        change(snapshot)
    return violations(snapshot, ["o"])


@pytest.mark.parametrize("change", [None, redriven_and_dead_lettered_again, undone_redrive])
def test_redriven_orders_keep_every_invariant(change: Callable[[Snapshot], None] | None) -> None:
    assert checked(change) == []


def attempts_restart_in_the_new_round(snapshot: Snapshot) -> None:
    redriven_and_dead_lettered_again(snapshot)
    for number, item in enumerate(snapshot.orders["o"]["history"][7:10], start=1):
        item["attempt"] = number


def moved_back_by_the_pipeline(snapshot: Snapshot) -> None:
    del snapshot.orders["o"]["history"][6]["by"]


def redrive_missing_from_history(snapshot: Snapshot) -> None:
    snapshot.orders["o"]["redrive_count"] = 2
    snapshot.failures["o"]["redrive_count"] = 2
    snapshot.failures["o"]["redrives"].append({"round": 2})


def two_terminal_states_in_the_first_round(snapshot: Snapshot) -> None:
    snapshot.orders["o"]["history"][1]["status"] = "REJECTED"


def second_dead_letter_not_counted(snapshot: Snapshot) -> None:
    redriven_and_dead_lettered_again(snapshot)
    snapshot.failures["o"]["dead_letter_count"] = 1


def record_not_updated_by_the_second_dead_letter(snapshot: Snapshot) -> None:
    redriven_and_dead_lettered_again(snapshot)
    snapshot.failures["o"]["attempts"] = 3


def redrive_not_in_the_record(snapshot: Snapshot) -> None:
    snapshot.failures["o"]["redrives"] = []


def record_of_an_order_never_dead_lettered(snapshot: Snapshot) -> None:
    order = snapshot.orders["o"]
    order["history"] = [order["history"][0], order["history"][1], entry("FULFILLED", "02", attempt=1)]
    order.update(attempts=1, redrive_count=0)


@pytest.mark.parametrize(
    ("change", "invariant"),
    [
        (attempts_restart_in_the_new_round, "6: order o's failed attempts are numbered [1, 2, 3, 1, 2, 3]"),
        (moved_back_by_the_pipeline, "5: order o moved backwards, DEAD_LETTERED -> PENDING"),
        (redrive_missing_from_history, "6: order o was redriven 2 times, 1 in its history"),
        (two_terminal_states_in_the_first_round, "1: order o was redriven after round 1 ended"),
        (second_dead_letter_not_counted, "3: failed_orders record of o counts 1 dead-letters, its history 2"),
        (record_not_updated_by_the_second_dead_letter, "3: failed_orders record of o holds 3 attempts of 6"),
        (redrive_not_in_the_record, "3: failed_orders record of o lists 0 redrives of 1"),
        (record_of_an_order_never_dead_lettered, "3: order o has a failed_orders record but was never dead-lettered"),
    ],
)
def test_each_broken_redrive_is_caught(change: Callable[[Snapshot], None], invariant: str) -> None:
    assert any(line.startswith(invariant) for line in checked(change)), checked(change)
