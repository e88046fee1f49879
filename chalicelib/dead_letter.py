"""The dead-letter queue's handler: one failed_orders record per order (written by its first
dead-letter, updated by a later one after a redrive), then DEAD_LETTERED.

A transient failure (a throttled call, a transaction cancelled by throttling or a conflict) raises
TransientError: the message is a batch item failure and comes back, never dropped as not
eligible. order_dlq has no redrive policy, so its receives are not counted against anything.

A message SQS moved here before its round had maxReceiveCount real failures (its receives were
spent by invocations that timed out or were throttled, which fulfillment could not hand back) is
not a dead letter: the order is left open, and the reconciler queues it again once it is stuck,
with its attempts carried. Only so often: after maxReceiveCount such take-overs in a round, the
message is recorded after all (an order whose invocations never conclude is a persistent error)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib.clock import Clock, from_epoch_millis, utc_now
from chalicelib.observability import count_dead_lettered, logger
from chalicelib.redrive import redrive_round_of
from chalicelib.repository import (
    DeadLetterOutcome,
    FailureRecord,
    Item,
    OrderRepository,
    failed_in_round,
    reconciler_claims_in_round,
)
from chalicelib.sqs_batch import LambdaContext, process_batch
from chalicelib.states import ALLOWED_SOURCES, OrderStatus


class DeadLetterHandler:
    def __init__(
        self, repository: OrderRepository, clock: Clock = utc_now, *, max_receive_count: int | None = None
    ) -> None:
        """`max_receive_count` (order_queue's): None records every message that arrives."""
        self._repository = repository
        self._clock = clock
        self._max_receive_count = max_receive_count

    def handle_batch(self, event: dict[str, Any], context: LambdaContext | None = None) -> dict[str, Any]:
        return process_batch(event, self.record_failure, "handle_dead_letter", context)

    def record_failure(self, record: SQSRecord, order_id: str) -> None:
        order = self._repository.get(order_id)
        now = self._clock()
        if order is not None and self._arrived_too_soon(order):
            logger.warning(
                "dead letter before its round's attempts failed; left to the reconciler",
                extra={"failed_attempts": failed_in_round(order)},
            )
            return
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

    def _arrived_too_soon(self, order: Item) -> bool:
        limit = self._max_receive_count
        return (
            limit is not None
            and order.get("status") in ALLOWED_SOURCES[OrderStatus.FULFILLED]  # queued, not concluded
            and failed_in_round(order) < limit
            and reconciler_claims_in_round(order) < limit
        )
