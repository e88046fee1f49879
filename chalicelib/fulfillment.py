"""Fulfillment of queued orders: one record handler per SQS message, partial batch responses.

An order is dead-lettered only after order_queue's maxReceiveCount real attempts failed in its
round (each one a FAILED entry in its history), never because a receive was spent on something
else. So:

- A transient failure (a throttled or timed-out call, a transaction conflict) and a message not
  reached before the deadline are handed back: a copy goes to the queue again, delayed, and the
  original is reported done, so no receive is spent. The copy carries the attempt numbers the
  message's receives used so far (ATTEMPTS_MADE_ATTRIBUTE): SQS's count restarts with it, and its
  attempts are numbered on from there, never reusing a number.
- A real failure is a batch item failure, as before, and SQS's redrive policy dead-letters the
  original after its last receive. Before that receive's failure is reported, the order's history
  is checked: if receives were spent without a real attempt (a crash, an invocation refused or
  timed out, a copy that could not be sent), the message is handed back instead, for the attempts
  it has left. A copy whose round has used up its attempts sends itself to the dead-letter queue,
  since SQS's count restarted with it.
- When a copy cannot be sent, the record is a batch item failure. A duplicate (a copy sent while
  its original also came back) is harmless: every write is conditional.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib.clock import Clock, utc_now
from chalicelib.errors import FulfillmentFailedError, TransientError
from chalicelib.observability import logger
from chalicelib.redrive import attempts_before_of
from chalicelib.repository import Item, OrderRepository
from chalicelib.sqs_batch import (
    ATTEMPTS_MADE_ATTRIBUTE,
    LambdaContext,
    NoRetryQueue,
    RetryQueue,
    count_attribute,
    process_batch,
)
from chalicelib.states import OrderStatus

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
        receives = int(record.attributes.approximate_receive_count)
        # Attempts count across rounds: a message queued again (a redrive, the reconciler) carries
        # the attempts made before it, and its attempts continue from there.
        attempt = attempts_before_of(record.body) + made + receives
        try:
            failed = self._attempt(record, order_id, attempt)
        except TransientError:
            logger.warning("transient failure: no attempt spent", extra={"attempt": attempt})
            self.hand_back(record, order_id)
            return
        if failed is None:
            return
        max_receive_count = self._retries.max_receive_count(record)
        if failed_in_round(failed) >= max_receive_count:
            if made:  # a copy: SQS's count restarted with it, so it dead-letters itself
                self._retries.dead_letter(record)  # raises when it could not: a batch item failure
                logger.warning("attempts used up: message sent to the dead-letter queue", extra={"attempt": attempt})
                return
        elif receives >= max_receive_count:
            # Its last receive, but some receives were not real attempts: SQS must not dead-letter it.
            logger.warning("receives spent without an attempt: handed back", extra={"attempt": attempt})
            self._retries.later(record, made + receives)
            return
        raise FulfillmentFailedError(f"order {order_id}: {failed.get('last_error')}")

    def hand_back(self, record: SQSRecord, order_id: str) -> None:
        """Queue the record again without spending an attempt: this receive was not one."""
        made = count_attribute(record, ATTEMPTS_MADE_ATTRIBUTE) + int(record.attributes.approximate_receive_count) - 1
        self._retries.later(record, made)  # raises when it could not: the record is then a batch item failure
        logger.info("message handed back", extra={"attempts_made": made, "message_id": record.message_id})

    def _attempt(self, record: SQSRecord, order_id: str, attempt: int) -> Item | None:
        """The order after a failed attempt; None when there is nothing more to do."""
        log = {"attempt": attempt, "message_id": record.message_id}
        if self._random() < self._success_rate:
            if self._repository.mark_fulfilled(order_id, attempt, self._clock()):
                logger.info("order fulfilled", extra=log)
            else:
                logger.info("order already terminal or unknown; duplicate message ignored", extra=log)
            return None
        error = f"simulated fulfillment failure on attempt {attempt}"
        failed = self._repository.record_failed_attempt(order_id, attempt, error, self._clock())
        if failed is None:
            logger.info("order already terminal or unknown; duplicate message ignored", extra=log)
            return None
        logger.warning("fulfillment attempt failed", extra={**log, "error": error})
        return failed


def failed_in_round(order: Item) -> int:
    """The real attempts that failed in the order's current round: its FAILED history entries
    since its last DEAD_LETTERED one (a redrive starts a new round after it)."""
    count = 0
    for entry in order.get("history", []):
        if entry.get("status") == OrderStatus.DEAD_LETTERED.value:
            count = 0
        elif entry.get("status") == OrderStatus.FAILED.value and "by" not in entry:
            count += 1
    return count
