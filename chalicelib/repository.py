"""Order storage: every write is a conditional, idempotent DynamoDB update.

`OrderRepository` is the seam the handlers depend on; `DynamoOrderRepository` is the one
implementation, used against moto in tests and the local stack and against DynamoDB on AWS.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import TransientError
from chalicelib.models import Order
from chalicelib.rules import Verdict
from chalicelib.states import ALLOWED_SOURCES, OPERATOR, REDRIVE_SOURCE, REDRIVE_TARGET, OrderStatus

Item = dict[str, Any]

# The orders table's global secondary index: hash `status`, range `updated_at`, keys only.
# infra/stage/main.tf and dofs_local/emulated/provisioning.py create it under this name.
ORDERS_BY_STATUS_INDEX = "by-status"
# Who moved an order when not the pipeline: a history entry's `by`, a failed_orders `source`.
RECONCILER = "reconciler"

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

    def order_ids_by_status(
        self,
        status: OrderStatus,
        *,
        updated_since: str | None = None,
        updated_before: str | None = None,
        page_size: int = 100,
    ) -> Iterator[tuple[str, str]]:
        """(order_id, updated_at) of the orders in `status`, oldest update first, page by page.

        `updated_since` is inclusive, `updated_before` exclusive. A query of the `by-status`
        index, never a scan: it reads only the orders in that status (and time range). The index
        is eventually consistent: an order may have moved on since; read it before acting.
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


def _status_condition(target: OrderStatus) -> tuple[str, dict[str, Any]]:
    sources = sorted(ALLOWED_SOURCES[target])
    names: dict[str, Any] = {f":from_{s.value.lower()}": s.value for s in sources}
    return f"#status IN ({', '.join(names)})", names


class DynamoOrderRepository:
    def __init__(self, dynamodb: Any, orders_table: str, failed_orders_table: str) -> None:
        self._orders = dynamodb.Table(orders_table)
        self._failed = dynamodb.Table(failed_orders_table)
        # The resource's client takes plain Python values: boto3 (de)serializes them.
        self._client = dynamodb.meta.client

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

    def order_ids_by_status(
        self,
        status: OrderStatus,
        *,
        updated_since: str | None = None,
        updated_before: str | None = None,
        page_size: int = 100,
    ) -> Iterator[tuple[str, str]]:
        condition = "#status = :status"
        values: dict[str, Any] = {":status": status.value}
        names = {"#status": "status"}
        if updated_since is not None or updated_before is not None:
            names["#updated_at"] = "updated_at"
        if updated_since is not None and updated_before is not None:
            # BETWEEN is inclusive at both ends; the upper end is exclusive here, so it is checked after.
            condition += " AND #updated_at BETWEEN :since AND :before"
            values.update({":since": updated_since, ":before": updated_before})
        elif updated_since is not None:
            condition += " AND #updated_at >= :since"
            values[":since"] = updated_since
        elif updated_before is not None:
            condition += " AND #updated_at < :before"
            values[":before"] = updated_before
        query: dict[str, Any] = {
            "IndexName": ORDERS_BY_STATUS_INDEX,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "Limit": page_size,
        }
        while True:
            with _transient_errors():
                page = self._orders.query(**query)
            for item in page.get("Items", []):
                if updated_before is None or item["updated_at"] < updated_before:
                    yield item["order_id"], item["updated_at"]
            if "LastEvaluatedKey" not in page:
                return
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

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
            "SET #status = :target, attempts = :attempt, fulfilled_at = :now, updated_at = :now, " + _HISTORY_APPEND,
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
                "updated_at = :now, " + _HISTORY_APPEND,
                "ConditionExpression": condition,
                "ExpressionAttributeValues": values,
            },
            _failure_record_update(record),
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
        }
        condition = "#status = :source AND " + _round_condition(expected_round, values, name=":expected")
        entry = {"at": now, "by": OPERATOR, "round": redrive_round, "attempts_before": attempts_before}
        redriven = self._update_order_and_record(
            order_id,
            {
                # A new round: `attempts` keeps counting (the new message carries the count so far);
                # round_start_attempts tells the reconciler how many of them are this round's.
                "UpdateExpression": "SET #status = :target, redrive_count = :round, round_start_attempts = :before, "
                "last_redriven_at = :now, updated_at = :now, " + _HISTORY_APPEND,
                "ConditionExpression": condition,
                "ExpressionAttributeValues": values,
            },
            {
                "UpdateExpression": "SET redrive_count = :round, last_redriven_at = :now, "
                "redrives = list_append(if_not_exists(redrives, :empty), :entry)",
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
        return self._update_order_and_record(
            order_id,
            {
                # The round number stays taken: a message sent despite the error carries it, and
                # must never count in a later round.
                "UpdateExpression": "SET #status = :dead, updated_at = :now, " + _HISTORY_APPEND,
                "ConditionExpression": _UNTOUCHED_SINCE_REDRIVE,
                "ExpressionAttributeValues": {
                    ":dead": REDRIVE_SOURCE.value,
                    ":pending": REDRIVE_TARGET.value,
                    ":round": redrive_round,
                    ":before": attempts_before,
                    ":now": now,
                    ":history": [history],
                },
            },
            {
                "UpdateExpression": f"SET redrives[{redrive_round - 1}].undone = :undone",
                "ConditionExpression": "redrive_count = :round",
                "ExpressionAttributeValues": {":undone": {"at": now, "reason": reason}, ":round": redrive_round},
            },
        )

    def _update_order_and_record(self, order_id: str, order_update: Item, record_update: Item) -> bool:
        """One transaction over the order and its failed_orders record (a dead-letter, a redrive
        or its undoing): both written, or neither. False when a condition refused it; TransientError
        when it was cancelled by throttling or a conflicting transaction (a retry may succeed)."""
        try:
            with _transient_errors():
                self._client.transact_write_items(
                    TransactItems=[
                        {"Update": {"TableName": self._failed.name, "Key": {"order_id": order_id}, **record_update}},
                        {
                            "Update": {
                                "TableName": self._orders.name,
                                "Key": {"order_id": order_id},
                                **order_update,
                                "ExpressionAttributeNames": {"#status": "status", "#history": "history"},
                                "ExpressionAttributeValues": {
                                    **order_update["ExpressionAttributeValues"],
                                    ":empty": [],
                                },
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


def _failure_record_update(record: FailureRecord) -> Item:
    """The order's one failed_orders record: created by its first dead-letter, brought up to
    date by a later one (after a redrive). The order's update, in the same transaction, is
    the guard: it fails unless the order may be dead-lettered now, and then neither is written."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {":one": 1, ":zero": 0, ":first": record.dead_lettered_at}
    assignments: list[str] = [
        "dead_letter_count = if_not_exists(dead_letter_count, :zero) + :one",
        "first_dead_lettered_at = if_not_exists(first_dead_lettered_at, :first)",
    ]
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

# Each transition appends to the order's history, so "never backwards" can be checked later.
_HISTORY_APPEND = "#history = list_append(if_not_exists(#history, :empty), :history)"
