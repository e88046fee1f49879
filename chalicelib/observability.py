"""Structured JSON logging and metrics (Powertools), one module-level instance each."""

from __future__ import annotations

from aws_lambda_powertools import Logger

SERVICE = "dofs"
METRICS_NAMESPACE = "DOFS"
# The alarm in infra/modules/monitoring watches this metric: the DLQ handler drains the DLQ,
# so the queue's depth stays near zero and cannot show that orders are dead-lettering.
DEAD_LETTERED_METRIC = "OrdersDeadLettered"

logger = Logger(service=SERVICE)


def count_dead_lettered(source: str) -> None:
    """One EMF line (CloudWatch turns it into a metric) per order that became DEAD_LETTERED."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric  # only the rare failure path pays

    with single_metric(
        name=DEAD_LETTERED_METRIC, unit=MetricUnit.Count, value=1, namespace=METRICS_NAMESPACE
    ) as metric:
        metric.add_dimension(name="source", value=source)
