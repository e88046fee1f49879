"""Properties of the request model: valid bodies are accepted, each mutation is rejected by name."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from chalicelib.models import Order, OrderRequest, field_errors

pytestmark = pytest.mark.unit

# Cc is exactly the controls the model refuses: U+0000-U+001F and U+007F-U+009F.
NAME = st.text(st.characters(codec="utf-8", exclude_categories=["Cc"]), min_size=1, max_size=64)
PRICE = st.decimals(min_value=0, max_value=Decimal("999999.99"), places=2, allow_nan=False, allow_infinity=False)
ITEM = st.fixed_dictionaries(
    {
        "sku": NAME,
        "quantity": st.integers(1, 10_000),
        "unit_price": st.one_of(PRICE.map(str), PRICE, st.integers(0, 10**6)),
    }
)
BODY = st.fixed_dictionaries(
    {"customer_id": NAME, "items": st.lists(ITEM, min_size=1, max_size=5)},
    optional={"order_id": st.from_regex(r"\A[A-Za-z0-9_-]{1,64}\Z"), "currency": st.from_regex(r"\A[A-Z]{3}\Z")},
)

# (what breaks, the field the error must name, how to break a valid body)
MUTATIONS: list[tuple[str, str, Any]] = [
    ("empty customer_id", "customer_id", lambda b: {**b, "customer_id": ""}),
    ("long customer_id", "customer_id", lambda b: {**b, "customer_id": "c" * 65}),
    ("customer_id not a string", "customer_id", lambda b: {**b, "customer_id": 42}),
    ("no items", "items", lambda b: {**b, "items": []}),
    ("101 items", "items", lambda b: {**b, "items": b["items"][:1] * 101}),
    ("zero quantity", "items[0].quantity", lambda b: _item(b, quantity=0)),
    ("quantity over 10000", "items[0].quantity", lambda b: _item(b, quantity=10_001)),
    ("quantity as a string", "items[0].quantity", lambda b: _item(b, quantity="1")),
    ("three decimal places", "items[0].unit_price", lambda b: _item(b, unit_price="1.001")),
    ("negative price", "items[0].unit_price", lambda b: _item(b, unit_price="-1")),
    ("price not a number", "items[0].unit_price", lambda b: _item(b, unit_price="twelve")),
    ("price NaN", "items[0].unit_price", lambda b: _item(b, unit_price="NaN")),
    ("empty sku", "items[0].sku", lambda b: _item(b, sku="")),
    ("NUL in sku", "items[0].sku", lambda b: _item(b, sku="A\x00")),
    ("escape in customer_id", "customer_id", lambda b: {**b, "customer_id": "\x1b[2J"}),
    ("C1 control in customer_id", "customer_id", lambda b: {**b, "customer_id": "c\x85"}),
    ("null order_id", "order_id", lambda b: {**b, "order_id": None}),
    ("bad order_id", "order_id", lambda b: {**b, "order_id": "no spaces allowed"}),
    ("long order_id", "order_id", lambda b: {**b, "order_id": "o" * 65}),
    ("lower-case currency", "currency", lambda b: {**b, "currency": "usd"}),
    ("unknown field", "coupon", lambda b: {**b, "coupon": "FREE"}),
    ("unknown item field", "items[0].colour", lambda b: _item(b, colour="red")),
]


def _item(body: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**body, "items": [{**body["items"][0], **changes}, *body["items"][1:]]}


@settings(max_examples=150, deadline=None)
@given(BODY)
def test_every_valid_body_is_accepted_and_keeps_its_meaning(body: dict[str, Any]) -> None:
    request = OrderRequest.model_validate(body)
    order = Order.from_request(request)
    assert order.currency == body.get("currency", "USD")
    assert [item.quantity for item in order.items] == [item["quantity"] for item in body["items"]]
    assert order.total == sum(Decimal(str(i["unit_price"])) * i["quantity"] for i in body["items"])
    payload = order.to_payload()
    assert all(isinstance(line["unit_price"], str) for line in payload["items"]), "money is never a float"
    # The canonical body survives a JSON round trip unchanged: same order, same hash.
    again = Order.from_request(OrderRequest.model_validate(json.loads(json.dumps(payload))))
    assert again.body_hash == order.body_hash


@settings(max_examples=120, deadline=None)
@given(BODY, st.sampled_from(MUTATIONS))
def test_every_mutation_is_rejected_with_the_field_named(body: dict[str, Any], mutation: tuple[str, str, Any]) -> None:
    what, field, mutate = mutation
    try:
        OrderRequest.model_validate(mutate(body))
    except ValidationError as error:
        named = {entry["field"] for entry in field_errors(error)}
        assert field in named, f"{what}: named {named}"
    else:
        raise AssertionError(f"{what} was accepted")
