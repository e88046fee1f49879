"""$ per million orders on AWS, per stage: what a local run counted, priced with pricing.py.

The model is reproducible: nothing in it is local wall-clock time. A Lambda invocation bills

    own CPU time x (1,769 MB / memory, at least 1)  +  its AWS calls x their typical latency

rounded up to 1 ms, where the CPU time is the median per invocation (per message for SQS
batches) of the handler's thread, and the calls are counted by operation. The measured
wall-clock time is printed beside it, as a measurement of this machine (the emulator answers
the calls in-process, so it is not a bound on AWS's). Every line of the bill is a count the local
run made (requests, items, log bytes) or a stage setting (.chalice/config.json, read through
dofs_local/stage.py, the file Chalice and Terraform read too).
"""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dofs_local.measurement.pricing import (
    CLOUDWATCH_LOGS_EVENT_OVERHEAD_BYTES,
    DEFAULT_LATENCY_S,
    EXPRESS_DURATION_STEP_S,
    EXPRESS_MEMORY_CHUNK_MB,
    LAMBDA_DURATION_STEP_S,
    LAMBDA_MB_PER_VCPU,
    LATENCY_S,
    PRICES_USD,
    Line,
    round_up,
)
from dofs_local.stage import PROJECT_DIR, Stage

# The API stage's access log format (infra/modules/api_gateway writes it with jsonencode: one line,
# keys sorted).
ACCESS_LOG_FORMAT_FILE = PROJECT_DIR / "infra" / "modules" / "api_gateway" / "access_log_format.json"

# The by-status index (KEYS_ONLY, keyed on status and updated_at) changes with every order write:
# a new item is one index write, an update that changes the index key is two (delete the old
# entry, put the new), each entry under 1 KB. docs.aws.amazon.com/amazondynamodb/latest/
# developerguide/GSI.html#GSI.ThroughputConsiderations.Writes
INDEX_WRITES = {"PutItem": 1, "UpdateItem": 2}
DYNAMODB_WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
DYNAMODB_READS = {"GetItem", "Query"}
# SQS requests that the Lambda service's poller makes for an SQS-triggered function, once a batch.
POLLER_OPERATIONS = {"ReceiveMessage", "DeleteMessageBatch"}
# X-Ray traces the stage's share of API requests (the functions and the workflow follow the API's
# decision); an SQS-triggered invocation has no upstream decision, and Lambda samples those at
# its own fixed 5 %. Each rule's reservoir (requests/s) is a fixed monthly amount, not per order.
# docs.aws.amazon.com/lambda/latest/dg/services-xray.html
LAMBDA_XRAY_SAMPLING_RATE = 0.05
# Lambda polls a standard queue with five pollers to start with, each filling its own batch
# within the batching window. docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html
LAMBDA_SQS_POLLERS = 5
DAYS_PER_MONTH = 30

# The execution log level's events: docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html
_FATAL_EVENTS = {"ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"}
_ERROR_MARKERS = ("Failed", "Aborted", "TimedOut")
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
    order_item_bytes: float  # DynamoDB size of a terminal orders item (the largest it gets)
    log_compression_ratio: float  # gzip -6 of the functions' lines: CloudWatch stores logs compressed
    peak_memory_mb: Mapping[str, float] = field(default_factory=dict)  # per function, cold process

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


@dataclass(frozen=True)
class Production:
    """The SQS event sources' settings (app.py), which decide the batches at production rates."""

    batch_size: int
    batching_window_s: float

    def batch(self, stage: Stage) -> int:
        """Messages per invocation at the rate the stage is sized for (its API throttling rate):
        each poller collects a window's share; the local stage is priced at full batches."""
        if stage.api_throttling_rate_limit is None:
            return self.batch_size
        per_poller = stage.api_throttling_rate_limit * self.batching_window_s / LAMBDA_SQS_POLLERS
        return max(1, min(self.batch_size, math.floor(per_poller)))


def latency_s(call: str) -> float:
    figure = LATENCY_S.get(call)
    return figure.value if figure is not None else DEFAULT_LATENCY_S


def modelled_duration_s(usage: FunctionUsage, memory_mb: int, units: int) -> float:
    """Billed duration of one invocation handling `units` (rounded up to Lambda's 1 ms)."""
    stretch = max(1.0, LAMBDA_MB_PER_VCPU.value / memory_mb)
    waiting = sum(count * latency_s(call) for call, count in usage.calls_per_unit.items())
    return round_up(units * (usage.cpu_s_per_unit * stretch + waiting), LAMBDA_DURATION_STEP_S)


def dynamodb_item_bytes(item: Mapping[str, Any]) -> int:
    """An item's size as DynamoDB bills it, from its low-level form ({"S": ...}, {"N": ...}):
    attribute names plus values; numbers about 1 byte per 2 digits plus 1; lists and maps 3
    bytes plus 1 per element. docs.aws.amazon.com/amazondynamodb/latest/developerguide/
    CapacityUnitCalculations.html"""
    return sum(len(name.encode()) + _value_bytes(value) for name, value in item.items())


def _value_bytes(value: Mapping[str, Any]) -> int:
    (kind, content), *_ = value.items()
    if kind == "S":
        return len(str(content).encode())
    if kind == "N":
        return math.ceil(len(str(content).lstrip("-").replace(".", "")) / 2) + 1
    if kind in {"BOOL", "NULL"}:
        return 1
    if kind == "L":
        return 3 + sum(1 + _value_bytes(element) for element in content)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + _value_bytes(element) for name, element in content.items())
    return len(json.dumps(content).encode())  # sets and binaries: not in this table's items


def logged_at(event_type: str, level: str) -> bool:
    if level == "ALL":
        return True
    if level == "ERROR":
        return any(marker in event_type for marker in _ERROR_MARKERS)
    if level == "FATAL":
        return event_type in _FATAL_EVENTS
    return False  # OFF


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
            if not logged_at(event.type, stage.workflow_log_level):
                continue
            record = {
                "id": str(number),
                "type": event.type,
                "details": {k: v for k, v in event.details.items() if k not in _EXECUTION_DATA_KEYS},
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


def function_log(measured: Measured, level: str) -> tuple[float, float]:
    """The functions' own lines and bytes per order at a Powertools log level."""
    threshold = _LEVELS.index(level.upper()) if level.upper() in _LEVELS else 1

    def kept(name: str) -> bool:
        return name in _LEVELS and _LEVELS.index(name) >= threshold

    lines = bytes_ = 0.0
    for usage in measured.functions.values():
        lines += sum(n for name, n in usage.log_lines_per_unit.items() if kept(name)) * usage.units_per_order
        bytes_ += sum(n for name, n in usage.log_bytes_per_unit.items() if kept(name)) * usage.units_per_order
    return lines, bytes_


def _log_line(item: str, events: float, size: float, measured: Measured, stage: Stage) -> Line:
    """Ingestion of `events` log events of `size` bytes in all, and their storage, compressed,
    for the stage's retention."""
    gb = (size + events * CLOUDWATCH_LOGS_EVENT_OVERHEAD_BYTES.value) / 1e9
    months = stage.log_retention_days / DAYS_PER_MONTH
    storage = PRICES_USD["cloudwatch_logs_per_gb_month_stored"] * measured.log_compression_ratio * months
    return Line("CloudWatch Logs", item, gb, PRICES_USD["cloudwatch_logs_per_gb_ingested"] + storage)


def request_lines(calls: Mapping[str, float], item_bytes: float, batch: int) -> list[Line]:
    """SQS and DynamoDB requests per order: the pollers' once a batch, writes by item size and
    with the by-status index's own writes."""
    lines: list[Line] = []
    write_units = max(1, math.ceil(item_bytes / 1024))
    wru = PRICES_USD["dynamodb_per_write_request_unit"]
    for call, per_order in sorted(calls.items()):
        service, operation = call.split(".", 1)
        if service == "sqs":
            quantity = calls.get("sqs.SendMessage", 0.0) / batch if operation in POLLER_OPERATIONS else per_order
            lines.append(Line("SQS", operation, quantity, PRICES_USD["sqs_per_request"]))
        elif service == "dynamodb" and operation in DYNAMODB_WRITES:
            lines.append(Line("DynamoDB", f"{operation} WRU", per_order * write_units, wru))
            if operation in INDEX_WRITES:
                index_units = per_order * INDEX_WRITES[operation]
                lines.append(Line("DynamoDB", f"{operation} by-status index WRU", index_units, wru))
        elif service == "dynamodb" and operation == "TransactWriteItems":  # two items, twice the units
            lines.append(Line("DynamoDB", "TransactWriteItems WRU", per_order * 2 * 2 * write_units, wru))
        elif service == "dynamodb" and operation in DYNAMODB_READS:  # strongly consistent, under 4 KB
            lines.append(Line("DynamoDB", f"{operation} RRU", per_order, PRICES_USD["dynamodb_per_read_request_unit"]))
    return lines


def bill(measured: Measured, stage: Stage, production: Production) -> dict[str, list[Line]]:
    """Per-order lines shared by both workflow types, and each type's own lines. Lines marked
    `floor` are the fixed per-request prices of the calls an order must make."""
    batch = production.batch(stage)
    shared: list[tuple[Line, bool]] = [
        (
            Line(
                "API Gateway",
                "REST requests",
                measured.api_requests_per_order,
                PRICES_USD["api_gateway_rest_per_request"],
            ),
            True,
        )
    ]
    lambda_events = 0.0
    lambda_log_bytes = 0.0
    durations: dict[str, float] = {}
    for function, usage in sorted(measured.functions.items()):
        units = batch if usage.batched else 1
        invocations = usage.units_per_order / units
        memory = stage.memory_mb(function)
        duration = modelled_duration_s(usage, memory, units)
        durations[function] = duration
        shared.append((Line("Lambda", f"{function} requests", invocations, PRICES_USD["lambda_per_request"]), True))
        shared.append(
            (
                Line(
                    "Lambda",
                    f"{function} GB-s ({memory} MB, {duration * 1000:.0f} ms/invocation)",
                    invocations * duration * memory / 1024,
                    PRICES_USD["lambda_per_gb_second"],
                ),
                False,
            )
        )
        peak = measured.peak_memory_mb.get(function, 0.0)
        lambda_events += invocations * (4 if stage.xray else 3)
        lambda_log_bytes += invocations * platform_log_bytes(duration, memory, peak, stage.xray)

    calls: dict[str, float] = dict(measured.service_calls_per_order)
    for usage in measured.functions.values():
        for call, per_unit in usage.calls_per_unit.items():
            calls[call] = calls.get(call, 0.0) + per_unit * usage.units_per_order
    sqs_messages = calls.get("sqs.SendMessage", 0.0)
    shared.extend((line, True) for line in request_lines(calls, measured.order_item_bytes, batch))

    log_lines, log_bytes = function_log(measured, stage.log_level)
    shared.append((_log_line(f"function logs ({stage.log_level})", log_lines, log_bytes, measured, stage), False))
    shared.append((_log_line("Lambda START/END/REPORT", lambda_events, lambda_log_bytes, measured, stage), False))
    shared.append(
        (
            _log_line(
                "API access logs",
                measured.api_requests_per_order,
                measured.api_requests_per_order * access_log_line_bytes(measured),
                measured,
                stage,
            ),
            False,
        )
    )
    if stage.xray:
        batched_invocations = sum(
            usage.units_per_order / batch for usage in measured.functions.values() if usage.batched
        )
        traces = (
            stage.xray_sampling_rate * measured.api_requests_per_order + LAMBDA_XRAY_SAMPLING_RATE * batched_invocations
        )
        shared.append(
            (
                Line(
                    "X-Ray",
                    f"traces recorded ({stage.xray_sampling_rate:.0%} of requests)",
                    traces,
                    PRICES_USD["xray_per_trace_recorded"],
                ),
                False,
            )
        )

    executions = measured.executions_per_order
    # An execution lasts as long as its tasks: each function it invokes, plus the Task's own
    # overhead, plus its SQS send.
    per_execution = {
        function: measured.functions[function].units_per_order / executions
        for function in measured.workflow_functions
        if function in measured.functions and executions
    }
    execution_s = sum(n * (durations[f] + latency_s("lambda.Invoke")) for f, n in per_execution.items()) + (
        sqs_messages / executions * latency_s("sqs.SendMessage") if executions else 0.0
    )
    express_gb_s = round_up(execution_s, EXPRESS_DURATION_STEP_S) * EXPRESS_MEMORY_CHUNK_MB / 1024
    log_events, log_size = execution_log_events(measured, stage)
    execution_logs = _log_line(
        f"execution logs ({stage.workflow_log_level})", executions * log_events, executions * log_size, measured, stage
    )
    express_requests = Line("Step Functions", "EXPRESS requests", executions, PRICES_USD["sfn_express_per_request"])
    return {
        "shared": [line for line, _ in shared if line.quantity_per_order > 0],
        # The cheaper workflow type's request is part of the floor.
        "floor": [line for line, floor in shared if floor and line.quantity_per_order > 0] + [express_requests],
        "EXPRESS": [
            express_requests,
            Line(
                "Step Functions",
                f"EXPRESS GB-s (64 MB, {execution_s * 1000:.0f} ms in 100 ms steps)",
                executions * express_gb_s,
                PRICES_USD["sfn_express_per_gb_second"],
            ),
            execution_logs,
        ],
        "STANDARD": [
            Line(
                "Step Functions",
                "STANDARD state transitions",
                executions * measured.transitions_per_execution,
                PRICES_USD["sfn_standard_per_transition"],
            ),
            execution_logs,
        ],
    }


def totals(lines: dict[str, list[Line]]) -> dict[str, float]:
    """Each workflow type's total, and the floor."""
    shared = sum(line.usd_per_million_orders for line in lines["shared"])
    result = {
        kind: shared + sum(line.usd_per_million_orders for line in lines[kind]) for kind in ("EXPRESS", "STANDARD")
    }
    result["floor"] = sum(line.usd_per_million_orders for line in lines["floor"])
    return result


def gb_s_at_this_machines_wall_clock(measured: Measured, stage: Stage, production: Production) -> float:
    """The Lambda GB-s lines priced at the wall-clock time measured here instead: this machine's
    figure, which its load raises and the in-process emulator lowers; not a bound on AWS's."""
    total = 0.0
    batch = production.batch(stage)
    for function, usage in measured.functions.items():
        units = batch if usage.batched else 1
        memory = stage.memory_mb(function)
        duration = round_up(units * usage.wall_s_per_unit, LAMBDA_DURATION_STEP_S)
        total += usage.units_per_order / units * duration * memory / 1024 * PRICES_USD["lambda_per_gb_second"] * 1e6
    return total
