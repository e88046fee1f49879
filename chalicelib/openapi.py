"""The API's OpenAPI 3.1 description, generated from the pydantic models (served at GET /openapi.json).

The request body's schema is `models.OrderRequest` itself; the response bodies are described by
the models below, which tests/fuzz/ and tests/properties/ hold against what `api.py` returns.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from chalicelib.models import ORDER_ID_PATTERN, OrderRequest
from chalicelib.states import OrderStatus

Money = Annotated[str, Field(pattern=r"^\d+\.\d{2}$", description="a decimal with two places, as a string")]
REF_TEMPLATE = "#/components/schemas/{model}"
API_KEY_HEADER = "x-api-key"
API_KEY_SCHEME = "api_key"


class OrderAccepted(BaseModel):
    """202: the order is recorded; its status is ACCEPTED, or its current one for a replay."""

    model_config = ConfigDict(extra="forbid")
    order_id: str
    status: OrderStatus


class OrderLine(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str
    quantity: int
    unit_price: Money


class OrderView(BaseModel):
    """200: an order as `GET /order/{order_id}` shows it."""

    model_config = ConfigDict(extra="forbid")
    order_id: str
    status: OrderStatus
    customer_id: str
    currency: str
    items: list[OrderLine]
    total: Money
    attempts: int = Field(ge=0, description="fulfillment attempts so far")
    reason: str | None = Field(default=None, description="why the workflow REJECTED it")
    last_error: str | None = Field(default=None, description="the latest failed attempt's error")
    created_at: str
    updated_at: str
    fulfilled_at: str | None = None


class ErrorBody(BaseModel):
    """Every 4xx and 5xx that the app answers."""

    model_config = ConfigDict(extra="forbid")
    error: str = Field(description="a stable code: InvalidOrder, OrderNotFound, ...")
    message: str


class FieldError(BaseModel):
    model_config = ConfigDict(extra="forbid")
    field: str = Field(description="the bad field's path in the body, e.g. items[0].quantity")
    message: str


class InvalidRequestBody(BaseModel):
    """400: the body or the id is malformed; `fields` names each bad field of a body."""

    model_config = ConfigDict(extra="forbid")
    error: Literal["InvalidJSON", "InvalidOrder", "InvalidOrderId"]
    message: str
    fields: list[FieldError] | None = None


class GatewayMessage(BaseModel):
    """403 from API Gateway itself (no or a wrong x-api-key); the app never sees the request."""

    message: str


SCHEMA_MODELS: tuple[type[BaseModel], ...] = (
    OrderRequest,
    OrderAccepted,
    OrderView,
    ErrorBody,
    InvalidRequestBody,
    GatewayMessage,
)


def _json(model: type[BaseModel], description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF_TEMPLATE.format(model=model.__name__)}}},
    }
    if headers:
        response["headers"] = headers
    return response


_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "string"}}}
_FORBIDDEN = _json(GatewayMessage, "no valid x-api-key (on AWS; the local stack only when told to require one)")


@cache
def document() -> dict[str, Any]:
    """The OpenAPI document (built once; treat it as read-only)."""
    _, definitions = models_json_schema(
        [(model, "validation" if model is OrderRequest else "serialization") for model in SCHEMA_MODELS],
        ref_template=REF_TEMPLATE,
    )
    order_id = {
        "name": "order_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": ORDER_ID_PATTERN},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "DOFS order API",
            "version": "1.0.0",
            "description": "Accepts orders and shows their progress (the product contract, section 2).",
        },
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {API_KEY_SCHEME: {"type": "apiKey", "in": "header", "name": API_KEY_HEADER}},
        },
        "security": [{API_KEY_SCHEME: []}],
        "paths": {
            "/order": {
                "post": {
                    "operationId": "createOrder",
                    "summary": "Accept an order (idempotent on order_id)",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": REF_TEMPLATE.format(model="OrderRequest")}}
                        },
                    },
                    "responses": {
                        "202": _json(
                            OrderAccepted,
                            "accepted (or replayed)",
                            {"Location": {"description": "/order/{order_id}", "schema": {"type": "string"}}},
                        ),
                        "400": _json(InvalidRequestBody, "the body is not JSON or breaks the request model"),
                        "403": _FORBIDDEN,
                        "409": _json(ErrorBody, "order_id already used with a different body"),
                        "413": _json(ErrorBody, "body over 256 KiB"),
                        "415": _json(ErrorBody, "not JSON"),
                        "503": _json(ErrorBody, "the workflow or the store is unavailable; retry", _RETRY_AFTER),
                    },
                }
            },
            "/order/{order_id}": {
                "get": {
                    "operationId": "getOrder",
                    "summary": "Show an order",
                    "parameters": [order_id],
                    "responses": {
                        "200": _json(OrderView, "the order"),
                        "400": _json(InvalidRequestBody, "malformed order_id"),
                        "403": _FORBIDDEN,
                        "404": _json(ErrorBody, "no such order"),
                        "503": _json(ErrorBody, "the store is unavailable; retry", _RETRY_AFTER),
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "getOpenApi",
                    "summary": "This document",
                    "responses": {
                        "200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {}}}},
                        "403": _FORBIDDEN,
                    },
                }
            },
        },
    }
