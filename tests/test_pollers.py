"""The emulated SQS event source mapping (dofs_local/emulated/pollers.py)."""

from __future__ import annotations

import math
import threading
from typing import Any

import pytest

from dofs_local.emulated import pollers
from dofs_local.emulated.pollers import EventSource, QueuePoller

pytestmark = pytest.mark.aws


class OneMessageQueue:
    """An SQS client whose queue holds one message, then stays empty; it counts the receives."""

    def __init__(self) -> None:
        self.receives: list[int] = []  # each receive's WaitTimeSeconds
        self._messages = [{"MessageId": "m-1", "ReceiptHandle": "r-1", "Body": "{}"}]

    def receive_message(self, **request: Any) -> dict[str, Any]:
        self.receives.append(request["WaitTimeSeconds"])
        taken, self._messages = self._messages, []
        return {"Messages": taken}


def test_a_poller_holding_a_message_pauses_between_receives_for_the_rest_of_the_window() -> None:
    """SQS waits whole seconds only, so the window's last fraction is polled without waiting:
    flat out, a poller spent most of a core on empty receives there (one per millisecond)."""
    window = 0.3
    queue = OneMessageQueue()
    source = EventSource(
        function_name="dofs-local-fulfill_order",
        handler=lambda event, context: None,
        queue_url="http://sqs/queue",
        queue_arn="arn:aws:sqs:us-east-1:123456789012:queue",
        batch_size=10,
        batching_window_seconds=window,
        region="us-east-1",
    )
    batch = QueuePoller(queue, source, threading.Event())._collect_batch()
    assert [message["MessageId"] for message in batch] == ["m-1"]
    # The first, long, poll; then one receive per pause until the window ends, and at most one more.
    most = 1 + math.ceil(window / pollers.WINDOW_POLL_INTERVAL_SECONDS) + 1
    assert queue.receives[0] == pollers.LONG_POLL_SECONDS
    assert len(queue.receives) <= most, f"{len(queue.receives)} receives in a {window} s window"


class RecordingQueue:
    """An SQS client for _deliver: a visibility timeout, and the deletes it was asked for."""

    def __init__(self, visibility_timeout: int) -> None:
        self.visibility_timeout = visibility_timeout
        self.deleted: list[str] = []

    def get_queue_attributes(self, **_: Any) -> dict[str, Any]:
        return {"Attributes": {"VisibilityTimeout": str(self.visibility_timeout)}}

    def delete_message_batch(self, **request: Any) -> None:
        self.deleted += [entry["ReceiptHandle"] for entry in request["Entries"]]


def source_of(handler: Any) -> EventSource:
    return EventSource(
        function_name="dofs-local-fulfill_order",
        handler=handler,
        queue_url="http://sqs/queue",
        queue_arn="arn:aws:sqs:us-east-1:123456789012:queue",
        batch_size=10,
        batching_window_seconds=0,
        region="us-east-1",
    )


MESSAGE = {
    "MessageId": "m-1",
    "ReceiptHandle": "r-1",
    "Body": "{}",
    "MessageAttributes": {
        "attempts_made": {"StringValue": "2", "DataType": "Number"},
        "blob": {"BinaryValue": b"\x00\x01", "DataType": "Binary"},
    },
}


def test_message_attributes_reach_the_function_as_a_lambda_event_spells_them() -> None:
    events: list[Any] = []
    queue = RecordingQueue(visibility_timeout=2)
    QueuePoller(queue, source_of(lambda event, context: events.append(event)), threading.Event())._deliver([MESSAGE])
    attributes = events[0]["Records"][0]["messageAttributes"]
    assert attributes["attempts_made"]["stringValue"] == "2"
    assert attributes["attempts_made"]["dataType"] == "Number"
    assert attributes["blob"]["binaryValue"] == "AAE="
    assert queue.deleted == ["r-1"]
