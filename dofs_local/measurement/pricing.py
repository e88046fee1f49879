"""AWS list prices, us-east-1, the one table the cost model reads (checked 2026-11; no free tier).

Sources: aws.amazon.com/{api-gateway,lambda,step-functions,sqs,dynamodb,cloudwatch}/pricing.
"""

from __future__ import annotations

from dataclasses import dataclass

PRICES_USD = {
    "api_gateway_rest_per_request": 3.50 / 1e6,  # first 333 M requests a month
    "lambda_per_request": 0.20 / 1e6,
    "lambda_per_gb_second": 0.0000166667,  # x86_64
    "sfn_standard_per_transition": 0.025 / 1e3,
    "sfn_express_per_request": 1.00 / 1e6,
    "sfn_express_per_gb_second": 0.00001667,  # first 1,000 GB-hours; 64 MB chunks, 100 ms steps
    "sqs_per_request": 0.40 / 1e6,  # standard queue; each 64 KiB of payload is one request
    "dynamodb_per_write_request_unit": 0.625 / 1e6,  # on-demand
    "dynamodb_per_read_request_unit": 0.125 / 1e6,
    "cloudwatch_logs_per_gb_ingested": 0.50,
}

EXPRESS_MEMORY_CHUNK_MB = 64
EXPRESS_DURATION_STEP_S = 0.1
LAMBDA_DURATION_STEP_S = 0.001


@dataclass(frozen=True)
class Line:
    """One priced item of the per-order bill."""

    service: str
    item: str
    quantity_per_order: float
    unit_price: float

    @property
    def usd_per_million_orders(self) -> float:
        return self.quantity_per_order * self.unit_price * 1e6


def round_up(value: float, step: float) -> float:
    steps = -(-value // step)  # ceiling division
    return float(steps * step)
