"""$ per million orders on AWS, from what a local run measured and the prices in pricing.py."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass, field

from dofs_local.measurement.pricing import (
    EXPRESS_DURATION_STEP_S,
    EXPRESS_MEMORY_CHUNK_MB,
    LAMBDA_DURATION_STEP_S,
    PRICES_USD,
    Line,
    round_up,
)

# Each Lambda invocation also writes START, END and REPORT lines to CloudWatch Logs.
LAMBDA_PLATFORM_LOG_BYTES = 350
DYNAMODB_WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
DYNAMODB_READS = {"GetItem"}


@dataclass(frozen=True)
class Measured:
    orders: int
    aws_calls: Counter[tuple[str, str]]
    invocations: dict[str, list[float]]  # function -> durations in seconds
    api_requests: int  # POSTs (and GETs) that API Gateway would bill
    executions: int
    execution_seconds: list[float]  # sampled execution durations
    transitions_per_execution: float  # sampled, retries included
    order_item_bytes: float  # mean size of an orders item
    log_bytes: int  # the functions' own JSON log lines
    lambda_memory_mb: int
    all_calls: Counter[tuple[str, str]] = field(default_factory=Counter)  # every service, for the report


def bill(measured: Measured) -> dict[str, list[Line]]:
    """Per-order lines shared by both workflow types, and each type's own lines."""
    per_order = 1 / measured.orders
    shared: list[Line] = [
        Line(
            "API Gateway",
            "REST requests",
            measured.api_requests * per_order,
            PRICES_USD["api_gateway_rest_per_request"],
        )
    ]
    gb = measured.lambda_memory_mb / 1024
    for function, durations in sorted(measured.invocations.items()):
        billed = sum(round_up(d, LAMBDA_DURATION_STEP_S) for d in durations)
        shared.append(
            Line("Lambda", f"{function} requests", len(durations) * per_order, PRICES_USD["lambda_per_request"])
        )
        shared.append(Line("Lambda", f"{function} GB-s", billed * gb * per_order, PRICES_USD["lambda_per_gb_second"]))
    write_units = math.ceil(measured.order_item_bytes / 1024)
    for (service, operation), count in sorted(measured.aws_calls.items()):
        quantity = count * per_order
        if service == "sqs":
            shared.append(Line("SQS", operation, quantity, PRICES_USD["sqs_per_request"]))
        elif service == "dynamodb" and operation in DYNAMODB_WRITES:
            shared.append(
                Line(
                    "DynamoDB",
                    f"{operation} WRU",
                    quantity * write_units,
                    PRICES_USD["dynamodb_per_write_request_unit"],
                )
            )
        elif service == "dynamodb" and operation == "TransactWriteItems":  # two items, twice the units
            shared.append(
                Line(
                    "DynamoDB",
                    "TransactWriteItems WRU",
                    quantity * 2 * 2 * write_units,
                    PRICES_USD["dynamodb_per_write_request_unit"],
                )
            )
        elif service == "dynamodb" and operation in DYNAMODB_READS:  # strongly consistent, under 4 KB
            shared.append(Line("DynamoDB", f"{operation} RRU", quantity, PRICES_USD["dynamodb_per_read_request_unit"]))
    invocations = sum(len(d) for d in measured.invocations.values())
    log_gb = (measured.log_bytes + invocations * LAMBDA_PLATFORM_LOG_BYTES) / 1e9
    shared.append(
        Line("CloudWatch Logs", "GB ingested", log_gb * per_order, PRICES_USD["cloudwatch_logs_per_gb_ingested"])
    )

    executions = measured.executions * per_order
    duration = statistics.fmean(measured.execution_seconds) if measured.execution_seconds else 0.0
    express_gb_s = round_up(duration, EXPRESS_DURATION_STEP_S) * EXPRESS_MEMORY_CHUNK_MB / 1024
    return {
        "shared": [line for line in shared if line.quantity_per_order > 0],
        "EXPRESS": [
            Line("Step Functions", "EXPRESS requests", executions, PRICES_USD["sfn_express_per_request"]),
            Line(
                "Step Functions",
                "EXPRESS GB-s (64 MB, 100 ms steps)",
                executions * express_gb_s,
                PRICES_USD["sfn_express_per_gb_second"],
            ),
        ],
        "STANDARD": [
            Line(
                "Step Functions",
                "STANDARD state transitions",
                executions * measured.transitions_per_execution,
                PRICES_USD["sfn_standard_per_transition"],
            ),
        ],
    }


def totals(lines: dict[str, list[Line]]) -> dict[str, float]:
    shared = sum(line.usd_per_million_orders for line in lines["shared"])
    return {kind: shared + sum(line.usd_per_million_orders for line in lines[kind]) for kind in ("EXPRESS", "STANDARD")}
