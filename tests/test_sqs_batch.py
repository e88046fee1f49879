"""The batch plumbing that fulfillment and the dead-letter handler share (chalicelib/sqs_batch.py)."""

from __future__ import annotations

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib.errors import FulfillmentFailedError
from chalicelib.sqs_batch import process_batch
from tests.conftest import sqs_event, sqs_record

pytestmark = pytest.mark.unit


def test_each_record_is_handled_with_its_order_and_only_failures_come_back() -> None:
    seen: list[str] = []

    def handler(record: SQSRecord, order_id: str) -> None:
        seen.append(order_id)
        if order_id == "b":
            raise FulfillmentFailedError("b failed")
        if order_id == "c":
            raise RuntimeError("a bug")

    event = sqs_event(sqs_record("a"), sqs_record("b"), sqs_record("c"))
    result = process_batch(event, handler, "fulfill_order")
    assert seen == ["a", "b", "c"]
    assert result == {"batchItemFailures": [{"itemIdentifier": "msg-b-1"}, {"itemIdentifier": "msg-c-1"}]}


def test_a_record_about_no_order_is_dropped_not_retried() -> None:
    calls: list[str] = []
    unreadable = [{**sqs_record("x"), "body": body, "messageId": f"m{n}"} for n, body in enumerate(["{no", "[]", "{}"])]
    result = process_batch(sqs_event(*unreadable), lambda record, order_id: calls.append(order_id), "fulfill_order")
    assert (calls, result) == ([], {"batchItemFailures": []})
