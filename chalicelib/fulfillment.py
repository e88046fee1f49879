"""Fulfillment of queued orders: one record handler per SQS message, partial batch responses."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib.clock import Clock, utc_now
from chalicelib.errors import FulfillmentFailedError
from chalicelib.observability import logger
from chalicelib.repository import OrderRepository

RandomSource = Callable[[], float]


def order_id_of(record: SQSRecord) -> str | None:
    """The order a queue message is about, or None for a message that is not ours."""
    try:
        message = json.loads(record.body)
    except ValueError:
        return None
    order_id = message.get("order_id") if isinstance(message, dict) else None
    return order_id if isinstance(order_id, str) and order_id else None


def process_batch(event: dict[str, Any], record_handler: Callable[[SQSRecord], None], operation: str) -> dict[str, Any]:
    """Runs the handler once per record; failed records go back to the queue, alone."""

    def logged(record: SQSRecord) -> None:
        try:
            record_handler(record)
        except FulfillmentFailedError:
            raise  # an expected outcome, already logged
        except Exception as exc:
            logger.exception(
                "record handler crashed; the message will be retried",
                extra={"order_id": order_id_of(record), "operation": operation, "message_id": record.message_id},
            )
            raise exc

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return dict(process_partial_response(event=event, record_handler=logged, processor=processor))


class Fulfillment:
    def __init__(
        self,
        repository: OrderRepository,
        success_rate: float,
        random: RandomSource,
        clock: Clock = utc_now,
    ) -> None:
        self._repository = repository
        self._success_rate = success_rate
        self._random = random
        self._clock = clock

    def handle_batch(self, event: dict[str, Any]) -> dict[str, Any]:
        return process_batch(event, self.fulfil, "fulfill_order")

    def fulfil(self, record: SQSRecord) -> None:
        order_id = order_id_of(record)
        if order_id is None:
            # Retrying can never make it readable; the body stays in the log.
            logger.error("unreadable order message dropped", extra={"order_id": None, "body": record.body[:2000]})
            return
        attempt = int(record.attributes.approximate_receive_count)
        log = {"order_id": order_id, "operation": "fulfill_order", "attempt": attempt, "message_id": record.message_id}
        if self._random() < self._success_rate:
            if self._repository.mark_fulfilled(order_id, attempt, self._clock()):
                logger.info("order fulfilled", extra=log)
            else:
                logger.info("order already terminal or unknown; duplicate message ignored", extra=log)
            return
        error = f"simulated fulfillment failure on attempt {attempt}"
        if self._repository.record_failed_attempt(order_id, attempt, error, self._clock()) is None:
            logger.info("order already terminal or unknown; duplicate message ignored", extra=log)
            return
        logger.warning("fulfillment attempt failed", extra={**log, "error": error})
        raise FulfillmentFailedError(f"order {order_id}: {error}")
