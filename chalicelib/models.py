"""Request and order models (docs/CONTRACT.md section 2). Money is Decimal end to end."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    WithJsonSchema,
)
from pydantic_core import ErrorDetails

ORDER_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
ORDER_ID_RULE = "must be 1-64 characters of A-Z, a-z, 0-9, _ and -"
# Free text (customer_id, sku) is any characters but the C0 and C1 controls and DEL: a NUL or an
# escape sequence in an id corrupts logs, terminals and the systems an order is handed to.
TEXT_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
TEXT_RULE = "must not contain control characters (U+0000-U+001F, U+007F-U+009F)"
CURRENCY_PATTERN = r"^[A-Z]{3}$"
CURRENCY_RULE = "must be three capital letters (an ISO 4217 code)"
CENTS = Decimal("0.01")
MAX_PRICE_DIGITS = 20

# A price as a string: at most 2 places and MAX_PRICE_DIGITS digits in all, so at most
# MAX_PRICE_DIGITS - 2 before the point (leading zeros aside). The model enforces this pattern
# and the OpenAPI document publishes it, so the two describe the same prices.
_WHOLE_DIGITS = MAX_PRICE_DIGITS - 2
# [0-9], not \d: Python's \d (and Decimal) take any script's digits, JSON Schema's only ASCII.
PRICE_PATTERN = rf"^0*[0-9]{{1,{_WHOLE_DIGITS}}}(\.[0-9]{{1,2}})?$"
PRICE_RULE = (
    f"must be a non-negative decimal with at most 2 places and {_WHOLE_DIGITS} digits before the point,"
    " as a string or a number"
)
UNIT_PRICE_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "pattern": PRICE_PATTERN},
        {"type": "number", "minimum": 0, "exclusiveMaximum": 10**_WHOLE_DIGITS, "multipleOf": 0.01},
    ],
    "description": f"a non-negative decimal, at most 2 places and {MAX_PRICE_DIGITS} digits: a string or a number",
}
# A whole-number Decimal at least this large is no quantity: never converted to an int, which for
# 1E+999999999 would build a billion-digit integer.
_LARGEST_WHOLE_EXPONENT = 18


def _whole_number(value: Any) -> Any:
    """JSON Schema counts 498.0 as an integer, and so does the API (a string never is)."""
    if (
        isinstance(value, Decimal)
        and value.is_finite()
        and value.adjusted() < _LARGEST_WHOLE_EXPONENT
        and value == value.to_integral_value()
    ):
        return int(value)
    return value


def _price(value: Any) -> Any:
    """Every price out of range gets the one message that says what a price is."""
    if isinstance(value, str) and not re.fullmatch(PRICE_PATTERN, value):
        raise ValueError(PRICE_RULE)
    if isinstance(value, Decimal) and not (value.is_finite() and value.adjusted() < _WHOLE_DIGITS):
        raise ValueError(PRICE_RULE)
    return value


def _new_order_id() -> str:
    return str(uuid.uuid4())


OrderId = Annotated[StrictStr, Field(pattern=ORDER_ID_PATTERN)]
Name64 = Annotated[StrictStr, Field(min_length=1, max_length=64, pattern=TEXT_PATTERN)]


class OrderItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sku: Name64
    quantity: Annotated[StrictInt, Field(ge=1, le=10_000), BeforeValidator(_whole_number)]
    # A string or a JSON number; the API parses JSON numbers as Decimal, never float. At most
    # 20 digits: money arithmetic (quantize, the order total) stays within Decimal's precision.
    unit_price: Annotated[
        Decimal,
        BeforeValidator(_price),
        Field(ge=0, decimal_places=2, max_digits=MAX_PRICE_DIGITS, allow_inf_nan=False),
        WithJsonSchema(UNIT_PRICE_SCHEMA),
    ]


class OrderRequest(BaseModel):
    """The body of `POST /order`: its shape only. Business rules live in `rules.py`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Absent: one is generated. Present, it is a string (null is refused, as the document says).
    order_id: OrderId = Field(default_factory=_new_order_id)
    customer_id: Name64
    items: Annotated[list[OrderItem], Field(min_length=1, max_length=100)]
    currency: Annotated[StrictStr, Field(pattern=CURRENCY_PATTERN)] = "USD"


class Order(BaseModel):
    """An order as the workflow and the API see it once it has an id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    order_id: OrderId
    customer_id: Name64
    items: list[OrderItem]
    currency: str

    @classmethod
    def from_request(cls, request: OrderRequest) -> Order:
        return cls(
            order_id=request.order_id,
            customer_id=request.customer_id,
            items=list(request.items),
            currency=request.currency,
        )

    @property
    def total(self) -> Decimal:
        return sum((item.unit_price * item.quantity for item in self.items), Decimal("0")).quantize(CENTS)

    def to_payload(self) -> dict[str, Any]:
        """JSON-safe form (prices as strings with two decimals) for the workflow and queues."""
        return {
            "order_id": self.order_id,
            "customer_id": self.customer_id,
            "currency": self.currency,
            "items": [
                {
                    "sku": item.sku,
                    "quantity": item.quantity,
                    "unit_price": str(item.unit_price.quantize(CENTS)),
                }
                for item in self.items
            ],
        }

    @property
    def body_hash(self) -> str:
        """Identifies the request's meaning: "12.5" and "12.50" are the same body."""
        canonical = json.dumps(self.to_payload(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


_PATTERN_RULES = {ORDER_ID_PATTERN: ORDER_ID_RULE, TEXT_PATTERN: TEXT_RULE, CURRENCY_PATTERN: CURRENCY_RULE}


def field_errors(error: ValidationError) -> list[dict[str, str]]:
    """One entry per bad field, named by its path in the body (`items[0].quantity`)."""
    return [
        {"field": _path(entry["loc"]) or "(body)", "message": _message(entry)}
        for entry in error.errors(include_url=False)
    ]


def _message(entry: ErrorDetails) -> str:
    """pydantic's message, but in the API's words where pydantic's would show a regular expression
    or its "Value error, " prefix."""
    context = entry.get("ctx", {})
    if entry["type"] == "string_pattern_mismatch":
        return _PATTERN_RULES.get(str(context.get("pattern")), entry["msg"])
    if entry["type"] == "value_error":
        return str(context["error"])
    if entry["type"] == "string_unicode":
        return "must be valid Unicode: a lone surrogate escape (\\ud800-\\udfff) is not"
    return entry["msg"]


def _path(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path
