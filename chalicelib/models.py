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

ORDER_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
CENTS = Decimal("0.01")
MAX_PRICE_DIGITS = 20

# A price as a string: at most 2 places and MAX_PRICE_DIGITS digits in all, so at most
# MAX_PRICE_DIGITS - 2 before the point (leading zeros aside). The model enforces this pattern
# and the OpenAPI document publishes it, so the two describe the same prices.
_WHOLE_DIGITS = MAX_PRICE_DIGITS - 2
PRICE_PATTERN = rf"^0*\d{{1,{_WHOLE_DIGITS}}}(\.\d{{1,2}})?$"
UNIT_PRICE_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "pattern": PRICE_PATTERN},
        {"type": "number", "minimum": 0, "exclusiveMaximum": 10**_WHOLE_DIGITS, "multipleOf": 0.01},
    ],
    "description": f"a non-negative decimal, at most 2 places and {MAX_PRICE_DIGITS} digits: a string or a number",
}


def _whole_number(value: Any) -> Any:
    """JSON Schema counts 498.0 as an integer, and so does the API (a string never is)."""
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    return value


def _price_text(value: Any) -> Any:
    if isinstance(value, str) and not re.fullmatch(PRICE_PATTERN, value):
        raise ValueError(f"a price as a string must match {PRICE_PATTERN}")
    return value


OrderId = Annotated[StrictStr, Field(pattern=ORDER_ID_PATTERN)]
Name64 = Annotated[StrictStr, Field(min_length=1, max_length=64)]


class OrderItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sku: Name64
    quantity: Annotated[StrictInt, Field(ge=1, le=10_000), BeforeValidator(_whole_number)]
    # A string or a JSON number; the API parses JSON numbers as Decimal, never float. At most
    # 20 digits: money arithmetic (quantize, the order total) stays within Decimal's precision.
    unit_price: Annotated[
        Decimal,
        BeforeValidator(_price_text),
        Field(ge=0, decimal_places=2, max_digits=MAX_PRICE_DIGITS, allow_inf_nan=False),
        WithJsonSchema(UNIT_PRICE_SCHEMA),
    ]


class OrderRequest(BaseModel):
    """The body of `POST /order`: its shape only. Business rules live in `rules.py`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    order_id: OrderId | None = None
    customer_id: Name64
    items: Annotated[list[OrderItem], Field(min_length=1, max_length=100)]
    currency: Annotated[StrictStr, Field(pattern=r"^[A-Z]{3}$")] = "USD"


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
            order_id=request.order_id or str(uuid.uuid4()),
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


def field_errors(error: ValidationError) -> list[dict[str, str]]:
    """One entry per bad field, named by its path in the body (`items[0].quantity`)."""
    return [
        {"field": _path(entry["loc"]) or "(body)", "message": entry["msg"]} for entry in error.errors(include_url=False)
    ]


def _path(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path
