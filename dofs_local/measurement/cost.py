"""$ per million orders on AWS, per stage and monthly volume: a measured profile priced with
pricing.py.

The bill is a function of the stage's settings (.chalice/config.json), the monthly volume, the
order-size mix and a profile the local run measured per invocation. Nothing in it is local
wall-clock time, and nothing is random:

- how many times each function runs per order, each write and read, each message: from the
  order's path at the stage's fulfillment success rate p and its max_receive_count R
  (1 + q + ... + q^(R-1) receives per order, q = 1 - p; a dead letter with probability q^R);
- each write's units: the item's size at that write (items.py measures it on the app's own
  repository), over the order-size mix;
- each invocation's billed duration: own CPU time (median, measured) x (1,769 MB / memory, at
  least 1) + its AWS calls x their typical latency, rounded up to 1 ms;
- batches, X-Ray reservoirs and fixed monthly amounts: from the volume (orders per second over
  a 30-day month);
- log bytes per invocation (measured) at the stage's levels, formats and retention.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from dofs_config.stage import PROJECT_DIR, Stage, read_config
from dofs_local.emulated.execution_logs import logged
from dofs_local.measurement.items import ItemSizes
from dofs_local.measurement.pricing import (
    CLOUDWATCH_LOGS_EVENT_OVERHEAD_BYTES,
    DEFAULT_LATENCY_S,
    DYNAMODB_ITEM_OVERHEAD_BYTES,
    DYNAMODB_READ_UNIT_BYTES,
    DYNAMODB_WRITE_UNIT_BYTES,
    EXPRESS_DURATION_STEP_S,
    EXPRESS_MEMORY_CHUNK_MB,
    LAMBDA_DURATION_STEP_S,
    LAMBDA_MB_PER_VCPU,
    LATENCY_S,
    PRICES_USD,
    Line,
    round_up,
)

# The API stage's access log format (infra/modules/api_gateway writes it with jsonencode: one line,
# keys sorted).
ACCESS_LOG_FORMAT_FILE = PROJECT_DIR / "infra" / "modules" / "api_gateway" / "access_log_format.json"

# The open-orders index (KEYS_ONLY, sparse): an entry written when an order is accepted and
# removed when it becomes terminal, each under 1 KB: two index writes per order.
# docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html#GSI.ThroughputConsiderations.Writes
INDEX_WRITES_PER_ORDER = 2
# X-Ray: a sampling rule traces its reservoir's requests each second, then its fixed rate of the
# rest. Lambda samples the invocations nobody upstream sampled (SQS-triggered) at its own fixed
# rule: 1 a second, then 5 %. docs.aws.amazon.com/xray/latest/devguide/xray-console-sampling.html,
# docs.aws.amazon.com/lambda/latest/dg/services-xray.html
LAMBDA_XRAY_RESERVOIR_PER_S = 1
LAMBDA_XRAY_SAMPLING_RATE = 0.05
# Lambda polls a standard queue with five pollers to start with, each long-polling (20 s) while
# the queue is idle. docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html
LAMBDA_SQS_POLLERS = 5
SQS_LONG_POLL_S = 20
QUEUES = 2  # the order queue and its dead-letter queue, each with its event source
DAYS_PER_MONTH = 30
SECONDS_PER_MONTH = DAYS_PER_MONTH * 86400
# What a deployed stage keeps every month (infra/modules/monitoring): three alarms of its own,
# three for the workflow's failures, and each function's errors and throttles; one dashboard;
# the alarm topic's KMS key; two custom metrics (dead-lettered, stuck orders).
STAGE_ALARMS = 6
ALARMS_PER_FUNCTION = 2
CUSTOM_METRICS = 2
# The functions each order may run, in path order; the reconciler is scheduled (fixed monthly).
API_HANDLER = "api_handler"
FULFILL = "fulfill_order"
DEAD_LETTER = "handle_dead_letter"
RECONCILER = "reconcile_orders"
# The floor: every avoidable line removed. Lambda's smallest practical memory, only ERROR lines
# from the functions and the workflow, no START/END/REPORT, no access logs, no tracing, no
# dashboard, no WAF. What stays is what an order must cost: its requests, its writes and reads
# at their sizes, its messages, its storage over the retention, PITR, alarms.
FLOOR_MEMORY_MB = 128
# A stage without a retention keeps orders forever, so its storage has no steady state: priced as
# if kept for three years.
UNSET_RETENTION_DAYS = 3 * 365
FLOOR_LOG_LEVEL = "ERROR"

# Without execution data (include_execution_data = false) a log event carries no input, output
# or task parameters.
_UUID = "00000000-0000-0000-0000-000000000000"  # request ids, execution ids: fixed-length
_EXECUTION_DATA_KEYS = {"input", "inputDetails", "output", "outputDetails", "parameters", "result", "resultDetails"}


@dataclass(frozen=True)
class FunctionUsage:
    """One function's work, as the local run measured it. `unit` is an SQS message for
    SQS-triggered functions (batched at production rates), else one invocation."""

    batched: bool
    units_per_order: float
    cpu_s_per_unit: float  # median
    calls_per_unit: Mapping[str, float]  # "service.Operation" -> calls
    wall_s_per_unit: float  # mean, on this machine
    log_lines_per_unit: Mapping[str, float] = field(default_factory=dict)  # its JSON lines, by level
    log_bytes_per_unit: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ExecutionEvent:
    """One history event of a sampled execution, as its log record would carry it."""

    type: str
    details: Mapping[str, Any]


@dataclass(frozen=True)
class Measured:
    """Stage-independent counts of a local run."""

    orders: int
    api_requests_per_order: float
    api_response_bytes: float  # mean POST response body, the access log's responseLength
    # "service.Operation" that AWS makes itself, outside the functions: the workflow's SendMessage
    # and Invokes, the SQS pollers' ReceiveMessage and DeleteMessageBatch
    service_calls_per_order: Mapping[str, float]
    functions: Mapping[str, FunctionUsage]
    workflow_functions: frozenset[str]  # the functions the state machine invokes
    executions: tuple[tuple[ExecutionEvent, ...], ...]  # a sample of execution histories
    executions_per_order: float
    log_compression_ratio: float  # gzip -6 of the functions' lines: CloudWatch stores logs compressed
    peak_memory_mb: Mapping[str, float] = field(default_factory=dict)  # per function, cold process
    reconciler: FunctionUsage | None = None  # per scheduled run (units: runs)

    @property
    def transitions_per_execution(self) -> float:
        """STANDARD bills every state entered, retries included."""
        counts = [
            sum(e.type.endswith("StateEntered") for e in events)
            + max(0, sum(e.type == "TaskScheduled" for e in events) - sum(e.type == "TaskStateEntered" for e in events))
            for events in self.executions
        ]
        return statistics.fmean(counts) if counts else 0.0


def function_usage(invocations: Iterable[Any], orders: int) -> FunctionUsage:
    """From a Meter's invocations of one function (metering.Invocation). An SQS-triggered
    function counts each message once: the local stage's 2 s visibility timeout redelivers
    messages when the machine is slow, which AWS's 180 s (6 x the function's timeout) does not.
    Its CPU time and calls are per delivery."""
    runs = list(invocations)
    batched = any(run.message_ids for run in runs)
    deliveries = [max(1, len(run.message_ids)) for run in runs]
    calls: Counter[str] = Counter()
    lines: Counter[str] = Counter()
    size: Counter[str] = Counter()
    for run in runs:
        calls.update(run.calls)
        lines.update(run.log_lines)
        size.update(run.log_bytes)
    total = sum(deliveries)
    units = len({message for run in runs for message in run.message_ids}) if batched else total
    return FunctionUsage(
        batched=batched,
        units_per_order=units / orders,
        cpu_s_per_unit=statistics.median(run.cpu_s / n for run, n in zip(runs, deliveries, strict=True)),
        calls_per_unit={call: count / total for call, count in sorted(calls.items())},
        wall_s_per_unit=sum(run.wall_s for run in runs) / total,
        log_lines_per_unit={level: n / total for level, n in sorted(lines.items())},
        log_bytes_per_unit={level: n / total for level, n in sorted(size.items())},
    )


def latency_s(call: str) -> float:
    figure = LATENCY_S.get(call)
    return figure.value if figure is not None else DEFAULT_LATENCY_S


def modelled_duration_s(usage: FunctionUsage, memory_mb: int, units: float) -> float:
    """Billed duration of one invocation handling `units` (rounded up to Lambda's 1 ms)."""
    stretch = max(1.0, LAMBDA_MB_PER_VCPU.value / memory_mb)
    waiting = sum(count * latency_s(call) for call, count in usage.calls_per_unit.items())
    return round_up(units * (usage.cpu_s_per_unit * stretch + waiting), LAMBDA_DURATION_STEP_S)


def without_execution_data(details: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in details.items() if key not in _EXECUTION_DATA_KEYS}


def execution_log_events(measured: Measured, stage: Stage) -> tuple[float, float]:
    """Log events and bytes per execution at the stage's level, each event rendered as the JSON
    record an EXPRESS execution writes (the documented format, without execution data)."""
    if not measured.executions:
        return 0.0, 0.0
    events = 0
    size = 0
    # arn:aws:states:region:account:express:machine:name:uuid; a name is the order id (a UUID
    # unless the client gave one) and 12 hex digits (chalicelib/workflow.py).
    arn = f"arn:aws:states:{stage.region}:123456789012:express:{stage.state_machine_name}:{_UUID}-{'0' * 12}:{_UUID}"
    for history in measured.executions:
        for number, event in enumerate(history, start=1):
            if not logged(event.type, stage.workflow_log_level):
                continue
            record = {
                "id": str(number),
                "type": event.type,
                "details": without_execution_data(event.details),
                "previous_event_id": str(number - 1),
                "event_timestamp": "1764095622123",
                "execution_arn": arn,
                "redrive_count": "0",
            }
            events += 1
            size += len(json.dumps(record, separators=(",", ":"), default=str).encode())
    return events / len(measured.executions), size / len(measured.executions)


def access_log_line_bytes(measured: Measured) -> int:
    """One access-log line, from the stage's format (infra/modules/api_gateway)."""
    values = {
        "$context.requestId": _UUID,
        "$context.identity.sourceIp": "198.51.100.123",
        "$context.identity.apiKeyId": "k" * 10,  # an API key id is 10 characters
        "$context.requestTime": "25/Nov/2026:18:33:42 +0000",
        "$context.httpMethod": "POST",
        "$context.resourcePath": "/order",
        "$context.status": "202",
        "$context.responseLength": str(round(measured.api_response_bytes)),
        "$context.integration.error": "-",
    }
    line = json.dumps(json.loads(ACCESS_LOG_FORMAT_FILE.read_text()), separators=(",", ":"), sort_keys=True)
    for variable in sorted(values, key=len, reverse=True):  # longest first: no prefix clashes
        line = line.replace(variable, values[variable])
    return len(line.encode())


def platform_log_bytes(duration_s: float, memory_mb: int, peak_mb: float, xray: bool) -> int:
    """START, END and REPORT (plain-text format) of one invocation, as Lambda writes them:
    docs.aws.amazon.com/lambda/latest/dg/python-logging.html"""
    request = _UUID
    duration_ms = duration_s * 1000
    lines = [
        f"START RequestId: {request} Version: $LATEST\n",
        f"END RequestId: {request}\n",
        f"REPORT RequestId: {request}\tDuration: {duration_ms:.2f} ms\tBilled Duration: {math.ceil(duration_ms)} ms\t"
        f"Memory Size: {memory_mb} MB\tMax Memory Used: {math.ceil(peak_mb) or memory_mb} MB\t\n",
    ]
    if xray:
        lines[-1] += "XRAY TraceId: 1-00000000-000000000000000000000000\tSegmentId: 0000000000000000\tSampled: true\n"
    return sum(len(line.encode()) for line in lines)


_LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


def _kept(level: str, threshold: str) -> bool:
    limit = _LEVELS.index(threshold.upper()) if threshold.upper() in _LEVELS else 1
    return level in _LEVELS and _LEVELS.index(level) >= limit


@dataclass(frozen=True)
class OrderMix:
    """Lines per order: a geometric distribution (each further line with probability 1 - p),
    truncated to the 1 to 100 lines the API accepts."""

    p: float = 1 / 3
    max_lines: int = 100
    min_lines: int = 1

    @cached_property
    def weights(self) -> tuple[tuple[int, float], ...]:
        raw = [(n, (1 - self.p) ** (n - self.min_lines) * self.p) for n in range(self.min_lines, self.max_lines + 1)]
        whole = sum(w for _, w in raw)
        return tuple((n, w / whole) for n, w in raw)

    @property
    def mean(self) -> float:
        return sum(n * w for n, w in self.weights)

    def describe(self) -> str:
        return f"lines per order: geometric (p = {self.p:.3f}) truncated to 1..{self.max_lines}, mean {self.mean:.2f}"


@dataclass(frozen=True)
class Production:
    """The SQS event sources' settings (app.py), which decide the batches a volume reaches."""

    batch_size: int
    batching_window_s: float

    def batch(self, messages_per_s: float) -> float:
        """Mean messages per invocation: a poller's receive returns with the first message it
        finds, and the batching window then collects what else reaches that poller."""
        return min(float(self.batch_size), 1 + messages_per_s * self.batching_window_s / LAMBDA_SQS_POLLERS)


@dataclass(frozen=True)
class CostSettings:
    """The stage's settings the bill reads beyond `Stage`: its `dofs` keys and environment in
    .chalice/config.json, with the values the app and Terraform use where a key is absent."""

    success_rate: float  # FULFILLMENT_SUCCESS_RATE
    order_retention_days: int  # ORDER_RETENTION_DAYS: terminal orders expire (DynamoDB TTL) this long after
    failed_order_retention_days: int  # FAILED_ORDER_RETENTION_DAYS: dead-lettered orders, failed_orders records
    point_in_time_recovery: bool
    xray_reservoir_per_s: int  # the API's sampling rule
    sqs_consumer_tracing: str  # "Active": Lambda samples them itself; "PassThrough": the order's trace decides
    lambda_log_format: str  # "Text" or "JSON"
    lambda_system_log_level: str  # JSON only: DEBUG/INFO keep START/END/REPORT, WARN drops them
    access_logs: bool
    waf_rules: int | None  # None: no web ACL
    deployed: bool  # has the monitoring module (alarms, dashboard, key): dev and prod, not local
    dashboard: bool
    functions: int
    sparse_index: bool = True  # the open-orders index; False: the by-status index it replaced

    @classmethod
    def of(cls, stage: Stage, config: Mapping[str, Any] | None = None) -> CostSettings:
        raw = (config or read_config())["stages"][stage.name]
        dofs = raw["dofs"]
        waf = dofs.get("waf")
        return cls(
            success_rate=float(stage.environment.get("FULFILLMENT_SUCCESS_RATE", "1.0")),
            order_retention_days=int(stage.environment.get("ORDER_RETENTION_DAYS", UNSET_RETENTION_DAYS)),
            failed_order_retention_days=int(stage.environment.get("FAILED_ORDER_RETENTION_DAYS", UNSET_RETENTION_DAYS)),
            point_in_time_recovery=bool(dofs.get("point_in_time_recovery", False)),
            xray_reservoir_per_s=int(dofs.get("xray_sampling_reservoir_per_second", 1)),
            sqs_consumer_tracing=str(dofs.get("xray_sqs_consumer_mode", "Active")),
            lambda_log_format=str(dofs.get("lambda_log_format", "Text")),
            lambda_system_log_level=str(dofs.get("lambda_system_log_level", "INFO")),
            access_logs=bool(dofs.get("api_access_logs", True)),
            waf_rules=int(waf.get("rules", 0)) if isinstance(waf, dict) and waf.get("enabled", False) else None,
            deployed="alarm_emails" in dofs,
            dashboard="alarm_emails" in dofs,
            functions=len(raw.get("lambda_functions", {})),
        )

    def index_writes(self, path: OrderPath) -> float:
        """Index writes per order. The by-status index (keyed on status and updated_at) took one
        write at the put and two at every update (the old entry out, the new in)."""
        if self.sparse_index:
            return INDEX_WRITES_PER_ORDER
        return 1 + 2 * (1 + path.receives + path.dead_letters)

    @property
    def platform_logs(self) -> bool:
        """START/END/REPORT: JSON format with a system level above INFO drops them."""
        return self.lambda_log_format != "JSON" or self.lambda_system_log_level.upper() in {"DEBUG", "INFO"}


@dataclass(frozen=True)
class OrderPath:
    """Per order, at success rate p and R receives: what the path does on average."""

    success_rate: float
    max_receive_count: int

    @property
    def failure(self) -> float:
        return 1.0 - self.success_rate

    @property
    def receives(self) -> float:
        return sum(self.failure**k for k in range(self.max_receive_count))

    @property
    def dead_letters(self) -> float:
        return float(self.failure**self.max_receive_count)


def write_units(size: float) -> int:
    return max(1, math.ceil(size / DYNAMODB_WRITE_UNIT_BYTES))


def read_units(size: float) -> int:
    return max(1, math.ceil(size / DYNAMODB_READ_UNIT_BYTES))


@dataclass(frozen=True)
class Storage:
    """Per order, expected over the mix: units of each kind and the bytes kept."""

    put_wru: float = 0.0
    update_wru: float = 0.0
    transact_wru: float = 0.0
    get_rru: float = 0.0
    fulfilled_bytes: float = 0.0  # the terminal item (with overhead), weighted by P(fulfilled)
    dead_bytes: float = 0.0  # the dead-lettered item and its failed_orders record, by P(dead)
    final_bytes: float = 0.0  # the terminal item, for a client's GET


def order_units(sizes: ItemSizes, mix: OrderMix, path: OrderPath) -> Storage:
    """Each write's units at the item's size at that write (an update bills the larger of the
    item before and after it: after, since items only grow), over the mix."""
    q, p = path.failure, path.success_rate
    put = update = transact = get = kept = dead = final = 0.0
    for lines, weight in mix.weights:
        size = float(sizes.order(lines))
        put += weight * write_units(size)
        size += sizes.verdict
        update += weight * write_units(size)
        for attempt in range(1, path.max_receive_count + 1):
            reach = q ** (attempt - 1)
            done = size + sizes.fulfilled
            update += weight * reach * p * write_units(done)
            kept += weight * reach * p * (done + DYNAMODB_ITEM_OVERHEAD_BYTES)
            final += weight * reach * p * done
            size += sizes.failed_attempt if attempt == 1 else sizes.later_failed_attempt
            update += weight * reach * q * write_units(size)
            get += weight * reach * q * read_units(size)  # the attempt reads the order back
        dead_size = size + sizes.dead_lettered
        last = weight * path.dead_letters
        get += last * read_units(size)  # the handler reads the order
        # A transaction bills two units per KB of each item it writes.
        transact += last * 2 * (write_units(dead_size) + write_units(sizes.failure_record))
        dead += last * (dead_size + sizes.failure_record + 2 * DYNAMODB_ITEM_OVERHEAD_BYTES)
        final += last * dead_size
    return Storage(put, update, transact, get, kept, dead, final)


def logged_lines(usage: FunctionUsage, level: str) -> tuple[float, float]:
    """A unit's own log lines and bytes at a Powertools log level."""
    lines = sum(n for name, n in usage.log_lines_per_unit.items() if _kept(name, level))
    size = sum(n for name, n in usage.log_bytes_per_unit.items() if _kept(name, level))
    return lines, size


def function_log(measured: Measured, level: str) -> tuple[float, float]:
    """The functions' own lines and bytes per order as measured (the local run's path)."""
    lines = size = 0.0
    for usage in measured.functions.values():
        n, b = logged_lines(usage, level)
        lines += n * usage.units_per_order
        size += b * usage.units_per_order
    return lines, size


def _log_line(item: str, events: float, size: float, measured: Measured, stage: Stage) -> Line:
    """Ingestion of `events` log events of `size` bytes in all, and their storage, compressed,
    for the stage's retention."""
    gb = (size + events * CLOUDWATCH_LOGS_EVENT_OVERHEAD_BYTES.value) / 1e9
    months = stage.log_retention_days / DAYS_PER_MONTH
    storage = PRICES_USD["cloudwatch_logs_per_gb_month_stored"] * measured.log_compression_ratio * months
    return Line("CloudWatch Logs", item, gb, PRICES_USD["cloudwatch_logs_per_gb_ingested"] + storage)


def traced_per_s(rate_per_s: float, reservoir: int, fixed_rate: float) -> float:
    """Traces a sampling rule records a second: the reservoir's requests (the expected
    min(N, reservoir) of a Poisson second), then the fixed rate of the rest."""
    if rate_per_s <= 0:
        return 0.0
    term = math.exp(-rate_per_s)  # P(N = 0)
    below = 0.0  # P(N <= k - 1), summed over k = 1..reservoir: E[min(N, reservoir)] = sum P(N >= k)
    cumulative = term
    for k in range(1, reservoir + 1):
        below += 1 - cumulative
        term *= rate_per_s / k
        cumulative += term
    return below + fixed_rate * (rate_per_s - below)


@dataclass(frozen=True)
class Bill:
    lines: tuple[Line, ...]

    @property
    def total(self) -> float:
        return sum(line.usd_per_million_orders for line in self.lines)


def _usage(measured: Measured, function: str) -> FunctionUsage:
    """A function the local run did not exercise (at a success rate of 1, the dead-letter
    handler) is priced like the costliest one that ran: never at zero."""
    if function in measured.functions:
        return measured.functions[function]
    return max(measured.functions.values(), key=lambda usage: usage.cpu_s_per_unit)


def floor_of(stage: Stage, settings: CostSettings) -> tuple[Stage, CostSettings]:
    """The stage with every avoidable line removed (FLOOR_* above)."""
    functions = {**stage.function_memory_mb, API_HANDLER: FLOOR_MEMORY_MB}
    return (
        replace(
            stage,
            lambda_memory_mb=FLOOR_MEMORY_MB,
            function_memory_mb=dict.fromkeys(functions, FLOOR_MEMORY_MB),
            environment={**stage.environment, "POWERTOOLS_LOG_LEVEL": FLOOR_LOG_LEVEL},
            workflow_log_level=FLOOR_LOG_LEVEL,
            xray=False,
        ),
        replace(
            settings,
            lambda_log_format="JSON",
            lambda_system_log_level="WARN",
            access_logs=False,
            waf_rules=None,
            dashboard=False,
        ),
    )


def bill(
    measured: Measured,
    stage: Stage,
    settings: CostSettings,
    production: Production,
    sizes: ItemSizes,
    orders_per_month: float,
    mix: OrderMix | None = None,
) -> Bill:
    """Every line of one order's share of the stage's bill at `orders_per_month`."""
    mix = mix or OrderMix()
    path = OrderPath(settings.success_rate, stage.max_receive_count)
    orders_per_s = orders_per_month / SECONDS_PER_MONTH
    api_requests = measured.api_requests_per_order
    executions = measured.executions_per_order
    units = order_units(sizes, mix, path)
    lines: list[Line] = [Line("API Gateway", "REST requests", api_requests, PRICES_USD["api_gateway_rest_per_request"])]

    # Each function: its units per order on this path, and the batch its event source reaches.
    per_order = {
        API_HANDLER: api_requests,
        **{function: executions for function in measured.workflow_functions},
        FULFILL: path.receives,
        DEAD_LETTER: path.dead_letters,
    }
    for function, usage in measured.functions.items():
        per_order.setdefault(function, usage.units_per_order)  # e.g. record_workflow_failure
    fulfill_batch = production.batch(path.receives * orders_per_s)
    dead_letter_batch = production.batch(path.dead_letters * orders_per_s)
    batches = {FULFILL: fulfill_batch, DEAD_LETTER: dead_letter_batch}
    durations: dict[str, float] = {}
    platform_events = platform_bytes = own_events = own_bytes = 0.0
    for function, units_per_order in sorted(per_order.items()):
        if units_per_order <= 0:
            continue
        usage = _usage(measured, function)
        batch = batches.get(function, 1.0)
        invocations = units_per_order / batch
        memory = stage.memory_mb(function)
        duration = modelled_duration_s(usage, memory, batch)
        durations[function] = duration
        lines.append(Line("Lambda", f"{function} requests", invocations, PRICES_USD["lambda_per_request"]))
        lines.append(
            Line(
                "Lambda",
                f"{function} GB-s ({memory} MB, {duration * 1000:.0f} ms x {batch:.1f} units)",
                invocations * duration * memory / 1024,
                PRICES_USD["lambda_per_gb_second"],
            )
        )
        n, b = logged_lines(usage, stage.log_level)
        own_events += units_per_order * n
        own_bytes += units_per_order * b
        if settings.platform_logs:
            peak = measured.peak_memory_mb.get(function, 0.0)
            platform_events += invocations * (4 if stage.xray else 3)
            platform_bytes += invocations * platform_log_bytes(duration, memory, peak, stage.xray)

    wru, rru = PRICES_USD["dynamodb_per_write_request_unit"], PRICES_USD["dynamodb_per_read_request_unit"]
    lines += [
        Line("DynamoDB", "PutItem WRU (accepted order, by size)", units.put_wru, wru),
        Line("DynamoDB", "UpdateItem WRU (verdict, attempts, by size)", units.update_wru, wru),
        Line("DynamoDB", "TransactWriteItems WRU (dead letters)", units.transact_wru, wru),
        Line("DynamoDB", "open-orders index WRU", settings.index_writes(path), wru),
        Line("DynamoDB", "GetItem RRU (failed attempts, dead letters)", units.get_rru, rru),
    ]
    storage_price = PRICES_USD["dynamodb_per_gb_month_stored"]
    pitr_price = PRICES_USD["dynamodb_pitr_per_gb_month"] if settings.point_in_time_recovery else 0.0
    gb_months = (
        (
            units.fulfilled_bytes * settings.order_retention_days
            + units.dead_bytes * settings.failed_order_retention_days
        )
        / DAYS_PER_MONTH
        / 1e9
    )
    lines.append(
        Line(
            "DynamoDB",
            f"storage ({settings.order_retention_days} d orders, {settings.failed_order_retention_days} d failed)",
            gb_months,
            storage_price,
        )
    )
    lines.append(Line("DynamoDB", "point-in-time recovery", gb_months, pitr_price))

    sqs = PRICES_USD["sqs_per_request"]
    lines += [
        Line("SQS", "SendMessage", measured.service_calls_per_order.get("sqs.SendMessage", 1.0), sqs),
        Line(
            "SQS",
            f"ReceiveMessage + DeleteMessageBatch (batches of {fulfill_batch:.1f})",
            2 * path.receives / fulfill_batch,
            sqs,
        ),
        Line(
            "SQS",
            "dead-letter queue ReceiveMessage + DeleteMessageBatch",
            2 * path.dead_letters / dead_letter_batch,
            sqs,
        ),
    ]

    lines.append(_log_line(f"function logs ({stage.log_level})", own_events, own_bytes, measured, stage))
    lines.append(_log_line("Lambda START/END/REPORT", platform_events, platform_bytes, measured, stage))
    if settings.access_logs:
        line = access_log_line_bytes(measured)
        lines.append(_log_line("API access logs", api_requests, api_requests * line, measured, stage))
    if stage.xray:
        api_rate = api_requests * orders_per_s
        api_traced = traced_per_s(api_rate, settings.xray_reservoir_per_s, stage.xray_sampling_rate)
        traced = api_traced
        for function in (FULFILL, DEAD_LETTER):
            if settings.sqs_consumer_tracing == "PassThrough":
                # Only the sampled orders' messages, each priced as a trace of its own (they
                # join their order's trace: an upper bound).
                traced += api_traced / api_rate * per_order[function] * orders_per_s
            else:
                invocations_per_s = per_order[function] / batches[function] * orders_per_s
                traced += traced_per_s(invocations_per_s, LAMBDA_XRAY_RESERVOIR_PER_S, LAMBDA_XRAY_SAMPLING_RATE)
        lines.append(
            Line(
                "X-Ray",
                f"traces (reservoir {settings.xray_reservoir_per_s}/s, then {stage.xray_sampling_rate:.0%})",
                traced / orders_per_s,
                PRICES_USD["xray_per_trace_recorded"],
            )
        )
    if settings.waf_rules is not None:
        lines.append(Line("WAF", "requests", api_requests, PRICES_USD["waf_per_request"]))

    lines += _workflow_lines(measured, stage, durations, executions)
    lines += _fixed_lines(measured, stage, settings, orders_per_month)
    return Bill(tuple(line for line in lines if line.quantity_per_order > 0 and line.unit_price > 0))


def _workflow_lines(measured: Measured, stage: Stage, durations: Mapping[str, float], executions: float) -> list[Line]:
    """An execution lasts as long as its tasks: each function it invokes, plus the Task's own
    overhead, plus its SQS send."""
    execution_s = sum(durations.get(f, 0.0) + latency_s("lambda.Invoke") for f in measured.workflow_functions)
    execution_s += latency_s("sqs.SendMessage")
    log_events, log_size = execution_log_events(measured, stage)
    logs = _log_line(
        f"execution logs ({stage.workflow_log_level})", executions * log_events, executions * log_size, measured, stage
    )
    if stage.workflow_type == "STANDARD":
        transitions = executions * measured.transitions_per_execution
        return [
            Line(
                "Step Functions", "STANDARD state transitions", transitions, PRICES_USD["sfn_standard_per_transition"]
            ),
            logs,
        ]
    gb_s = round_up(execution_s, EXPRESS_DURATION_STEP_S) * EXPRESS_MEMORY_CHUNK_MB / 1024
    return [
        Line("Step Functions", "EXPRESS requests", executions, PRICES_USD["sfn_express_per_request"]),
        Line(
            "Step Functions",
            f"EXPRESS GB-s (64 MB, {execution_s * 1000:.0f} ms in 100 ms steps)",
            executions * gb_s,
            PRICES_USD["sfn_express_per_gb_second"],
        ),
        logs,
    ]


def _fixed_lines(measured: Measured, stage: Stage, settings: CostSettings, orders_per_month: float) -> list[Line]:
    """Monthly amounts, whatever the volume, as each order's share of them."""
    share = 1 / orders_per_month
    polls = QUEUES * LAMBDA_SQS_POLLERS * SECONDS_PER_MONTH / SQS_LONG_POLL_S
    lines = [Line("SQS", "idle long polls (fixed)", polls * share, PRICES_USD["sqs_per_request"])]
    if settings.deployed:
        alarms = STAGE_ALARMS + ALARMS_PER_FUNCTION * settings.functions
        lines += [
            Line("CloudWatch", f"{alarms} alarms (fixed)", alarms * share, PRICES_USD["cloudwatch_alarm_per_month"]),
            Line(
                "CloudWatch",
                "custom metrics (fixed)",
                CUSTOM_METRICS * share,
                PRICES_USD["cloudwatch_custom_metric_per_month"],
            ),
            Line("KMS", "alarm topic key (fixed)", share, PRICES_USD["kms_key_per_month"]),
        ]
    if settings.dashboard:
        lines.append(Line("CloudWatch", "dashboard (fixed)", share, PRICES_USD["cloudwatch_dashboard_per_month"]))
    if settings.waf_rules is not None:
        lines.append(Line("WAF", "web ACL (fixed)", share, PRICES_USD["waf_web_acl_per_month"]))
        lines.append(
            Line(
                "WAF",
                f"{settings.waf_rules} rules (fixed)",
                settings.waf_rules * share,
                PRICES_USD["waf_rule_per_month"],
            )
        )
    if measured.reconciler is not None:
        from app import RECONCILE_EVERY_MINUTES

        runs = SECONDS_PER_MONTH / 60 / RECONCILE_EVERY_MINUTES * share
        usage = measured.reconciler
        memory = stage.memory_mb(RECONCILER)
        duration = modelled_duration_s(usage, memory, 1)
        queries = usage.calls_per_unit.get("dynamodb.Query", 0.0)
        n, b = logged_lines(usage, stage.log_level)
        lines += [
            Line("Lambda", "reconcile_orders requests (fixed)", runs, PRICES_USD["lambda_per_request"]),
            Line(
                "Lambda",
                f"reconcile_orders GB-s ({memory} MB, fixed)",
                runs * duration * memory / 1024,
                PRICES_USD["lambda_per_gb_second"],
            ),
            Line(
                "DynamoDB", "reconciler Query RRU (fixed)", runs * queries, PRICES_USD["dynamodb_per_read_request_unit"]
            ),
            _log_line("reconciler logs (fixed)", runs * n, runs * b, measured, stage),
        ]
    return lines


def get_bill(
    measured: Measured, stage: Stage, settings: CostSettings, sizes: ItemSizes, mix: OrderMix | None = None
) -> Bill:
    """One client's GET /order/{id} (priced per GET: how often clients poll is theirs to
    choose): the request, the API function reading the item at its terminal size, its logs,
    and its trace at the rule's fixed rate (the reservoir is the POSTs')."""
    mix = mix or OrderMix()
    path = OrderPath(settings.success_rate, stage.max_receive_count)
    usage = replace(measured.functions[API_HANDLER], calls_per_unit={"dynamodb.GetItem": 1.0})
    memory = stage.memory_mb(API_HANDLER)
    duration = modelled_duration_s(usage, memory, 1)
    final = order_units(sizes, mix, path).final_bytes
    n, b = logged_lines(usage, stage.log_level)
    lines = [
        Line("API Gateway", "REST requests", 1.0, PRICES_USD["api_gateway_rest_per_request"]),
        Line("Lambda", "api_handler requests", 1.0, PRICES_USD["lambda_per_request"]),
        Line("Lambda", f"api_handler GB-s ({memory} MB)", duration * memory / 1024, PRICES_USD["lambda_per_gb_second"]),
        Line("DynamoDB", "GetItem RRU", float(read_units(final)), PRICES_USD["dynamodb_per_read_request_unit"]),
        _log_line("function logs", n, b, measured, stage),
    ]
    if settings.platform_logs:
        lines.append(
            _log_line(
                "Lambda START/END/REPORT", 3.0, platform_log_bytes(duration, memory, 0.0, stage.xray), measured, stage
            )
        )
    if settings.access_logs:
        lines.append(_log_line("API access logs", 1.0, access_log_line_bytes(measured), measured, stage))
    if stage.xray:
        lines.append(Line("X-Ray", "traces", stage.xray_sampling_rate, PRICES_USD["xray_per_trace_recorded"]))
    if settings.waf_rules is not None:
        lines.append(Line("WAF", "requests", 1.0, PRICES_USD["waf_per_request"]))
    return Bill(tuple(line for line in lines if line.quantity_per_order > 0))


VOLUMES = (1_000_000, 10_000_000, 100_000_000)


@dataclass(frozen=True)
class Lever:
    """A setting that lowers the bill, and how to undo it (to measure what it saves)."""

    name: str
    undo: Callable[[Stage, CostSettings], tuple[Stage, CostSettings]]


LEVERS = (
    Lever("execution logs at ERROR, not ALL", lambda stage, s: (replace(stage, workflow_log_level="ALL"), s)),
    Lever(
        "JSON Lambda logs, system level WARN (no START/END/REPORT)",
        lambda stage, s: (stage, replace(s, lambda_log_format="Text", lambda_system_log_level="INFO")),
    ),
    Lever("X-Ray: no reservoir on the API rule", lambda stage, s: (stage, replace(s, xray_reservoir_per_s=1))),
    Lever(
        "X-Ray: SQS consumers PassThrough, not Active",
        lambda stage, s: (stage, replace(s, sqs_consumer_tracing="Active")),
    ),
    Lever("sparse open-orders index, not by-status", lambda stage, s: (stage, replace(s, sparse_index=False))),
)


def lever_savings(
    measured: Measured,
    stage: Stage,
    production: Production,
    sizes: ItemSizes,
    orders_per_month: float,
    config: Mapping[str, Any] | None = None,
) -> dict[str, float]:
    """What each lever saves the stage, $ per million orders: its bill with the lever undone
    minus its bill (0 where the stage does not pull it)."""
    settings = CostSettings.of(stage, config)
    now = bill(measured, stage, settings, production, sizes, orders_per_month).total
    return {
        lever.name: bill(measured, *lever.undo(stage, settings), production, sizes, orders_per_month).total - now
        for lever in LEVERS
    }


def stage_bills(
    measured: Measured,
    stage: Stage,
    production: Production,
    sizes: ItemSizes,
    config: Mapping[str, Any] | None = None,
    mix: OrderMix | None = None,
) -> dict[int, tuple[Bill, Bill]]:
    """The stage's bill and its floor at each volume."""
    settings = CostSettings.of(stage, config)
    floor_stage, floor_settings = floor_of(stage, settings)
    return {
        volume: (
            bill(measured, stage, settings, production, sizes, volume, mix),
            bill(measured, floor_stage, floor_settings, production, sizes, volume, mix),
        )
        for volume in VOLUMES
    }


def headline(stage: str, volume: int, total: float, floor: float) -> str:
    """The line a check reads."""
    return f"cost {stage} {volume // 1_000_000}M/month: ${total:.2f} per million orders (floor ${floor:.2f})"
