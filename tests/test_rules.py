from __future__ import annotations

from decimal import Decimal

import pytest

from chalicelib.rules import check_business_rules
from chalicelib.settings import BusinessRules
from tests.conftest import make_order

pytestmark = pytest.mark.unit

SETTINGS = BusinessRules.from_env({})


def test_a_valid_order_passes() -> None:
    verdict = check_business_rules(make_order(), SETTINGS)
    assert verdict.valid
    assert verdict.reason is None


def test_total_at_the_limit_passes_and_one_cent_over_is_rejected() -> None:
    at_limit = make_order(items=[{"sku": "A", "quantity": 10_000, "unit_price": "5.00"}])
    over = make_order(
        items=[
            {"sku": "A", "quantity": 10_000, "unit_price": "5.00"},
            {"sku": "B", "quantity": 1, "unit_price": "0.01"},
        ]
    )
    assert check_business_rules(at_limit, SETTINGS).valid
    verdict = check_business_rules(over, SETTINGS)
    assert not verdict.valid
    assert verdict.reason is not None
    assert verdict.reason.startswith("ORDER_TOTAL_EXCEEDED")


def test_duplicate_sku_is_rejected_and_named() -> None:
    order = make_order(
        items=[{"sku": "A", "quantity": 1, "unit_price": "1"}, {"sku": "A", "quantity": 2, "unit_price": "1"}]
    )
    verdict = check_business_rules(order, SETTINGS)
    assert not verdict.valid
    assert verdict.reason == "DUPLICATE_SKU: A appears more than once"


def test_unsupported_currency_is_rejected() -> None:
    verdict = check_business_rules(make_order(currency="JPY"), SETTINGS)
    assert not verdict.valid
    assert verdict.reason is not None
    assert verdict.reason.startswith("UNSUPPORTED_CURRENCY: JPY")


def test_rules_follow_the_settings() -> None:
    strict = BusinessRules.from_env({"MAX_ORDER_TOTAL": "10", "SUPPORTED_CURRENCIES": "jpy"})
    assert strict.max_order_total == Decimal("10")
    assert check_business_rules(
        make_order(currency="JPY", items=[{"sku": "A", "quantity": 1, "unit_price": "9.99"}]), strict
    ).valid
    assert not check_business_rules(make_order(currency="USD"), strict).valid
