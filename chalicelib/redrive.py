"""An operator's redrive (docs/CONTRACT.md sections 3 and 7): a DEAD_LETTERED order goes back to
PENDING and is queued again, for a new round of `maxReceiveCount` fulfillment attempts.
`attempts` keeps counting across rounds: the new message carries the count so far, and its
receives are attempts `count + 1`, `count + 2`, ...

Idempotent under concurrent operators: the write is conditional on the order being DEAD_LETTERED
in the redrive round the operator saw, so of two operators redriving the same order one wins,
and only the winner sends the message. If the send fails after the write, the winner undoes the
write (conditionally: only while nothing has happened to the order since), so the order is never
left PENDING with no message; the operator sees NOT_QUEUED and may redrive again.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.clock import Clock, utc_now
from chalicelib.repository import OrderRepository, RedriveOutcome
from chalicelib.states import REDRIVE_SOURCE


def queue_message(order_id: str, redrive_round: int = 0, attempts_before: int = 0) -> str:
    """A fulfillment message: the order (what fulfillment reads), the redrive round it belongs to
    (the DLQ handler reads it: a message of an earlier round can never dead-letter a redriven
    order) and the attempts the order had made before it was queued (fulfillment numbers its
    attempts from there, so `attempts` keeps counting across rounds). The workflow's own message
    is `{"order_id": ...}`: round 0, no attempt before it."""
    message: dict[str, str | int] = {"order_id": order_id}
    if redrive_round:
        message["redrive"] = redrive_round
    if attempts_before:
        message["attempts_before"] = attempts_before
    return json.dumps(message)


def redrive_round_of(body: str) -> int:
    """The redrive round a queue message belongs to; 0 for the workflow's own message."""
    return _count_in(body, "redrive")


def attempts_before_of(body: str) -> int:
    """The attempts the order had made before this message was queued; 0 for the workflow's."""
    return _count_in(body, "attempts_before")


def _count_in(body: str, name: str) -> int:
    try:
        message = json.loads(body)
    except ValueError:
        return 0
    value = message.get(name, 0) if isinstance(message, dict) else 0
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


class Redriver:
    def __init__(self, repository: OrderRepository, sqs: Any, queue_url: str, clock: Clock = utc_now) -> None:
        self._repository = repository
        self._sqs = sqs
        self._queue_url = queue_url
        self._clock = clock

    def redrive(self, order_id: str) -> RedriveOutcome:
        order = self._repository.get(order_id)
        if order is None:
            return RedriveOutcome.UNKNOWN_ORDER
        seen_round = int(order.get("redrive_count", 0))
        if order["status"] != REDRIVE_SOURCE:
            return RedriveOutcome.ALREADY_REDRIVEN if seen_round else RedriveOutcome.NOT_DEAD_LETTERED
        outcome = self._repository.redrive(order_id, seen_round, self._clock())
        if outcome is not RedriveOutcome.REDRIVEN:
            return outcome
        redrive_round = seen_round + 1
        attempts_before = int(order.get("attempts", 0))
        message = queue_message(order_id, redrive_round, attempts_before)
        try:
            # botocore's own retries (with backoff) apply to this call before it raises.
            self._sqs.send_message(QueueUrl=self._queue_url, MessageBody=message)
        except (BotoCoreError, ClientError) as exc:
            reason = f"redrive undone: the order could not be queued ({type(exc).__name__})"
            self._repository.undo_redrive(order_id, redrive_round, attempts_before, reason, self._clock())
            return RedriveOutcome.NOT_QUEUED
        return RedriveOutcome.REDRIVEN
