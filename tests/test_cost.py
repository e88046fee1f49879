from __future__ import annotations

from collections import Counter

import pytest

from dofs_local.measurement.cost import Measured, bill, totals
from dofs_local.measurement.pricing import PRICES_USD, Line, round_up


def measured(**overrides: object) -> Measured:
    values: dict[str, object] = {
        "orders": 1000,
        "aws_calls": Counter(
            {("dynamodb", "PutItem"): 1000, ("dynamodb", "UpdateItem"): 2000, ("sqs", "SendMessage"): 1000}
        ),
        "invocations": {"validate_order": [0.0101] * 1000},
        "api_requests": 1000,
        "executions": 1000,
        "execution_seconds": [0.25, 0.35],
        "transitions_per_execution": 5.0,
        "order_item_bytes": 900.0,
        "log_bytes": 0,
        "lambda_memory_mb": 256,
    }
    values.update(overrides)
    return Measured(**values)  # type: ignore[arg-type]


def usd(lines: dict[str, list[Line]], kind: str, item: str) -> float:
    return next(line.usd_per_million_orders for line in lines[kind] if line.item == item)


def test_each_service_is_priced_per_million_orders() -> None:
    lines = bill(measured())
    assert usd(lines, "shared", "REST requests") == pytest.approx(3.50)
    assert usd(lines, "shared", "PutItem WRU") == pytest.approx(0.625)
    assert usd(lines, "shared", "UpdateItem WRU") == pytest.approx(1.25)
    assert usd(lines, "shared", "SendMessage") == pytest.approx(0.40)
    assert usd(lines, "shared", "validate_order requests") == pytest.approx(0.20)
    # 10.1 ms bills as 11 ms at 0.25 GB
    assert usd(lines, "shared", "validate_order GB-s") == pytest.approx(
        0.011 * 0.25 * PRICES_USD["lambda_per_gb_second"] * 1e6
    )
    assert usd(lines, "STANDARD", "STANDARD state transitions") == pytest.approx(125.0)
    assert usd(lines, "EXPRESS", "EXPRESS requests") == pytest.approx(1.0)
    # mean 0.3 s rounds to 0.3 s (100 ms steps) at the 64 MB minimum
    express_gb_s = 0.3 * 64 / 1024 * PRICES_USD["sfn_express_per_gb_second"] * 1e6
    assert usd(lines, "EXPRESS", "EXPRESS GB-s (64 MB, 100 ms steps)") == pytest.approx(express_gb_s)


def test_larger_items_cost_more_write_units_and_transactions_twice() -> None:
    lines = bill(measured(order_item_bytes=1500.0, aws_calls=Counter({("dynamodb", "TransactWriteItems"): 1000})))
    assert usd(lines, "shared", "TransactWriteItems WRU") == pytest.approx(2 * 2 * 2 * 0.625)


def test_totals_add_the_shared_lines_to_each_workflow_type() -> None:
    lines = bill(measured())
    shared = sum(line.usd_per_million_orders for line in lines["shared"])
    result = totals(lines)
    assert result["STANDARD"] == pytest.approx(shared + 125.0)
    assert result["EXPRESS"] < result["STANDARD"]


@pytest.mark.parametrize(("value", "step", "expected"), [(0.0101, 0.001, 0.011), (0.3, 0.1, 0.3), (0.31, 0.1, 0.4)])
def test_round_up(value: float, step: float, expected: float) -> None:
    assert round_up(value, step) == pytest.approx(expected)
