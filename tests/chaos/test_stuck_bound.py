"""Invariant 1's bound as `make chaos` checks it, against the reconciler's real runs: every run
that begins after an order is stuck past the threshold acts on it, or fails on it (an injected
fault, logged ERRORED) and leaves it to the next run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dofs_local.scenarios.chaos import bound_violations, longest_untouched

pytestmark = pytest.mark.aws

START = datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC)
THRESHOLD = 15.0


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def stamp(seconds: float) -> str:
    return at(seconds).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def lost_then_rescued(rescued_at: float | None) -> dict[str, Any]:
    """Accepted at 0, its execution lost; the reconciler's claim at `rescued_at` (None: never)."""
    history = [{"status": "ACCEPTED", "at": stamp(0)}]
    if rescued_at is not None:
        history += [
            {"status": "ACCEPTED", "at": stamp(rescued_at), "by": "reconciler"},
            {"status": "PENDING", "at": stamp(rescued_at + 1)},
            {"status": "FULFILLED", "at": stamp(rescued_at + 2)},
        ]
    return {"o": {"order_id": "o", "history": history}}


# A run every 5 s; under load each took 6 s, so they begin 11 s apart.
RUNS = [at(seconds) for seconds in (11, 22, 33, 44, 55)]


def check(rescued_at: float | None, errored_at: tuple[float, ...] = (), now: float = 60) -> list[str]:
    errored = {"o": [at(seconds) for seconds in errored_at]}
    return bound_violations(lost_then_rescued(rescued_at), {"o"}, THRESHOLD, RUNS, errored, at(now))


def test_an_order_rescued_by_the_first_run_after_it_was_stuck_is_within_the_bound() -> None:
    assert check(rescued_at=23) == []  # the first run after 15 s began at 22


def test_a_run_that_failed_on_the_order_leaves_it_to_the_next() -> None:
    # The runs at 22 and 33 hit injected faults on their writes for it; the one at 44 acted.
    assert check(rescued_at=45, errored_at=(23, 34)) == []


def test_a_run_that_neither_acted_nor_failed_breaks_the_bound() -> None:
    [line] = check(rescued_at=40)
    assert line.startswith("1: order o sat 40.0 s untouched while non-terminal: the reconciler run at 10:00:22")
    [second] = check(rescued_at=45, errored_at=(23,))
    assert "the reconciler run at 10:00:33" in second
    [never] = check(rescued_at=None, errored_at=(23, 34))
    assert never.startswith("1: order o sat 60.0 s untouched while non-terminal: the reconciler run at 10:00:44")


def test_a_run_still_going_is_not_judged() -> None:
    assert check(rescued_at=None, now=30) == []  # the run at 22 began after 15 s; none after it yet


def test_the_longest_stretch_runs_to_now_for_an_order_still_open() -> None:
    assert longest_untouched(lost_then_rescued(None), {"o"}, at(60)) == {"o": 60.0}
    assert longest_untouched(lost_then_rescued(23), {"o"}, at(60)) == {"o": 23.0}
