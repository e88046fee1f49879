"""Lambda's SQS event source mapping, emulated: one poller thread per concurrent batch.

As on AWS: long-poll up to the batch size, keep collecting for the batching window, call the
function with an SQS event, then delete the messages it did not report in
`batchItemFailures`. A function error (or a response naming unknown ids) leaves the whole batch
to come back after the visibility timeout; SQS's own redrive policy moves a message to the DLQ
after maxReceiveCount receives. An invocation Lambda refuses (TooManyRequestsException, the
`lambda_throttle` fault) is retried with backoff while the batch's visibility timeout lasts, as
the event source mapping does; past it the batch comes back, its receive counted.
"""

from __future__ import annotations

import base64
import threading
import time
from dataclasses import dataclass
from typing import Any

from dofs_local.emulated import faults
from dofs_local.emulated.lambda_bridge import Handler, call_function

MAX_RECEIVE_BATCH = 10  # SQS's per-call limit
LONG_POLL_SECONDS = 1  # short, so that stopping is prompt
# Backoff between tries of a refused (throttled) invocation: doubling from this, up to the cap.
THROTTLED_FIRST_BACKOFF_SECONDS = 0.1
THROTTLED_MAX_BACKOFF_SECONDS = 1.0
# What a refused invocation's retries leave of the batch's visibility timeout for the invocation.
INVOCATION_ALLOWANCE_SECONDS = 0.5
# SQS waits whole seconds only: for a batching window's last fraction a poller receives without
# waiting, pausing this long after an empty receive. Each receive costs about 1 ms of the stack's
# CPU: polling flat out, a poller holding a message spent most of a core for the window.
WINDOW_POLL_INTERVAL_SECONDS = 0.1


@dataclass(frozen=True)
class EventSource:
    function_name: str
    handler: Handler
    queue_url: str
    queue_arn: str
    batch_size: int
    batching_window_seconds: float
    region: str


class QueuePoller(threading.Thread):
    def __init__(
        self,
        sqs: Any,
        source: EventSource,
        stop: threading.Event,
    ) -> None:
        super().__init__(name=f"poller-{source.function_name}", daemon=True)
        self._sqs = sqs
        self._source = source
        self._stopping = stop
        self._visibility_seconds: float | None = None
        self._received_at = 0.0  # when the batch being collected was first received

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                messages = self._collect_batch()
                if messages:
                    self._deliver(messages, self._received_at)
            except Exception:  # the emulator going away at shutdown; keep polling otherwise
                if self._stopping.is_set():
                    return
                time.sleep(0.2)

    def _collect_batch(self) -> list[dict[str, Any]]:
        source = self._source
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + source.batching_window_seconds
        while len(messages) < source.batch_size and not self._stopping.is_set():
            remaining = deadline - time.monotonic()
            if messages and remaining <= 0:
                break
            wait_seconds = LONG_POLL_SECONDS if not messages else max(0, min(LONG_POLL_SECONDS, int(remaining)))
            response = self._sqs.receive_message(
                QueueUrl=source.queue_url,
                MaxNumberOfMessages=min(MAX_RECEIVE_BATCH, source.batch_size - len(messages)),
                WaitTimeSeconds=wait_seconds,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            received = response.get("Messages", [])
            if received and not messages:
                self._received_at = time.monotonic()
            messages.extend(received)
            if not received and wait_seconds == 0:
                self._stopping.wait(min(deadline - time.monotonic(), WINDOW_POLL_INTERVAL_SECONDS))
        return messages

    def _deliver(self, messages: list[dict[str, Any]], received_at: float | None = None) -> None:
        """`received_at`: when the batch was first received (None: now)."""
        source = self._source
        messages = self._lose_some(messages)
        if not messages:
            return
        if not self._admitted(time.monotonic() if received_at is None else received_at):
            return  # refused until the visibility timeout: the batch comes back, its receive counted
        event = {"Records": [self._record(message) for message in messages]}
        duplicate = self._deliver_duplicates(event["Records"])
        result, error = call_function(source.handler, source.function_name, event)
        if duplicate is not None:
            duplicate.join()
        ids = {message["MessageId"] for message in messages}
        failed_ids = ids if error is not None else _failed_ids(result, ids)
        self._delete_messages([m for m in messages if m["MessageId"] not in failed_ids])

    def _admitted(self, received_at: float) -> bool:
        """Whether Lambda takes the invocation, retrying a refused one while the batch's visibility
        timeout (counted from its first receive) leaves INVOCATION_ALLOWANCE_SECONDS to run it."""
        injector = faults.active()
        if injector is None:
            return True
        deadline = received_at + self._visibility_timeout() - INVOCATION_ALLOWANCE_SECONDS
        backoff = THROTTLED_FIRST_BACKOFF_SECONDS
        while injector.invoke_throttled(self._source.function_name):
            if time.monotonic() + backoff >= deadline or self._stopping.wait(backoff):
                return False
            backoff = min(THROTTLED_MAX_BACKOFF_SECONDS, 2 * backoff)
        return True

    def _visibility_timeout(self) -> float:
        if self._visibility_seconds is None:
            attributes = self._sqs.get_queue_attributes(
                QueueUrl=self._source.queue_url, AttributeNames=["VisibilityTimeout"]
            )["Attributes"]
            self._visibility_seconds = float(attributes["VisibilityTimeout"])
        return self._visibility_seconds

    def _lose_some(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Fault injection: some messages are deleted unseen, as if SQS had lost them."""
        injector = faults.active()
        lost = injector.lost(self._source.function_name, messages) if injector is not None else []
        self._delete_messages(lost)
        return [message for message in messages if message not in lost]

    def _delete_messages(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), MAX_RECEIVE_BATCH):
            chunk = messages[start : start + MAX_RECEIVE_BATCH]
            self._sqs.delete_message_batch(
                QueueUrl=self._source.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )

    def _deliver_duplicates(self, records: list[dict[str, Any]]) -> threading.Thread | None:
        """Fault injection: some records also go to a second, concurrent invocation.

        As when SQS delivers a message twice; the original invocation decides its fate.
        """
        injector = faults.active()
        copies = injector.duplicates(self._source.function_name, records) if injector is not None else []
        if not copies:
            return None
        source = self._source
        thread = threading.Thread(
            target=call_function, args=(source.handler, source.function_name, {"Records": copies}), daemon=True
        )
        thread.start()
        return thread

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": _event_attributes(message.get("MessageAttributes", {})),
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self._source.queue_arn,
            "awsRegion": self._source.region,
        }


def _failed_ids(result: Any, ids: set[str]) -> set[str]:
    """The ids to retry, read from a partial batch response as Lambda reads it."""
    if not result:
        return set()
    failures = result.get("batchItemFailures") if isinstance(result, dict) else None
    if failures is None:
        return set()
    named = {entry.get("itemIdentifier") for entry in failures if isinstance(entry, dict)}
    # An empty, null or unknown identifier makes Lambda treat the whole batch as failed.
    return ids if not named <= ids else {i for i in named if isinstance(i, str)}


def _event_attributes(attributes: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Message attributes as a Lambda event spells them (camelCase), from SQS's ReceiveMessage."""
    return {
        name: {
            "stringValue": value.get("StringValue"),
            "binaryValue": _base64(value.get("BinaryValue")),
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": [_base64(item) for item in value.get("BinaryListValues", [])],
            "dataType": value["DataType"],
        }
        for name, value in attributes.items()
    }


def _base64(value: bytes | None) -> str | None:
    return None if value is None else base64.b64encode(value).decode()
