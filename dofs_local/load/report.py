"""The load test's report: what a stage carried, from Locust's counts and the orders followed.

Standard library only: the locustfile (run by Locust's own virtualenv, .venv-load) and the tests
(the project's) both import it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PERCENTILES = (0.5, 0.9, 0.95, 0.99)


@dataclass(frozen=True)
class LoadRun:
    """What one run saw. `post_latency_ms` answers a percentile (0..1) of the POSTs' latency, as
    Locust's stats entry does."""

    rate: float  # orders/s asked for
    duration_seconds: float
    post_statuses: Mapping[int, int]  # HTTP status -> POSTs answered with it; 0: no answer (connection error)
    post_latency_ms: Callable[[float], float]
    post_latency_max_ms: float
    followed: int  # accepted orders followed to a terminal state
    terminal_seconds: Sequence[float]  # POST to terminal, for each followed order that got there
    terminal_statuses: Mapping[str, int]


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile; None of nothing."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def summarise(run: LoadRun) -> dict[str, Any]:
    statuses = Counter(run.post_statuses)
    posts = sum(statuses.values())
    accepted = statuses[202]
    seconds = max(run.duration_seconds, 1e-9)
    return {
        "rate_asked_per_second": run.rate,
        "duration_seconds": round(run.duration_seconds, 1),
        "posts": posts,
        "accepted": accepted,
        "accepted_per_second": round(accepted / seconds, 2),
        "status_4xx": sum(count for status, count in statuses.items() if 400 <= status < 500 and status != 429),
        "status_429": statuses[429],
        "status_5xx": sum(count for status, count in statuses.items() if status >= 500),
        "connection_errors": statuses[0],
        "statuses": {str(status): count for status, count in sorted(statuses.items())},
        "post_latency_ms": {
            **{_name(fraction): run.post_latency_ms(fraction) for fraction in PERCENTILES},
            "max": run.post_latency_max_ms,
        }
        if posts
        else {},
        "followed": run.followed,
        "reached_terminal": len(run.terminal_seconds),
        "terminal_statuses": dict(sorted(run.terminal_statuses.items())),
        "time_to_terminal_seconds": {
            **{_name(fraction): _round(percentile(run.terminal_seconds, fraction)) for fraction in PERCENTILES},
            "max": _round(max(run.terminal_seconds, default=None)),
        },
    }


def render(summary: Mapping[str, Any]) -> str:
    """The summary as lines a person reads at the end of a run."""
    latency = summary["post_latency_ms"]
    terminal = summary["time_to_terminal_seconds"]
    return "\n".join(
        [
            f"asked {summary['rate_asked_per_second']:g} orders/s for {summary['duration_seconds']:g} s",
            f"accepted {summary['accepted']} of {summary['posts']} POSTs: {summary['accepted_per_second']:g}/s",
            f"4xx {summary['status_4xx']}  429 {summary['status_429']}  5xx {summary['status_5xx']}"
            f"  connection errors {summary['connection_errors']}",
            "POST latency ms: " + "  ".join(f"{name} {value:g}" for name, value in latency.items()),
            f"followed {summary['followed']}, terminal {summary['reached_terminal']} {summary['terminal_statuses']}",
            "time to terminal s: "
            + "  ".join(f"{name} {'-' if value is None else f'{value:g}'}" for name, value in terminal.items()),
        ]
    )


def _name(fraction: float) -> str:
    return f"p{fraction * 100:g}"


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
