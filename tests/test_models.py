from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from chalicelib.models import Order, OrderRequest, field_errors
from tests.conftest import make_order, order_body

pytestmark = pytest.mark.unit


def invalid_fields(body: dict[str, Any]) -> set[str]:
    with pytest.raises(ValidationError) as caught:
        OrderRequest.model_validate(body)
    return {entry["field"] for entry in field_errors(caught.value)}


def test_a_complete_body_is_accepted() -> None:
    request = OrderRequest.model_validate(order_body(order_id="A_b-9"))
    assert request.order_id == "A_b-9"
    assert request.items[0].unit_price == Decimal("12.50")


def test_defaults_currency_and_generates_an_id() -> None:
    body = order_body()
    del body["currency"]
    order = Order.from_request(OrderRequest.model_validate(body))
    assert order.currency == "USD"
    assert len(order.order_id) == 36


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"order_id": ""}, "order_id"),
        ({"order_id": "x" * 65}, "order_id"),
        ({"order_id": "has space"}, "order_id"),
        ({"order_id": 12}, "order_id"),
        ({"customer_id": ""}, "customer_id"),
        ({"customer_id": "c" * 65}, "customer_id"),
        ({"items": []}, "items"),
        ({"items": [{"sku": f"S{i}", "quantity": 1, "unit_price": "1"} for i in range(101)]}, "items"),
        ({"items": [{"sku": "", "quantity": 1, "unit_price": "1"}]}, "items[0].sku"),
        ({"items": [{"sku": "S", "quantity": 0, "unit_price": "1"}]}, "items[0].quantity"),
        ({"items": [{"sku": "S", "quantity": 10_001, "unit_price": "1"}]}, "items[0].quantity"),
        ({"items": [{"sku": "S", "quantity": 1.5, "unit_price": "1"}]}, "items[0].quantity"),
        ({"items": [{"sku": "S", "quantity": "2", "unit_price": "1"}]}, "items[0].quantity"),
        ({"items": [{"sku": "S", "quantity": 1, "unit_price": "-0.01"}]}, "items[0].unit_price"),
        ({"items": [{"sku": "S", "quantity": 1, "unit_price": "1.001"}]}, "items[0].unit_price"),
        ({"items": [{"sku": "S", "quantity": 1, "unit_price": "NaN"}]}, "items[0].unit_price"),
        ({"items": [{"sku": "S", "quantity": 1, "unit_price": "abc"}]}, "items[0].unit_price"),
        ({"items": [{"sku": "S", "quantity": 1, "unit_price": "1", "colour": "red"}]}, "items[0].colour"),
        ({"currency": "usd"}, "currency"),
        ({"currency": "DOLLARS"}, "currency"),
        ({"coupon": "FREE"}, "coupon"),
    ],
)
def test_each_shape_rule_rejects_and_names_the_field(override: dict[str, Any], field: str) -> None:
    assert field in invalid_fields(order_body(**override))


def test_missing_required_fields_are_each_named() -> None:
    assert invalid_fields({}) == {"customer_id", "items"}


def test_unit_price_accepts_numbers_as_decimal() -> None:
    request = OrderRequest.model_validate(order_body(items=[{"sku": "S", "quantity": 3, "unit_price": Decimal("0.1")}]))
    assert request.items[0].unit_price == Decimal("0.1")
    assert Order.from_request(request).total == Decimal("0.30")


def test_total_is_exact_decimal_arithmetic() -> None:
    order = make_order(
        items=[
            {"sku": "A", "quantity": 3, "unit_price": "0.10"},
            {"sku": "B", "quantity": 10_000, "unit_price": "4.99"},
        ]
    )
    assert order.total == Decimal("49900.30")


def test_body_hash_ignores_price_formatting_but_not_content() -> None:
    same = make_order(items=[{"sku": "SKU-1", "quantity": 2, "unit_price": "12.5"}])
    assert make_order().body_hash == same.body_hash
    assert make_order().body_hash != make_order(customer_id="someone-else").body_hash
