"""The load test's report (dofs_local/load/report.py) from the counts of a run."""

from __future__ import annotations

import pytest

from dofs_local.load.report import LoadRun, percentile, render, summarise

pytestmark = pytest.mark.unit


def run(**overrides: object) -> LoadRun:
    values: dict[str, object] = {
        "rate": 10.0,
        "duration_seconds": 10.0,
        "post_statuses": {202: 90, 400: 2, 429: 5, 503: 2, 0: 1},
        "post_latency_ms": lambda fraction: 100.0 * fraction,
        "post_latency_max_ms": 120.0,
        "followed": 4,
        "terminal_seconds": [1.0, 2.0, 3.0],
        "terminal_statuses": {"FULFILLED": 2, "DEAD_LETTERED": 1},
    }
    values.update(overrides)
    return LoadRun(**values)  # type: ignore[arg-type]


def test_statuses_are_told_apart() -> None:
    summary = summarise(run())
    assert (summary["posts"], summary["accepted"], summary["accepted_per_second"]) == (100, 90, 9.0)
    assert (summary["status_4xx"], summary["status_429"], summary["status_5xx"]) == (2, 5, 2)
    assert summary["connection_errors"] == 1


def test_latency_and_time_to_terminal_percentiles() -> None:
    summary = summarise(run())
    assert summary["post_latency_ms"] == {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "max": 120.0}
    assert summary["time_to_terminal_seconds"] == {"p50": 2.0, "p90": 3.0, "p95": 3.0, "p99": 3.0, "max": 3.0}
    assert (summary["followed"], summary["reached_terminal"]) == (4, 3)


def test_nearest_rank_percentile() -> None:
    assert percentile([], 0.5) is None
    assert percentile([5.0], 0.99) == 5.0
    assert percentile([float(n) for n in range(1, 101)], 0.95) == 95.0


def test_a_run_without_answers_still_reports() -> None:
    summary = summarise(run(post_statuses={}, terminal_seconds=[], terminal_statuses={}, followed=0))
    assert summary["posts"] == 0
    assert summary["post_latency_ms"] == {}
    assert summary["time_to_terminal_seconds"]["p50"] is None
    assert "accepted 0 of 0 POSTs" in render(summary)
