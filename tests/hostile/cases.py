"""Hostile request bodies, as an attacker or a broken client sends them, and the 4xx each must get.

Shared by the in-process suite (tests/hostile/test_hostile_input.py) and the one over HTTP
against the local stack (tests/integration/test_hostile_http.py): both must answer alike.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from chalicelib.api import MAX_BODY_BYTES

JSON = "application/json"


@dataclass(frozen=True)
class Hostile:
    name: str
    body: bytes
    status: int
    names: str  # what the answer's message, or one of its fields, must name
    content_type: str = JSON


def valid_order(**overrides: Any) -> dict[str, Any]:
    order: dict[str, Any] = {
        "order_id": "hostile-1",
        "customer_id": "c-1",
        "items": [{"sku": "SKU-1", "quantity": 2, "unit_price": "12.50"}],
    }
    order.update(overrides)
    return order


def _raw(order: dict[str, Any], replace: str, by: str) -> bytes:
    """A valid order's JSON with one value replaced by text json.dumps would never write."""
    text = json.dumps(order)
    assert replace in text
    return text.replace(replace, by, 1).encode()


def _item(**changes: Any) -> dict[str, Any]:
    return valid_order(items=[{"sku": "SKU-1", "quantity": 2, "unit_price": "12.50", **changes}])


DEEP = 100_000
_FIELDS_AND_WRONG_VALUES: list[tuple[str, dict[str, Any], list[Any]]] = [
    # (field, a body to put the value in: "V" marks the place, values that are not that field's type)
    ("order_id", valid_order(order_id="V"), [None, True, 12, 1.5, [], {}]),
    ("customer_id", valid_order(customer_id="V"), [None, True, 12, 1.5, [], {}]),
    ("items", valid_order(items="V"), [None, True, 12, "SKU-1", [], {}]),
    ("currency", valid_order(currency="V"), [None, True, 12, "dollars", [], {}]),
    ("items[0].sku", _item(sku="V"), [None, True, 12, 1.5, [], {}]),
    ("items[0].quantity", _item(quantity="V"), [None, True, "2", 1.5, [], {}]),
    ("items[0].unit_price", _item(unit_price="V"), [None, True, "twelve", [], {}]),
]
WRONG_TYPES = [
    Hostile(f"{field} = {json.dumps(value)}", _raw(body, '"V"', json.dumps(value)), 400, field)
    for field, body, values in _FIELDS_AND_WRONG_VALUES
    for value in values
]

CASES: list[Hostile] = [
    # depth: Python's json recurses once a level
    Hostile("100,000 nested arrays", b"[" * DEEP + b"]" * DEEP, 400, "nests"),
    Hostile("40,000 nested objects", b'{"":' * 40_000 + b"1" + b"}" * 40_000, 400, "nests"),
    Hostile(
        "a valid order with one deeply nested extra field",
        _raw(valid_order(extra="V"), '"V"', "[" * DEEP + "]" * DEEP),
        400,
        "nests",
    ),
    # size
    Hostile("a body one byte over 256 KiB", b" " * (MAX_BODY_BYTES + 1), 413, str(MAX_BODY_BYTES)),
    # encodings
    Hostile(
        "invalid UTF-8 in a string",
        json.dumps(valid_order(customer_id="c-X")).encode().replace(b"c-X", b"c-\xff"),
        400,
        "UTF-8",
    ),
    Hostile("a UTF-16 body", json.dumps(valid_order()).encode("utf-16"), 400, "UTF-8"),
    Hostile("a UTF-8 byte order mark", b"\xef\xbb\xbf" + json.dumps(valid_order()).encode(), 400, "BOM"),
    Hostile(
        "charset=utf-16 declared",
        json.dumps(valid_order()).encode("utf-16-le"),
        415,
        "charset",
        f"{JSON}; charset=utf-16",
    ),
    Hostile("text/plain", json.dumps(valid_order()).encode(), 415, "Content-Type", "text/plain"),
    Hostile("an empty body", b"", 400, "JSON"),
    Hostile("not JSON", b"{order}", 400, "JSON"),
    Hostile("a JSON array", b"[]", 400, "object"),
    Hostile("JSON null", b"null", 400, "object"),
    # numbers at their limits
    Hostile("NaN", _raw(_item(quantity="V"), '"V"', "NaN"), 400, "NaN"),
    Hostile("Infinity", _raw(_item(unit_price="V"), '"V"', "Infinity"), 400, "Infinity"),
    Hostile("-Infinity", _raw(_item(unit_price="V"), '"V"', "-Infinity"), 400, "Infinity"),
    Hostile("an integer of 5,000 digits", _raw(_item(quantity="V"), '"V"', "9" * 5000), 400, "items[0].quantity"),
    Hostile("a price of 1e400", _raw(_item(unit_price="V"), '"V"', "1e400"), 400, "items[0].unit_price"),
    Hostile("a quantity of 1e400", _raw(_item(quantity="V"), '"V"', "1e400"), 400, "items[0].quantity"),
    Hostile("a quantity of 1E+999999999", _raw(_item(quantity="V"), '"V"', "1E+999999999"), 400, "items[0].quantity"),
    Hostile("a price of 1E+999999999", _raw(_item(unit_price="V"), '"V"', "1E+999999999"), 400, "items[0].unit_price"),
    Hostile("a price of 1e-400", _raw(_item(unit_price="V"), '"V"', "1e-400"), 400, "items[0].unit_price"),
    Hostile("a price of 30 digits", _raw(_item(unit_price="V"), '"V"', "9" * 30), 400, "items[0].unit_price"),
    Hostile("a quantity of -0", _raw(_item(quantity="V"), '"V"', "-0"), 400, "items[0].quantity"),
    # unicode
    Hostile(
        "a lone surrogate in customer_id", _raw(valid_order(customer_id="V"), '"V"', '"\\ud800"'), 400, "customer_id"
    ),
    Hostile("a lone surrogate in a key", _raw(valid_order(extra="V"), '"extra"', '"\\udfff"'), 400, "(body)"),
    Hostile(
        "Arabic-Indic digits in a price",
        _raw(_item(unit_price="V"), '"V"', '"\\u0661\\u0662"'),
        400,
        "items[0].unit_price",
    ),
    Hostile("a 65-character customer_id", json.dumps(valid_order(customer_id="é" * 65)).encode(), 400, "customer_id"),
    # control characters, JSON-escaped (raw ones are not JSON at all)
    Hostile("NUL in customer_id", json.dumps(valid_order(customer_id="c\x00")).encode(), 400, "customer_id"),
    Hostile("NUL in sku", json.dumps(_item(sku="\x00")).encode(), 400, "items[0].sku"),
    Hostile("an ANSI escape in sku", json.dumps(_item(sku="\x1b[2J")).encode(), 400, "items[0].sku"),
    Hostile(
        "a newline in customer_id",
        json.dumps(valid_order(customer_id="c\nforged log line")).encode(),
        400,
        "customer_id",
    ),
    Hostile("DEL in customer_id", json.dumps(valid_order(customer_id="c\x7f")).encode(), 400, "customer_id"),
    Hostile("C1 NEL in sku", json.dumps(_item(sku="SKU\x85")).encode(), 400, "items[0].sku"),
    Hostile("a newline ending order_id", json.dumps(valid_order(order_id="o-1\n")).encode(), 400, "order_id"),
    Hostile("a raw control character", json.dumps(valid_order()).replace("c-1", "c-\x01").encode(), 400, "JSON"),
    # duplicate keys: the last one would win unseen
    Hostile(
        "customer_id twice",
        _raw(valid_order(), '"customer_id": "c-1"', '"customer_id": "c-1", "customer_id": "c-2"'),
        400,
        "'customer_id'",
    ),
    Hostile(
        "order_id twice",
        _raw(valid_order(), '"order_id": "hostile-1"', '"order_id": "a", "order_id": "b"'),
        400,
        "'order_id'",
    ),
    Hostile(
        "unit_price twice in an item",
        _raw(valid_order(), '"unit_price": "12.50"', '"unit_price": "12.50", "unit_price": "0"'),
        400,
        "'unit_price'",
    ),
    *WRONG_TYPES,
]

# GET /order/{order_id} with a path no order_id matches: each a 400 naming order_id.
BAD_ORDER_ID_PATHS = ["/order/abc%0A", "/order/abc%00", "/order/" + "a" * 65, "/order/%F0%9F%98%80", "/order/a%20b"]


def assert_refused(case: Hostile, status: int, raw: bytes) -> None:
    """The case's 4xx, in the documented error shape, naming what is wrong."""
    assert status == case.status, raw[:300]
    answer: dict[str, Any] = json.loads(raw)
    assert isinstance(answer.get("error"), str)
    assert isinstance(answer.get("message"), str)
    named = [answer["message"], *(f"{entry['field']}: {entry['message']}" for entry in answer.get("fields", []))]
    assert any(case.names in text for text in named), answer
    assert "Value error" not in raw.decode(), answer  # pydantic's own words stay out
    if "fields" in answer:
        assert all(not entry["message"].startswith(("String should match pattern", "^")) for entry in answer["fields"])
