"""The dead-letter queue's handler: one failed_orders record per order (written by its first
dead-letter, updated by a later one after a redrive), then DEAD_LETTERED.

A transient failure (a throttled call, a transaction cancelled by throttling or a conflict) raises
TransientError: the message is a batch item failure and comes back, never dropped as not
eligible. order_dlq has no redrive policy, so its receives are not counted against anything."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib.clock import Clock, from_epoch_millis, utc_now
from chalicelib.observability import count_dead_lettered, logger
from chalicelib.redrive import redrive_round_of
from chalicelib.repository import DeadLetterOutcome, FailureRecord, OrderRepository
from chalicelib.sqs_batch import LambdaContext, process_batch


class DeadLetterHandler:
    def __init__(self, repository: OrderRepository, clock: Clock = utc_now) -> None:
        self._repository = repository
        self._clock = clock

    def handle_batch(self, event: dict[str, Any], context: LambdaContext | None = None) -> dict[str, Any]:
        return process_batch(event, self.record_failure, "handle_dead_letter", context)

    def record_failure(self, record: SQSRecord, order_id: str) -> None:
        order = self._repository.get(order_id)
        now = self._clock()
        outcome = DeadLetterOutcome.NOT_ELIGIBLE
        if order is not None:
            sent = record.attributes.sent_timestamp
            outcome = self._repository.dead_letter(
                FailureRecord(
                    order_id=order_id,
                    source="fulfillment",
                    original_message=record.body,
                    attempts=int(order.get("attempts", 0)),
                    last_error=str(order.get("last_error", "unknown")),
                    queued_at=from_epoch_millis(sent) if sent else None,
                    dead_lettered_at=now,
                    message_id=record.message_id,
                    redrive_round=redrive_round_of(record.body),
                ),
                now,
            )
        if outcome is DeadLetterOutcome.RECORDED:
            count_dead_lettered(source="fulfillment")
        log_level = logger.error if outcome is DeadLetterOutcome.RECORDED else logger.info
        log_level("dead letter handled", extra={"outcome": outcome.value})
