"""Fulfillment of queued orders: one record handler per SQS message, partial batch responses.

Only a real attempt (the simulated fulfillment ran and failed, or the handler failed for a reason
that is not transient) may spend one of order_queue's maxReceiveCount receives, so that an order
is dead-lettered only after that many failed attempts. A transient failure (a throttled or
timed-out call, a transaction conflict) and a message not reached before the deadline are handed
back instead: a copy goes to the queue again, delayed, carrying the real attempts made so far
(ATTEMPTS_MADE_ATTRIBUTE), and the original is reported done. SQS's count restarts with the copy,
so the attempt number in the round is the carried count plus the copy's receive count; a copy's
last failing attempt sends it to the dead-letter queue itself, as SQS's redrive policy does for
the original. When a copy cannot be sent, the message is a batch item failure, as before. A
duplicate (a copy sent while its original also came back) is harmless: every write is conditional.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib.clock import Clock, utc_now
from chalicelib.errors import FulfillmentFailedError, TransientError
from chalicelib.observability import logger
from chalicelib.redrive import attempts_before_of
from chalicelib.repository import OrderRepository
from chalicelib.sqs_batch import (
    ATTEMPTS_MADE_ATTRIBUTE,
    LambdaContext,
    NoRetryQueue,
    RetryQueue,
    count_attribute,
    process_batch,
)

RandomSource = Callable[[], float]


class Fulfillment:
    def __init__(
        self,
        repository: OrderRepository,
        success_rate: float,
        random: RandomSource,
        clock: Clock = utc_now,
        retries: RetryQueue | None = None,
    ) -> None:
        """`retries`: where hand-backs and a copy's dead-letter go; None (a handler run alone):
        every record not done is a batch item failure, as when a copy cannot be sent."""
        self._repository = repository
        self._success_rate = success_rate
        self._random = random
        self._clock = clock
        self._retries: RetryQueue = retries if retries is not None else NoRetryQueue()

    def handle_batch(self, event: dict[str, Any], context: LambdaContext | None = None) -> dict[str, Any]:
        return process_batch(event, self.fulfill, "fulfill_order", context, self.hand_back)

    def fulfill(self, record: SQSRecord, order_id: str) -> None:
        made = count_attribute(record, ATTEMPTS_MADE_ATTRIBUTE)  # 0: the original message
        round_attempt = made + int(record.attributes.approximate_receive_count)
        if made and round_attempt > self._retries.max_receive_count(record):
            # A copy whose attempts are used up came back (its dead-letter send failed): as SQS does.
            self._dead_letter(record, round_attempt - 1)
            return
        # Attempts count across rounds: a message queued again (a redrive, the reconciler) carries
        # the attempts made before it, and its attempts continue from there.
        attempt = attempts_before_of(record.body) + round_attempt
        try:
            self._attempt(record, order_id, attempt)
        except TransientError:
            logger.warning("transient failure: no attempt spent", extra={"attempt": attempt})
            self.hand_back(record, order_id)
        except FulfillmentFailedError:
            # Only a copy sends itself there: SQS's redrive policy still counts the original's receives.
            if made and round_attempt >= self._retries.max_receive_count(record):
                self._dead_letter(record, round_attempt)
                return
            raise

    def hand_back(self, record: SQSRecord, order_id: str) -> None:
        """Queue the record again without spending an attempt: this receive was not one."""
        made = count_attribute(record, ATTEMPTS_MADE_ATTRIBUTE) + int(record.attributes.approximate_receive_count) - 1
        self._retries.later(record, made)  # raises when it could not: the record is then a batch item failure
        logger.info("message handed back", extra={"attempts_made": made, "message_id": record.message_id})

    def _dead_letter(self, record: SQSRecord, attempts: int) -> None:
        self._retries.dead_letter(record)  # raises when it could not: the record is then a batch item failure
        logger.warning("attempts used up: message sent to the dead-letter queue", extra={"attempts_made": attempts})

    def _attempt(self, record: SQSRecord, order_id: str, attempt: int) -> None:
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
