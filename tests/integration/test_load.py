"""`make load`'s locustfile, run headless for a few seconds against the local stack: the report
it writes has every figure, all POSTs accepted, and the followed orders timed to a terminal state.

Locust lives in its own virtualenv, .venv-load (`make load-venv`; `make test` creates it)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from dofs_config.stage import PROJECT_DIR
from tests.integration.conftest import RunningStack, StackFactory

pytestmark = pytest.mark.emulator

LOCUST = Path(os.environ.get("DOFS_LOCUST") or PROJECT_DIR / ".venv-load" / "bin" / "locust")
LOCUSTFILE = PROJECT_DIR / "dofs_local" / "load" / "locustfile.py"
RATE = 10


@pytest.fixture(scope="module")
def running(start_stack: StackFactory) -> RunningStack:
    return start_stack(1.0)


def test_the_locustfile_reports_what_the_stage_carried(running: RunningStack, tmp_path: Path) -> None:
    assert LOCUST.is_file(), f"{LOCUST} is missing: `make load-venv` installs Locust (requirements/load.txt)"
    report = tmp_path / "report.json"
    environment = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_DIR),
        "RATE": str(RATE),
        "FOLLOW_EVERY": "5",
        "LOAD_REPORT": str(report),
    }
    environment.pop("API_KEY", None)
    command = [str(LOCUST), "-f", str(LOCUSTFILE), "--headless", "--only-summary", "--host", running.api_url]
    command += ["-u", str(RATE), "-r", str(RATE), "-t", "4s", "--terminal-timeout", "30"]
    result = subprocess.run(  # noqa: S603 - the project's own Locust, its own locustfile
        command,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(report.read_text())
    assert summary["posts"] > 0
    assert summary["accepted"] == summary["posts"]
    assert (summary["status_4xx"], summary["status_429"], summary["status_5xx"], summary["connection_errors"]) == (
        0,
        0,
        0,
        0,
    )
    assert summary["accepted_per_second"] > 0
    assert set(summary["post_latency_ms"]) == {"p50", "p90", "p95", "p99", "max"}
    assert summary["followed"] >= 1
    assert summary["reached_terminal"] == summary["followed"]
    assert summary["terminal_statuses"] == {"FULFILLED": summary["followed"]}
    assert all(value is not None for value in summary["time_to_terminal_seconds"].values())
    assert "time to terminal s:" in result.stdout
