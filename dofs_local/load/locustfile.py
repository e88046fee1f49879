"""Load for a deployed stage (or the local stack): valid orders POSTed at a constant rate, one in
--follow-every followed through its Location to a terminal state, and a report at the end
(dofs_local/load/report.py).

    make load API_URL=https://<api>/api RATE=50 DURATION=120 [API_KEY=...]

runs it as `locust --headless` from its own virtualenv (.venv-load, requirements/load.txt), one
user per order a second, each user pacing itself with constant_throughput so that all of them
together post --rate orders a second. The key comes from the environment (API_KEY), never the
command line.
"""

from __future__ import annotations

import itertools
import json
import os
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import gevent
from locust import HttpUser, constant_throughput, events, task
from locust.env import Environment

from dofs_local.load.report import LoadRun, render, summarise

TERMINAL = frozenset({"FULFILLED", "REJECTED", "DEAD_LETTERED"})
POLL_SECONDS = 0.5
POST_NAME = "POST /order"

_post_statuses: Counter[int] = Counter()
_terminal_statuses: Counter[str] = Counter()
_terminal_seconds: list[float] = []
_followers: list[gevent.Greenlet] = []
_accepted = itertools.count(1)


@events.init_command_line_parser.add_listener
def _options(parser: Any, **_: Any) -> None:
    parser.add_argument("--rate", type=float, env_var="RATE", default=10.0, help="orders a second, all users together")
    parser.add_argument(
        "--follow-every", type=int, env_var="FOLLOW_EVERY", default=10, help="follow 1 accepted order in N"
    )
    parser.add_argument("--terminal-timeout", type=float, default=120.0, help="seconds to wait for a followed order")
    parser.add_argument("--report", env_var="LOAD_REPORT", default="", help="write the summary here as JSON")


class OrderClient(HttpUser):
    def on_start(self) -> None:
        options = self.environment.parsed_options
        users = max(1, self.environment.runner.target_user_count if self.environment.runner else 1)
        self._pace = constant_throughput(options.rate / users)
        self._headers = {"Content-Type": "application/json"}
        if os.environ.get("API_KEY"):
            self._headers["x-api-key"] = os.environ["API_KEY"]

    def wait_time(self) -> float:
        return float(self._pace(self))

    @task
    def post_order(self) -> None:
        options = self.environment.parsed_options
        body = {
            "order_id": f"load-{uuid.uuid4().hex}",
            "customer_id": "load-test",
            "items": [{"sku": "LOAD-1", "quantity": 1, "unit_price": "9.99"}],
        }
        started = time.monotonic()
        with self.client.post(
            "/order", data=json.dumps(body), headers=self._headers, name=POST_NAME, catch_response=True
        ) as response:
            _post_statuses[response.status_code] += 1  # 0: no answer (connection refused or reset)
            if response.status_code != 202:
                response.failure(f"HTTP {response.status_code}")
                return
            response.success()
            location = response.headers.get("Location", "")
        if next(_accepted) % options.follow_every == 0:
            # Resolved against the POST's URL, as a client must: on AWS it keeps the stage's path.
            order_url = urljoin(f"{self.host.rstrip('/')}/order", location)
            _followers.append(gevent.spawn(self._follow, order_url, started, options.terminal_timeout))

    def _follow(self, order_url: str, started: float, timeout: float) -> None:
        while time.monotonic() - started < timeout:
            gevent.sleep(POLL_SECONDS)
            with self.client.get(
                order_url, headers=self._headers, name="GET /order/{id}", catch_response=True
            ) as answer:
                status = answer.json().get("status") if answer.status_code == 200 else None
                if answer.status_code != 200:
                    answer.failure(f"HTTP {answer.status_code}")
            if status in TERMINAL:
                _terminal_seconds.append(time.monotonic() - started)
                _terminal_statuses[status] += 1
                return


@events.test_stop.add_listener
def _stopped(environment: Environment, **_: Any) -> None:
    gevent.joinall(_followers, timeout=environment.parsed_options.terminal_timeout)


@events.quitting.add_listener
def _report(environment: Environment, **_: Any) -> None:
    entry = environment.stats.get(POST_NAME, "POST")
    run = LoadRun(
        rate=environment.parsed_options.rate,
        # From the first POST to the last one's start (Locust's clock, time.time()).
        duration_seconds=(entry.last_request_timestamp or entry.start_time) - entry.start_time,
        post_statuses=dict(_post_statuses),
        post_latency_ms=entry.get_response_time_percentile,
        post_latency_max_ms=float(entry.max_response_time or 0),
        followed=len(_followers),
        terminal_seconds=list(_terminal_seconds),
        terminal_statuses=dict(_terminal_statuses),
    )
    summary = summarise(run)
    print(render(summary), flush=True)
    if environment.parsed_options.report:
        path = Path(environment.parsed_options.report)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(summary, indent=2) + "\n")
