"""An operator's redrive on the in-memory store and queue: the new round, the one failure record,
the race between operators, and the undo when the message cannot be sent. tests/test_redrive.py
runs them on moto, with threads racing for real."""

from __future__ import annotations

import random
from typing import Any

import pytest

from chalicelib.dead_letter import DeadLetterHandler
from chalicelib.fulfillment import Fulfillment
from chalicelib.redrive import Redriver, queue_message
from chalicelib.repository import RedriveOutcome
from chalicelib.rules import Verdict
from tests.conftest import make_order, sqs_event, sqs_record
from tests.fakes import InMemoryOrderRepository, InMemoryQueue

pytestmark = pytest.mark.unit

NOW = "2026-11-25T10:00:00.000Z"
LATER = "2026-11-25T11:00:00.000Z"


@pytest.fixture
def store(app_environment: None) -> InMemoryOrderRepository:
    return InMemoryOrderRepository()


@pytest.fixture
def queue() -> InMemoryQueue:
    return InMemoryQueue()


@pytest.fixture
def redriver(store: InMemoryOrderRepository, queue: InMemoryQueue) -> Redriver:
    return Redriver(store, queue, InMemoryQueue.QUEUE_URL, clock=lambda: LATER)


def message(order_id: str, receive_count: int, body: str | None = None) -> dict[str, Any]:
    record = sqs_record(order_id, receive_count=receive_count)
    if body is not None:
        record["body"] = body
    return record


def fail_three_times(store: InMemoryOrderRepository, order_id: str, body: str | None = None, at: str = NOW) -> None:
    """Three failed attempts of one message, then the DLQ handler: as the pipeline dead-letters."""
    fulfillment = Fulfillment(store, 0.0, random.Random(1).random, clock=lambda: at)
    for attempt in (1, 2, 3):
        fulfillment.handle_batch(sqs_event(message(order_id, attempt, body)))
    dead_letter = sqs_record(order_id, message_id=f"dlq-{order_id}-{body is not None}")
    if body is not None:
        dead_letter["body"] = body
    assert DeadLetterHandler(store, clock=lambda: at).handle_batch(sqs_event(dead_letter)) == {"batchItemFailures": []}


def dead_lettered(store: InMemoryOrderRepository, order_id: str) -> None:
    store.create(make_order(order_id), NOW)
    store.record_verdict(order_id, "exec", Verdict(True), NOW)
    fail_three_times(store, order_id)


def test_a_redrive_queues_the_order_again_and_records_it(
    redriver: Redriver, store: InMemoryOrderRepository, queue: InMemoryQueue
) -> None:
    dead_lettered(store, "a")
    assert list(store.dead_lettered_order_ids()) == [("a", NOW)]

    assert redriver.redrive("a") is RedriveOutcome.REDRIVEN

    order = store.get("a")
    failure = store.get_failure("a")
    assert order is not None
    assert failure is not None
    assert (order["status"], order["attempts"], order["redrive_count"]) == ("PENDING", 3, 1)
    assert order["history"][-1] == {"status": "PENDING", "at": LATER, "by": "operator"}
    assert failure["redrives"] == [{"at": LATER, "by": "operator", "round": 1, "attempts_before": 3}]
    assert queue.messages == [queue_message("a", 1, 3)]
    assert (list(store.open_order_ids()), list(store.dead_lettered_order_ids())) == ([("a", LATER)], [])


def test_the_new_round_counts_on_and_a_second_dead_letter_updates_the_one_record(
    redriver: Redriver, store: InMemoryOrderRepository
) -> None:
    dead_lettered(store, "a")
    redriver.redrive("a")
    fail_three_times(store, "a", body=queue_message("a", 1, 3), at=LATER)

    order = store.get("a")
    failure = store.get_failure("a")
    assert order is not None
    assert failure is not None
    assert order["status"] == "DEAD_LETTERED"
    assert [entry["attempt"] for entry in order["history"] if entry["status"] == "FAILED"] == [1, 2, 3, 4, 5, 6]
    assert (failure["attempts"], failure["last_error"]) == (6, "simulated fulfillment failure on attempt 6")
    assert (failure["dead_lettered_at"], failure["first_dead_lettered_at"], failure["dead_letter_count"]) == (
        LATER,
        NOW,
        2,
    )
    assert list(store.dead_lettered_order_ids()) == [("a", LATER)], "listed once"
    assert list(store.open_order_ids()) == []


def test_a_stale_dead_letter_of_an_earlier_round_leaves_the_redriven_order_alone(
    redriver: Redriver, store: InMemoryOrderRepository
) -> None:
    dead_lettered(store, "a")
    redriver.redrive("a")
    DeadLetterHandler(store, clock=lambda: LATER).handle_batch(sqs_event(sqs_record("a", message_id="stale")))
    order = store.get("a")
    failure = store.get_failure("a")
    assert order is not None
    assert failure is not None
    assert order["status"] == "PENDING"
    assert (failure["dead_letter_count"], failure["message_id"]) == (1, "dlq-a-False")


def test_two_operators_who_saw_the_same_round_redrive_it_once(
    redriver: Redriver, store: InMemoryOrderRepository, queue: InMemoryQueue
) -> None:
    dead_lettered(store, "a")
    assert store.redrive("a", 0, LATER) is RedriveOutcome.REDRIVEN
    assert store.redrive("a", 0, LATER) is RedriveOutcome.ALREADY_REDRIVEN
    assert redriver.redrive("a") is RedriveOutcome.ALREADY_REDRIVEN, "the operator sees a redriven order"
    assert queue.messages == []


def test_a_failed_send_undoes_the_redrive_and_the_next_one_takes_round_two(
    redriver: Redriver, store: InMemoryOrderRepository, queue: InMemoryQueue
) -> None:
    dead_lettered(store, "a")
    queue.unavailable = True
    assert redriver.redrive("a") is RedriveOutcome.NOT_QUEUED

    order = store.get("a")
    failure = store.get_failure("a")
    assert order is not None
    assert failure is not None
    assert (order["status"], order["attempts"], order["redrive_count"]) == ("DEAD_LETTERED", 3, 1)
    assert order["history"][-1] == {"status": "DEAD_LETTERED", "at": LATER, "by": "operator"}
    assert failure["redrives"][0]["undone"]["reason"] == (
        "redrive undone: the order could not be queued (EndpointConnectionError)"
    )
    assert (list(store.open_order_ids()), list(store.dead_lettered_order_ids())) == ([], [("a", NOW)])

    queue.unavailable = False
    assert redriver.redrive("a") is RedriveOutcome.REDRIVEN
    assert queue.messages == [queue_message("a", 2, 3)]


def test_an_undo_after_the_order_moved_on_changes_nothing(store: InMemoryOrderRepository) -> None:
    dead_lettered(store, "a")
    store.redrive("a", 0, LATER)
    store.mark_fulfilled("a", 4, LATER)
    assert not store.undo_redrive("a", 1, 3, "late", LATER)
    order = store.get("a")
    assert order is not None
    assert order["status"] == "FULFILLED"


def test_only_a_dead_lettered_order_is_redriven(
    redriver: Redriver, store: InMemoryOrderRepository, queue: InMemoryQueue
) -> None:
    assert redriver.redrive("a") is RedriveOutcome.UNKNOWN_ORDER
    store.create(make_order("a"), NOW)
    assert redriver.redrive("a") is RedriveOutcome.NOT_DEAD_LETTERED
    assert store.redrive("a", 0, LATER) is RedriveOutcome.NOT_DEAD_LETTERED
    assert queue.messages == []
    assert store.get_failure("a") is None
