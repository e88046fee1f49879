"""Structured JSON logging and metrics (Powertools), one module-level instance each."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

SERVICE = "dofs"
METRICS_NAMESPACE = "DOFS"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)
