"""The SQS batch plumbing that fulfillment and the dead-letter handler share: one record
handler per message, partial batch responses, and reading which order a message is about."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib.errors import FulfillmentFailedError
from chalicelib.observability import logger, order_context


def order_id_of(record: SQSRecord) -> str | None:
    """The order a queue message is about, or None for a message that is not ours."""
    try:
        message = json.loads(record.body)
    except ValueError:
        return None
    order_id = message.get("order_id") if isinstance(message, dict) else None
    return order_id if isinstance(order_id, str) and order_id else None


RecordHandler = Callable[[SQSRecord, str], None]


def process_batch(event: dict[str, Any], record_handler: RecordHandler, operation: str) -> dict[str, Any]:
    """Runs the handler once per record, given the order the record is about, with that order in
    every log line; failed records go back to the queue, alone. A record about no order (not JSON,
    no `order_id`) can never succeed: it is logged in full and dropped."""

    def logged(record: SQSRecord) -> None:
        order_id = order_id_of(record)
        if order_id is None:
            logger.error(
                "unreadable message dropped",
                extra={"order_id": None, "operation": operation, "body": record.body[:2000]},
            )
            return
        with order_context(order_id, operation):
            try:
                record_handler(record, order_id)
            except FulfillmentFailedError:
                raise  # an expected outcome, already logged
            except Exception:
                logger.exception(
                    "record handler crashed; the message will be retried", extra={"message_id": record.message_id}
                )
                raise

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return dict(process_partial_response(event=event, record_handler=logged, processor=processor))
