"""An operator's redrive: DEAD_LETTERED -> PENDING once per round, queued once, recorded; a
redriven order that fails again updates its one failed_orders record."""

from __future__ import annotations

import json
import random
import threading
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError

from chalicelib.dead_letter import DeadLetterHandler
from chalicelib.fulfillment import Fulfillment
from chalicelib.redrive import Redriver, attempts_before_of, queue_message, redrive_round_of
from chalicelib.repository import DynamoOrderRepository, RedriveOutcome
from chalicelib.rules import Verdict
from dofs_config.stage import Stage
from dofs_local.emulated.provisioning import Resources
from tests.conftest import make_order, sqs_event, sqs_record

pytestmark = pytest.mark.aws

NOW = "2026-11-25T10:00:00.000Z"
LATER = "2026-11-25T11:00:00.000Z"


def dead_lettered(repository: DynamoOrderRepository, order_id: str, *, body: str | None = None) -> None:
    """An order failed three times and dead-lettered by the DLQ handler, as the pipeline does it."""
    repository.create(make_order(order_id), NOW)
    repository.record_verdict(order_id, "exec", Verdict(True), NOW)
    fail_three_times(repository, order_id, body)


def fail_three_times(repository: DynamoOrderRepository, order_id: str, body: str | None = None) -> None:
    fulfillment = Fulfillment(repository, 0.0, random.Random(1).random, clock=lambda: NOW)
    for attempt in (1, 2, 3):
        fulfillment.handle_batch(sqs_event(message(order_id, attempt, body)))
    DeadLetterHandler(repository, clock=lambda: NOW).handle_batch(sqs_event(message(order_id, 1, body)))


def message(order_id: str, receive_count: int, body: str | None) -> dict[str, Any]:
    record = sqs_record(order_id, receive_count=receive_count)
    if body is not None:
        record["body"] = body
    return record


def queued(resources: Resources) -> list[str]:
    sqs = boto3.client("sqs")
    bodies: list[str] = []
    while True:
        received = sqs.receive_message(QueueUrl=resources.order_queue_url, MaxNumberOfMessages=10)
        if not received.get("Messages"):
            return bodies
        bodies += [m["Body"] for m in received["Messages"]]


def redriver(repository: DynamoOrderRepository, resources: Resources, clock: str = LATER) -> Redriver:
    return Redriver(repository, boto3.client("sqs"), resources.order_queue_url, clock=lambda: clock)


def test_a_redrive_queues_the_order_again_and_records_it(
    repository: DynamoOrderRepository, resources: Resources
) -> None:
    dead_lettered(repository, "a")
    assert redriver(repository, resources).redrive("a") is RedriveOutcome.REDRIVEN
    order = repository.get("a")
    assert order is not None
    # A new round; `attempts` keeps counting: the message carries the three made so far.
    assert (order["status"], order["attempts"], order["redrive_count"]) == ("PENDING", 3, 1)
    assert order["history"][-1] == {"status": "PENDING", "at": LATER, "by": "operator"}
    failure = repository.get_failure("a")
    assert failure is not None
    assert failure["redrives"] == [{"at": LATER, "by": "operator", "round": 1, "attempts_before": 3}]
    assert failure["last_redriven_at"] == LATER
    assert queued(resources) == [queue_message("a", 1, 3)]


def test_the_new_round_gets_fresh_attempts_and_can_be_fulfilled(
    repository: DynamoOrderRepository, resources: Resources
) -> None:
    dead_lettered(repository, "a")
    redriver(repository, resources).redrive("a")
    body = queue_message("a", 1, 3)
    failing = Fulfillment(repository, 0.0, random.Random(1).random, clock=lambda: LATER)
    # The new message's first receive is a counted attempt, the order's fourth: the count goes on.
    assert failing.handle_batch(sqs_event(message("a", 1, body)))["batchItemFailures"]
    order = repository.get("a")
    assert order is not None
    assert (order["status"], order["attempts"]) == ("FAILED", 4)
    assert order["history"][-1]["attempt"] == 4
    Fulfillment(repository, 1.0, random.Random(1).random, clock=lambda: LATER).handle_batch(
        sqs_event(message("a", 2, body))
    )
    order = repository.get("a")
    assert order is not None
    assert (order["status"], order["attempts"]) == ("FULFILLED", 5)
    assert [entry.get("attempt") for entry in order["history"] if entry["status"] in {"FAILED", "FULFILLED"}] == [
        1,
        2,
        3,
        4,
        5,
    ]


def test_a_second_dead_letter_updates_the_one_record(
    repository: DynamoOrderRepository, resources: Resources, stage: Stage
) -> None:
    dead_lettered(repository, "a")
    first = repository.get_failure("a")
    assert first is not None
    redriver(repository, resources).redrive("a")
    body = queue_message("a", 1, 3)
    fulfillment = Fulfillment(repository, 0.0, random.Random(1).random, clock=lambda: LATER)
    for attempt in (1, 2, 3):
        fulfillment.handle_batch(sqs_event(message("a", attempt, body)))
    again = sqs_record("a", message_id="round-1")
    again["body"] = body
    result = DeadLetterHandler(repository, clock=lambda: LATER).handle_batch(sqs_event(again))
    assert result == {"batchItemFailures": []}
    order = repository.get("a")
    failure = repository.get_failure("a")
    assert order is not None
    assert failure is not None
    assert order["status"] == "DEAD_LETTERED"
    assert (failure["original_message"], failure["message_id"]) == (body, "round-1")
    # Every attempt of the order's life: three in each round.
    assert (failure["attempts"], failure["last_error"]) == (6, "simulated fulfillment failure on attempt 6")
    assert (failure["dead_lettered_at"], failure["first_dead_lettered_at"]) == (LATER, NOW)
    assert failure["dead_letter_count"] == 2
    assert failure["redrives"] == [
        *first.get("redrives", []),
        {"at": LATER, "by": "operator", "round": 1, "attempts_before": 3},
    ]
    records = boto3.client("dynamodb").scan(TableName=stage.failed_orders_table)["Items"]
    assert [item["order_id"]["S"] for item in records] == ["a"]


def test_a_stale_dead_letter_of_an_earlier_round_leaves_the_redriven_order_alone(
    repository: DynamoOrderRepository, resources: Resources
) -> None:
    dead_lettered(repository, "a")
    redriver(repository, resources).redrive("a")
    # The first round's DLQ message delivered again (its handler had crashed after the write).
    DeadLetterHandler(repository, clock=lambda: LATER).handle_batch(sqs_event(sqs_record("a", message_id="stale")))
    order = repository.get("a")
    failure = repository.get_failure("a")
    assert order is not None
    assert failure is not None
    assert order["status"] == "PENDING"
    assert (failure["dead_letter_count"], failure.get("message_id")) == (1, "msg-a-1")


def test_concurrent_redrives_of_one_order_queue_it_once(
    repository: DynamoOrderRepository, resources: Resources
) -> None:
    dead_lettered(repository, "a")
    operators = 8
    start = threading.Barrier(operators)
    outcomes: list[RedriveOutcome] = []

    def operator() -> None:
        own = redriver(repository, resources)
        start.wait()
        outcomes.append(own.redrive("a"))

    threads = [threading.Thread(target=operator) for _ in range(operators)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == sorted([RedriveOutcome.REDRIVEN] + [RedriveOutcome.ALREADY_REDRIVEN] * (operators - 1))
    assert queued(resources) == [queue_message("a", 1, 3)]
    order = repository.get("a")
    assert order is not None
    assert [entry for entry in order["history"] if entry.get("by") == "operator"] == [
        {"status": "PENDING", "at": LATER, "by": "operator"}
    ]


def test_two_operators_who_saw_the_same_round_redrive_it_once(repository: DynamoOrderRepository) -> None:
    """The race itself, without timing: both read round 0, the second write must lose."""
    dead_lettered(repository, "a")
    assert repository.redrive("a", 0, LATER) is RedriveOutcome.REDRIVEN
    assert repository.redrive("a", 0, LATER) is RedriveOutcome.ALREADY_REDRIVEN


class _UnreachableSqs:
    def send_message(self, **_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="https://sqs.example")


def test_a_failed_send_undoes_the_redrive(repository: DynamoOrderRepository, resources: Resources) -> None:
    dead_lettered(repository, "a")
    broken = Redriver(repository, _UnreachableSqs(), resources.order_queue_url, clock=lambda: LATER)
    assert broken.redrive("a") is RedriveOutcome.NOT_QUEUED
    order = repository.get("a")
    failure = repository.get_failure("a")
    assert order is not None
    assert failure is not None
    assert (order["status"], order["attempts"], order["redrive_count"]) == ("DEAD_LETTERED", 3, 1)
    assert order["history"][-1] == {"status": "DEAD_LETTERED", "at": LATER, "by": "operator"}
    assert failure["redrives"][0]["undone"]["at"] == LATER
    assert failure["redrives"][0]["undone"]["reason"].startswith("redrive undone")
    # The operator tries again later: round 2, queued.
    assert redriver(repository, resources).redrive("a") is RedriveOutcome.REDRIVEN
    assert queued(resources) == [queue_message("a", 2, 3)]


def test_an_undo_after_the_order_moved_on_changes_nothing(repository: DynamoOrderRepository) -> None:
    dead_lettered(repository, "a")
    repository.redrive("a", 0, LATER)
    repository.mark_fulfilled("a", 1, LATER)
    assert not repository.undo_redrive("a", 1, 3, "late", LATER)
    order = repository.get("a")
    assert order is not None
    assert order["status"] == "FULFILLED"


@pytest.mark.parametrize(
    ("prepare", "expected"),
    [
        (lambda repository: None, RedriveOutcome.UNKNOWN_ORDER),
        (lambda repository: repository.create(make_order("a"), NOW), RedriveOutcome.NOT_DEAD_LETTERED),
    ],
)
def test_only_a_dead_lettered_order_is_redriven(
    repository: DynamoOrderRepository, resources: Resources, prepare: Any, expected: RedriveOutcome
) -> None:
    prepare(repository)
    assert redriver(repository, resources).redrive("a") is expected
    assert repository.redrive("a", 0, LATER) is expected
    assert queued(resources) == []
    assert repository.get_failure("a") is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (json.dumps({"order_id": "a"}), (0, 0)),
        (queue_message("a", 4), (4, 0)),
        (queue_message("a", 4, 7), (4, 7)),
        ("not json", (0, 0)),
        ('{"redrive": true, "attempts_before": -1}', (0, 0)),
    ],
)
def test_the_round_and_attempts_before_a_message(body: str, expected: tuple[int, int]) -> None:
    assert (redrive_round_of(body), attempts_before_of(body)) == expected


def test_the_workflows_message_is_the_plain_one() -> None:
    assert json.loads(queue_message("a")) == {"order_id": "a"}
