"""`make chaos`: the pipeline under injected faults, with figures and invariant checks.

Posts N orders through the local stack with every fault of dofs_local/emulated/faults.py switched on,
retrying a POST as a careful client does (5xx and connection errors, with backoff), waits until
every order that got a 202 is terminal, then proves the contract's invariants from the tables,
the fault injector's side-effect counts and the functions' JSON logs.

The load is paced, closed-loop: each client waits for its order to be terminal before posting the
next, so at most `concurrency` orders are open at once and the local pipeline never runs past
saturation. Invariant 1's bound (docs/RELIABILITY.md) is then a check like the others: no order
sits untouched while non-terminal longer than the stuck-order threshold plus two reconciler periods.
"""

from __future__ import annotations

import json
import logging
import random
import sys
import time
import urllib.error
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.states import OrderStatus
from dofs_local.emulated.faults import FaultInjector, FaultSettings
from dofs_local.emulated.pipeline import LocalPipeline, PipelineOptions
from dofs_local.scenarios.client import post, read_snapshot, wait_until_terminal
from dofs_local.scenarios.invariants import (
    dead_letter_causes,
    fulfillment_violations,
    log_lines,
    log_violations,
    premature_dead_letter_violations,
    violations,
)
from dofs_local.scenarios.orders import order_bodies

DEFAULT_FAULTS = "all=0.05"
Stretch = tuple[datetime, datetime]
RETRYABLE = (500, 502, 503, 504)
MAX_POST_ATTEMPTS = 25


@dataclass
class Submitted:
    order_id: str
    valid: bool
    statuses: list[int] = field(default_factory=list)  # every answer, in order (0: connection error)

    @property
    def accepted(self) -> bool:
        return 202 in self.statuses


@dataclass
class ChaosResult:
    orders: list[Submitted]
    problems: list[str]
    figures: dict[str, Any]
    seconds: float


def submit(api_url: str, body: dict[str, Any], valid: bool, pause: Callable[[float], None] = time.sleep) -> Submitted:
    """POSTs until an answer that is not a 5xx; a client may always retry a POST (docs/CONTRACT.md 2)."""
    submitted = Submitted(body["order_id"], valid)
    payload = json.dumps(body).encode()
    for attempt in range(MAX_POST_ATTEMPTS):
        try:
            status, _, _ = post(api_url, payload)
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            status = 0
        submitted.statuses.append(status)
        if status != 0 and status not in RETRYABLE:
            break
        pause(min(1.0, 0.05 * 2**attempt))
    return submitted


def run_chaos(
    stack: LocalPipeline,
    orders: int,
    seed: int,
    log_file: Path | None,
    concurrency: int = 16,
    timeout: float = 600.0,
    progress: Callable[[str], None] = print,
    order_wait: float | None = None,
) -> ChaosResult:
    """`order_wait`: how long a client waits for its order to be terminal before posting the next
    (None: twice the stuck-order bound; 0: no pacing, every order posted at once)."""
    began = time.monotonic()
    rng = random.Random(seed)  # noqa: S311 - a reproducible order mix, not a secret
    bodies = order_bodies(orders, rng, f"chaos-{uuid.uuid4().hex[:6]}")
    wait = 2 * stuck_bound_seconds(stack) if order_wait is None else order_wait
    progress(
        f"posting {orders} orders ({concurrency} clients, each retrying a 5xx up to {MAX_POST_ATTEMPTS} times"
        f" and waiting up to {wait:g} s for its order to be terminal before the next)"
    )
    orders_table = _orders_table(stack)

    def client(job: tuple[dict[str, Any], bool]) -> Submitted:
        entry = submit(stack.api_url, *job)
        if entry.accepted:
            _wait_for_terminal(orders_table, entry.order_id, wait)
        return entry

    with ThreadPoolExecutor(concurrency) as pool:
        submitted = list(pool.map(client, bodies))
    posting_seconds = time.monotonic() - began
    problems: list[str] = []
    for entry in submitted:
        final = entry.statuses[-1]
        if final != 202:
            problems.append(f"4: POST {entry.order_id} ended with {final} after {len(entry.statuses)} attempts")
    accepted = {entry.order_id for entry in submitted if entry.accepted}
    wait_until_terminal(stack, accepted, timeout, progress)
    if log_file is not None and stack.options.log_stream is not None:
        stack.options.log_stream.flush()
    problems += check(stack, accepted, log_file)
    figures = gather_figures(stack, submitted, log_file)
    figures["posting_seconds"] = round(posting_seconds, 1)
    figures["orders_per_second"] = round(len(accepted) / posting_seconds, 2) if posting_seconds else 0.0
    return ChaosResult(submitted, problems, figures, time.monotonic() - began)


def _orders_table(stack: LocalPipeline) -> Any:
    """The orders table through a session of the runner's own: injected faults never hit it."""
    session = boto3.Session(region_name=stack.stage.region)
    return session.resource("dynamodb", endpoint_url=stack.aws_endpoint).Table(stack.stage.orders_table)


def _wait_for_terminal(orders_table: Any, order_id: str, seconds: float, poll: float = 0.5) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            item = orders_table.get_item(Key={"order_id": order_id}, ConsistentRead=True).get("Item", {})
        except (BotoCoreError, ClientError):  # the emulator's own hiccup (a 500 under load): ask again
            item = {}
        if item and OrderStatus(item["status"]).is_terminal:
            return
        time.sleep(poll)


def _injector(stack: LocalPipeline) -> FaultInjector:
    if stack.faults is None:
        raise RuntimeError("the chaos run needs a stack with fault injection on")
    return stack.faults


def check(stack: LocalPipeline, accepted: set[str], log_file: Path | None) -> list[str]:
    """Every broken invariant: terminal states, side effects, failed_orders, history, logs."""
    snapshot = read_snapshot(stack)
    problems = violations(snapshot, accepted)
    logged: Counter[str] = Counter()
    if log_file is not None:
        problems += log_violations(log_file, excused=_is_injected_crash_line)
        logged.update(str(e.get("order_id")) for e in log_lines(log_file) if e.get("message") == "order fulfilled")
    problems += fulfillment_violations(snapshot, _injector(stack).fulfillment_writes, logged)
    problems += premature_dead_letter_violations(
        _causes(stack, snapshot, accepted), snapshot, _max_receive_count(stack)
    )
    threshold = stack.stage.stuck_order_threshold_seconds
    runs = _injector(stack).scheduled_runs
    problems += bound_violations(snapshot.orders, accepted, threshold, runs, errored_reconciliations(log_file), _now())
    stuck = sorted(
        i
        for i in accepted
        if str(snapshot.orders.get(i, {}).get("status")) in {OrderStatus.ACCEPTED, OrderStatus.PENDING}
    )
    problems += [f"   {line}" for line in _executions_of(stack, stuck[:5])]
    return problems


def _max_receive_count(stack: LocalPipeline) -> int:
    return stack.stage.max_receive_count


def _causes(stack: LocalPipeline, snapshot: Any, accepted: set[str]) -> dict[str, list[str]]:
    return dead_letter_causes(snapshot, accepted, _max_receive_count(stack), _injector(stack).crashed_attempts)


def stuck_bound_seconds(stack: LocalPipeline) -> float:
    """Invariant 1's bound on an order left untouched: the stuck-order threshold, plus a reconciler
    period to notice it, plus one more for that run to reach it."""
    return stack.stage.stuck_order_threshold_seconds + 2 * stack.reconcile_every_seconds


# An order stuck past the threshold is the reconciler's: every run that begins after that finds it
# and acts on it, unless acting failed (an injected fault on its write: the run logs the order
# ERRORED, and the next run finds it again). So each run that began and ended while the order sat
# stuck must have logged it ERRORED.
ERRORED_LINE = "stuck order reconciled"


def untouched_stretches(orders: dict[str, Any], accepted: set[str], now: datetime) -> dict[str, list[Stretch]]:
    """Per order, each stretch it sat non-terminal with nothing recorded in its history: from one
    entry to the next, or, for an order still non-terminal, from its last entry to `now`."""
    stretches: dict[str, list[Stretch]] = {}
    for order_id in accepted:
        entries = orders.get(order_id, {}).get("history", [])
        moments = [(_moment(entry["at"]), OrderStatus(entry["status"])) for entry in entries]
        if moments and not moments[-1][1].is_terminal:
            moments.append((now, moments[-1][1]))
        stretches[order_id] = [
            (before, after) for (before, status), (after, _) in pairwise(moments) if not status.is_terminal
        ]
    return stretches


def longest_untouched(orders: dict[str, Any], accepted: set[str], now: datetime) -> dict[str, float]:
    """Per order, its longest untouched stretch, in seconds."""
    return {
        order_id: max(((end - start).total_seconds() for start, end in stretches), default=0.0)
        for order_id, stretches in untouched_stretches(orders, accepted, now).items()
    }


def bound_violations(
    orders: dict[str, Any],
    accepted: set[str],
    threshold_seconds: float,
    runs: list[datetime],
    errored: Mapping[str, list[datetime]],
    now: datetime,
) -> list[str]:
    """Invariant 1's bound, against the reconciler's real runs (`runs`: when each began): every
    run that began after an order had sat untouched for the threshold, and ended (the next one
    began) before anything touched it, must have failed on it (`errored`: when a run logged the
    order ERRORED). Otherwise the reconciler let a stuck order be."""
    found: list[str] = []
    threshold = timedelta(seconds=threshold_seconds)
    for order_id, stretches in sorted(untouched_stretches(orders, accepted, now).items()):
        for start, end in stretches:
            later = [run for run in runs if run > start + threshold]
            for run, next_run in pairwise(later):
                if next_run >= end:
                    break
                if not any(run <= moment < next_run for moment in errored.get(order_id, [])):
                    found.append(
                        f"1: order {order_id} sat {(end - start).total_seconds():.1f} s untouched while"
                        f" non-terminal: the reconciler run at {run:%H:%M:%S} began after it was stuck"
                        f" ({threshold_seconds:g} s) and neither acted on it nor failed on it"
                    )
                    break
    return found


def errored_reconciliations(log_file: Path | None) -> dict[str, list[datetime]]:
    """When a reconciler run failed on an order (its ERRORED line), by order."""
    errored: dict[str, list[datetime]] = defaultdict(list)
    if log_file is None:
        return errored
    for entry in log_lines(log_file):
        if entry.get("message") == ERRORED_LINE and entry.get("action") == "ERRORED":
            errored[str(entry.get("order_id"))].append(datetime.strptime(entry["timestamp"], "%Y-%m-%d %H:%M:%S,%f%z"))
    return errored


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _now() -> datetime:
    return datetime.now(UTC)


def _executions_of(stack: LocalPipeline, order_ids: list[str]) -> list[str]:
    """What the workflow did for orders that never left ACCEPTED/PENDING (a diagnosis aid)."""
    if not order_ids or stack.resources is None:
        return []
    session = boto3.Session(region_name=stack.stage.region)
    stepfunctions = session.client("stepfunctions", endpoint_url=stack.aws_endpoint)
    executions = stepfunctions.list_executions(stateMachineArn=stack.resources.state_machine_arn, maxResults=1000)
    lines = []
    for order_id in order_ids:
        for execution in executions["executions"]:
            if execution["name"].startswith(f"{order_id}-"):
                detail = stepfunctions.describe_execution(executionArn=execution["executionArn"])
                lines.append(
                    f"{order_id}: execution {execution['name']} {detail['status']} "
                    f"{detail.get('error', '')} {str(detail.get('cause', ''))[:300]}"
                )
    return lines


def _is_injected_crash_line(entry: dict[str, Any]) -> bool:
    """Chalice logs a crashed route ("Caught exception for path ...") before any order id is
    known; when the crash is one we injected, that line is the fault itself, not a lapse."""
    return str(entry.get("message", "")).startswith("Caught exception for path") and (
        entry.get("exception_name") == "InjectedCrash"
    )


def gather_figures(stack: LocalPipeline, submitted: list[Submitted], log_file: Path | None) -> dict[str, Any]:
    snapshot = read_snapshot(stack)
    accepted = [entry.order_id for entry in submitted if entry.accepted]
    statuses = Counter(str(snapshot.orders[i]["status"]) for i in accepted if i in snapshot.orders)
    attempts = Counter(int(snapshot.orders[i].get("attempts", 0)) for i in accepted if i in snapshot.orders)
    sources = Counter(str(item.get("source")) for item in snapshot.failures.values())
    reconciled = Counter(
        str(entry["status"])
        for i in accepted
        for entry in snapshot.orders.get(i, {}).get("history", [])
        if entry.get("by") == "reconciler"
    )
    untouched = longest_untouched(snapshot.orders, set(accepted), _now())
    runs = _injector(stack).scheduled_runs
    gaps_between_runs = [(later - earlier).total_seconds() for earlier, later in pairwise(runs)]
    answers: Counter[int] = Counter(status for entry in submitted for status in entry.statuses)
    injector = _injector(stack).figures()
    crashes_logged = 0
    if log_file is not None:
        crashes_logged = sum(1 for e in log_lines(log_file) if e.get("exception_name") == "InjectedCrash")
    return {
        "orders": len(submitted),
        "accepted": len(accepted),
        "valid": sum(entry.valid for entry in submitted),
        "post_answers": dict(sorted(answers.items())),
        "post_retries": sum(len(entry.statuses) - 1 for entry in submitted),
        "terminal": dict(sorted(statuses.items())),
        "attempts": dict(sorted(attempts.items())),
        "failed_orders_by_source": dict(sorted(sources.items())),
        "dead_lettered_by_cause": {
            cause: len(ids) for cause, ids in sorted(_causes(stack, snapshot, set(accepted)).items())
        },
        "reconciler_actions": dict(sorted(reconciled.items())),
        "longest_untouched_seconds": round(max(untouched.values(), default=0.0), 1),
        # Over the nominal bound (runs taking no time); the check is against the runs' real cadence.
        "orders_over_stuck_bound": sum(seconds > stuck_bound_seconds(stack) for seconds in untouched.values()),
        "reconciler_runs": len(runs),
        "longest_between_runs_seconds": round(max(gaps_between_runs, default=0.0), 1),
        "stuck_bound_seconds": stuck_bound_seconds(stack),
        "fulfillment_writes": injector["fulfillment_writes"],
        "crashed_attempts": injector["crashed_attempts"],
        "faults_injected": injector["injected"],
        "faults_injected_at": injector["injected_at"],
        "invocations": injector["invocations"],
        "repeat_invocations": injector["repeat_invocations"],
        "crash_lines_logged": crashes_logged,
    }


def print_report(result: ChaosResult, settings: FaultSettings) -> None:
    f = result.figures
    print()
    print(f"faults          : {settings.describe()}")
    print(f"orders          : {f['orders']} posted, {f['accepted']} accepted (202), {f['valid']} valid by the rules")
    print(f"load            : {f['orders_per_second']} orders/s accepted over {f['posting_seconds']} s (closed loop)")
    print(f"POST answers    : {f['post_answers']}  ({f['post_retries']} client retries)")
    print(f"faults injected : {f['faults_injected']}  (total {sum(f['faults_injected'].values())})")
    for where, count in f["faults_injected_at"].items():
        print(f"    {where:<40} {count}")
    print(f"invocations     : {f['invocations']}")
    print(f"retries         : {f['repeat_invocations']}  (repeat invocations for the same order, by function)")
    print(f"terminal states : {f['terminal']}")
    print(f"attempts        : {f['attempts']}  (fulfillment attempts per order)")
    shares = ", ".join(
        f"{source} {count / f['accepted']:.1%}" for source, count in f["failed_orders_by_source"].items()
    )
    print(f"failed_orders   : {f['failed_orders_by_source']}  (records by source; of accepted orders: {shares})")
    print(
        f"dead-lettered   : {f['dead_lettered_by_cause']}  (by cause; checked: none with fewer than"
        f" maxReceiveCount attempts that failed, {f['crashed_attempts']} attempts died in injected crashes)"
    )
    print(f"reconciler      : {f['reconciler_actions']}  (history entries by: reconciler, by the status it found)")
    print(
        f"longest stuck   : {f['longest_untouched_seconds']} s untouched while non-terminal"
        f" (nominal bound: threshold + 2 reconciler periods = {f['stuck_bound_seconds']:g} s,"
        f" {f['orders_over_stuck_bound']} orders over it; {f['reconciler_runs']} reconciler runs, up to"
        f" {f['longest_between_runs_seconds']} s apart; checked: each run after an order was stuck"
        " acted on it or failed on it)"
    )
    print(f"fulfillments    : {f['fulfillment_writes']} committed FULFILLED writes")
    print(f"duration        : {result.seconds:.0f} s")
    print("invariants      : " + ("all hold" if not result.problems else f"{len(result.problems)} violations"))
    for problem in result.problems[:50]:
        print(f"  VIOLATION {problem}")


def main(
    orders: int,
    settings: FaultSettings,
    seed: int,
    api_port: int,
    aws_port: int,
    log_path: Path,
    success_rate: float | None = None,
    timeout: float = 600.0,
    figures_path: Path | None = None,
) -> int:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # moto logs every failed execution's whole state tree at ERROR; the figures say enough.
    logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
    with log_path.open("w") as log_stream:
        options = PipelineOptions(
            api_port=api_port,
            aws_port=aws_port,
            success_rate=success_rate,
            log_stream=log_stream,
            quiet_http=True,
            faults=settings,
        )
        print(f"DOFS chaos: {orders} orders, seed {seed}, faults {settings.describe()}")
        with LocalPipeline(options) as stack:
            print(f"local stack up: API {stack.api_url}  AWS {stack.aws_endpoint}  (function logs: {log_path})")
            result = run_chaos(stack, orders, seed, log_path, timeout=timeout)
    print_report(result, settings)
    if figures_path is not None:
        figures_path.parent.mkdir(parents=True, exist_ok=True)  # the log may have gone elsewhere
        figures_path.write_text(json.dumps({**result.figures, "violations": result.problems}, indent=2) + "\n")
    print("chaos " + ("passed" if not result.problems else "FAILED"))
    sys.stdout.flush()
    return 0 if not result.problems else 1
