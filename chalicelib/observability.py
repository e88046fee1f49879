"""Structured JSON logging, metrics and X-Ray tracing (Powertools), one module-level instance each.

The metrics' identity is the stage's: Powertools reads their namespace from
POWERTOOLS_METRICS_NAMESPACE and their `service` dimension from POWERTOOLS_SERVICE_NAME when they
are counted, which each stage sets in .chalice/config.json (the service is its prefix, `dofs-dev`,
...) and infra/stage passes to the stage's alarms: stages sharing an account never count, chart or
alarm on each other's metrics.

Powertools (and the X-Ray SDK its Tracer uses) comes from the AWS-managed Powertools layer on
AWS (`layers` in .chalice/config.json), not from the function's package; locally and in the
tests from requirements-dev.txt.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.logging.lambda_context import build_lambda_context_model

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics

# The alarm in infra/modules/monitoring watches this metric: the DLQ handler drains the DLQ,
# so the queue's depth stays near zero and cannot show that orders are dead-lettering.
DEAD_LETTERED_METRIC = "OrdersDeadLettered"
# The reconciler's: orders it found non-terminal past the stuck-order threshold (an alarm > 0).
STUCK_ORDERS_METRIC = "StuckOrdersFound"

# The app's name on every log line and trace: fixed here, not read from POWERTOOLS_SERVICE_NAME, as
# these are built at import, and the local stack imports the functions before it sets a stage's
# variables. A line's stage is in its log group's name and its `function_name`.
SERVICE = "dofs"

logger = Logger(service=SERVICE)
# Every line is billed by the byte (docs/PERFORMANCE.md): no reader uses the code location, and
# the function's ARN and memory are in its log group's name and its REPORT line.
logger.remove_keys(["location"])
# Traces only inside Lambda: Powertools turns it off where no X-Ray daemon listens (the tests,
# `chalice local`), and the local stage sets POWERTOOLS_TRACE_DISABLED for the local stack too.
# Built only where it traces: building a Tracer imports the X-Ray SDK (about 230 ms of a cold
# start on a 2-core machine), which a process that never traces should not pay.
tracer: Tracer | None = None if Tracer._is_tracer_disabled() else Tracer(service=SERVICE)


def count_dead_lettered(source: str) -> None:
    """One EMF line (CloudWatch turns it into a metric) per order that became DEAD_LETTERED.

    Flushed at once, so no handler has to remember to; `POWERTOOLS_METRICS_DISABLED` (the local
    stage sets it) silences it. The lock keeps concurrent callers' dimensions apart: Powertools
    keeps metrics in state shared by every `Metrics` instance.
    """
    from aws_lambda_powertools.metrics import MetricUnit  # only the rare failure path pays

    with _metrics_lock:
        metrics = _metrics()
        # Metadata, not a dimension: the alarm watches the metric by the stage's `service` alone, and
        # CloudWatch matches a metric only by its exact set of dimensions.
        metrics.add_metadata(key="source", value=source)
        metrics.add_metric(name=DEAD_LETTERED_METRIC, unit=MetricUnit.Count, value=1)
        metrics.flush_metrics()
        metrics.clear_metrics()  # a disabled flush keeps what it did not print


def count_stuck_orders(found: int) -> None:
    """One EMF line per reconciler run, zero included: the alarm sees a steady series."""
    from aws_lambda_powertools.metrics import MetricUnit

    with _metrics_lock:
        metrics = _metrics()
        metrics.add_metric(name=STUCK_ORDERS_METRIC, unit=MetricUnit.Count, value=found)
        metrics.flush_metrics()
        metrics.clear_metrics()


def _metrics() -> Metrics:
    """The stage's metrics, named as its environment says when they are counted (cheap: every
    instance shares Powertools' state)."""
    from aws_lambda_powertools import Metrics

    return Metrics()


_metrics_lock = threading.Lock()


@contextmanager
def order_context(order_id: str, operation: str) -> Iterator[None]:
    """Every log line in the block carries the order and the operation (this thread only:
    the local stack runs several handlers at once), and the block is an X-Ray subsegment
    annotated with the order, so X-Ray finds an order's traces even inside a batch of ten."""
    logger.thread_safe_append_keys(order_id=order_id, operation=operation)
    try:
        if tracer is None:
            yield
        else:
            with tracer.provider.in_subsegment(name=f"## {operation}") as subsegment:
                subsegment.put_annotation(key="order_id", value=order_id)
                yield
    finally:
        logger.thread_safe_remove_keys(["order_id", "operation"])


Handler = Callable[[Any, Any], Any]
_LAMBDA_KEYS = ("cold_start", "function_name", "function_request_id")
_cold_start = [True]  # the first invocation in this process is the cold start
_cold_start_lock = threading.Lock()


def traced(handler: Handler) -> Handler:
    """Each invocation as an X-Ray subsegment with its cold start and errors. Chalice applies it to
    every function (app.py); responses stay out of the trace: they hold orders. Untraced where
    no tracer was built."""
    if tracer is None:
        return handler
    return tracer.capture_lambda_handler(handler, capture_response=False)


def lambda_log_context(handler: Handler) -> Handler:
    """What `Logger.inject_lambda_context` adds to every log line of an invocation (cold start,
    function name, request id; not its ARN and memory, see above), kept per thread: the local
    pipeline runs several invocations of one process at once, where Powertools' own keys (shared
    by all threads) would mix them up. Chalice applies it to every function through `ConvertToMiddleware` (app.py)."""

    def invoke(event: Any, context: Any) -> Any:
        if context is None:  # called directly, as a plain function (tests)
            return handler(event, context)
        with _cold_start_lock:
            cold_start, _cold_start[0] = _cold_start[0], False
        lambda_keys = {k: v for k, v in build_lambda_context_model(context).__dict__.items() if k in _LAMBDA_KEYS}
        logger.thread_safe_append_keys(cold_start=cold_start, **lambda_keys)
        try:
            return handler(event, context)
        finally:
            logger.thread_safe_remove_keys(_LAMBDA_KEYS)

    return invoke
