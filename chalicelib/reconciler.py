"""The reconciler: moves forward every order non-terminal for longer than the stuck-order threshold
(docs/CONTRACT.md section 7), run on a schedule (app.py's `reconcile_orders`).

It finds them with the `open-orders` index, shard by shard: the open orders (ACCEPTED, PENDING,
FAILED) opened before the cutoff, whose items it then reads (consistently) to keep those not
updated since the cutoff either. A run costs in proportion to the orders open longer than the
threshold, never a scan of every order. For each stuck one it first claims the order with a
conditional write on its status and `updated_at` (recorded in its history, `by: reconciler`): a
transition of the pipeline racing it wins, and the order is left alone. Then:

- ACCEPTED: the workflow execution was lost; it starts the workflow again. StoreOrder lets one
  execution claim an order, so a late first execution and this one cannot both queue it.
- PENDING / FAILED with attempts of its round left: the queue message was lost (the threshold is
  longer than a message's whole life in the queue, every receive's visibility timeout); it queues
  the order again, with its redrive round and the attempts made so far, so the new message's
  attempts continue the count. Fulfillment's conditional writes make a duplicate harmless.
- PENDING / FAILED with its round's attempts used up: the dead-letter message was lost; it
  dead-letters the order with source `reconciler` (one failed_orders record, as the DLQ handler
  would write; conditional on the round, like the DLQ handler's).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from chalicelib.clock import Clock, utc_now
from chalicelib.models import Order
from chalicelib.observability import count_dead_lettered, count_stuck_orders, logger, order_context
from chalicelib.redrive import queue_message
from chalicelib.repository import RECONCILER, DeadLetterOutcome, FailureRecord, Item, OrderRepository, failed_in_round
from chalicelib.states import OrderStatus
from chalicelib.workflow import WorkflowStarter

NON_TERMINAL = (OrderStatus.ACCEPTED, OrderStatus.PENDING, OrderStatus.FAILED)


class OrderQueue(Protocol):
    def send(self, message: str) -> None:
        """Queue a fulfillment message (`redrive.queue_message`), as the workflow's EnqueueOrder does."""
        ...


class SqsOrderQueue:
    def __init__(self, sqs: Any, queue_url: str) -> None:
        self._client = sqs
        self._url = queue_url

    def send(self, message: str) -> None:
        self._client.send_message(QueueUrl=self._url, MessageBody=message)


class Action(StrEnum):
    RESTARTED = "RESTARTED"  # ACCEPTED: workflow started again
    REQUEUED = "REQUEUED"  # PENDING/FAILED: queued again
    DEAD_LETTERED = "DEAD_LETTERED"  # attempts used up
    LEFT_ALONE = "LEFT_ALONE"  # it moved on (the pipeline won the race), or another run claimed it
    ERRORED = "ERRORED"  # acting on it failed; a later run finds it again


@dataclass
class ReconcileReport:
    found: int = 0
    actions: Counter[str] = field(default_factory=Counter)

    def to_payload(self) -> dict[str, Any]:
        return {"found": self.found, "actions": dict(self.actions)}


def _parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00")).astimezone(UTC)


def _format(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Reconciler:
    def __init__(
        self,
        repository: OrderRepository,
        workflow: WorkflowStarter,
        queue: OrderQueue,
        threshold_seconds: int,
        max_receive_count: int,
        clock: Clock = utc_now,
    ) -> None:
        self._repository = repository
        self._workflow = workflow
        self._queue = queue
        self._threshold = timedelta(seconds=threshold_seconds)
        self._max_receive_count = max_receive_count
        self._clock = clock

    def run(self) -> ReconcileReport:
        report = ReconcileReport()
        cutoff = _format(_parse(self._clock()) - self._threshold)
        # Open since before the cutoff is necessary, not sufficient: the order may have moved since.
        for order_id, _ in self._repository.open_order_ids(opened_before=cutoff):
            with order_context(order_id, "reconcile_order"):
                action = self._reconcile_if_stuck(order_id, cutoff)
            if action is not None:
                report.found += 1
                report.actions[action.value] += 1
        # Each order it acts on has its log line; the run itself is this metric (and the return value).
        count_stuck_orders(report.found)
        return report

    def _reconcile_if_stuck(self, order_id: str, cutoff: str) -> Action | None:
        """What it did to the order, or None when the order is not stuck (it moved since the cutoff)."""
        stuck_in = "unknown"
        try:
            item = self._repository.get(order_id)
            # The index lags the table: only what the table still says is open and unchanged counts.
            if item is None or item["status"] not in NON_TERMINAL or item["updated_at"] >= cutoff:
                return None
            stuck_in = item["status"]
            action = self._reconcile(item, OrderStatus(stuck_in))
        except Exception:
            # One order's failure must not hold back the others: it stays stuck (or, claimed,
            # stuck anew) and a later run finds it again.
            logger.exception("reconciling the order failed")
            action = Action.ERRORED
        logger.warning("stuck order reconciled", extra={"stuck_in": stuck_in, "action": action.value})
        return action

    def _reconcile(self, item: Item, status: OrderStatus) -> Action:
        now = self._clock()
        order_id = str(item["order_id"])
        # Claim it first: a transition of the pipeline since the read wins.
        if not self._repository.claim_unchanged(order_id, status, item["updated_at"], now, RECONCILER):
            return Action.LEFT_ALONE
        if status is OrderStatus.ACCEPTED:
            self._workflow.start(_order_of(item))
            return Action.RESTARTED
        attempts = int(item.get("attempts", 0))
        redrive_round = int(item.get("redrive_count", 0))
        # The round is used up by real failures only: a throttled attempt takes a number, not a try.
        if failed_in_round(item) < self._max_receive_count:
            # The message of this round, numbering its attempts after those already made.
            self._queue.send(queue_message(order_id, redrive_round, attempts))
            return Action.REQUEUED
        return self._dead_letter(item, attempts, redrive_round, now)

    def _dead_letter(self, item: Item, attempts: int, redrive_round: int, now: str) -> Action:
        order_id = str(item["order_id"])
        outcome = self._repository.dead_letter(
            FailureRecord(
                order_id=order_id,
                source=RECONCILER,
                original_message=queue_message(order_id, redrive_round),
                attempts=attempts,
                last_error=str(item.get("last_error", "unknown")),
                queued_at=None,
                dead_lettered_at=now,
                redrive_round=redrive_round,
            ),
            now,
        )
        if outcome is DeadLetterOutcome.RECORDED:
            count_dead_lettered(source=RECONCILER)
            return Action.DEAD_LETTERED
        return Action.LEFT_ALONE


def _order_of(item: Item) -> Order:
    return Order.model_validate({name: item[name] for name in ("order_id", "customer_id", "items", "currency")})
