"""Order storage: every write is a conditional, idempotent DynamoDB update.

`OrderRepository` is the seam the handlers depend on; `DynamoOrderRepository` is the one the
functions use (the tests also run the handlers on an in-memory one, tests/fakes.py).
"""

from __future__ import annotations

import hashlib
import heapq
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import TransientError
from chalicelib.models import Order
from chalicelib.rules import Verdict
from chalicelib.settings import DEFAULT_OPEN_ORDERS_INDEX_SHARDS
from chalicelib.states import ALLOWED_SOURCES, OPERATOR, REDRIVE_SOURCE, REDRIVE_TARGET, OrderStatus

Item = dict[str, Any]

# The orders table's sparse, sharded index of open orders (ACCEPTED, PENDING, FAILED), keys only:
# hash `open_shard` (one of the stage's shards, from the order id), range `open_since` (when it
# was accepted or redriven; it never changes while the order is open). An order enters it when
# accepted or redriven and leaves it in the update that makes it terminal: at most two index
# writes per order, spread over every shard; the transitions in between change no key of it.
# infra/stage/main.tf creates it under this name.
ORDERS_OPEN_INDEX = "open-orders"
OPEN_SHARD = "open_shard"
OPEN_SINCE = "open_since"
# failed_orders' sparse, sharded index of the orders dead-lettered now, keys only: hash
# `dead_letter_shard` (set by a dead-letter, removed by a redrive), range `dead_lettered_at`.
FAILED_DEAD_LETTERED_INDEX = "dead-lettered"
DEAD_LETTER_SHARD = "dead_letter_shard"
# Who moved an order when not the pipeline: a history entry's `by`, a failed_orders `source`.
RECONCILER = "reconciler"

# Retention (DynamoDB TTL): a terminal order gets EXPIRES_AT (epoch seconds, the table's TTL
# attribute), and DynamoDB deletes it once passed, free of write units.
EXPIRES_AT = "expires_at"


@dataclass(frozen=True)
class Retention:
    """Days a terminal order is kept; None: forever."""

    order_days: int | None = None  # FULFILLED and REJECTED orders
    failed_order_days: int | None = None  # DEAD_LETTERED orders and their failed_orders records


def expires_at(now: str, days: int) -> int:
    return int(datetime.fromisoformat(now).timestamp()) + days * 86400


# DynamoDB error codes that a retry can fix; everything else is a bug or bad input.
TRANSIENT_ERROR_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
        "TransactionInProgressException",
    }
)


class DeadLetterOutcome(StrEnum):
    RECORDED = "RECORDED"
    ALREADY_RECORDED = "ALREADY_RECORDED"
    NOT_ELIGIBLE = "NOT_ELIGIBLE"  # missing, or already FULFILLED/REJECTED: nothing to record


class RedriveOutcome(StrEnum):
    REDRIVEN = "REDRIVEN"
    ALREADY_REDRIVEN = "ALREADY_REDRIVEN"  # another operator's redrive of the same round won
    NOT_DEAD_LETTERED = "NOT_DEAD_LETTERED"
    UNKNOWN_ORDER = "UNKNOWN_ORDER"
    NOT_QUEUED = "NOT_QUEUED"  # the write won but the message could not be sent: undone


@dataclass(frozen=True)
class FailureRecord:
    """What `failed_orders` keeps about one dead-lettered order."""

    order_id: str
    source: str  # "fulfillment" (the DLQ), "workflow" (the state machine gave up) or "reconciler"
    original_message: str
    attempts: int
    last_error: str
    queued_at: str | None
    dead_lettered_at: str
    message_id: str | None = None
    # The redrive round the failing message belongs to (0: never redriven), so a stale message of
    # an earlier round cannot dead-letter a redriven order. None: the caller does not know.
    redrive_round: int | None = None

    def fields(self) -> Item:
        """The record's attributes besides its key; absent optional ones are removed on update."""
        return {
            "source": self.source,
            "original_message": self.original_message,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "dead_lettered_at": self.dead_lettered_at,
            "queued_at": self.queued_at,
            "message_id": self.message_id,
        }


class OrderRepository(Protocol):
    def create(self, order: Order, now: str) -> Item | None:
        """Store a new ACCEPTED order; returns the existing item instead if the id is taken."""
        ...

    def get(self, order_id: str) -> Item | None: ...

    def delete_if_accepted(self, order_id: str, body_hash: str) -> None:
        """Undo `create` when the workflow could not be started."""
        ...

    def record_verdict(self, order_id: str, execution_id: str, verdict: Verdict, now: str) -> bool:
        """ACCEPTED -> PENDING or REJECTED, claimed by one workflow execution.

        True when this execution holds the claim (also on its own retries): only then
        may it queue the order.
        """
        ...

    def record_failed_attempt(self, order_id: str, attempt: int, error: str, now: str) -> Item | None:
        """PENDING/FAILED -> FAILED; None when the order is terminal or missing."""
        ...

    def mark_fulfilled(self, order_id: str, attempt: int, now: str) -> bool:
        """PENDING/FAILED -> FULFILLED; False when it already was terminal (or is missing)."""
        ...

    def dead_letter(self, record: FailureRecord, now: str) -> DeadLetterOutcome:
        """-> DEAD_LETTERED with its one failed_orders record written, or updated on a repeat
        dead-letter after a redrive; both in one transaction."""
        ...

    def get_failure(self, order_id: str) -> Item | None: ...

    def claim_unchanged(self, order_id: str, status: OrderStatus, updated_at: str, now: str, by: str) -> bool:
        """Records that `by` acts on the order, only if it is still in `status` and unchanged
        since `updated_at`: a transition racing the claim wins, and two claims cannot both hold."""
        ...

    def redrive(self, order_id: str, expected_round: int, now: str) -> RedriveOutcome:
        """DEAD_LETTERED -> PENDING for redrive round `expected_round + 1`; only one caller that
        saw `expected_round` wins. The caller then queues the order (`redrive.queue_message`)."""
        ...

    def undo_redrive(self, order_id: str, redrive_round: int, attempts_before: int, reason: str, now: str) -> bool:
        """PENDING -> DEAD_LETTERED again, when the redrive's message could not be queued and
        nothing has happened to the order since (still `attempts_before` attempts); False when
        something has."""
        ...

    def open_order_ids(
        self, *, opened_since: str | None = None, opened_before: str | None = None, page_size: int = 100
    ) -> Iterator[tuple[str, str]]:
        """(order_id, open_since) of the open orders (ACCEPTED, PENDING, FAILED), oldest first.

        `opened_since` is inclusive, `opened_before` exclusive. Queries of the `open-orders`
        index, shard by shard and page by page, never a scan. The index is eventually consistent
        and holds no status: read the order before acting on it.
        """
        ...


@contextmanager
def _transient_errors() -> Iterator[None]:
    try:
        yield
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in TRANSIENT_ERROR_CODES:
            raise TransientError(str(exc)) from exc
        raise
    except BotoCoreError as exc:  # connection and timeout errors
        raise TransientError(str(exc)) from exc


# A cancelled transaction's reasons (one per item, "None" for an item that was fine): these mean
# a retry may succeed; only ConditionalCheckFailed means a condition refused the write.
TRANSIENT_CANCELLATION_CODES = frozenset(
    {"ThrottlingError", "TransactionConflict", "ProvisionedThroughputExceeded", "RequestLimitExceeded"}
)


def _cancellation_codes(exc: ClientError) -> set[str]:
    reasons = exc.response.get("CancellationReasons") or []
    return {str(reason.get("Code", "None")) for reason in reasons} - {"None"}


def _is_condition_failure(exc: ClientError) -> bool:
    """A condition refused the write: ConditionalCheckFailedException, or a cancelled transaction
    whose every reason is ConditionalCheckFailed (never one cancelled by throttling or a conflict)."""
    code: str = exc.response.get("Error", {}).get("Code", "")
    if code == "TransactionCanceledException":
        return _cancellation_codes(exc) == {"ConditionalCheckFailed"}
    return code == "ConditionalCheckFailedException"


def index_shard(order_id: str, shards: int) -> str:
    """The order's shard of an index: a stable hash of its id (Python's hash() varies per process)."""
    digest = hashlib.sha256(order_id.encode()).digest()
    return str(int.from_bytes(digest[:8], "big") % shards)


@dataclass(frozen=True)
class _ShardedRange:
    """Entries of a sharded index whose range key is from `since` (inclusive) to `before`
    (exclusive), queried `page_size` at a time."""

    index: str
    shard_key: str
    range_key: str
    since: str | None
    before: str | None
    page_size: int

    def query(self, shard: int) -> Item:
        condition, values, names = "", {}, {"#shard": self.shard_key}
        if self.since is not None and self.before is not None:
            # BETWEEN includes both ends: `_entries` drops the entries at `before`.
            condition, values = " AND #at BETWEEN :since AND :before", {":since": self.since, ":before": self.before}
        elif self.since is not None:
            condition, values = " AND #at >= :since", {":since": self.since}
        elif self.before is not None:
            condition, values = " AND #at < :before", {":before": self.before}
        if condition:
            names["#at"] = self.range_key
        return {
            "IndexName": self.index,
            "KeyConditionExpression": "#shard = :shard" + condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {":shard": str(shard), **values},
            "Limit": self.page_size,
        }


def _entries(query: Callable[[Item], Item], entries: _ShardedRange, shard: int) -> Iterator[tuple[str, str]]:
    """(order_id, range key) of one shard's entries, oldest first, page by page."""
    request = entries.query(shard)
    while True:
        with _transient_errors():
            page = query(request)
        for item in page.get("Items", []):
            if entries.before is None or item[entries.range_key] < entries.before:
                yield item["order_id"], item[entries.range_key]
        if "LastEvaluatedKey" not in page:
            return
        request = {**request, "ExclusiveStartKey": page["LastEvaluatedKey"]}


def _by_time(pair: tuple[str, str]) -> str:
    return pair[1]


def _status_condition(target: OrderStatus) -> tuple[str, dict[str, Any]]:
    sources = sorted(ALLOWED_SOURCES[target])
    names: dict[str, Any] = {f":from_{s.value.lower()}": s.value for s in sources}
    return f"#status IN ({', '.join(names)})", names


class _AttributeValues:
    """Plain Python values (numbers as Decimal) to DynamoDB's typed attribute values and back."""

    def __init__(self) -> None:
        # Imported here: only the functions that store orders load boto3 (validate_order does not).
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        self._serializer = TypeSerializer()
        self._deserializer = TypeDeserializer()

    def typed(self, values: Mapping[str, Any]) -> Item:
        return {name: self._serializer.serialize(value) for name, value in values.items()}

    def plain(self, item: Mapping[str, Any]) -> Item:
        return {name: self._deserializer.deserialize(value) for name, value in item.items()}


class _Table:
    """One table through the low-level client, in plain Python values as boto3's Table resource
    takes and returns them. The client alone builds in about 30 ms less of a cold start than the
    resource and its Tables (the API handler's, which a client waits for)."""

    _TYPED_PARAMETERS = ("Item", "Key", "ExpressionAttributeValues", "ExclusiveStartKey")
    _TYPED_RESULTS = ("Item", "Attributes", "LastEvaluatedKey")

    def __init__(self, client: Any, name: str, values: _AttributeValues) -> None:
        self._client = client
        self.name = name
        self._values = values

    def put_item(self, **request: Any) -> Item:
        return self._call(self._client.put_item, request)

    def get_item(self, **request: Any) -> Item:
        return self._call(self._client.get_item, request)

    def update_item(self, **request: Any) -> Item:
        return self._call(self._client.update_item, request)

    def delete_item(self, **request: Any) -> Item:
        return self._call(self._client.delete_item, request)

    def query(self, **request: Any) -> Item:
        return self._call(self._client.query, request)

    def _call(self, operation: Callable[..., Item], request: Mapping[str, Any]) -> Item:
        typed = {
            name: self._values.typed(value) if name in self._TYPED_PARAMETERS else value
            for name, value in request.items()
        }
        response = operation(TableName=self.name, **typed)
        plain = {
            name: self._values.plain(value) if name in self._TYPED_RESULTS else value
            for name, value in response.items()
        }
        if "Items" in response:
            plain["Items"] = [self._values.plain(item) for item in response["Items"]]
        return plain


class DynamoOrderRepository:
    def __init__(
        self,
        dynamodb: Any,
        orders_table: str,
        failed_orders_table: str,
        open_orders_index_shards: int = DEFAULT_OPEN_ORDERS_INDEX_SHARDS,
        *,
        retention: Retention | None = None,
    ) -> None:
        """`dynamodb`: a DynamoDB client, `boto3.client("dynamodb")`."""
        self._shards = open_orders_index_shards
        self._retention = retention or Retention()
        self._client = dynamodb
        self._values = _AttributeValues()
        self._orders = _Table(dynamodb, orders_table, self._values)
        self._failed = _Table(dynamodb, failed_orders_table, self._values)

    def create(self, order: Order, now: str) -> Item | None:
        item: Item = {
            **order.to_payload(),
            "items": [{**line, "unit_price": Decimal(line["unit_price"])} for line in order.to_payload()["items"]],
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
        try:
            with _transient_errors():
                self._orders.put_item(Item=item, ConditionExpression="attribute_not_exists(order_id)")
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise
            existing = self.get(order.order_id)
            if existing is None:  # deleted between our put and get (a 503 rollback): retry once
                return self.create(order, now)
            return existing
        return None

    def get(self, order_id: str) -> Item | None:
        with _transient_errors():
            response = self._orders.get_item(Key={"order_id": order_id}, ConsistentRead=True)
        item: Item | None = response.get("Item")
        return item

    def get_failure(self, order_id: str) -> Item | None:
        with _transient_errors():
            response = self._failed.get_item(Key={"order_id": order_id}, ConsistentRead=True)
        item: Item | None = response.get("Item")
        return item

    def open_order_ids(
        self, *, opened_since: str | None = None, opened_before: str | None = None, page_size: int = 100
    ) -> Iterator[tuple[str, str]]:
        return self._in_shards(
            lambda request: self._orders.query(**request),
            _ShardedRange(ORDERS_OPEN_INDEX, OPEN_SHARD, OPEN_SINCE, opened_since, opened_before, page_size),
        )

    def dead_lettered_order_ids(self, *, since: str | None = None, page_size: int = 100) -> Iterator[tuple[str, str]]:
        """(order_id, dead_lettered_at) of the orders dead-lettered now (not redriven since), oldest
        first: queries of failed_orders' `dead-lettered` index, shard by shard, never a scan."""
        return self._in_shards(
            lambda request: self._failed.query(**request),
            _ShardedRange(FAILED_DEAD_LETTERED_INDEX, DEAD_LETTER_SHARD, "dead_lettered_at", since, None, page_size),
        )

    def _in_shards(self, query: Callable[[Item], Item], entries: _ShardedRange) -> Iterator[tuple[str, str]]:
        """Every shard's (order_id, range key) pairs, each shard queried page by page, merged oldest first."""
        shards = (_entries(query, entries, shard) for shard in range(self._shards))
        return heapq.merge(*shards, key=_by_time)

    def get_many(self, order_ids: Sequence[str]) -> list[Item]:
        """The orders of these ids that exist, in no particular order: BatchGetItem, 100 keys a
        request, eventually consistent (for listing; act on an order only after `get`)."""
        items: list[Item] = []
        for start in range(0, len(order_ids), _BATCH_GET_KEYS):
            keys = [
                self._values.typed({"order_id": order_id}) for order_id in order_ids[start : start + _BATCH_GET_KEYS]
            ]
            request: Item = {self._orders.name: {"Keys": keys}}
            for retry in range(_BATCH_GET_RETRIES + 1):
                with _transient_errors():
                    response = self._client.batch_get_item(RequestItems=request)
                items.extend(self._values.plain(item) for item in response["Responses"].get(self._orders.name, []))
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                # Keys left unread: the table is throttling; back off before asking again.
                time.sleep(min(0.05 * 2**retry, 1.0))
            else:
                raise TransientError(f"BatchGetItem left {len(request[self._orders.name]['Keys'])} orders unread")
        return items

    def claim_unchanged(self, order_id: str, status: OrderStatus, updated_at: str, now: str, by: str) -> bool:
        return self._conditional_update(
            order_id,
            "SET updated_at = :now, " + _HISTORY_APPEND,
            "#status = :status AND updated_at = :seen",
            {
                ":status": status.value,
                ":seen": updated_at,
                ":now": now,
                ":history": [{"status": status.value, "at": now, "by": by}],
            },
        )

    def delete_if_accepted(self, order_id: str, body_hash: str) -> None:
        try:
            with _transient_errors():
                self._orders.delete_item(
                    Key={"order_id": order_id},
                    ConditionExpression="#status = :accepted AND body_hash = :hash",
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues={":accepted": OrderStatus.ACCEPTED.value, ":hash": body_hash},
                )
        except ClientError as exc:
            if not _is_condition_failure(exc):  # already moved on: it is no longer ours to undo
                raise

    def record_verdict(self, order_id: str, execution_id: str, verdict: Verdict, now: str) -> bool:
        target = OrderStatus.PENDING if verdict.valid else OrderStatus.REJECTED
        values: dict[str, Any] = {
            ":target": target.value,
            ":accepted": OrderStatus.ACCEPTED.value,
            ":execution": execution_id,
            ":now": now,
            ":history": [{"status": target.value, "at": now}],
        }
        update = "SET #status = :target, execution_id = :execution, updated_at = :now, " + _HISTORY_APPEND
        if verdict.reason:
            update += ", reason = :reason"
            values[":reason"] = verdict.reason
        if target.is_terminal:
            update += self._expiry(self._retention.order_days, now, values) + _LEAVE_OPEN_INDEX
        if self._conditional_update(order_id, update, "attribute_exists(order_id) AND #status = :accepted", values):
            return True
        # A retry of the execution that already recorded this verdict (its first try timed out
        # or crashed after the write) still holds the claim; it writes nothing a second time.
        current = self.get(order_id)
        return current is not None and (current["status"], current.get("execution_id")) == (target.value, execution_id)

    def record_failed_attempt(self, order_id: str, attempt: int, error: str, now: str) -> Item | None:
        condition, values = _status_condition(OrderStatus.FAILED)
        values.update(
            {
                ":target": OrderStatus.FAILED.value,
                ":attempt": attempt,
                ":error": error,
                ":now": now,
                ":history": [{"status": OrderStatus.FAILED.value, "at": now, "attempt": attempt}],
            }
        )
        updated = self._conditional_update(
            order_id,
            "SET #status = :target, attempts = :attempt, last_error = :error, updated_at = :now, " + _HISTORY_APPEND,
            f"{condition} AND attempts < :attempt",
            values,
        )
        if updated:
            return self.get(order_id)
        current = self.get(order_id)
        # A duplicate delivery of an attempt already counted: still not terminal, still failing.
        if current is not None and not OrderStatus(current["status"]).is_terminal:
            return current
        return None

    def mark_fulfilled(self, order_id: str, attempt: int, now: str) -> bool:
        condition, values = _status_condition(OrderStatus.FULFILLED)
        values.update(
            {
                ":target": OrderStatus.FULFILLED.value,
                ":attempt": attempt,
                ":now": now,
                ":history": [{"status": OrderStatus.FULFILLED.value, "at": now, "attempt": attempt}],
            }
        )
        return self._conditional_update(
            order_id,
            "SET #status = :target, attempts = :attempt, fulfilled_at = :now, updated_at = :now, "
            + _HISTORY_APPEND
            + self._expiry(self._retention.order_days, now, values)
            + _LEAVE_OPEN_INDEX,
            condition,
            values,
        )

    def dead_letter(self, record: FailureRecord, now: str) -> DeadLetterOutcome:
        condition, values = _status_condition(OrderStatus.DEAD_LETTERED)
        values.update(
            {
                ":target": OrderStatus.DEAD_LETTERED.value,
                ":now": now,
                ":error": record.last_error,
                ":attempts": record.attempts,
                ":history": [{"status": OrderStatus.DEAD_LETTERED.value, "at": now, **_made_by(record.source)}],
            }
        )
        condition = f"attribute_exists(order_id) AND {condition}"
        if record.redrive_round is not None:
            condition += " AND " + _round_condition(record.redrive_round, values)
        recorded = self._update_order_and_record(
            record.order_id,
            {
                "UpdateExpression": "SET #status = :target, last_error = :error, attempts = :attempts, "
                "updated_at = :now, "
                + _HISTORY_APPEND
                + self._expiry(self._retention.failed_order_days, now, values)
                + _LEAVE_OPEN_INDEX,
                "ConditionExpression": condition,
                "ExpressionAttributeValues": values,
            },
            _failure_record_update(
                record, index_shard(record.order_id, self._shards), self._retention.failed_order_days
            ),
        )
        if recorded:
            return DeadLetterOutcome.RECORDED
        if self.get_failure(record.order_id) is not None:
            return DeadLetterOutcome.ALREADY_RECORDED
        return DeadLetterOutcome.NOT_ELIGIBLE

    def redrive(self, order_id: str, expected_round: int, now: str) -> RedriveOutcome:
        redrive_round = expected_round + 1
        order = self.get(order_id)
        if order is None:
            return RedriveOutcome.UNKNOWN_ORDER
        attempts_before = int(order.get("attempts", 0))
        values: dict[str, Any] = {
            ":source": REDRIVE_SOURCE.value,
            ":target": REDRIVE_TARGET.value,
            ":round": redrive_round,
            ":before": attempts_before,
            ":now": now,
            # History entries carry what GET /order shows (views.HistoryEntry); the round is in redrive_count.
            ":history": [{"status": REDRIVE_TARGET.value, "at": now, "by": OPERATOR}],
            ":shard": index_shard(order_id, self._shards),
        }
        condition = "#status = :source AND " + _round_condition(expected_round, values, name=":expected")
        entry = {"at": now, "by": OPERATOR, "round": redrive_round, "attempts_before": attempts_before}
        redriven = self._update_order_and_record(
            order_id,
            {
                # A new round: `attempts` keeps counting (the new message carries the count so far);
                # round_start_attempts marks on the order where this round's attempts begin (CONTRACT.md section 3).
                # Open again: back in the open-orders index (open since now), out of the dead-lettered one.
                "UpdateExpression": "SET #status = :target, redrive_count = :round, round_start_attempts = :before, "
                f"last_redriven_at = :now, updated_at = :now, {OPEN_SHARD} = :shard, {OPEN_SINCE} = :now, "
                + _HISTORY_APPEND
                + f" REMOVE {EXPIRES_AT}",
                "ConditionExpression": condition,
                "ExpressionAttributeValues": values,
            },
            {
                "UpdateExpression": "SET redrive_count = :round, last_redriven_at = :now, "
                f"redrives = list_append(if_not_exists(redrives, :empty), :entry) REMOVE {DEAD_LETTER_SHARD}",
                "ConditionExpression": "attribute_exists(order_id)",
                "ExpressionAttributeValues": {":round": redrive_round, ":now": now, ":entry": [entry], ":empty": []},
            },
        )
        if redriven:
            return RedriveOutcome.REDRIVEN
        current = self.get(order_id)
        if current is not None and int(current.get("redrive_count", 0)) > expected_round:
            return RedriveOutcome.ALREADY_REDRIVEN
        return RedriveOutcome.NOT_DEAD_LETTERED

    def undo_redrive(self, order_id: str, redrive_round: int, attempts_before: int, reason: str, now: str) -> bool:
        # The reason is kept in the failed_orders record's entry for this redrive.
        history = {"status": REDRIVE_SOURCE.value, "at": now, "by": OPERATOR}
        values: dict[str, Any] = {
            ":dead": REDRIVE_SOURCE.value,
            ":pending": REDRIVE_TARGET.value,
            ":round": redrive_round,
            ":before": attempts_before,
            ":now": now,
            ":history": [history],
        }
        # Dead-lettered again: it expires as a dead-lettered order does.
        expiry = self._expiry(self._retention.failed_order_days, now, values)
        return self._update_order_and_record(
            order_id,
            {
                # The round number stays taken: a message sent despite the error carries it, and
                # must never count in a later round.
                "UpdateExpression": "SET #status = :dead, updated_at = :now, "
                + _HISTORY_APPEND
                + expiry
                + _LEAVE_OPEN_INDEX,
                "ConditionExpression": _UNTOUCHED_SINCE_REDRIVE,
                "ExpressionAttributeValues": values,
            },
            {
                # Dead-lettered again: back in the dead-lettered index.
                "UpdateExpression": f"SET redrives[{redrive_round - 1}].undone = :undone, {DEAD_LETTER_SHARD} = :shard",
                "ConditionExpression": "redrive_count = :round",
                "ExpressionAttributeValues": {
                    ":undone": {"at": now, "reason": reason},
                    ":round": redrive_round,
                    ":shard": index_shard(order_id, self._shards),
                },
            },
        )

    @staticmethod
    def _expiry(days: int | None, now: str, values: dict[str, Any]) -> str:
        """A terminal write's TTL assignment, appended to its SET clause ('' when kept forever)."""
        if days is None:
            return ""
        values[":expires_at"] = expires_at(now, days)
        return f", {EXPIRES_AT} = :expires_at"

    def _update_order_and_record(self, order_id: str, order_update: Item, record_update: Item) -> bool:
        """One transaction over the order and its failed_orders record (a dead-letter, a redrive
        or its undoing): both written, or neither. False when a condition refused it; TransientError
        when it was cancelled by throttling or a conflicting transaction (a retry may succeed)."""
        key = self._values.typed({"order_id": order_id})
        try:
            with _transient_errors():
                self._client.transact_write_items(
                    TransactItems=[
                        {
                            "Update": {
                                "TableName": self._failed.name,
                                **record_update,
                                "Key": key,
                                "ExpressionAttributeValues": self._values.typed(
                                    record_update["ExpressionAttributeValues"]
                                ),
                            }
                        },
                        {
                            "Update": {
                                "TableName": self._orders.name,
                                **order_update,
                                "Key": key,
                                "ExpressionAttributeNames": {"#status": "status", "#history": "history"},
                                "ExpressionAttributeValues": self._values.typed(
                                    {**order_update["ExpressionAttributeValues"], ":empty": []}
                                ),
                            }
                        },
                    ]
                )
        except ClientError as exc:
            if _is_condition_failure(exc):
                return False
            if _cancellation_codes(exc) & TRANSIENT_CANCELLATION_CODES:
                raise TransientError(str(exc)) from exc
            raise  # no reasons, or a reason no retry fixes (a validation error): a bug to see
        return True

    def _conditional_update(self, order_id: str, update: str, condition: str, values: dict[str, Any]) -> bool:
        try:
            with _transient_errors():
                self._orders.update_item(
                    Key={"order_id": order_id},
                    UpdateExpression=update,
                    ConditionExpression=condition,
                    ExpressionAttributeNames={"#status": "status", "#history": "history"},
                    ExpressionAttributeValues={**values, ":empty": []},
                )
        except ClientError as exc:
            if _is_condition_failure(exc):
                return False
            raise
        return True


def _made_by(source: str) -> dict[str, str]:
    """A history entry's `by`: who made the transition, when not the pipeline."""
    return {"by": source} if source == RECONCILER else {}


def _failure_record_update(record: FailureRecord, shard: str, retention_days: int | None = None) -> Item:
    """The order's one failed_orders record: created by its first dead-letter, brought up to
    date by a later one (after a redrive), and in the dead-lettered index (`shard`). The order's
    update, in the same transaction, is the guard: it fails unless the order may be dead-lettered
    now, and then neither is written."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {":one": 1, ":zero": 0, ":first": record.dead_lettered_at, ":shard": shard}
    assignments: list[str] = [
        "dead_letter_count = if_not_exists(dead_letter_count, :zero) + :one",
        "first_dead_lettered_at = if_not_exists(first_dead_lettered_at, :first)",
        f"{DEAD_LETTER_SHARD} = :shard",
    ]
    if retention_days is not None:
        values[":expires_at"] = expires_at(record.dead_lettered_at, retention_days)
        assignments.append(f"{EXPIRES_AT} = :expires_at")
    removals: list[str] = []
    for index, (field, value) in enumerate(record.fields().items()):
        names[f"#f{index}"] = field
        if value is None:
            removals.append(f"#f{index}")
        else:
            values[f":f{index}"] = value
            assignments.append(f"#f{index} = :f{index}")
    update = "SET " + ", ".join(assignments)
    if removals:
        update += " REMOVE " + ", ".join(removals)
    return {
        "UpdateExpression": update,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


def _round_condition(redrive_round: int, values: dict[str, Any], name: str = ":redrive_round") -> str:
    """The order is in redrive round `redrive_round` (0: never redriven, so no counter yet)."""
    if redrive_round == 0:
        return "attribute_not_exists(redrive_count)"
    values[name] = redrive_round
    return f"redrive_count = {name}"


# A redriven order whose message was never processed: still PENDING, in that round, no attempt made.
_UNTOUCHED_SINCE_REDRIVE = "#status = :pending AND redrive_count = :round AND attempts = :before"

# The update that makes an order terminal takes it out of the open-orders index (one index write).
_LEAVE_OPEN_INDEX = f" REMOVE {OPEN_SHARD}, {OPEN_SINCE}"
# BatchGetItem's limit per request, and how often keys it left unread are asked for again.
_BATCH_GET_KEYS = 100
_BATCH_GET_RETRIES = 8

# Each transition appends to the order's history, so "never backwards" can be checked later.
_HISTORY_APPEND = "#history = list_append(if_not_exists(#history, :empty), :history)"


def failed_in_round(order: Item) -> int:
    """The real attempts that failed in the order's current round: its FAILED history entries
    since its last DEAD_LETTERED one (a redrive starts a new round after it)."""
    return _in_round(order, lambda entry: entry.get("status") == OrderStatus.FAILED.value and "by" not in entry)


def reconciler_claims_in_round(order: Item) -> int:
    """How often the reconciler took the order over in its current round (its claims: history
    entries made `by` it without a change of status)."""
    return _in_round(order, lambda entry: entry.get("by") == RECONCILER)


def _in_round(order: Item, counted: Callable[[Item], bool]) -> int:
    count = 0
    for entry in order.get("history", []):
        if entry.get("status") == OrderStatus.DEAD_LETTERED.value:
            count = 0
        elif counted(entry):
            count += 1
    return count
