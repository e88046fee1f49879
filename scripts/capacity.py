"""What a stage can carry, in orders/s, computed from its sources, never from copies:

- its settings as packaged: .chalice/config.json through dofs_config/stage.py (memory, reserved
  concurrency, the `dofs` block: API and per-client throttles and quota, the event source
  mappings' maximum concurrency, the open-orders index's shards, DynamoDB warm throughput), and
  app.py's batch size, which Chalice packages;
- AWS's published default quotas, one table below, each with its source;
- each function's CPU time per unit of work, measured on this machine by
  `python scripts/capacity.py measure` (MEASURED below), stretched by Lambda's CPU share at the
  function's memory (1 vCPU at 1,769 MB, proportionally less below), plus its AWS calls at their
  typical latencies (dofs_local/measurement/pricing.py).

Every hop gets a ceiling in orders/s; the stage's sustained capacity is the lowest, and the
binding hop is the one that sets it. Each stage declares the rate it must carry
(`required_orders_per_second` in its `dofs` block); `check` fails when the settings put it below
that rate, or when a burst of BURST_FACTOR x that rate for BURST_SECONDS would lose an order.

    python scripts/capacity.py report --stage prod   # every hop, then the one-line verdict
    python scripts/capacity.py measure               # CPU time per unit, on the local stack
"""

from __future__ import annotations

import argparse
import ast
import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from dofs_config.stage import CONFIG_PATH, LOCAL_STAGE, Stage, UnknownStageError, load_stage, read_config  # noqa: E402
from dofs_local.measurement.pricing import LAMBDA_MB_PER_VCPU, LATENCY_S  # noqa: E402
from scripts.timing import load_asl  # noqa: E402

APP_PATH = PROJECT_DIR / "app.py"
INFINITE = math.inf


@dataclass(frozen=True)
class Quota:
    value: float
    source: str


_APIGW = "https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html"
_LAMBDA = "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"
_LAMBDA_SCALING = "https://docs.aws.amazon.com/lambda/latest/dg/scaling-behavior.html"
_LAMBDA_SQS = "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html"
_SFN = "https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html"
_DDB_PARTITIONS = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html"
_DDB_ON_DEMAND = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode.html"
_DDB_WARM = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput.html"
_SQS = "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html"

# AWS's default quotas (us-east-1), the ones a new account has without asking.
QUOTAS = {
    "api_account_rps": Quota(10_000, f"{_APIGW} (throttle per account and region, REST APIs)"),
    "api_account_burst": Quota(5_000, f"{_APIGW} (burst per account and region)"),
    "lambda_account_concurrency": Quota(1_000, f"{_LAMBDA} (concurrent executions, shared by every function)"),
    "lambda_unreserved_minimum": Quota(100, f"{_LAMBDA} (reserved concurrency leaves at least 100 unreserved)"),
    "lambda_scale_per_10s": Quota(1_000, f"{_LAMBDA_SCALING} (new execution environments per function per 10 s)"),
    "lambda_mb_per_vcpu": Quota(LAMBDA_MB_PER_VCPU.value, LAMBDA_MB_PER_VCPU.source),
    "sqs_esm_maximum_concurrency": Quota(
        1_000, f"{_LAMBDA_SQS} (maximum concurrency of an SQS event source, 2..1,000)"
    ),
    "sfn_express_start_rps": Quota(6_000, f"{_SFN} (StartExecution, Express: refill 6,000/s, us-east-1)"),
    "sfn_express_start_bucket": Quota(6_000, f"{_SFN} (StartExecution, Express: bucket 6,000, us-east-1)"),
    "dynamodb_partition_wcu": Quota(1_000, f"{_DDB_PARTITIONS} (write units/s per partition, tables and indexes)"),
    "dynamodb_partition_rcu": Quota(3_000, f"{_DDB_PARTITIONS} (read units/s per partition)"),
    "dynamodb_new_on_demand_wcu": Quota(4_000, f"{_DDB_ON_DEMAND} (a new on-demand table or index; {_DDB_WARM})"),
    "dynamodb_new_on_demand_rcu": Quota(12_000, f"{_DDB_ON_DEMAND} (a new on-demand table or index)"),
    "sqs_standard_rps": Quota(INFINITE, f"{_SQS} (standard queues: a nearly unlimited number of calls per second)"),
    "sqs_standard_in_flight": Quota(120_000, f"{_SQS} (in-flight messages per standard queue)"),
}

# Assumptions of the model, named so a reader can change them.
GETS_PER_ORDER = 1.0  # a client reads its order once (GET /order/{id}); GETs share the API's throttle
BUSIEST_CLIENT_SHARE = 1.0  # the share of the stage's rate that one API key may send (today one key serves all)
BURST_FACTOR = 3.0  # the burst every stage must absorb, as a multiple of its declared rate ...
BURST_SECONDS = 60.0  # ... for this long, the queue taking what fulfillment cannot keep up with
SECONDS_PER_DAY = 86_400
# The order queue's age alarm fires at this fraction of the stuck-order threshold (infra/stage
# passes floor(stuck_order_threshold_seconds / 3) to modules/monitoring).
QUEUE_AGE_ALARM_DIVISOR = 3
# The open-orders index: an order's key is written when it is accepted and removed when it is
# terminal, its hash key one of OPEN_ORDERS_INDEX_SHARDS values (the stage's environment, as its
# functions read it; chalicelib/settings.py's default where unset). A status-keyed index (the old
# `by-status`) is one shard.
INDEX_WRITES_PER_ORDER = 2
DEFAULT_INDEX_SHARDS = 32  # chalicelib.settings.DEFAULT_OPEN_ORDERS_INDEX_SHARDS (tests/test_capacity.py)
WCU_PER_WRITE = 1  # every item is under 1 KB
WCU_PER_TRANSACTION_ITEM = 2  # a transactional write costs two units per item
RCU_PER_CONSISTENT_READ = 1  # GetItem with ConsistentRead (chalicelib/repository.py), under 4 KB
DEFAULT_SUCCESS_RATE = 0.7  # FULFILLMENT_SUCCESS_RATE where the stage does not set it (chalicelib/settings.py)


@dataclass(frozen=True)
class Work:
    """One unit of a function's work: its own CPU time on this machine and its AWS calls."""

    cpu_ms: float
    calls: Mapping[str, float]


# Measured on this machine (2 cores, Python 3.11) by `python scripts/capacity.py measure`: the
# median CPU time of the handler's own thread per invocation (per message for SQS batches), which
# excludes the emulator's threads that answer its calls, and the AWS calls it made.
MEASURED = {
    "api_handler.POST": Work(3.4, {"dynamodb.PutItem": 1, "stepfunctions.StartExecution": 1}),
    "api_handler.GET": Work(1.7, {"dynamodb.GetItem": 1}),
    "validate_order": Work(0.4, {}),
    "store_order": Work(2.0, {"dynamodb.UpdateItem": 1}),
    "fulfill_order": Work(1.8, {"dynamodb.UpdateItem": 1}),
}
# A Lambda vCPU is taken to do this machine's work in twice the time: TLS, which the emulator's
# plain HTTP leaves out, and a slower core than this one's; an assumption, not a measurement.
CPU_MARGIN = 2.0
# Each function's init on this machine, as CPU time (user + system, which the machine's other load
# inflates less than wall-clock time): the init as Lambda runs it, from prod's package with the
# function's own environment, X-Ray SDK included where the function traces (median of 7, by
# `python scripts/capacity.py measure`). At a function's memory it takes CPU_MARGIN x its CPU
# share's stretch.
MEASURED_COLD_START_MS = {
    "api_handler": 377.0,
    "validate_order": 281.0,
    "store_order": 387.0,
    "record_workflow_failure": 391.0,
    "fulfill_order": 433.0,
    "handle_dead_letter": 428.0,
}
# The warm work of a workflow task each Task's timeout must also cover (record_workflow_failure's,
# one conditional UpdateItem like store_order's, is not measured: it runs only on failures).
TASK_WORK = {"validate_order": "validate_order", "store_order": "store_order", "record_workflow_failure": "store_order"}
MEMORY_STEP_MB = 64  # Lambda takes memory in 1 MB steps; the floor is searched in these
MAX_MEMORY_MB = 10_240
# The workflow's functions, invoked once per order each (RecordWorkflowFailure only on a failure).
WORKFLOW_FUNCTIONS = ("validate_order", "store_order")


@dataclass(frozen=True)
class Settings:
    """A stage's capacity settings, as packaged."""

    stage: Stage
    required_orders_per_second: float
    api_rate: float | None  # requests/s of the API stage (None: no API Gateway, the local stage)
    api_burst: float | None
    client_rate: float | None
    client_burst: float | None
    client_quota_per_day: float | None  # None: no daily quota
    event_source_maximum_concurrency: int | None  # None: Lambda's own scaling (no cap)
    batch_size: int
    reserved_concurrency: Mapping[str, int]
    index_shards: int
    warm_write_units: float  # the orders table's (and its index's) write units/s without throttling
    warm_read_units: float
    success_rate: float
    stuck_order_threshold_seconds: int
    api_cold_start_seconds_max: float | None  # how long a client's request may wait for a new API handler


def fulfillment_batch_size(app_path: Path = APP_PATH) -> int:
    """app.py's FULFILLMENT_BATCH_SIZE, which Chalice packages as the event source's batch size."""
    for node in ast.parse(app_path.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "FULFILLMENT_BATCH_SIZE" for target in node.targets
        ):
            return int(ast.literal_eval(node.value))
    raise ValueError(f"{app_path.name} sets no FULFILLMENT_BATCH_SIZE")


def _optional(settings: Mapping[str, Any], key: str) -> float | None:
    value = settings.get(key)
    return None if value is None else float(value)


def load_settings(name: str, config_path: Path = CONFIG_PATH, app_path: Path = APP_PATH) -> Settings:
    stage = load_stage(name, config_path)
    raw = read_config(config_path)["stages"][name]
    dofs: dict[str, Any] = raw["dofs"]
    if "required_orders_per_second" not in dofs:
        raise ValueError(f"stage {name!r} declares no required_orders_per_second in its dofs settings")
    concurrency = dofs.get("event_source_maximum_concurrency")
    return Settings(
        stage=stage,
        required_orders_per_second=float(dofs["required_orders_per_second"]),
        api_rate=_optional(dofs, "api_throttling_rate_limit"),
        api_burst=_optional(dofs, "api_throttling_burst_limit"),
        client_rate=_optional(dofs, "api_client_rate_limit"),
        client_burst=_optional(dofs, "api_client_burst_limit"),
        client_quota_per_day=_optional(dofs, "api_client_quota_per_day"),
        event_source_maximum_concurrency=None if concurrency is None else int(concurrency),
        batch_size=fulfillment_batch_size(app_path),
        reserved_concurrency={
            handler: int(function["reserved_concurrency"])
            for handler, function in raw.get("lambda_functions", {}).items()
            if "reserved_concurrency" in function
        },
        index_shards=int(stage.environment.get("OPEN_ORDERS_INDEX_SHARDS", DEFAULT_INDEX_SHARDS)),
        warm_write_units=float(dofs.get("dynamodb_warm_write_units") or QUOTAS["dynamodb_new_on_demand_wcu"].value),
        warm_read_units=float(dofs.get("dynamodb_warm_read_units") or QUOTAS["dynamodb_new_on_demand_rcu"].value),
        success_rate=float(stage.environment.get("FULFILLMENT_SUCCESS_RATE", DEFAULT_SUCCESS_RATE)),
        stuck_order_threshold_seconds=stage.stuck_order_threshold_seconds,
        api_cold_start_seconds_max=_optional(dofs, "api_cold_start_seconds_max"),
    )


def queue_age_alarm_seconds(stuck_order_threshold_seconds: int) -> int:
    return stuck_order_threshold_seconds // QUEUE_AGE_ALARM_DIVISOR


def cpu_stretch(memory_mb: int) -> float:
    """How much longer CPU work takes at this memory than on a whole vCPU."""
    return max(1.0, QUOTAS["lambda_mb_per_vcpu"].value / memory_mb)


def unit_seconds(unit: str, memory_mb: int) -> float:
    """Duration of one unit of work at this memory: CPU stretched by the memory's CPU share, plus
    the calls' latency (a function makes its calls one after another)."""
    work = MEASURED[unit]
    waiting = sum(count * LATENCY_S[call].value for call, count in work.calls.items())
    return work.cpu_ms * CPU_MARGIN / 1000 * cpu_stretch(memory_mb) + waiting


def cold_start_seconds(function: str, memory_mb: int) -> float:
    return MEASURED_COLD_START_MS[function] * CPU_MARGIN / 1000 * cpu_stretch(memory_mb)


def task_functions(asl: Mapping[str, Any]) -> dict[str, tuple[str, int]]:
    """Each Lambda Task of the workflow: the function it invokes and its TimeoutSeconds."""
    tasks = {}
    for name, state in asl["States"].items():
        invoked = re.fullmatch(r"\$\{(\w+)_arn\}", str(state.get("Parameters", {}).get("FunctionName", "")))
        if state["Type"] == "Task" and invoked is not None:
            tasks[name] = (invoked.group(1), int(state["TimeoutSeconds"]))
    return tasks


def task_timeout_floor_seconds(stage: Stage, function: str) -> float:
    """The least a Task's timeout may be for this function on this stage: a cold start at its memory
    and its work, so a cold invocation is never timed out and retried."""
    memory = stage.memory_mb(function)
    return cold_start_seconds(function, memory) + unit_seconds(TASK_WORK[function], memory)


def fulfillment_attempts_per_order(success_rate: float, max_receive_count: int) -> float:
    """Expected receives of an order's message: another after each failure, at most max_receive_count."""
    return sum((1 - success_rate) ** attempt for attempt in range(max_receive_count))


def dead_letter_share(success_rate: float, max_receive_count: int) -> float:
    return (1 - success_rate) ** max_receive_count


@dataclass(frozen=True)
class Hop:
    name: str
    ceiling: float  # orders/s
    how: str  # the arithmetic, with its figures


@dataclass(frozen=True)
class Model:
    settings: Settings
    hops: tuple[Hop, ...]
    concurrency: tuple[str, ...]  # each function's concurrency at the declared rate
    burst: tuple[str, ...]  # the burst's arithmetic, line by line
    burst_problems: tuple[str, ...]  # why the burst would lose orders (empty: it would not)
    timeouts: tuple[str, ...]  # each workflow task's cold start against its timeout
    timeout_problems: tuple[str, ...]

    @property
    def binding(self) -> Hop:
        return min(self.hops, key=lambda hop: hop.ceiling)

    @property
    def sustained(self) -> float:
        return self.binding.ceiling

    def problems(self) -> list[str]:
        required = self.settings.required_orders_per_second
        below = [
            f"{hop.name}: {hop.ceiling:,.0f} orders/s is below the {required:,.0f} orders/s the stage must carry"
            for hop in self.hops
            if hop.ceiling < required
        ]
        return below + list(self.burst_problems) + list(self.timeout_problems)


def _rate(value: float) -> str:
    return "unlimited" if value == INFINITE else f"{value:,.0f}"


class _Loads:
    """Per-order loads of one stage, from its settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        stage = settings.stage
        self.requests_per_order = 1 + GETS_PER_ORDER
        self.attempts = fulfillment_attempts_per_order(settings.success_rate, stage.max_receive_count)
        self.dead = dead_letter_share(settings.success_rate, stage.max_receive_count)
        self.message_seconds = unit_seconds("fulfill_order", stage.memory_mb("fulfill_order"))
        # Each SQS event source may run up to its maximum concurrency (order_queue's and order_dlq's),
        # which is set aside from the account's pool; an uncapped one (the local stage) competes for
        # the whole pool and sets nothing aside.
        cap = settings.event_source_maximum_concurrency
        self.event_source_concurrency = int(QUOTAS["lambda_account_concurrency"].value) if cap is None else cap
        self.set_aside = 0 if cap is None else 2 * cap

    def sync_seconds_per_order(self) -> dict[str, float]:
        """Concurrency-seconds each synchronously driven function spends per order."""
        stage = self.settings.stage
        api_memory = stage.memory_mb("api_handler")
        loads = {
            "api_handler": unit_seconds("api_handler.POST", api_memory)
            + GETS_PER_ORDER * unit_seconds("api_handler.GET", api_memory)
        }
        for function in WORKFLOW_FUNCTIONS:
            loads[function] = unit_seconds(function, stage.memory_mb(function))
        return loads

    def fulfillment_orders_per_second(self) -> tuple[float, str]:
        batch = self.settings.batch_size
        batch_seconds = batch * self.message_seconds  # the handler takes a batch's messages one at a time
        messages = self.event_source_concurrency * batch / batch_seconds
        memory = self.settings.stage.memory_mb("fulfill_order")
        how = (
            f"{self.event_source_concurrency} concurrent x {batch} messages / {batch_seconds:.3f} s a batch "
            f"({self.message_seconds * 1000:.1f} ms a message at {memory} MB) = {messages:,.0f} messages/s, "
            f"/ {self.attempts:.2f} receives an order"
        )
        return messages / self.attempts, how

    def orders_table_writes(self) -> float:
        """Write units an order costs the orders table: accepted, verdict, one per fulfillment
        receive, and the dead-letter transaction for the share that ends there."""
        return (2 + self.attempts) * WCU_PER_WRITE + self.dead * WCU_PER_TRANSACTION_ITEM

    def orders_table_reads(self) -> float:
        return GETS_PER_ORDER * RCU_PER_CONSISTENT_READ

    def failed_orders_writes(self) -> float:
        return self.dead * WCU_PER_TRANSACTION_ITEM


def _api_hops(settings: Settings, loads: _Loads) -> list[Hop]:
    per_order = loads.requests_per_order
    account = QUOTAS["api_account_rps"].value
    hops = [
        Hop(
            "API Gateway account throttle", account / per_order, f"{account:,.0f} rps / {per_order:g} requests an order"
        )
    ]
    if settings.api_rate is not None:
        hops.append(
            Hop("API stage throttle", settings.api_rate / per_order, f"{settings.api_rate:,.0f} rps / {per_order:g}")
        )
    if settings.client_rate is not None:
        hops.append(
            Hop(
                "usage plan per-client throttle",
                settings.client_rate / per_order / BUSIEST_CLIENT_SHARE,
                f"{settings.client_rate:,.0f} rps / {per_order:g} / busiest client's share {BUSIEST_CLIENT_SHARE:g}",
            )
        )
    if settings.api_rate is not None:  # a deployed API has a usage plan; a null quota is none
        quota = settings.client_quota_per_day
        ceiling = INFINITE if quota is None else quota / SECONDS_PER_DAY / per_order / BUSIEST_CLIENT_SHARE
        how = (
            "no daily quota"
            if quota is None
            else f"{quota:,.0f} requests a day / {SECONDS_PER_DAY:,} s / {per_order:g}"
        )
        hops.append(Hop("usage plan daily quota (over a day)", ceiling, how))
    return hops


def _lambda_hops(settings: Settings, loads: _Loads) -> list[Hop]:
    account = QUOTAS["lambda_account_concurrency"].value
    sync = loads.sync_seconds_per_order()
    # Both SQS event sources (order_queue, order_dlq) may use their whole maximum concurrency while
    # draining a backlog; the reconciler runs alone every few minutes.
    polled = loads.set_aside + 1
    reserved = sum(settings.reserved_concurrency.values())
    unreserved = account - reserved
    shared_sync = sum(seconds for function, seconds in sync.items() if function not in settings.reserved_concurrency)
    hops = [
        Hop(
            "Lambda account concurrency",
            max(0.0, unreserved - polled) / shared_sync,
            f"({account:,.0f} - {reserved} reserved - {polled} for the event sources and reconciler) / "
            f"{shared_sync * 1000:.0f} ms of synchronous functions an order",
        )
    ]
    for function, limit in sorted(settings.reserved_concurrency.items()):
        if function in sync:
            hops.append(
                Hop(f"{function} reserved concurrency", limit / sync[function], f"{limit} / {sync[function]:.3f} s")
            )
    ceiling, how = loads.fulfillment_orders_per_second()
    hops.append(Hop("fulfill_order event source mapping", ceiling, how))
    return hops


def _workflow_hops() -> list[Hop]:
    start = QUOTAS["sfn_express_start_rps"].value
    return [
        Hop("Step Functions EXPRESS StartExecution", start, f"{start:,.0f}/s refill, 1 execution an order"),
        Hop(
            "Step Functions EXPRESS state transitions", INFINITE, "not throttled for EXPRESS (the quota is STANDARD's)"
        ),
    ]


def _dynamodb_hops(settings: Settings, loads: _Loads) -> list[Hop]:
    partition = QUOTAS["dynamodb_partition_wcu"].value
    writes, reads = loads.orders_table_writes(), loads.orders_table_reads()
    shards = settings.index_shards
    failed = loads.failed_orders_writes()
    return [
        Hop("orders table partitions (key order_id)", INFINITE, "every order its own key: writes spread evenly"),
        Hop(
            "orders table throughput (writes)",
            settings.warm_write_units / writes,
            f"{settings.warm_write_units:,.0f} WCU / {writes:.2f} an order",
        ),
        Hop(
            "orders table throughput (reads)",
            settings.warm_read_units / reads,
            f"{settings.warm_read_units:,.0f} RCU / {reads:.2f} an order",
        ),
        Hop(
            f"open-orders index partitions ({shards} shards)",
            shards * partition / INDEX_WRITES_PER_ORDER,
            f"{shards} x {partition:,.0f} WCU / {INDEX_WRITES_PER_ORDER} index writes an order",
        ),
        Hop(
            "open-orders index throughput",
            settings.warm_write_units / INDEX_WRITES_PER_ORDER,
            f"{settings.warm_write_units:,.0f} WCU / {INDEX_WRITES_PER_ORDER}",
        ),
        Hop("failed_orders partitions (key order_id)", INFINITE, "every order its own key"),
        Hop(
            "failed_orders throughput",
            QUOTAS["dynamodb_new_on_demand_wcu"].value / failed if failed else INFINITE,
            f"{QUOTAS['dynamodb_new_on_demand_wcu'].value:,.0f} WCU / {failed:.3f} an order",
        ),
    ]


def _burst(settings: Settings, loads: _Loads, fulfillment: float) -> tuple[list[str], list[str]]:
    """A minute at BURST_FACTOR x the declared rate: the front of the pipeline must admit it, the
    queue holds what fulfillment cannot keep up with, and the backlog drains (at fulfillment's
    ceiling less the declared rate that keeps arriving) before any order passes the stuck
    threshold, which would have the reconciler queue it again."""
    rate = settings.required_orders_per_second
    burst = BURST_FACTOR * rate
    requests = burst * loads.requests_per_order
    lines = [f"burst: {burst:,.0f} orders/s ({requests:,.0f} requests/s) for {BURST_SECONDS:.0f} s"]
    problems: list[str] = []
    for name, limit in (
        ("API Gateway account throttle", QUOTAS["api_account_rps"].value),
        ("API stage throttle", settings.api_rate),
        (
            "usage plan per-client throttle",
            None if settings.client_rate is None else settings.client_rate / BUSIEST_CLIENT_SHARE,
        ),
    ):
        if limit is None:
            continue
        admitted = limit >= requests
        lines.append(f"  {name}: {limit:,.0f} rps {'admits' if admitted else 'refuses (429)'} {requests:,.0f} rps")
        if not admitted:
            problems.append(f"burst: {name} {limit:,.0f} rps is below {requests:,.0f} rps: clients get 429")
    front_writes = burst * 2 * WCU_PER_WRITE + min(fulfillment, burst) * loads.attempts * WCU_PER_WRITE
    lines.append(f"  orders table: {front_writes:,.0f} WCU/s of {settings.warm_write_units:,.0f}")
    if front_writes > settings.warm_write_units:
        problems.append(
            f"burst: the orders table takes {front_writes:,.0f} WCU/s, above its {settings.warm_write_units:,.0f} "
            "warm write units (pre-warm it: dynamodb_warm_write_units)"
        )
    sync = loads.sync_seconds_per_order()
    concurrency = burst * sum(sync.values()) + loads.set_aside + 1
    lines.append(f"  Lambda concurrency: {concurrency:,.0f} of {QUOTAS['lambda_account_concurrency'].value:,.0f}")
    # Lambda adds at most 1,000 execution environments a function every 10 s: the burst's step up
    # must fit in that, or the first seconds of it are throttled.
    scale = QUOTAS["lambda_scale_per_10s"].value
    step = max((burst - rate) * seconds for seconds in sync.values())
    lines.append(f"  Lambda scaling: the largest step up is {step:,.0f} environments of {scale:,.0f} every 10 s")
    if step > scale:
        problems.append(f"burst: a step of {step:,.0f} execution environments exceeds Lambda's {scale:,.0f} per 10 s")
    if concurrency > QUOTAS["lambda_account_concurrency"].value:
        problems.append(f"burst: {concurrency:,.0f} concurrent executions exceed the account's 1,000")
    if burst > QUOTAS["sfn_express_start_rps"].value:
        problems.append(
            f"burst: {burst:,.0f} StartExecution/s exceed Step Functions' {QUOTAS['sfn_express_start_rps'].value:,.0f}"
        )
    backlog = max(0.0, burst - fulfillment) * BURST_SECONDS
    in_flight = loads.event_source_concurrency * settings.batch_size
    lines.append(
        f"  queue: fulfillment takes {fulfillment:,.0f} orders/s, backlog after the burst {backlog:,.0f} orders"
    )
    lines.append(f"  in flight at most {in_flight:,} messages of SQS's {QUOTAS['sqs_standard_in_flight'].value:,.0f}")
    if backlog:
        spare = fulfillment - rate
        drain = INFINITE if spare <= 0 else backlog / spare
        threshold = settings.stuck_order_threshold_seconds
        lines.append(
            f"  drain: {backlog:,.0f} / ({fulfillment:,.0f} - {rate:,.0f}) = {drain:,.0f} s "
            f"(+ {BURST_SECONDS:.0f} s of burst) against the {threshold} s stuck threshold"
        )
        # Taken about in order, the oldest message waits for the backlog ahead of it.
        lines.append(
            f"  oldest message: about {backlog:,.0f} / {fulfillment:,.0f} = {backlog / fulfillment:,.0f} s old; "
            f"the queue-age alarm fires at {queue_age_alarm_seconds(threshold)} s"
        )
        if drain + BURST_SECONDS >= threshold:
            problems.append(
                f"burst: the backlog drains in {drain + BURST_SECONDS:,.0f} s, past the {threshold} s stuck threshold"
            )
    else:
        lines.append("  drain: no backlog, fulfillment keeps up with the burst")
    return lines, problems


def model(settings: Settings, asl: Mapping[str, Any] | None = None) -> Model:
    loads = _Loads(settings)
    lambda_hops = _lambda_hops(settings, loads)
    hops = [
        *_api_hops(settings, loads),
        *lambda_hops,
        *_workflow_hops(),
        *_dynamodb_hops(settings, loads),
        Hop("SQS standard queues", QUOTAS["sqs_standard_rps"].value, "nearly unlimited calls per second"),
    ]
    fulfillment, _ = loads.fulfillment_orders_per_second()
    lines, problems = _burst(settings, loads, fulfillment)
    timeouts, late = _task_timeouts(settings.stage, asl if asl is not None else load_asl())
    api_memory = settings.stage.memory_mb("api_handler")
    api_cold = cold_start_seconds("api_handler", api_memory)
    timeouts.append(f"api_handler cold start at {api_memory} MB: {api_cold:.1f} s")
    budget = settings.api_cold_start_seconds_max
    if budget is not None and api_cold > budget:
        late.append(
            f"api_handler: a cold start at {api_memory} MB takes {api_cold:.1f} s, over the stage's {budget:g} s"
        )
    return Model(
        settings,
        tuple(hops),
        tuple(_concurrency(settings, loads)),
        tuple(lines),
        tuple(problems),
        tuple(timeouts),
        tuple(late),
    )


def _task_timeouts(stage: Stage, asl: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    if stage.name == LOCAL_STAGE:  # the local stack runs the functions in-process, at no memory's CPU share
        return [], []
    lines = ["workflow tasks: a cold start at the function's memory, and its work, against the Task's timeout"]
    problems = []
    for name, (function, timeout) in task_functions(asl).items():
        floor = task_timeout_floor_seconds(stage, function)
        lines.append(f"  {name} ({function}, {stage.memory_mb(function)} MB): {floor:.1f} s of {timeout} s")
        if floor > timeout:
            problems.append(
                f"workflow task {name}: a cold start of {function} at {stage.memory_mb(function)} MB takes "
                f"{floor:.1f} s, past its {timeout} s timeout"
            )
    return lines, problems


def _concurrency(settings: Settings, loads: _Loads) -> list[str]:
    """What each function uses of the account's 1,000 concurrent executions at the declared rate
    (concurrency = rate x duration)."""
    rate = settings.required_orders_per_second
    account = QUOTAS["lambda_account_concurrency"].value
    lines = [f"Lambda concurrency at {rate:,.0f} orders/s (rate x duration; the account has {account:,.0f}):"]
    total = 0.0
    for function, seconds in loads.sync_seconds_per_order().items():
        used = rate * seconds
        total += used
        lines.append(f"  {function} ({settings.stage.memory_mb(function)} MB): {used:,.1f}")
    memory = settings.stage.memory_mb("fulfill_order")
    fulfilling = min(loads.event_source_concurrency, rate * loads.attempts * loads.message_seconds)
    total += fulfilling
    lines.append(f"  fulfill_order ({memory} MB): {fulfilling:,.1f} (at most {loads.event_source_concurrency})")
    lines.append(f"  total: {total:,.1f}, reserved: {sum(settings.reserved_concurrency.values())}")
    return lines


def capacity(stage: str, config_path: Path = CONFIG_PATH) -> Model:
    return model(load_settings(stage, config_path))


def memory_floor(settings: Settings, function: str) -> int:
    """The least memory (in MEMORY_STEP_MB steps) for this function that keeps the stage's every
    check passing, the others' memory unchanged: below it capacity or a task timeout gives."""
    asl = load_asl()
    for memory in range(2 * MEMORY_STEP_MB, MAX_MEMORY_MB + 1, MEMORY_STEP_MB):
        stage = replace(settings.stage, function_memory_mb={**settings.stage.function_memory_mb, function: memory})
        if not model(replace(settings, stage=stage), asl).problems():
            return memory
    return MAX_MEMORY_MB


def report(result: Model) -> str:
    stage = result.settings.stage.name
    width = max(len(hop.name) for hop in result.hops)
    lines = [f"{stage}: ceilings in orders/s (every quota is AWS's default; sources: --quotas)"]
    lines += [f"  {hop.name:<{width}}  {_rate(hop.ceiling):>10}  {hop.how}" for hop in result.hops]
    lines += list(result.concurrency)
    lines += list(result.burst)
    lines += list(result.timeouts)
    floors = ", ".join(
        f"{function} {memory_floor(result.settings, function)} MB" for function in MEASURED_COLD_START_MS
    )
    lines.append(f"memory floors (the least that keeps every check above): {floors}")
    lines += [f"PROBLEM {problem}" for problem in result.problems()]
    lines.append(f"{stage} capacity: {result.sustained:,.0f} orders/s sustained (binding: {result.binding.name})")
    return "\n".join(lines)


def quota_table() -> str:
    width = max(len(name) for name in QUOTAS)
    return "\n".join(f"{name:<{width}}  {_rate(quota.value):>10}  {quota.source}" for name, quota in QUOTAS.items())


def cold_start_cpu_ms(runs: int = 7) -> dict[str, float]:
    """Each function's CPU time for its init, as Lambda runs it from prod's package (the bench's
    probe, dofs_local/measurement/cold_start.py): median of `runs`."""
    from dofs_local.measurement.bench import measure_package

    inits = measure_package(runs).inits
    return {function: float(round(inits[function].cpu_ms)) for function in MEASURED_COLD_START_MS}


def measure(orders: int = 200) -> dict[str, Work]:
    """Runs `orders` orders (and one GET each) through the local stack with its AWS calls made over
    HTTP to the emulator, so each handler thread's CPU time is its own (and botocore's client side)."""
    import io
    import random
    import statistics
    import time
    import urllib.request

    from dofs_local.emulated.pipeline import LocalPipeline, PipelineOptions, import_app_for_the_stage
    from dofs_local.measurement.bench import order_body
    from dofs_local.measurement.metering import API_HANDLER, Meter
    from dofs_local.scenarios.client import post

    app_module, _ = import_app_for_the_stage(load_stage("local"))
    meter = Meter()
    meter.install(app_module)
    rng = random.Random(20)  # noqa: S311 - a reproducible order mix
    results: dict[str, Work] = {}

    def summarise(unit: str, function: str) -> None:
        runs = meter.invocations[function]
        per_unit = [(run.cpu_s / max(1, len(run.message_ids)), run, max(1, len(run.message_ids))) for run in runs]
        calls: dict[str, float] = {}
        for _, run, _ in per_unit:
            for call, count in run.calls.items():
                calls[call] = calls.get(call, 0.0) + count
        units = sum(n for *_, n in per_unit)
        results[unit] = Work(
            round(statistics.median(cpu for cpu, _, _ in per_unit) * 1000, 2),
            {call: round(count / units, 2) for call, count in sorted(calls.items())},
        )

    try:
        with LocalPipeline(
            PipelineOptions(
                api_port=0,
                aws_port=0,
                success_rate=1.0,
                quiet_http=True,
                in_process_aws=False,
                log_stream=io.StringIO(),
            )
        ) as stack:
            ids = [post(stack.api_url, order_body("capacity", index, rng))[1]["order_id"] for index in range(orders)]
            while any(order_id not in meter.terminal_at for order_id in ids):
                time.sleep(0.2)
            summarise("api_handler.POST", API_HANDLER)
            for function in ("validate_order", "store_order", "fulfill_order"):
                summarise(function, function)
            meter.reset()
            for order_id in ids:
                with urllib.request.urlopen(f"{stack.api_url}/order/{order_id}", timeout=30) as response:  # noqa: S310
                    response.read()
            summarise("api_handler.GET", API_HANDLER)
    finally:
        meter.uninstall()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    show = commands.add_parser("report", help="every hop's ceiling, then the stage's sustained capacity")
    show.add_argument("--stage", default="dev")
    show.add_argument("--config", type=Path, default=CONFIG_PATH, help="default: .chalice/config.json")
    show.add_argument("--quotas", action="store_true", help="print the quota table with its sources first")
    check = commands.add_parser("check", help="exit 1 where a stage's settings put it below its declared rate")
    check.add_argument("--config", type=Path, default=CONFIG_PATH)
    measured = commands.add_parser("measure", help="CPU time and AWS calls per unit of work, on the local stack")
    measured.add_argument("--orders", type=int, default=200)
    args = parser.parse_args(argv)
    if args.command == "measure":
        for unit, work in measure(args.orders).items():
            print(f'    "{unit}": Work({work.cpu_ms}, {dict(work.calls)}),')
        print(f"MEASURED_COLD_START_MS = {cold_start_cpu_ms()}")
        return 0
    if args.command == "check":
        failed = False
        for name in sorted(read_config(args.config)["stages"]):
            result = capacity(name, args.config)
            required = result.settings.required_orders_per_second
            for problem in result.problems():
                print(f"{name}: {problem}")
                failed = True
            print(f"{name}: {result.sustained:,.0f} orders/s sustained, {required:,.0f} required")
        return 1 if failed else 0
    if args.quotas:
        print(quota_table())
    try:
        print(report(capacity(args.stage, args.config)))
    except UnknownStageError as exc:
        raise SystemExit(str(exc)) from exc
    return 0


if __name__ == "__main__":
    sys.exit(main())
