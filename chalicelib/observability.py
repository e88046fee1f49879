"""Structured JSON logging, metrics and X-Ray tracing (Powertools), one module-level instance each.

Powertools names all three from the function's environment: the `service` on every log line,
trace and metric from POWERTOOLS_SERVICE_NAME, the metrics' namespace from
POWERTOOLS_METRICS_NAMESPACE. Each stage sets them in .chalice/config.json (the service is its
prefix, `dofs-dev`, ...) and infra/stage passes them to the stage's alarms: stages sharing an
account never count, chart or alarm on each other's metrics.

Powertools (and the X-Ray SDK its Tracer uses) comes from the AWS-managed Powertools layer on
AWS (`layers` in .chalice/config.json), not from the function's package.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Tracer

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics

# The alarm in infra/modules/monitoring watches this metric: the DLQ handler drains the DLQ,
# so the queue's depth stays near zero and cannot show that orders are dead-lettering.
DEAD_LETTERED_METRIC = "OrdersDeadLettered"
# The reconciler's: orders it found non-terminal past the stuck-order threshold (an alarm > 0).
STUCK_ORDERS_METRIC = "StuckOrdersFound"
# Every line is billed by the byte: no reader uses the code location, and the function's ARN and
# memory are in its log group's name and its REPORT line.
UNREAD_CONTEXT_KEYS = ("function_arn", "function_memory_size")

logger = Logger()
logger.remove_keys(["location"])
# Traces only inside Lambda: Powertools turns it off where no X-Ray daemon listens, and
# POWERTOOLS_TRACE_DISABLED turns it off anywhere. Built only where it traces: building a Tracer
# imports the X-Ray SDK (about 230 ms of a cold start), which a process that never traces should not pay.
tracer: Tracer | None = None if Tracer._is_tracer_disabled() else Tracer()


def count_dead_lettered(source: str) -> None:
    """One EMF line (CloudWatch turns it into a metric) per order that became DEAD_LETTERED.

    Flushed at once, so no handler has to remember to; `POWERTOOLS_METRICS_DISABLED` silences it.
    """
    from aws_lambda_powertools.metrics import MetricUnit  # only the rare failure path pays

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

    metrics = _metrics()
    metrics.add_metric(name=STUCK_ORDERS_METRIC, unit=MetricUnit.Count, value=found)
    metrics.flush_metrics()
    metrics.clear_metrics()


def _metrics() -> Metrics:
    """The function's metrics, named as its environment says when they are counted (cheap: every
    instance shares Powertools' state)."""
    from aws_lambda_powertools import Metrics

    return Metrics()


@contextmanager
def order_context(order_id: str, operation: str) -> Iterator[None]:
    """Every log line in the block carries the order and the operation, and the block is an X-Ray
    subsegment annotated with the order, so X-Ray finds an order's traces even inside a batch of ten."""
    with logger.append_context_keys(order_id=order_id, operation=operation):
        if tracer is None:
            yield
        else:
            with tracer.provider.in_subsegment(name=f"## {operation}") as subsegment:
                subsegment.put_annotation(key="order_id", value=order_id)
                yield


Handler = Callable[[Any, Any], Any]


def traced(handler: Handler) -> Handler:
    """Each invocation as an X-Ray subsegment with its cold start and errors. Chalice applies it to
    every function (app.py); responses stay out of the trace: they hold orders. Untraced where
    no tracer was built."""
    if tracer is None:
        return handler
    return tracer.capture_lambda_handler(handler, capture_response=False)


def lambda_log_context(handler: Handler) -> Handler:
    """Powertools' `inject_lambda_context`: every log line of an invocation carries its cold start,
    function name and request id (not the keys no one reads). Chalice applies it to every function
    through `ConvertToMiddleware` (app.py)."""

    @logger.inject_lambda_context
    def invoke(event: Any, context: Any) -> Any:
        logger.remove_keys(UNREAD_CONTEXT_KEYS)
        return handler(event, context)

    return invoke
