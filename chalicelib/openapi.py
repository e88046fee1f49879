"""The API's OpenAPI 3.1 description, generated from the pydantic models (served at GET /openapi.json).

The request body's schema is `models.OrderRequest` itself, and the response bodies' are the models
of `views.py` that `api.py` serialises its answers with.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chalicelib import json_body
from chalicelib.models import ORDER_ID_PATTERN, OrderRequest
from chalicelib.views import ErrorBody, GatewayMessage, InvalidRequestBody, OrderAccepted, OrderView

REF_TEMPLATE = "#/components/schemas/{model}"
API_KEY_HEADER = "x-api-key"  # pragma: allowlist secret (a header name)
API_KEY_SCHEME = "api_key"  # pragma: allowlist secret (a scheme name)
API_KEY_REQUIRED_ENV = "API_KEY_REQUIRED"  # pragma: allowlist secret (a variable name)


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
_FORBIDDEN = _json(GatewayMessage, "no valid x-api-key (where the stage requires one)")


def document() -> dict[str, Any]:
    """The document that describes the stage serving it: every route needs an x-api-key, unless
    the stage serves without keys (API_KEY_REQUIRED=false), and then the document asks for none."""
    return _document(os.environ.get(API_KEY_REQUIRED_ENV, "true").strip().lower() != "false")


@cache
def _document(api_key_required: bool) -> dict[str, Any]:
    """Built once per answer; treat it as read-only."""
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
        # An empty list: no scheme needed (OpenAPI 3.1, section 4.8.10).
        "security": [{API_KEY_SCHEME: []}] if api_key_required else [],
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
                            {
                                "Location": {
                                    "description": "order/{order_id}: the order's URL, relative to the request's"
                                    " (RFC 3986), so it keeps any stage or base path before /order",
                                    "schema": {"type": "string"},
                                }
                            },
                        ),
                        "400": _json(
                            InvalidRequestBody,
                            "the body is not JSON as RFC 8259 has it (UTF-8; no key twice in an object; no NaN or"
                            f" Infinity), nests more than {json_body.MAX_DEPTH} deep, or breaks the request model",
                        ),
                        "403": _FORBIDDEN,
                        "409": _json(ErrorBody, "order_id already used with a different body"),
                        "413": _json(ErrorBody, "body over 256 KiB"),
                        "415": _json(ErrorBody, "not application/json (or +json), or a charset other than utf-8"),
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
