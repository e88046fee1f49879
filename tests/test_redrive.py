"""An operator's redrive: DEAD_LETTERED -> PENDING once per round, queued once, recorded; a
redriven order that fails again updates its one failed_orders record; the undo when the message
cannot be sent. Each test runs on the in-memory store and queue (unit) and on moto (aws); threads
racing for real run on moto only."""

from __future__ import annotations

import json
import random
import threading
from typing import TYPE_CHECKING, Any

import pytest

from chalicelib.dead_letter import DeadLetterHandler
from chalicelib.fulfillment import Fulfillment
from chalicelib.redrive import Redriver, attempts_before_of, queue_message, redrive_round_of
from chalicelib.repository import RedriveOutcome
from chalicelib.rules import Verdict
from tests.conftest import make_order, sqs_event, sqs_record

if TYPE_CHECKING:
    from chalicelib.repository import DynamoOrderRepository
    from tests.fakes import InMemoryOrderRepository, InMemoryQueue
    from tests.ports import SqsQueue

    Queue = InMemoryQueue | SqsQueue
    Repository = InMemoryOrderRepository | DynamoOrderRepository  # OrderRepository, and the index of dead letters

pytestmark = pytest.mark.memory_and_dynamodb

NOW = "2026-11-25T10:00:00.000Z"
LATER = "2026-11-25T11:00:00.000Z"


@pytest.fixture
def redriver(repository: Repository, queue: Queue) -> Redriver:
    return Redriver(repository, queue, queue.QUEUE_URL, clock=lambda: LATER)


def dead_lettered(repository: Repository, order_id: str, *, body: str | None = None) -> None:
    """An order failed three times and dead-lettered by the DLQ handler, as the pipeline does it."""
    repository.create(make_order(order_id), NOW)
    repository.record_verdict(order_id, "exec", Verdict(True), NOW)
    fail_three_times(repository, order_id, body)


def fail_three_times(repository: Repository, order_id: str, body: str | None = None) -> None:
    fulfillment = Fulfillment(repository, 0.0, random.Random(1).random, clock=lambda: NOW)
    for attempt in (1, 2, 3):
        fulfillment.handle_batch(sqs_event(message(order_id, attempt, body)))
    dead_letter = DeadLetterHandler(repository, clock=lambda: NOW)
    assert dead_letter.handle_batch(sqs_event(message(order_id, 1, body))) == {"batchItemFailures": []}


def message(order_id: str, receive_count: int, body: str | None) -> dict[str, Any]:
    record = sqs_record(order_id, receive_count=receive_count)
    if body is not None:
        record["body"] = body
    return record


def failure_records(repository: Repository) -> list[str]:
    """The order id of every failed_orders record: what the table holds, not what its index lists."""
    failed: Any = getattr(repository, "_failed")  # noqa: B009
    if isinstance(failed, dict):  # the fake's
        return sorted(failed)
    client: Any = getattr(repository, "_client")  # noqa: B009
    return sorted(item["order_id"]["S"] for item in client.scan(TableName=failed.name)["Items"])


def test_a_redrive_queues_the_order_again_and_records_it(
    redriver: Redriver, repository: Repository, queue: Queue
) -> None:
    dead_lettered(repository, "a")
    assert list(repository.dead_lettered_order_ids()) == [("a", NOW)]

    assert redriver.redrive("a") is RedriveOutcome.REDRIVEN

    order = repository.get("a")
    failure = repository.get_failure("a")
    assert order is not None
    assert failure is not None
    # A new round; `attempts` keeps counting: the message carries the three made so far.
    assert (order["status"], order["attempts"], order["redrive_count"]) == ("PENDING", 3, 1)
    assert order["history"][-1] == {"status": "PENDING", "at": LATER, "by": "operator"}
    assert failure["redrives"] == [{"at": LATER, "by": "operator", "round": 1, "attempts_before": 3}]
    assert failure["last_redriven_at"] == LATER
    assert queue.messages == [queue_message("a", 1, 3)]
    assert (list(repository.open_order_ids()), list(repository.dead_lettered_order_ids())) == ([("a", LATER)], [])


def test_the_new_round_gets_fresh_attempts_and_can_be_fulfilled(redriver: Redriver, repository: Repository) -> None:
    dead_lettered(repository, "a")
    redriver.redrive("a")
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


def test_a_second_dead_letter_updates_the_one_record(redriver: Redriver, repository: Repository) -> None:
    dead_lettered(repository, "a")
    first = repository.get_failure("a")
    assert first is not None
    redriver.redrive("a")
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
    assert [entry["attempt"] for entry in order["history"] if entry["status"] == "FAILED"] == [1, 2, 3, 4, 5, 6]
    assert (failure["original_message"], failure["message_id"]) == (body, "round-1")
    # Every attempt of the order's life: three in each round.
    assert (failure["attempts"], failure["last_error"]) == (6, "simulated fulfillment failure on attempt 6")
    assert (failure["dead_lettered_at"], failure["first_dead_lettered_at"]) == (LATER, NOW)
    assert failure["dead_letter_count"] == 2
    assert failure["redrives"] == [
        *first.get("redrives", []),
        {"at": LATER, "by": "operator", "round": 1, "attempts_before": 3},
    ]
    assert failure_records(repository) == ["a"]
    assert list(repository.dead_lettered_order_ids()) == [("a", LATER)], "listed once"
    assert list(repository.open_order_ids()) == []


def test_a_stale_dead_letter_of_an_earlier_round_leaves_the_redriven_order_alone(
    redriver: Redriver, repository: Repository
) -> None:
    dead_lettered(repository, "a")
    redriver.redrive("a")
    # The first round's DLQ message delivered again (its handler had crashed after the write).
    DeadLetterHandler(repository, clock=lambda: LATER).handle_batch(sqs_event(sqs_record("a", message_id="stale")))
    order = repository.get("a")
    failure = repository.get_failure("a")
    assert order is not None
    assert failure is not None
    assert order["status"] == "PENDING"
    assert (failure["dead_letter_count"], failure.get("message_id")) == (1, "msg-a-1")


@pytest.mark.aws
def test_concurrent_redrives_of_one_order_queue_it_once(repository: DynamoOrderRepository, queue: SqsQueue) -> None:
    dead_lettered(repository, "a")
    operators = 8
    start = threading.Barrier(operators)
    outcomes: list[RedriveOutcome] = []

    def operator() -> None:
        own = Redriver(repository, queue, queue.QUEUE_URL, clock=lambda: LATER)
        start.wait()
        outcomes.append(own.redrive("a"))

    threads = [threading.Thread(target=operator) for _ in range(operators)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == sorted([RedriveOutcome.REDRIVEN] + [RedriveOutcome.ALREADY_REDRIVEN] * (operators - 1))
    assert queue.messages == [queue_message("a", 1, 3)]
    order = repository.get("a")
    assert order is not None
    assert [entry for entry in order["history"] if entry.get("by") == "operator"] == [
        {"status": "PENDING", "at": LATER, "by": "operator"}
    ]


def test_two_operators_who_saw_the_same_round_redrive_it_once(
    redriver: Redriver, repository: Repository, queue: Queue
) -> None:
    """The race itself, without timing: both read round 0, the second write must lose."""
    dead_lettered(repository, "a")
    assert repository.redrive("a", 0, LATER) is RedriveOutcome.REDRIVEN
    assert repository.redrive("a", 0, LATER) is RedriveOutcome.ALREADY_REDRIVEN
    assert redriver.redrive("a") is RedriveOutcome.ALREADY_REDRIVEN, "the operator sees a redriven order"
    assert queue.messages == []


def test_a_failed_send_undoes_the_redrive(redriver: Redriver, repository: Repository, queue: Queue) -> None:
    dead_lettered(repository, "a")
    queue.unavailable = True
    assert redriver.redrive("a") is RedriveOutcome.NOT_QUEUED

    order = repository.get("a")
    failure = repository.get_failure("a")
    assert order is not None
    assert failure is not None
    assert (order["status"], order["attempts"], order["redrive_count"]) == ("DEAD_LETTERED", 3, 1)
    assert order["history"][-1] == {"status": "DEAD_LETTERED", "at": LATER, "by": "operator"}
    assert failure["redrives"][0]["undone"] == {
        "at": LATER,
        "reason": "redrive undone: the order could not be queued (EndpointConnectionError)",
    }
    assert (list(repository.open_order_ids()), list(repository.dead_lettered_order_ids())) == ([], [("a", NOW)])

    # The operator tries again later: round 2, queued.
    queue.unavailable = False
    assert redriver.redrive("a") is RedriveOutcome.REDRIVEN
    assert queue.messages == [queue_message("a", 2, 3)]


def test_an_undo_after_the_order_moved_on_changes_nothing(repository: Repository) -> None:
    dead_lettered(repository, "a")
    repository.redrive("a", 0, LATER)
    repository.mark_fulfilled("a", 4, LATER)
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
    redriver: Redriver, repository: Repository, queue: Queue, prepare: Any, expected: RedriveOutcome
) -> None:
    prepare(repository)
    assert redriver.redrive("a") is expected
    assert repository.redrive("a", 0, LATER) is expected
    assert queue.messages == []
    assert repository.get_failure("a") is None


@pytest.mark.unit
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


@pytest.mark.unit
def test_the_workflows_message_is_the_plain_one() -> None:
    assert json.loads(queue_message("a")) == {"order_id": "a"}
