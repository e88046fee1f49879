"""Fulfillment of queued orders: one record handler per SQS message, partial batch responses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib.clock import Clock, utc_now
from chalicelib.errors import FulfillmentFailedError
from chalicelib.observability import logger
from chalicelib.redrive import attempts_before_of
from chalicelib.repository import OrderRepository
from chalicelib.sqs_batch import process_batch

RandomSource = Callable[[], float]


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
        return process_batch(event, self.fulfill, "fulfill_order")

    def fulfill(self, record: SQSRecord, order_id: str) -> None:
        # Attempts count across rounds: a message queued again (a redrive, the reconciler) carries
        # the attempts made before it, and its receives continue from there.
        attempt = attempts_before_of(record.body) + int(record.attributes.approximate_receive_count)
        log = {"attempt": attempt, "message_id": record.message_id}
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
