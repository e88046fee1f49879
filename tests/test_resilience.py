"""Throttling, timeouts and conflicts never spend one of an order's maxReceiveCount attempts
(issue 20): bounded retries, clients at init, the deadline stop, hand-backs as copies, a copy's
own dead-lettering, and cancelled transactions read by their reasons."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import ClientError

from chalicelib import runtime
from chalicelib.dead_letter import DeadLetterHandler
from chalicelib.errors import TransientError
from chalicelib.fulfillment import Fulfillment
from chalicelib.repository import DynamoOrderRepository, FailureRecord
from chalicelib.rules import Verdict
from chalicelib.sqs_batch import (
    ATTEMPTS_MADE_ATTRIBUTE,
    DEADLINE_MARGIN_MILLIS,
    HANDBACKS_ATTRIBUTE,
    SqsRetryQueue,
    count_attribute,
)
from dofs_config.stage import Stage
from dofs_local.emulated.provisioning import Resources
from tests.conftest import aws_client, make_order, sqs_event, sqs_record
from tests.fakes import RecordingRetryQueue

pytestmark = pytest.mark.memory_and_dynamodb

NOW = "2026-11-25T10:00:00.000Z"
MAX_RECEIVE_COUNT = 3


@dataclass
class Context:
    remaining_millis: int

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_millis


def pending(repository: DynamoOrderRepository, *order_ids: str) -> None:
    for order_id in order_ids:
        repository.create(make_order(order_id), NOW)
        repository.record_verdict(order_id, "exec", Verdict(True), NOW)


def copy_record(order_id: str, *, attempts_made: int, receive_count: int) -> dict[str, Any]:
    record = sqs_record(order_id, receive_count=receive_count)
    record["messageAttributes"] = {
        ATTEMPTS_MADE_ATTRIBUTE: {"stringValue": str(attempts_made), "dataType": "Number"},
    }
    return record


def attempts_of(repository: DynamoOrderRepository, order_id: str) -> tuple[str, int]:
    item = repository.get(order_id)
    assert item is not None
    return str(item["status"]), int(item.get("attempts", 0))


class ThrottledRepository(DynamoOrderRepository):
    """Every write is throttled: what DynamoDB does to a hot table for seconds at a time."""

    def mark_fulfilled(self, order_id: str, attempt: int, now: str) -> bool:
        raise TransientError("ProvisionedThroughputExceededException")

    def record_failed_attempt(self, order_id: str, attempt: int, error: str, now: str) -> dict[str, Any] | None:
        raise TransientError("ProvisionedThroughputExceededException")


# -- 1. retries and clients ---------------------------------------------------------------


@pytest.mark.aws
def test_clients_retry_in_standard_mode_a_few_times_with_short_timeouts(resources: Resources) -> None:
    config = runtime._client("sqs").meta.config
    assert config.retries == {"mode": "standard", "total_max_attempts": 3}
    assert (config.connect_timeout, config.read_timeout) == (1.0, 2.0)
    table_config = runtime.repository()._client.meta.config
    assert table_config.retries == {"mode": "standard", "total_max_attempts": 3}


@pytest.mark.aws
def test_a_calls_worst_case_leaves_room_in_the_fulfillment_function(stage: Stage) -> None:
    timeout_seconds = stage.function_timeout_seconds("fulfill_order")
    assert runtime.worst_case_call_seconds() == 12.0
    # The deadline stop's margin covers one message's calls under throttling (answered at once).
    assert runtime.worst_case_call_seconds() < timeout_seconds - DEADLINE_MARGIN_MILLIS / 1000


@pytest.mark.aws
@pytest.mark.parametrize(
    ("function_name", "built"),
    [
        ("dofs-dev-fulfill_order", runtime.fulfillment),
        ("dofs-prod-handle_dead_letter", runtime.dead_letter_handler),
        ("dofs-dev", runtime.order_api),  # Chalice's name for the API's function
    ],
)
def test_a_lambda_container_builds_its_clients_at_init(
    function_name: str, built: Any, resources: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_RECEIVE_COUNT", "3")  # the DLQ handler's, as .chalice/config.json gives it
    assert built.cache_info().currsize == 0
    runtime.prepare(function_name, "dofs")
    assert built.cache_info().currsize == 1


@pytest.mark.aws
def test_nothing_is_built_outside_lambda(resources: Resources) -> None:
    runtime.prepare(None, "dofs")
    runtime.prepare("someone-elses-fulfill_order", "dofs")
    assert runtime.fulfillment.cache_info().currsize == 0


# -- 2. the deadline stop -----------------------------------------------------------------


def test_past_the_margin_records_are_handed_back_unattempted(repository: DynamoOrderRepository) -> None:
    pending(repository, "a", "b")
    retries = RecordingRetryQueue(MAX_RECEIVE_COUNT)
    fulfillment = Fulfillment(repository, 0.0, lambda: 0.5, retries=retries)
    event = sqs_event(sqs_record("a", receive_count=2), sqs_record("b"))
    result = fulfillment.handle_batch(event, Context(DEADLINE_MARGIN_MILLIS - 1))
    assert result == {"batchItemFailures": []}, "handed back as copies: the originals are done"
    assert retries.handed_back == [("msg-a-2", 1, False), ("msg-b-1", 0, False)], "this receive did nothing"
    assert attempts_of(repository, "a") == ("PENDING", 0)


def test_before_the_margin_records_are_attempted(repository: DynamoOrderRepository) -> None:
    pending(repository, "a")
    retries = RecordingRetryQueue(MAX_RECEIVE_COUNT)
    fulfillment = Fulfillment(repository, 0.0, lambda: 0.5, retries=retries)
    result = fulfillment.handle_batch(sqs_event(sqs_record("a")), Context(DEADLINE_MARGIN_MILLIS))
    assert result == {"batchItemFailures": []}
    assert retries.handed_back == [("msg-a-1", 1, True)], "attempted, failed, queued again"
    assert attempts_of(repository, "a") == ("FAILED", 1)


def test_past_the_margin_without_a_retry_queue_records_are_batch_item_failures(
    repository: DynamoOrderRepository,
) -> None:
    pending(repository, "a")
    result = Fulfillment(repository, 1.0, lambda: 0.5).handle_batch(sqs_event(sqs_record("a")), Context(0))
    assert result == {"batchItemFailures": [{"itemIdentifier": "msg-a-1"}]}
    assert attempts_of(repository, "a") == ("PENDING", 0)


# -- 3. transient failures, real failures, a copy's last attempt --------------------------


@pytest.mark.aws
@pytest.mark.parametrize("success_rate", [0.0, 1.0])
def test_a_throttled_attempt_is_handed_back_and_not_counted(
    resources: Resources, stage: Stage, success_rate: float
) -> None:
    from tests.conftest import _dynamodb_client

    repository = ThrottledRepository(_dynamodb_client(), stage.orders_table, stage.failed_orders_table)
    pending(repository, "a")
    retries = RecordingRetryQueue(MAX_RECEIVE_COUNT)
    fulfillment = Fulfillment(repository, success_rate, lambda: 0.5, retries=retries)
    result = fulfillment.handle_batch(sqs_event(copy_record("a", attempts_made=1, receive_count=2)))
    assert result == {"batchItemFailures": []}
    assert retries.handed_back == [("msg-a-2", 2, False)], "1 carried + this copy's first receive; not its second"
    assert retries.dead_lettered == []


def test_a_real_failure_spends_an_attempt_and_is_queued_again(repository: DynamoOrderRepository) -> None:
    pending(repository, "a")
    retries = RecordingRetryQueue(MAX_RECEIVE_COUNT)
    fulfillment = Fulfillment(repository, 0.0, lambda: 0.5, retries=retries)
    result = fulfillment.handle_batch(sqs_event(copy_record("a", attempts_made=1, receive_count=1)))
    assert result == {"batchItemFailures": []}, "concluded here: SQS's count sees no failure"
    assert attempts_of(repository, "a") == ("FAILED", 2), "the carried attempt and this one"
    assert (retries.handed_back, retries.dead_lettered) == ([("msg-a-1", 2, True)], [])


def test_without_a_retry_queue_a_real_failure_is_a_batch_item_failure(repository: DynamoOrderRepository) -> None:
    pending(repository, "a")
    result = Fulfillment(repository, 0.0, lambda: 0.5).handle_batch(sqs_event(sqs_record("a")))
    assert result == {"batchItemFailures": [{"itemIdentifier": "msg-a-1"}]}
    assert attempts_of(repository, "a") == ("FAILED", 1)


def failed_before(repository: DynamoOrderRepository, order_id: str, *attempts: int) -> None:
    for attempt in attempts:
        assert repository.record_failed_attempt(order_id, attempt, f"simulated failure {attempt}", NOW) is not None


def test_a_rounds_last_failing_attempt_sends_the_message_to_the_dead_letter_queue(
    repository: DynamoOrderRepository,
) -> None:
    pending(repository, "a")
    failed_before(repository, "a", 1, 2)
    retries = RecordingRetryQueue(MAX_RECEIVE_COUNT)
    result = Fulfillment(repository, 0.0, lambda: 0.5, retries=retries).handle_batch(
        sqs_event(sqs_record("a", receive_count=MAX_RECEIVE_COUNT))
    )
    assert result == {"batchItemFailures": []}
    assert (retries.handed_back, retries.dead_lettered) == ([], ["msg-a-3"])


def test_receives_spent_without_an_attempt_do_not_count(repository: DynamoOrderRepository) -> None:
    """Receives 1 and 2 did not reach a real attempt (a crash, a refused or timed-out invocation)."""
    pending(repository, "a")
    retries = RecordingRetryQueue(MAX_RECEIVE_COUNT)
    result = Fulfillment(repository, 0.0, lambda: 0.5, retries=retries).handle_batch(
        sqs_event(sqs_record("a", receive_count=MAX_RECEIVE_COUNT))
    )
    assert result == {"batchItemFailures": []}, "SQS must not dead-letter it after one real attempt"
    assert retries.handed_back == [("msg-a-3", 3, True)], "its copy numbers its attempts on from 4"
    assert retries.dead_lettered == []
    assert attempts_of(repository, "a") == ("FAILED", 3)


def test_a_copys_last_failing_attempt_sends_it_to_the_dead_letter_queue(repository: DynamoOrderRepository) -> None:
    pending(repository, "a")
    failed_before(repository, "a", 1, 2)
    retries = RecordingRetryQueue(MAX_RECEIVE_COUNT)
    fulfillment = Fulfillment(repository, 0.0, lambda: 0.5, retries=retries)
    result = fulfillment.handle_batch(sqs_event(copy_record("a", attempts_made=2, receive_count=1)))
    assert result == {"batchItemFailures": []}
    assert retries.dead_lettered == ["msg-a-1"]
    assert attempts_of(repository, "a") == ("FAILED", 3)


def test_a_redriven_rounds_attempts_are_counted_afresh(repository: DynamoOrderRepository) -> None:
    pending(repository, "a")
    failed_before(repository, "a", 1, 2, 3)
    repository.dead_letter(failure_record("a"), NOW)
    repository.redrive("a", 0, NOW)
    retries = RecordingRetryQueue(MAX_RECEIVE_COUNT)
    record = copy_record("a", attempts_made=1, receive_count=1)
    record["body"] = json.dumps({"order_id": "a", "redrive": 1, "attempts_before": 3})
    result = Fulfillment(repository, 0.0, lambda: 0.5, retries=retries).handle_batch(sqs_event(record))
    assert result == {"batchItemFailures": []}
    assert (retries.handed_back, retries.dead_lettered) == ([("msg-a-1", 2, True)], []), "one failure in round 2"
    assert attempts_of(repository, "a") == ("FAILED", 5)


@pytest.mark.aws
def test_when_the_copy_cannot_be_sent_the_record_is_a_batch_item_failure(resources: Resources, stage: Stage) -> None:
    from tests.conftest import _dynamodb_client

    class Unsendable(RecordingRetryQueue):
        def later(self, record: SQSRecord, attempts_made: int, *, failed: bool) -> None:
            raise ClientError({"Error": {"Code": "InternalError", "Message": "no"}}, "SendMessage")

    repository = ThrottledRepository(_dynamodb_client(), stage.orders_table, stage.failed_orders_table)
    pending(repository, "a")
    result = Fulfillment(repository, 1.0, lambda: 0.5, retries=Unsendable(MAX_RECEIVE_COUNT)).handle_batch(
        sqs_event(sqs_record("a"))
    )
    assert result == {"batchItemFailures": [{"itemIdentifier": "msg-a-1"}]}


@pytest.mark.aws
def test_the_sqs_retry_queue_sends_delayed_copies_and_finds_the_dead_letter_queue(resources: Resources) -> None:
    sqs = aws_client("sqs")
    retries = SqsRetryQueue(sqs)
    record = sqs_record("a", receive_count=2)
    record["eventSourceARN"] = resources.order_queue_arn
    record["messageAttributes"] = {"trace": {"stringValue": "t-1", "dataType": "String"}}
    original = SQSRecord(record)
    assert retries.max_receive_count(original) == MAX_RECEIVE_COUNT

    retries.later(original, 1, failed=False)
    copy = _receive_one(sqs, resources.order_queue_url, wait_seconds=3)  # delayed 1 s (no hand-back before)
    assert copy["Body"] == record["body"]
    assert {name: value["StringValue"] for name, value in copy["MessageAttributes"].items()} == {
        "trace": "t-1",
        ATTEMPTS_MADE_ATTRIBUTE: "1",
        HANDBACKS_ATTRIBUTE: "1",
    }

    retries.dead_letter(original)
    dead = _receive_one(sqs, resources.order_dlq_url, wait_seconds=1)
    assert dead["Body"] == record["body"]
    assert dead["MessageAttributes"]["trace"]["StringValue"] == "t-1"


@pytest.mark.aws
def test_each_hand_back_doubles_the_delay_and_a_failure_waits_the_visibility_timeout(resources: Resources) -> None:
    sqs = _RecordingSqs()
    record = copy_record("a", attempts_made=0, receive_count=1)
    record["messageAttributes"][HANDBACKS_ATTRIBUTE] = {"stringValue": "3", "dataType": "Number"}
    SqsRetryQueue(sqs).later(SQSRecord(record), 0, failed=False)
    assert sqs.sent[-1]["DelaySeconds"] == 8
    assert sqs.sent[-1]["MessageAttributes"][HANDBACKS_ATTRIBUTE]["StringValue"] == "4"
    record["messageAttributes"][HANDBACKS_ATTRIBUTE]["stringValue"] = "40"
    SqsRetryQueue(sqs).later(SQSRecord(record), 0, failed=False)
    assert sqs.sent[-1]["DelaySeconds"] == 900, "SQS's longest delay"
    SqsRetryQueue(sqs).later(SQSRecord(record), 1, failed=True)
    assert sqs.sent[-1]["DelaySeconds"] == _RecordingSqs.VISIBILITY_TIMEOUT, "as SQS would deliver it again"
    assert sqs.sent[-1]["MessageAttributes"][HANDBACKS_ATTRIBUTE]["StringValue"] == "40", "not a hand-back"
    assert count_attribute(SQSRecord(record), "missing") == 0


class _RecordingSqs:
    VISIBILITY_TIMEOUT = 180

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def get_queue_attributes(self, **_: Any) -> dict[str, Any]:
        policy = {"deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:dlq", "maxReceiveCount": 3}
        return {"Attributes": {"RedrivePolicy": json.dumps(policy), "VisibilityTimeout": str(self.VISIBILITY_TIMEOUT)}}

    def send_message(self, **request: Any) -> None:
        self.sent.append(request)


def _receive_one(sqs: Any, queue_url: str, wait_seconds: int) -> dict[str, Any]:
    messages = sqs.receive_message(
        QueueUrl=queue_url, WaitTimeSeconds=wait_seconds, MessageAttributeNames=["All"], MaxNumberOfMessages=10
    ).get("Messages", [])
    assert len(messages) == 1
    message: dict[str, Any] = messages[0]
    return message


# -- 4. cancelled transactions, by their reasons ------------------------------------------


def cancelled(*codes: str) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
            "CancellationReasons": [{"Code": code} for code in codes],
        },
        "TransactWriteItems",
    )


def failure_record(order_id: str) -> FailureRecord:
    return FailureRecord(
        order_id=order_id,
        source="fulfillment",
        original_message=json.dumps({"order_id": order_id}),
        attempts=3,
        last_error="simulated",
        queued_at=None,
        dead_lettered_at=NOW,
        redrive_round=0,
    )


def _cancel_transactions(
    monkeypatch: pytest.MonkeyPatch, repository: DynamoOrderRepository, error: ClientError
) -> None:
    def refuse(**_: Any) -> None:
        raise error

    monkeypatch.setattr(repository._client, "transact_write_items", refuse)


@pytest.mark.aws
@pytest.mark.parametrize(
    "codes",
    [("None", "ThrottlingError"), ("TransactionConflict", "None"), ("ProvisionedThroughputExceeded", "None")],
)
def test_a_transaction_cancelled_by_throttling_or_a_conflict_is_transient(
    repository: DynamoOrderRepository, monkeypatch: pytest.MonkeyPatch, codes: tuple[str, ...]
) -> None:
    pending(repository, "a")
    _cancel_transactions(monkeypatch, repository, cancelled(*codes))
    with pytest.raises(TransientError):
        repository.dead_letter(failure_record("a"), NOW)


@pytest.mark.aws
def test_a_transaction_refused_by_its_condition_is_not_written(
    repository: DynamoOrderRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    pending(repository, "a")
    _cancel_transactions(monkeypatch, repository, cancelled("None", "ConditionalCheckFailed"))
    assert repository.dead_letter(failure_record("a"), NOW).value == "NOT_ELIGIBLE"


@pytest.mark.aws
def test_a_transaction_refused_for_another_reason_is_raised(
    repository: DynamoOrderRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    pending(repository, "a")
    _cancel_transactions(monkeypatch, repository, cancelled("ValidationError", "None"))
    with pytest.raises(ClientError):
        repository.dead_letter(failure_record("a"), NOW)


@pytest.mark.aws
def test_moto_reports_a_condition_refusal_with_its_reasons(repository: DynamoOrderRepository) -> None:
    """The real path, unpatched: a DEAD_LETTERED order cannot be dead-lettered twice in a round."""
    pending(repository, "a")
    assert repository.dead_letter(failure_record("a"), NOW).value == "RECORDED"
    assert repository.dead_letter(failure_record("a"), NOW).value == "ALREADY_RECORDED"


@pytest.mark.aws
def test_the_dead_letter_handler_retries_a_throttled_transaction(
    repository: DynamoOrderRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    pending(repository, "a")
    _cancel_transactions(monkeypatch, repository, cancelled("None", "ThrottlingError"))
    result = DeadLetterHandler(repository, clock=lambda: NOW).handle_batch(sqs_event(sqs_record("a")))
    assert result == {"batchItemFailures": [{"itemIdentifier": "msg-a-1"}]}, "retried, not dropped as NOT_ELIGIBLE"
    assert attempts_of(repository, "a")[0] == "PENDING"
