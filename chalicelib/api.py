"""The HTTP API (docs/CONTRACT.md section 2): request checks, idempotent acceptance, order views."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeGuard

from chalice.app import Response
from pydantic import ValidationError

from chalicelib import json_body
from chalicelib.clock import Clock, utc_now
from chalicelib.errors import TransientError
from chalicelib.models import ORDER_ID_PATTERN, ORDER_ID_RULE, Order, OrderRequest, field_errors
from chalicelib.observability import logger, order_context
from chalicelib.repository import OrderRepository
from chalicelib.responses import HttpError, ServiceUnavailableError, answers_errors, json_response
from chalicelib.states import OrderStatus
from chalicelib.views import OrderAccepted, OrderView
from chalicelib.workflow import WorkflowStarter, WorkflowUnavailableError

MAX_BODY_BYTES = 256 * 1024
ORDER_PATH_SEGMENT = "order"
_ORDER_ID = re.compile(ORDER_ID_PATTERN)
_WORKFLOW_DOWN = "the order workflow could not be started; retry"


class OrderApi:
    def __init__(self, repository: OrderRepository, workflow: WorkflowStarter, clock: Clock = utc_now):
        self._repository = repository
        self._workflow = workflow
        self._clock = clock

    @answers_errors
    def create_order(self, raw_body: bytes | str, content_type: str | None) -> Response:
        order = _parse_order(raw_body.encode() if isinstance(raw_body, str) else raw_body, content_type)
        with _operation(order.order_id, "create_order"):
            return self._accept(order)

    @answers_errors
    def get_order(self, order_id: str) -> Response:
        if not _ORDER_ID.fullmatch(order_id):  # not match: its `$` also matches before a final newline
            raise HttpError(400, "InvalidOrderId", f"order_id {ORDER_ID_RULE}")
        with _operation(order_id, "get_order"):
            item = self._repository.get(order_id)
            if item is None:
                logger.info("order not found")
                raise HttpError(404, "OrderNotFound", f"no order with order_id {order_id!r}")
            logger.info("order read", extra={"status": item["status"]})
            return json_response(200, OrderView.from_item(item).body())

    def _accept(self, order: Order) -> Response:
        existing = self._repository.create(order, self._clock())
        if existing is not None:
            return self._replay(order, existing["body_hash"], OrderStatus(existing["status"]))
        try:
            execution = self._workflow.start(order)
        except WorkflowUnavailableError as exc:
            self._repository.delete_if_accepted(order.order_id, order.body_hash)
            logger.warning("workflow start failed; order withdrawn", extra={"error": str(exc)})
            raise ServiceUnavailableError(_WORKFLOW_DOWN) from exc
        logger.info("order accepted", extra={"status": OrderStatus.ACCEPTED.value, "execution": execution})
        return _accepted(order.order_id, OrderStatus.ACCEPTED)

    def _replay(self, order: Order, body_hash: str, status: OrderStatus) -> Response:
        if body_hash != order.body_hash:
            logger.info("order id reused with a different body")
            raise HttpError(409, "OrderConflict", f"order_id {order.order_id!r} was already used with a different body")
        if status is OrderStatus.ACCEPTED:
            # The first request may have died before its workflow started; starting
            # another is safe because only one execution can claim the order.
            try:
                self._workflow.start(order)
            except WorkflowUnavailableError as exc:
                logger.warning("workflow restart failed", extra={"error": str(exc)})
                raise ServiceUnavailableError(_WORKFLOW_DOWN) from exc
        logger.info("order replayed", extra={"status": status.value})
        return _accepted(order.order_id, status)


@contextmanager
def _operation(order_id: str, operation: str) -> Iterator[None]:
    """The log context of one request about one order; a busy store becomes a 503."""
    with order_context(order_id, operation):
        try:
            yield
        except TransientError as exc:
            logger.warning("order store unavailable", extra={"error": str(exc)})
            raise ServiceUnavailableError("the order store is busy; retry the request") from exc


def _parse_order(raw_body: bytes, content_type: str | None) -> Order:
    """The request's order, or the HttpError (415, 413, 400) that says what is wrong with it."""
    if not _is_json(content_type):
        raise HttpError(415, "UnsupportedMediaType", f"Content-Type must be application/json, got {content_type!r}")
    json_body.check_charset(content_type)
    if len(raw_body) > MAX_BODY_BYTES:
        raise HttpError(413, "PayloadTooLarge", f"body is {len(raw_body)} bytes; the limit is {MAX_BODY_BYTES}")
    document = json_body.parse(raw_body)
    if not isinstance(document, dict):
        raise HttpError(400, "InvalidOrder", "body must be a JSON object")
    try:
        return Order.from_request(OrderRequest.model_validate(document))
    except ValidationError as exc:
        fields = field_errors(exc)
        names = ", ".join(sorted({entry["field"] for entry in fields}))
        raise HttpError(400, "InvalidOrder", f"invalid fields: {names}", fields=fields) from exc


def _accepted(order_id: str, status: OrderStatus) -> Response:
    body = OrderAccepted(order_id=order_id, status=status).body()
    # Relative to the request's URL (RFC 3986): `.../api/order` resolves it to `.../api/order/{id}`,
    # whatever prefix is before `/order` (API Gateway's stage, a custom domain's base path, none).
    return json_response(202, body, {"Location": f"{ORDER_PATH_SEGMENT}/{order_id}"})


def _is_json(content_type: str | None) -> TypeGuard[str]:
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))
