"""The HTTP API (docs/CONTRACT.md section 2): request checks, idempotent acceptance, order views."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from chalice.app import Response
from pydantic import ValidationError

from chalicelib.clock import Clock, utc_now
from chalicelib.errors import TransientError
from chalicelib.models import ORDER_ID_PATTERN, Order, OrderRequest, field_errors
from chalicelib.observability import logger
from chalicelib.repository import Item, OrderRepository
from chalicelib.states import OrderStatus
from chalicelib.workflow import WorkflowStarter, WorkflowUnavailableError

MAX_BODY_BYTES = 256 * 1024
RETRY_AFTER_SECONDS = "1"
_ORDER_ID = re.compile(ORDER_ID_PATTERN)
# Fields a GET returns when present; internal bookkeeping (body_hash, execution_id) stays in.
_PUBLIC_FIELDS = (
    "order_id", "status", "customer_id", "currency", "items", "total", "attempts",
    "reason", "last_error", "created_at", "updated_at", "fulfilled_at",
)  # fmt: skip


class OrderApi:
    def __init__(self, repository: OrderRepository, workflow: WorkflowStarter, clock: Clock = utc_now):
        self._repository = repository
        self._workflow = workflow
        self._clock = clock

    def create_order(self, raw_body: bytes | str, content_type: str | None) -> Response:
        if isinstance(raw_body, str):
            raw_body = raw_body.encode()
        if not _is_json(content_type):
            return error(415, "UnsupportedMediaType", f"Content-Type must be application/json, got {content_type!r}")
        if len(raw_body) > MAX_BODY_BYTES:
            return error(413, "PayloadTooLarge", f"body is {len(raw_body)} bytes; the limit is {MAX_BODY_BYTES}")
        try:
            document = json.loads(raw_body, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError) as exc:
            return error(400, "InvalidJSON", f"body is not valid JSON: {exc}")
        if not isinstance(document, dict):
            return error(400, "InvalidOrder", "body must be a JSON object")
        try:
            order = Order.from_request(OrderRequest.model_validate(document))
        except ValidationError as exc:
            fields = field_errors(exc)
            names = ", ".join(sorted({entry["field"] for entry in fields}))
            return error(400, "InvalidOrder", f"invalid fields: {names}", fields=fields)
        try:
            return self._accept(order)
        except TransientError as exc:
            logger.warning("order store unavailable", extra={"order_id": order.order_id, "error": str(exc)})
            return error(503, "ServiceUnavailable", "the order store is busy; retry the request")

    def get_order(self, order_id: str) -> Response:
        if not _ORDER_ID.match(order_id):
            return error(400, "InvalidOrderId", "order_id must be 1-64 characters of A-Z, a-z, 0-9, _ and -")
        try:
            item = self._repository.get(order_id)
        except TransientError:
            return error(503, "ServiceUnavailable", "the order store is busy; retry the request")
        if item is None:
            logger.info("order not found", extra={"order_id": order_id, "operation": "get_order"})
            return error(404, "OrderNotFound", f"no order with order_id {order_id!r}")
        logger.info("order read", extra={"order_id": order_id, "operation": "get_order", "status": item["status"]})
        return json_response(200, order_view(item))

    def _accept(self, order: Order) -> Response:
        log = {"order_id": order.order_id, "operation": "create_order"}
        existing = self._repository.create(order, self._clock())
        if existing is not None:
            if existing["body_hash"] != order.body_hash:
                logger.info("order id reused with a different body", extra=log)
                return error(
                    409, "OrderConflict", f"order_id {order.order_id!r} was already used with a different body"
                )
            if existing["status"] == OrderStatus.ACCEPTED:
                # The first request may have died before its workflow started; starting
                # another is safe because only one execution can claim the order.
                try:
                    self._workflow.start(order)
                except WorkflowUnavailableError as exc:
                    logger.warning("workflow restart failed", extra={**log, "error": str(exc)})
                    return error(503, "ServiceUnavailable", "the order workflow could not be started; retry")
            logger.info("order replayed", extra={**log, "status": existing["status"]})
            return _accepted(order.order_id, existing["status"])
        try:
            execution = self._workflow.start(order)
        except WorkflowUnavailableError as exc:
            self._repository.delete_if_accepted(order.order_id, order.body_hash)
            logger.warning("workflow start failed; order withdrawn", extra={**log, "error": str(exc)})
            return error(503, "ServiceUnavailable", "the order workflow could not be started; retry")
        logger.info("order accepted", extra={**log, "status": OrderStatus.ACCEPTED.value, "execution": execution})
        return _accepted(order.order_id, OrderStatus.ACCEPTED.value)


def order_view(item: Item) -> dict[str, Any]:
    view = {name: item[name] for name in _PUBLIC_FIELDS if name in item}
    view["attempts"] = int(item.get("attempts", 0))
    view["total"] = _money(item["total"])
    view["items"] = [
        {"sku": line["sku"], "quantity": int(line["quantity"]), "unit_price": _money(line["unit_price"])}
        for line in item["items"]
    ]
    return view


def json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=json.dumps(body, separators=(",", ":")),
        status_code=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def error(status: int, code: str, message: str, **details: Any) -> Response:
    headers = {"Retry-After": RETRY_AFTER_SECONDS} if status == 503 else None
    return json_response(status, {"error": code, "message": message, **details}, headers)


def _accepted(order_id: str, status: str) -> Response:
    return json_response(202, {"order_id": order_id, "status": status}, {"Location": f"/order/{order_id}"})


def _money(value: Decimal | str) -> str:
    return str(Decimal(value).quantize(Decimal("0.01")))


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))
