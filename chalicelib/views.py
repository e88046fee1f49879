"""The API's response bodies: each model both serialises an answer (`api.py`) and describes it
in the OpenAPI document (`openapi.py`), so the two cannot drift apart."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from chalicelib.models import CENTS
from chalicelib.states import OrderStatus


def _two_places(value: Any) -> Any:
    return str(Decimal(value).quantize(CENTS)) if isinstance(value, Decimal | int | str) else value


Money = Annotated[
    str,
    BeforeValidator(_two_places),
    Field(pattern=r"^\d+\.\d{2}$", description="a decimal with two places, as a string"),
]


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def body(self) -> dict[str, Any]:
        """The JSON object the API answers (unset optional fields left out)."""
        return self.model_dump(mode="json", exclude_none=True)


class OrderAccepted(_Response):
    """202: the order is recorded; its status is ACCEPTED, or its current one for a replay."""

    order_id: str
    status: OrderStatus


class OrderLine(_Response):
    sku: str
    quantity: int
    unit_price: Money


class HistoryEntry(_Response):
    """One transition of an order, in the order they happened."""

    status: OrderStatus
    at: str = Field(description="when it happened, ISO 8601 UTC")
    attempt: int | None = Field(default=None, ge=0, description="the fulfillment attempt it belongs to, if any")
    by: str | None = Field(default=None, description="who made it when not the pipeline: reconciler, operator")


class OrderView(_Response):
    """200: an order as `GET /order/{order_id}` shows it."""

    order_id: str
    status: OrderStatus
    customer_id: str
    currency: str
    items: list[OrderLine]
    total: Money
    attempts: int = Field(default=0, ge=0, description="fulfillment attempts so far")
    reason: str | None = Field(default=None, description="why the workflow REJECTED it")
    last_error: str | None = Field(default=None, description="the latest failed attempt's error")
    created_at: str
    updated_at: str
    fulfilled_at: str | None = None
    history: list[HistoryEntry] = Field(default_factory=list, description="every transition, oldest first")

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> OrderView:
        """The stored order's public fields; bookkeeping (body_hash, execution_id) stays in."""
        return cls.model_validate({name: item[name] for name in cls.model_fields if name in item})


class ErrorBody(_Response):
    """Every 4xx and 5xx that the app answers."""

    error: str = Field(description="a stable code: InvalidOrder, OrderNotFound, ...")
    message: str


class FieldError(_Response):
    field: str = Field(description="the bad field's path in the body, e.g. items[0].quantity")
    message: str


class InvalidRequestBody(_Response):
    """400: the body or the id is malformed; `fields` names each bad field of a body."""

    error: Literal["InvalidJSON", "InvalidOrder", "InvalidOrderId"]
    message: str
    fields: list[FieldError] | None = None


class GatewayMessage(BaseModel):
    """403 from the gateway itself (no or a wrong x-api-key, no such path); the app never sees the
    request. API Gateway's body has the message; `error`, where the gateway gives it, its code."""

    message: str
    error: str | None = Field(default=None, description="the gateway's code: Forbidden, MissingAuthenticationToken")
