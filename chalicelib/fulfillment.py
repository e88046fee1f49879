"""Fulfillment of queued orders: one record handler per SQS message, partial batch responses.

An order is dead-lettered only after order_queue's maxReceiveCount real attempts failed in its
round (each one a FAILED entry in its history), never because a receive was spent on something
else (a throttled or timed-out call, a transaction conflict, an invocation Lambda refused or that
timed out). So the function concludes every receive that reaches it itself, and reports the
original message done:

- a transient failure, or a message not reached before the deadline: a copy goes back to the
  queue, soon (the delay doubling with each such hand-back), no attempt spent;
- a real failure with attempts left: a copy goes back to the queue, as late as SQS would have
  delivered the message again (its visibility timeout);
- a real failure that used up the round's attempts: the message goes to the dead-letter queue.

A copy carries the attempt numbers its message's receives used (ATTEMPTS_MADE_ATTRIBUTE): its own
attempts are numbered on from there, never reusing one. SQS's receive count (and its redrive
policy, maxReceiveCount on order_queue) then sees only receives that concluded nothing: a message
whose maxReceiveCount receives in a row never reached a conclusion (a handler crashing every time)
is dead-lettered by SQS, as persistent errors. When a copy cannot be sent, the record is a batch
item failure, as before. A duplicate (a copy sent while its original also came back) is harmless:
every write is conditional.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib.clock import Clock, utc_now
from chalicelib.errors import TransientError
from chalicelib.observability import logger
from chalicelib.redrive import attempts_before_of
from chalicelib.repository import Item, OrderRepository, failed_in_round
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
        receives = int(record.attributes.approximate_receive_count)
        # Attempts count across rounds: a message queued again (a redrive, the reconciler) carries
        # the attempts made before it, and its attempts continue from there.
        attempt = attempts_before_of(record.body) + made + receives
        try:
            failed = self._attempt(record, order_id, attempt)
        except TransientError as exc:
            self.hand_back(record, order_id)
            logger.warning("transient failure: no attempt spent, message handed back", extra={"error": str(exc)})
            return
        if failed is None:
            return
        # One line per attempt: the failure and what happens next.
        log = {"attempt": attempt, "message_id": record.message_id, "error": failed.get("last_error")}
        if failed_in_round(failed) >= self._retries.max_receive_count(record):
            logger.warning("fulfillment attempt failed; attempts used up: dead-letter queue", extra=log)
            self._retries.dead_letter(record)  # raises when it could not: a batch item failure
            return
        logger.warning("fulfillment attempt failed; queued again", extra=log)
        self._retries.later(record, made + receives, failed=True)  # raises when it could not: as above

    def hand_back(self, record: SQSRecord, order_id: str) -> None:
        """Queue the record again without spending an attempt: this receive was not one."""
        made = count_attribute(record, ATTEMPTS_MADE_ATTRIBUTE) + int(record.attributes.approximate_receive_count) - 1
        self._retries.later(record, made, failed=False)  # raises when it could not: a batch item failure

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
        return failed
