"""In-memory implementations of the app's ports, for the unit tier: the order store
(`OrderRepository`), the workflow starter (`WorkflowStarter`) and the fulfillment queue
(`OrderQueue`, and the SQS client's `send_message` that the redrive uses).

Each keeps the contract of the real one (chalicelib/repository.py's DynamoDB conditions and
outcomes, the sparse sharded indexes, history entries, failure records), so a handler behaves on
them as on AWS. tests/test_repository.py and its neighbours run one suite against both the
fake and DynamoDB on moto, so the two cannot drift apart. Nothing here imports moto or creates
a boto3 client.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import EndpointConnectionError

from chalicelib.errors import TransientError
from chalicelib.models import Order
from chalicelib.repository import (
    DEAD_LETTER_SHARD,
    EXPIRES_AT,
    OPEN_SHARD,
    OPEN_SINCE,
    RECONCILER,
    DeadLetterOutcome,
    FailureRecord,
    Item,
    RedriveOutcome,
    Retention,
    expires_at,
    index_shard,
)
from chalicelib.rules import Verdict
from chalicelib.settings import DEFAULT_OPEN_ORDERS_INDEX_SHARDS
from chalicelib.states import ALLOWED_SOURCES, OPERATOR, REDRIVE_SOURCE, REDRIVE_TARGET, OrderStatus
from chalicelib.workflow import WorkflowUnavailableError

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord


def _as_stored(value: Any) -> Any:
    """A value as DynamoDB gives it back through boto3: every number a Decimal."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {key: _as_stored(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_as_stored(inner) for inner in value]
    return value


class InMemoryOrderRepository:
    """`OrderRepository` in two dicts (orders, failed_orders), with DynamoDB's outcomes: a write
    whose condition does not hold changes nothing, a transaction writes both items or neither.

    `unavailable` makes every call raise TransientError, as a throttling table does."""

    def __init__(
        self, open_orders_index_shards: int = DEFAULT_OPEN_ORDERS_INDEX_SHARDS, *, retention: Retention | None = None
    ) -> None:
        self._shards = open_orders_index_shards
        self._retention = retention or Retention()
        self._orders: dict[str, Item] = {}
        self._failed: dict[str, Item] = {}
        self.unavailable = False

    def _check_available(self) -> None:
        if self.unavailable:
            raise TransientError("ProvisionedThroughputExceededException (injected by the test)")

    def _order(self, order_id: str) -> Item | None:
        self._check_available()
        return self._orders.get(order_id)

    def _update(
        self, item: Item, changes: Item, history: Item, *, leave_open_index: bool = False, keep_days: int | None = None
    ) -> None:
        """`leave_open_index`: a terminal write, which expires after `keep_days` (None: never)."""
        item.update(_as_stored(changes))
        item.setdefault("history", []).append(_as_stored(history))
        if leave_open_index:
            item.pop(OPEN_SHARD, None)
            item.pop(OPEN_SINCE, None)
            if keep_days is not None:
                item[EXPIRES_AT] = Decimal(expires_at(item["updated_at"], keep_days))

    def create(self, order: Order, now: str) -> Item | None:
        existing = self._order(order.order_id)
        if existing is not None:
            return copy.deepcopy(existing)
        payload = order.to_payload()
        self._orders[order.order_id] = _as_stored(
            {
                **payload,
                "items": [{**line, "unit_price": Decimal(line["unit_price"])} for line in payload["items"]],
                "total": order.total,
                "status": OrderStatus.ACCEPTED.value,
                "attempts": 0,
                "body_hash": order.body_hash,
                "created_at": now,
                "updated_at": now,
                "history": [{"status": OrderStatus.ACCEPTED.value, "at": now}],
                OPEN_SHARD: index_shard(order.order_id, self._shards),
                OPEN_SINCE: now,
            }
        )
        return None

    def get(self, order_id: str) -> Item | None:
        item = self._order(order_id)
        return copy.deepcopy(item)

    def get_failure(self, order_id: str) -> Item | None:
        self._check_available()
        return copy.deepcopy(self._failed.get(order_id))

    def get_many(self, order_ids: Sequence[str]) -> list[Item]:
        return [item for order_id in dict.fromkeys(order_ids) if (item := self.get(order_id)) is not None]

    def delete_if_accepted(self, order_id: str, body_hash: str) -> None:
        item = self._order(order_id)
        if item is not None and item["status"] == OrderStatus.ACCEPTED and item["body_hash"] == body_hash:
            del self._orders[order_id]

    def record_verdict(self, order_id: str, execution_id: str, verdict: Verdict, now: str) -> bool:
        target = OrderStatus.PENDING if verdict.valid else OrderStatus.REJECTED
        item = self._order(order_id)
        if item is None:
            return False
        if item["status"] != OrderStatus.ACCEPTED:
            # A retry of the execution that already recorded this verdict still holds the claim.
            return (item["status"], item.get("execution_id")) == (target.value, execution_id)
        changes: Item = {"status": target.value, "execution_id": execution_id, "updated_at": now}
        if verdict.reason:
            changes["reason"] = verdict.reason
        self._update(
            item,
            changes,
            {"status": target.value, "at": now},
            leave_open_index=target.is_terminal,
            keep_days=self._retention.order_days,
        )
        return True

    def _may_move(self, item: Item | None, target: OrderStatus) -> bool:
        return item is not None and OrderStatus(item["status"]) in ALLOWED_SOURCES[target]

    def record_failed_attempt(self, order_id: str, attempt: int, error: str, now: str) -> Item | None:
        item = self._order(order_id)
        if item is None:
            return None
        if self._may_move(item, OrderStatus.FAILED) and item["attempts"] < attempt:
            self._update(
                item,
                {"status": OrderStatus.FAILED.value, "attempts": attempt, "last_error": error, "updated_at": now},
                {"status": OrderStatus.FAILED.value, "at": now, "attempt": attempt},
            )
            return self.get(order_id)
        # A duplicate delivery of an attempt already counted: still not terminal, still failing.
        return None if OrderStatus(item["status"]).is_terminal else self.get(order_id)

    def mark_fulfilled(self, order_id: str, attempt: int, now: str) -> bool:
        item = self._order(order_id)
        if item is None or not self._may_move(item, OrderStatus.FULFILLED):
            return False
        self._update(
            item,
            {"status": OrderStatus.FULFILLED.value, "attempts": attempt, "fulfilled_at": now, "updated_at": now},
            {"status": OrderStatus.FULFILLED.value, "at": now, "attempt": attempt},
            leave_open_index=True,
            keep_days=self._retention.order_days,
        )
        return True

    def claim_unchanged(self, order_id: str, status: OrderStatus, updated_at: str, now: str, by: str) -> bool:
        item = self._order(order_id)
        if item is None or (item["status"], item["updated_at"]) != (status.value, updated_at):
            return False
        self._update(item, {"updated_at": now}, {"status": status.value, "at": now, "by": by})
        return True

    def dead_letter(self, record: FailureRecord, now: str) -> DeadLetterOutcome:
        item = self._order(record.order_id)
        if (
            item is None
            or not self._may_move(item, OrderStatus.DEAD_LETTERED)
            or (record.redrive_round is not None and not _in_round(item, record.redrive_round))
        ):
            if self.get_failure(record.order_id) is not None:
                return DeadLetterOutcome.ALREADY_RECORDED
            return DeadLetterOutcome.NOT_ELIGIBLE
        history: Item = {"status": OrderStatus.DEAD_LETTERED.value, "at": now}
        if record.source == RECONCILER:
            history["by"] = record.source
        self._update(
            item,
            {
                "status": OrderStatus.DEAD_LETTERED.value,
                "last_error": record.last_error,
                "attempts": record.attempts,
                "updated_at": now,
            },
            history,
            leave_open_index=True,
            keep_days=self._retention.failed_order_days,
        )
        failure = self._failed.setdefault(record.order_id, {"order_id": record.order_id})
        if self._retention.failed_order_days is not None:
            failure[EXPIRES_AT] = Decimal(expires_at(record.dead_lettered_at, self._retention.failed_order_days))
        failure["dead_letter_count"] = failure.get("dead_letter_count", Decimal(0)) + 1
        failure.setdefault("first_dead_lettered_at", record.dead_lettered_at)
        failure[DEAD_LETTER_SHARD] = index_shard(record.order_id, self._shards)
        for field, value in record.fields().items():
            if value is None:
                failure.pop(field, None)
            else:
                failure[field] = _as_stored(value)
        return DeadLetterOutcome.RECORDED

    def redrive(self, order_id: str, expected_round: int, now: str) -> RedriveOutcome:
        item = self._order(order_id)
        if item is None:
            return RedriveOutcome.UNKNOWN_ORDER
        failure = self._failed.get(order_id)
        if item["status"] != REDRIVE_SOURCE or not _in_round(item, expected_round) or failure is None:
            if int(item.get("redrive_count", 0)) > expected_round:
                return RedriveOutcome.ALREADY_REDRIVEN
            return RedriveOutcome.NOT_DEAD_LETTERED
        redrive_round = expected_round + 1
        attempts_before = int(item.get("attempts", 0))
        self._update(
            item,
            {
                "status": REDRIVE_TARGET.value,
                "redrive_count": redrive_round,
                "round_start_attempts": attempts_before,
                "last_redriven_at": now,
                "updated_at": now,
                OPEN_SHARD: index_shard(order_id, self._shards),
                OPEN_SINCE: now,
            },
            {"status": REDRIVE_TARGET.value, "at": now, "by": OPERATOR},
        )
        item.pop(EXPIRES_AT, None)  # open again: kept
        entry = {"at": now, "by": OPERATOR, "round": redrive_round, "attempts_before": attempts_before}
        failure.update(_as_stored({"redrive_count": redrive_round, "last_redriven_at": now}))
        failure.setdefault("redrives", []).append(_as_stored(entry))
        failure.pop(DEAD_LETTER_SHARD, None)
        return RedriveOutcome.REDRIVEN

    def undo_redrive(self, order_id: str, redrive_round: int, attempts_before: int, reason: str, now: str) -> bool:
        item = self._order(order_id)
        failure = self._failed.get(order_id)
        untouched = item is not None and (item["status"], item.get("redrive_count"), item.get("attempts")) == (
            REDRIVE_TARGET.value,
            redrive_round,
            attempts_before,
        )
        if item is None or not untouched or failure is None or failure.get("redrive_count") != redrive_round:
            return False
        # The round number stays taken, as in the DynamoDB implementation.
        self._update(
            item,
            {"status": REDRIVE_SOURCE.value, "updated_at": now},
            {"status": REDRIVE_SOURCE.value, "at": now, "by": OPERATOR},
            leave_open_index=True,
            keep_days=self._retention.failed_order_days,
        )
        failure["redrives"][redrive_round - 1]["undone"] = {"at": now, "reason": reason}
        failure[DEAD_LETTER_SHARD] = index_shard(order_id, self._shards)
        return True

    def open_order_ids(
        self, *, opened_since: str | None = None, opened_before: str | None = None, page_size: int = 100
    ) -> Iterator[tuple[str, str]]:
        self._check_available()
        return _oldest_first(self._orders, OPEN_SHARD, OPEN_SINCE, opened_since, opened_before, page_size)

    def dead_lettered_order_ids(self, *, since: str | None = None, page_size: int = 100) -> Iterator[tuple[str, str]]:
        self._check_available()
        return _oldest_first(self._failed, DEAD_LETTER_SHARD, "dead_lettered_at", since, None, page_size)


def _in_round(item: Item, redrive_round: int) -> bool:
    """The order is in redrive round `redrive_round` (0: never redriven, so no counter yet)."""
    if redrive_round == 0:
        return "redrive_count" not in item
    return item.get("redrive_count") == redrive_round


def _oldest_first(
    table: dict[str, Item], shard_key: str, range_key: str, since: str | None, before: str | None, page_size: int
) -> Iterator[tuple[str, str]]:
    """A sparse index's entries (items with the shard key) in a time range, oldest first; ties as
    the DynamoDB implementation merges its shards, shard 0 first."""
    if page_size < 1:
        raise ValueError("page_size must be at least 1 (DynamoDB's Limit)")
    entries = sorted(
        (item[range_key], int(item[shard_key]), order_id)
        for order_id, item in table.items()
        if shard_key in item
        and (since is None or item[range_key] >= since)
        and (before is None or item[range_key] < before)
    )
    return iter([(order_id, at) for at, _, order_id in entries])


class RecordingWorkflow:
    """`WorkflowStarter` that records each start; `unavailable` refuses them as Step Functions
    does when it cannot be reached (the API then answers 503)."""

    EXECUTION_ARN_PREFIX = "arn:aws:states:us-east-1:123456789012:execution:dofs-local-order-workflow:"

    def __init__(self) -> None:
        self.started: list[Order] = []
        self.unavailable = False
        self._ids = itertools.count(1)

    def start(self, order: Order) -> str:
        if self.unavailable:
            raise WorkflowUnavailableError("StartExecution failed (injected by the test)")
        self.started.append(order)
        return f"{self.EXECUTION_ARN_PREFIX}{order.order_id}-{next(self._ids)}"

    def started_ids(self) -> list[str]:
        return [order.order_id for order in self.started]


class InMemoryQueue:
    """The fulfillment queue: `OrderQueue.send` (the reconciler) and the SQS client's
    `send_message` (the redrive). `unavailable` makes a send fail as botocore does when SQS
    cannot be reached, after its own retries."""

    QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/dofs-local-order_queue"

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.unavailable = False

    def send(self, message: str) -> None:
        if self.unavailable:
            raise EndpointConnectionError(endpoint_url=self.QUEUE_URL)
        self.messages.append(message)

    def send_message(self, *, QueueUrl: str, MessageBody: str) -> dict[str, str]:
        if QueueUrl != self.QUEUE_URL:
            raise ValueError(f"no queue at {QueueUrl}")
        self.send(MessageBody)
        return {"MessageId": f"message-{len(self.messages)}"}


class RecordingRetryQueue:
    """fulfillment's `RetryQueue` (chalicelib/sqs_batch.py): records each copy handed back (message
    id, attempts made, whether after a failed attempt) and each message sent to the dead-letter
    queue, for a source queue whose redrive policy has `max_receive_count`."""

    def __init__(self, max_receive_count: int) -> None:
        self._max_receive_count = max_receive_count
        self.handed_back: list[tuple[str, int, bool]] = []
        self.dead_lettered: list[str] = []

    def max_receive_count(self, record: SQSRecord) -> int:
        return self._max_receive_count

    def later(self, record: SQSRecord, attempts_made: int, *, failed: bool) -> None:
        self.handed_back.append((record.message_id, attempts_made, failed))

    def dead_letter(self, record: SQSRecord) -> None:
        self.dead_lettered.append(record.message_id)
