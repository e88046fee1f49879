"""The SQS batch plumbing that fulfillment and the dead-letter handler share: one record
handler per message, partial batch responses, reading which order a message is about, a stop
before the function's deadline, and queueing a copy of a message again without spending one of
its receives (`SqsRetryQueue`)."""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib.errors import FulfillmentFailedError, TransientError
from chalicelib.observability import logger, order_context

# A record is not started with less than this left of the invocation: about the worst case of one
# message's calls under throttling (runtime.client_config), and the hand-back of the rest.
DEADLINE_MARGIN_MILLIS: Final = 10_000
# On a copy: the attempt numbers its earlier messages' receives used (its own attempts are numbered
# on from there), and how often it was handed back without an attempt (the next delay doubles).
ATTEMPTS_MADE_ATTRIBUTE: Final = "attempts_made"
HANDBACKS_ATTRIBUTE: Final = "handbacks"
FIRST_DELAY_SECONDS: Final = 1
MAX_DELAY_SECONDS: Final = 900  # SQS's limit


class LambdaContext(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


def order_id_of(record: SQSRecord) -> str | None:
    """The order a queue message is about, or None for a message that is not ours."""
    try:
        message = json.loads(record.body)
    except ValueError:
        return None
    order_id = message.get("order_id") if isinstance(message, dict) else None
    return order_id if isinstance(order_id, str) and order_id else None


def count_attribute(record: SQSRecord, name: str) -> int:
    """A non-negative count carried in a message attribute; 0 when absent or malformed."""
    value = _attributes_of(record).get(name, {}).get("stringValue")
    return int(value) if isinstance(value, str) and value.isdigit() else 0


RecordHandler = Callable[[SQSRecord, str], None]


class DeadlineReachedError(Exception):
    """The invocation is near its timeout: the record was not attempted and goes back to the queue."""


def process_batch(
    event: dict[str, Any],
    record_handler: RecordHandler,
    operation: str,
    context: LambdaContext | None = None,
    hand_back: RecordHandler | None = None,
) -> dict[str, Any]:
    """Runs the handler once per record, given the order the record is about, with that order in
    every log line; failed records go back to the queue, alone. A record about no order (not JSON,
    no `order_id`) can never succeed: it is logged in full and dropped.

    With the Lambda `context`, a record is not started once less than DEADLINE_MARGIN_MILLIS is
    left: `hand_back` queues it again unattempted (without it, or when it fails, the record is a
    batch item failure), so a batch never times out halfway through its records."""

    def logged(record: SQSRecord) -> None:
        order_id = order_id_of(record)
        if order_id is None:
            logger.error(
                "unreadable message dropped",
                extra={"order_id": None, "operation": operation, "body": record.body[:2000]},
            )
            return
        with order_context(order_id, operation):
            if context is not None and context.get_remaining_time_in_millis() < DEADLINE_MARGIN_MILLIS:
                logger.warning(
                    "deadline near: message handed back unattempted", extra={"message_id": record.message_id}
                )
                if hand_back is None:
                    raise DeadlineReachedError(f"order {order_id}: not attempted before the deadline")
                hand_back(record, order_id)
                return
            try:
                record_handler(record, order_id)
            except FulfillmentFailedError:
                raise  # an expected outcome, already logged
            except TransientError:
                logger.warning(
                    "transient failure; the message will be retried", extra={"message_id": record.message_id}
                )
                raise
            except Exception:
                logger.exception(
                    "record handler crashed; the message will be retried", extra={"message_id": record.message_id}
                )
                raise

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return dict(process_partial_response(event=event, record_handler=logged, processor=processor))


class RetryQueue(Protocol):
    def max_receive_count(self, record: SQSRecord) -> int:
        """The maxReceiveCount of the redrive policy of the queue the record came from."""
        ...

    def later(self, record: SQSRecord, attempts_made: int, *, failed: bool) -> None:
        """Queue a copy of the record again, delayed, carrying `attempts_made`: after a failed
        attempt (`failed`) as late as SQS would deliver it again, else (nothing was attempted)
        sooner, the delay doubling with each such hand-back. Raises when it could not."""
        ...

    def dead_letter(self, record: SQSRecord) -> None:
        """Send the record as it is to its queue's dead-letter queue; raises when it could not."""
        ...


class NoRetryQueue:
    """No copies: every record not done is a batch item failure, and SQS's redrive policy alone
    dead-letters (a handler run alone, in tests)."""

    def max_receive_count(self, record: SQSRecord) -> int:
        return sys.maxsize  # never reached: SQS redrives first

    def later(self, record: SQSRecord, attempts_made: int, *, failed: bool) -> None:
        raise FulfillmentFailedError("no queue to hand the message back to: it will be delivered again")

    def dead_letter(self, record: SQSRecord) -> None:
        raise FulfillmentFailedError("no dead-letter queue to send the message to: it will be delivered again")


@dataclass(frozen=True)
class QueuePolicy:
    dead_letter_arn: str
    max_receive_count: int
    visibility_timeout_seconds: int


class SqsRetryQueue:
    """Copies of messages, sent with the function's own SQS client. The queues are found from the
    record (its eventSourceARN) and the source queue's attributes (its redrive policy's dead-letter
    queue and maxReceiveCount, its visibility timeout; read once per container), so the function
    needs no setting of its own and honours the policy the queue really has."""

    def __init__(self, sqs: Any) -> None:
        self._client = sqs
        self._policies: dict[str, QueuePolicy] = {}

    def max_receive_count(self, record: SQSRecord) -> int:
        return self._policy(record.event_source_arn).max_receive_count

    def later(self, record: SQSRecord, attempts_made: int, *, failed: bool) -> None:
        handbacks = count_attribute(record, HANDBACKS_ATTRIBUTE)
        attributes = {**_sendable(record), ATTEMPTS_MADE_ATTRIBUTE: _number(attempts_made)}
        if failed:
            delay = self._policy(record.event_source_arn).visibility_timeout_seconds
        else:
            # Doubling delays: a table throttled for long is retried ever more slowly, never dropped.
            delay = FIRST_DELAY_SECONDS * 2**handbacks
            attributes[HANDBACKS_ATTRIBUTE] = _number(handbacks + 1)
        self._client.send_message(
            QueueUrl=_queue_url(record.event_source_arn),
            MessageBody=record.body,
            MessageAttributes=attributes,
            DelaySeconds=min(MAX_DELAY_SECONDS, delay),
        )

    def dead_letter(self, record: SQSRecord) -> None:
        dead_letter_arn = self._policy(record.event_source_arn).dead_letter_arn
        self._client.send_message(
            QueueUrl=_queue_url(dead_letter_arn), MessageBody=record.body, MessageAttributes=_sendable(record)
        )

    def _policy(self, queue_arn: str) -> QueuePolicy:
        if queue_arn not in self._policies:
            attributes = self._client.get_queue_attributes(
                QueueUrl=_queue_url(queue_arn), AttributeNames=["RedrivePolicy", "VisibilityTimeout"]
            )["Attributes"]
            redrive = json.loads(attributes["RedrivePolicy"])
            self._policies[queue_arn] = QueuePolicy(
                str(redrive["deadLetterTargetArn"]),
                int(redrive["maxReceiveCount"]),
                int(attributes["VisibilityTimeout"]),
            )
        return self._policies[queue_arn]


def _queue_url(queue_arn: str) -> str:
    """arn:aws:sqs:REGION:ACCOUNT:NAME -> the queue's URL (SQS takes it on any of its endpoints)."""
    _, partition, _, region, account, name = queue_arn.split(":")
    domain = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
    return f"https://sqs.{region}.{domain}/{account}/{name}"


def _number(value: int) -> dict[str, str]:
    return {"DataType": "Number", "StringValue": str(value)}


def _sendable(record: SQSRecord) -> dict[str, dict[str, Any]]:
    """The record's message attributes as SendMessage takes them (the event spells them camelCase)."""
    sendable: dict[str, dict[str, Any]] = {}
    for name, attribute in _attributes_of(record).items():
        entry: dict[str, Any] = {"DataType": attribute["dataType"]}
        if attribute.get("stringValue") is not None:
            entry["StringValue"] = attribute["stringValue"]
        if attribute.get("binaryValue") is not None:
            entry["BinaryValue"] = base64.b64decode(attribute["binaryValue"])  # the event has it base64
        sendable[name] = entry
    return sendable


def _attributes_of(record: SQSRecord) -> dict[str, dict[str, Any]]:
    attributes = record.raw_event.get("messageAttributes")
    return attributes if isinstance(attributes, dict) else {}
