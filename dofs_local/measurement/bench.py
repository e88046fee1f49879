"""`make bench`: throughput, latency and cost per order of the local stack, measured over HTTP.

Each phase sends orders at a fixed rate for a bounded time (the last one as fast as a pool of
clients can), then waits for every accepted order to reach a terminal state.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import resource
import statistics
import sys
import tempfile
import threading
import time
import zipfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import boto3

from dofs_config.stage import PROJECT_DIR, load_stage, read_config
from dofs_local.emulated.pipeline import RECONCILER_HANDLER, LocalPipeline, PipelineOptions, import_app_for_the_stage
from dofs_local.measurement.cold_start import Init, build_package, heaviest_imports, measure_inits
from dofs_local.measurement.cost import (
    VOLUMES,
    Bill,
    CostSettings,
    ExecutionEvent,
    FunctionUsage,
    Measured,
    OrderMix,
    Production,
    function_log,
    function_usage,
    get_bill,
    headline,
    lever_savings,
    stage_bills,
    without_execution_data,
)
from dofs_local.measurement.items import ItemSizes, measure_item_sizes
from dofs_local.measurement.metering import Meter, MeteredLogStream
from dofs_local.scenarios.client import post

SAMPLED_EXECUTIONS = 60


@dataclass
class Phase:
    name: str
    target_rate: float | None  # None: open throttle
    duration_s: float
    scheduled: int = 0  # fixed-rate phases: sends due in the window
    sent: int = 0
    accepted: int = 0
    terminal: int = 0
    accepted_per_s: float = 0.0
    terminal_per_s: float = 0.0
    post_ms: dict[str, float] = field(default_factory=dict)
    to_terminal_ms: dict[str, float] = field(default_factory=dict)
    cpu_s_per_order: float = 0.0
    peak_rss_mb: float = 0.0
    post_response_bytes: float = 0.0  # mean body of a 202, the access log's responseLength


def percentiles(values: list[float]) -> dict[str, float]:
    if len(values) < 2:
        return {"p50": values[0], "p95": values[0], "p99": values[0]} if values else {}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": round(cuts[49], 1), "p95": round(cuts[94], 1), "p99": round(cuts[98], 1)}


def order_body(phase: str, index: int, rng: random.Random) -> bytes:
    items = [{"sku": f"SKU-{n}", "quantity": rng.randint(1, 3), "unit_price": "9.99"} for n in range(rng.randint(1, 3))]
    return json.dumps({"order_id": f"{phase}-{index:06d}", "customer_id": "bench", "items": items}).encode()


def run_phase(stack: LocalPipeline, meter: Meter, phase: Phase, clients: int, rng: random.Random) -> None:
    posts: list[tuple[str, float, float, int]] = []  # order id, wall start, latency ms, status
    accepted_bodies: list[int] = []
    lock = threading.Lock()

    def send(index: int) -> None:
        body = order_body(phase.name, index, rng)
        started = time.time()
        try:
            status, payload, latency = post(stack.api_url, body)
        except OSError:  # the server dropped the connection (an overloaded machine): a failed send
            status, payload, latency = 0, {}, (time.time() - started) * 1000
        with lock:
            posts.append((payload.get("order_id", ""), started, latency, status))
            if status == 202:
                accepted_bodies.append(len(json.dumps(payload)))

    cpu_before = time.process_time()
    began = time.monotonic()
    deadline = began + phase.duration_s
    pool = ThreadPoolExecutor(clients)
    if phase.target_rate is None:  # open throttle: every client posts back to back

        def loop(worker: int) -> None:
            n = 0
            while time.monotonic() < deadline:
                send(worker * 1_000_000 + n)
                n += 1

        list(pool.map(loop, range(clients)))
    else:
        index = 0
        while (due := began + index / phase.target_rate) < deadline:
            time.sleep(max(0.0, due - time.monotonic()))
            pool.submit(send, index)
            index += 1
        phase.scheduled = index
    # Sends still queued when the window closes are dropped: the clients could not keep up.
    pool.shutdown(wait=True, cancel_futures=True)
    send_window = time.monotonic() - began
    accepted = {order_id: (started, latency) for order_id, started, latency, status in posts if status == 202}
    wait_until = time.monotonic() + 120
    while time.monotonic() < wait_until and any(o not in meter.terminal_at for o in accepted):
        time.sleep(0.2)
    terminal = {o: meter.terminal_at[o] for o in accepted if o in meter.terminal_at}
    phase.sent = len(posts)
    phase.accepted = len(accepted)
    phase.terminal = len(terminal)
    phase.accepted_per_s = round(len(accepted) / send_window, 1)
    first_post = min((started for started, _ in accepted.values()), default=0.0)
    phase.terminal_per_s = round(len(terminal) / max(1e-9, max(terminal.values(), default=0.0) - first_post), 1)
    phase.post_ms = percentiles([latency for *_, latency, _ in posts])
    phase.to_terminal_ms = percentiles([(terminal[o] - accepted[o][0]) * 1000 for o in terminal])
    phase.cpu_s_per_order = round((time.process_time() - cpu_before) / max(1, len(accepted)), 4)
    phase.peak_rss_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    phase.post_response_bytes = statistics.fmean(accepted_bodies) if accepted_bodies else 0.0


def sample_executions(stack: LocalPipeline, meter: Meter, prefix: str) -> tuple[tuple[ExecutionEvent, ...], ...]:
    """The histories of a sample of the phase's executions (their log records are priced)."""
    assert stack.resources is not None
    stepfunctions = boto3.client("stepfunctions", endpoint_url=stack.aws_endpoint, region_name=stack.stage.region)
    histories: list[tuple[ExecutionEvent, ...]] = []
    with meter.uncounted():
        executions = stepfunctions.list_executions(stateMachineArn=stack.resources.state_machine_arn)["executions"]
        ours = sorted(execution["name"] for execution in executions if execution["name"].startswith(f"{prefix}-"))
        arns = {execution["name"]: execution["executionArn"] for execution in executions}
        for name in ours[:SAMPLED_EXECUTIONS]:
            events = stepfunctions.get_execution_history(executionArn=arns[name])["events"]
            histories.append(tuple(_execution_event(event) for event in events))
    return tuple(histories)


def _execution_event(event: dict[str, Any]) -> ExecutionEvent:
    details: dict[str, Any] = next((value for key, value in event.items() if key.endswith("EventDetails")), {})
    return ExecutionEvent(event["type"], details)


# A function's memory may not come closer than this to its measured peak (its init's).
HEADROOM = 1.25
# The stage whose package the cold starts are measured on: the one that sets a budget for them
# (`api_cold_start_seconds_max`); every stage packages the same code.
COLD_START_STAGE = "prod"


@dataclass(frozen=True)
class PackageFigures:
    """What the bench measures on the stage's package: its size, and each function's init."""

    size: dict[str, float]
    inits: dict[str, Init]
    heaviest_imports_ms: dict[str, float]  # the API handler's init, cumulative

    def cold_start(self) -> dict[str, Any]:
        return {
            "stage": COLD_START_STAGE,
            "median_ms_to_ready": {name: init.wall_ms for name, init in self.inits.items()},
            "cpu_ms": {name: init.cpu_ms for name, init in self.inits.items()},
            "xray_sdk_loaded": sorted(name for name, init in self.inits.items() if init.xray_sdk_loaded),
            "api_handler_heaviest_imports_ms": self.heaviest_imports_ms,
        }


def measure_package(runs: int = 5) -> PackageFigures:
    """Builds the stage's package (`make package`) and measures it (dofs_local/measurement/cold_start.py)."""
    with tempfile.TemporaryDirectory() as work:
        package = build_package(COLD_START_STAGE, Path(work) / "package")
        with zipfile.ZipFile(package / "deployment.zip") as bundle:
            unzipped = sum(info.file_size for info in bundle.infolist())
        size = {
            "zip_mb": round((package / "deployment.zip").stat().st_size / 1e6, 2),
            "unzipped_mb": round(unzipped / 1e6, 2),
        }
        return PackageFigures(
            size,
            measure_inits(package, COLD_START_STAGE, runs),
            heaviest_imports(package, COLD_START_STAGE, "api_handler"),
        )


# The bill comes from the first phase (the lowest rate): nothing in it is wall-clock time, but
# the first phase is the one where the local batch sizes and retries are least disturbed.
def measure(
    stack: LocalPipeline, meter: Meter, phase: Phase, log_text: str, peak_memory_mb: dict[str, float]
) -> Measured:
    orders = max(1, phase.accepted)
    executions = sample_executions(stack, meter, phase.name)
    asl = (PROJECT_DIR / "stepfunctions" / "order_workflow.asl.json").read_text()
    functions = {
        name: function_usage(runs, orders)
        for name, runs in meter.invocations.items()
        if runs and name != RECONCILER_HANDLER  # scheduled: a fixed monthly amount, not per order
    }
    calls = Counter({f"{s}.{o}": n for (s, o), n in meter.aws_calls.items()})
    for runs in meter.invocations.values():  # the functions' own calls are in their usage
        for run in runs:
            calls.subtract(run.calls)
    return Measured(
        orders=orders,
        api_requests_per_order=phase.sent / orders,
        api_response_bytes=phase.post_response_bytes,
        service_calls_per_order={call: n / orders for call, n in sorted(calls.items()) if n > 0},
        functions=functions,
        workflow_functions=frozenset(name for name in functions if f"${{{name}_arn}}" in asl),
        executions=executions,
        executions_per_order=meter.aws_calls[("stepfunctions", "StartExecution")] / orders,
        log_compression_ratio=len(gzip.compress(log_text.encode(), 6)) / max(1, len(log_text.encode())),
        peak_memory_mb=peak_memory_mb,
        reconciler=(
            function_usage(meter.invocations[RECONCILER_HANDLER], len(meter.invocations[RECONCILER_HANDLER]))
            if meter.invocations.get(RECONCILER_HANDLER)
            else None
        ),
    )


def profile_json(measured: Measured) -> dict[str, Any]:
    """The measured profile, written beside bench.json: `reprice` prices it again without a run.
    Execution events keep no execution data: the bill leaves it out too."""
    executions = [
        [{"type": event.type, "details": without_execution_data(event.details)} for event in history]
        for history in measured.executions
    ]
    return asdict(measured) | {"workflow_functions": sorted(measured.workflow_functions), "executions": executions}


def profile_from_json(document: dict[str, Any]) -> Measured:
    reconciler = document.get("reconciler")
    return Measured(
        **document
        | {
            "functions": {name: FunctionUsage(**usage) for name, usage in document["functions"].items()},
            "workflow_functions": frozenset(document["workflow_functions"]),
            "executions": tuple(
                tuple(ExecutionEvent(**event) for event in history) for history in document["executions"]
            ),
            "reconciler": FunctionUsage(**reconciler) if reconciler else None,
        }
    )


def reprice(profile: Path) -> int:
    """The bill of every stage from a profile a run wrote (e.g. after a settings change)."""
    measured = profile_from_json(json.loads(profile.read_text()))
    costs = stage_costs(measured, measure_item_sizes())
    _print_costs(costs)
    return 0


def _lines(bill: Bill) -> list[dict[str, Any]]:
    return [asdict(line) | {"usd_per_million_orders": round(line.usd_per_million_orders, 4)} for line in bill.lines]


def stage_costs(measured: Measured, sizes: ItemSizes) -> dict[str, Any]:
    """Each stage of .chalice/config.json priced with its own settings, at each volume."""
    import app as app_module

    production = Production(
        batch_size=app_module.FULFILLMENT_BATCH_SIZE, batching_window_s=app_module.FULFILLMENT_BATCHING_WINDOW_SECONDS
    )
    costs: dict[str, Any] = {}
    for name in read_config()["stages"]:
        stage = load_stage(name)
        settings = CostSettings.of(stage)
        bills = stage_bills(measured, stage, production, sizes)
        costs[name] = {
            "settings": {
                "workflow_type": stage.workflow_type,
                "workflow_log_level": stage.workflow_log_level,
                "log_level": stage.log_level,
                "xray": stage.xray,
                "xray_sampling_rate": stage.xray_sampling_rate,
                "log_retention_days": stage.log_retention_days,
                "memory_mb": {function: stage.memory_mb(function) for function in sorted(measured.functions)},
            }
            | asdict(settings),
            "usd_per_million_orders": {
                f"{volume // 1_000_000}M": {"total": round(total.total, 3), "floor": round(floor.total, 3)}
                for volume, (total, floor) in bills.items()
            },
            "usd_per_million_gets": round(get_bill(measured, stage, settings, sizes).total, 3),
            "lines": {f"{volume // 1_000_000}M": _lines(total) for volume, (total, _) in bills.items()},
            "floor_lines": {f"{volume // 1_000_000}M": _lines(floor) for volume, (_, floor) in bills.items()},
            "lever_savings_10M": {
                lever: round(saving, 3)
                for lever, saving in lever_savings(measured, stage, production, sizes, VOLUMES[1]).items()
            },
            "memory_below_headroom": {
                function: measured.peak_memory_mb[function]
                for function in measured.functions
                if function in measured.peak_memory_mb
                and stage.memory_mb(function) < measured.peak_memory_mb[function] * HEADROOM
            },
        }
    return costs


def main(rates: list[float], duration: float, clients: int, success_rate: float, out_dir: Path) -> int:
    # Imported as the local stack imports it, the stack keeps this app, whose handlers the meter
    # wraps, instead of importing it again.
    app_module, _ = import_app_for_the_stage(load_stage("local"))
    out_dir.mkdir(parents=True, exist_ok=True)
    meter = Meter()
    meter.install(app_module)
    logs = MeteredLogStream(meter)
    phases = [Phase(f"rate{int(r)}", r, duration) for r in rates] + [Phase("open", None, duration)]
    rng = random.Random(5)  # noqa: S311 - a reproducible order mix
    print(f"bench: {COLD_START_STAGE}'s package: its size and each function's init ...", flush=True)
    package = measure_package()
    print(f"bench: {len(phases)} phases of {duration:.0f} s, success rate {success_rate}, {clients} clients max")
    try:
        with LocalPipeline(
            PipelineOptions(api_port=0, aws_port=0, success_rate=success_rate, log_stream=logs, quiet_http=True)
        ) as stack:
            measured: Measured | None = None
            for phase in phases:
                meter.reset()  # each phase's own calls; provisioning is in no phase
                logged_before = len(logs.getvalue())
                print(f"  {phase.name}: sending for {duration:.0f} s ...", flush=True)
                run_phase(stack, meter, phase, clients, rng)
                print(f"  {phase.name}: {phase.accepted} accepted, {phase.terminal} terminal", flush=True)
                if measured is None:  # the bill comes from the first, lightest phase: see measure()
                    peaks = {name: init.peak_memory_mb for name, init in package.inits.items()}
                    measured = measure(stack, meter, phase, logs.getvalue()[logged_before:], peaks)
    finally:
        meter.uninstall()
    assert measured is not None
    sizes = measure_item_sizes()
    costs = stage_costs(measured, sizes)
    report = {
        "machine": _machine(),
        "command": " ".join(sys.argv),
        "success_rate": success_rate,
        "phases": [asdict(p) for p in phases],
        "costed_phase": phases[0].name,
        "orders_costed": measured.orders,
        "service_requests_per_order": {call: round(n, 3) for call, n in measured.service_calls_per_order.items()},
        "lambda": {
            name: {
                "units_per_order": round(usage.units_per_order, 3),
                "batched": usage.batched,
                "cpu_ms_per_unit_median": round(usage.cpu_s_per_unit * 1000, 3),
                "wall_ms_per_unit_mean": round(usage.wall_s_per_unit * 1000, 2),
                "calls_per_unit": {call: round(n, 3) for call, n in usage.calls_per_unit.items()},
                "peak_memory_mb": measured.peak_memory_mb.get(name),
            }
            for name, usage in sorted(measured.functions.items())
        },
        "state_transitions_per_execution": round(measured.transitions_per_execution, 2),
        "item_sizes": asdict(sizes),
        "order_mix": OrderMix().describe(),
        "function_log_bytes_per_order": round(function_log(measured, "DEBUG")[1], 1),
        "log_compression_ratio": round(measured.log_compression_ratio, 3),
        "cost_by_stage": costs,
        "cold_start": package.cold_start(),
        "package": package.size,
    }
    (out_dir / "bench.json").write_text(json.dumps(report, indent=2, default=str))
    (out_dir / "profile.json").write_text(json.dumps(profile_json(measured), indent=2, default=str))
    _print_report(report)
    _plot(phases, out_dir / "latency.png")
    print(f"\nwrote {out_dir / 'bench.json'} and {out_dir / 'latency.png'}")
    return 0


def _print_report(report: dict[str, Any]) -> None:
    header = "phase     target/s  accepted/s  terminal/s   POST p50/p95/p99 ms     to-terminal p50/p95/p99 ms"
    print(f"\n{header}   CPU s/order  RSS MB")
    for p in report["phases"]:
        target = "open" if p["target_rate"] is None else f"{p['target_rate']:.0f}"
        post_ms = "/".join(f"{p['post_ms'].get(k, 0):.0f}" for k in ("p50", "p95", "p99"))
        term_ms = "/".join(f"{p['to_terminal_ms'].get(k, 0):.0f}" for k in ("p50", "p95", "p99"))
        print(
            f"{p['name']:<9} {target:>8}  {p['accepted_per_s']:>10}  {p['terminal_per_s']:>10}   {post_ms:>20}   "
            f"{term_ms:>26}   {p['cpu_s_per_order']:>10}  {p['peak_rss_mb']:>6}"
        )
    print(f"\nfrom {report['orders_costed']} orders of {report['costed_phase']}")
    _print_costs(report["cost_by_stage"])
    print("\ncold start:", json.dumps(report["cold_start"]))
    print("package   :", json.dumps(report["package"]))


def _print_costs(costs: dict[str, Any]) -> None:
    print(
        f"\n$ per million orders, per stage and monthly volume (us-east-1 list prices: "
        f"dofs_local/measurement/pricing.py); {OrderMix().describe()}; each stage at its own fulfillment "
        "success rate; the floor: every avoidable line removed (dofs_local/measurement/cost.py, FLOOR_*)"
    )
    detail = f"{VOLUMES[1] // 1_000_000}M"
    for stage, cost in costs.items():
        print(f"\n  stage {stage}: {json.dumps(cost['settings'])}")
        print(f"  lines at {detail}/month:")
        for line in cost["lines"][detail]:
            quantity = f"{line['quantity_per_order']:>14.9f}/order"
            print(f"    {line['service']:<16} {line['item']:<64} {quantity}  ${line['usd_per_million_orders']:>8.3f}")
        print(f"  GET /order/{{id}}: ${cost['usd_per_million_gets']:.2f} per million GETs")
        for lever, saving in cost["lever_savings_10M"].items():
            if saving:
                print(f"  lever at {detail}/month: {lever}: saves ${saving:.2f} per million orders")
        for function, peak in cost["memory_below_headroom"].items():
            print(f"  WARNING {stage}: {function} peaks at {peak} MB, within {HEADROOM}x of its memory")
    print()
    for stage, cost in costs.items():
        for volume, figures in cost["usd_per_million_orders"].items():
            print(headline(stage, int(volume[:-1]) * 1_000_000, figures["total"], figures["floor"]))


def _plot(phases: list[Phase], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (make bench installs it from requirements/bench.txt)")
        return
    fixed = [p for p in phases if p.post_ms and p.target_rate is not None]
    rates = [p.target_rate or 0.0 for p in fixed]
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for key in ("p50", "p95", "p99"):
        left.plot(rates, [p.post_ms[key] for p in fixed], marker="o", label=f"POST {key}")
        right.plot(rates, [p.to_terminal_ms.get(key, 0) for p in fixed], marker="o", label=f"to terminal {key}")
    for axis, title in ((left, "POST latency"), (right, "POST to terminal state")):
        axis.set_xlabel("offered orders/s (fixed-rate phases)")
        axis.set_ylabel("ms")
        axis.set_yscale("log")
        axis.set_title(title)
        axis.legend()
        axis.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def _machine() -> dict[str, Any]:
    import platform

    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "stage": load_stage("local").name,
    }
