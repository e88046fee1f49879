from __future__ import annotations

import pytest

from chalicelib.dead_letter import DeadLetterHandler
from chalicelib.repository import RECONCILER, OrderRepository
from chalicelib.rules import Verdict
from chalicelib.states import OrderStatus
from tests.conftest import make_order, sqs_event, sqs_record

pytestmark = pytest.mark.memory_and_dynamodb

NOW = "2026-11-25T10:00:00.000Z"


def failed(repository: OrderRepository, order_id: str, attempts: int) -> None:
    repository.create(make_order(order_id), NOW)
    repository.record_verdict(order_id, "exec", Verdict(True), NOW)
    for attempt in range(1, attempts + 1):
        repository.record_failed_attempt(order_id, attempt, f"failure {attempt}", NOW)


def test_records_the_failure_and_dead_letters_the_order(repository: OrderRepository) -> None:
    failed(repository, "a", 3)
    record = sqs_record("a", receive_count=1)
    result = DeadLetterHandler(repository, clock=lambda: NOW).handle_batch(sqs_event(record))
    assert result == {"batchItemFailures": []}
    failure = repository.get_failure("a")
    assert failure is not None
    assert failure["original_message"] == record["body"]
    assert failure["attempts"] == 3
    assert failure["last_error"] == "failure 3"
    assert failure["message_id"] == record["messageId"]
    assert failure["queued_at"] == "2025-11-24T16:00:00.000Z"
    assert failure["dead_lettered_at"] == NOW
    order = repository.get("a")
    assert order is not None
    assert order["status"] == "DEAD_LETTERED"


def test_a_repeated_dead_letter_changes_nothing(repository: OrderRepository) -> None:
    failed(repository, "a", 3)
    handler = DeadLetterHandler(repository, clock=lambda: NOW)
    handler.handle_batch(sqs_event(sqs_record("a")))
    first = (repository.get("a"), repository.get_failure("a"))
    later = DeadLetterHandler(repository, clock=lambda: "2026-11-25T11:00:00.000Z")
    assert later.handle_batch(sqs_event(sqs_record("a", message_id="again"))) == {"batchItemFailures": []}
    assert (repository.get("a"), repository.get_failure("a")) == first


def test_a_fulfilled_order_gets_no_failure_record(repository: OrderRepository) -> None:
    repository.create(make_order("a"), NOW)
    repository.record_verdict("a", "exec", Verdict(True), NOW)
    repository.mark_fulfilled("a", 1, NOW)
    DeadLetterHandler(repository).handle_batch(sqs_event(sqs_record("a"), sqs_record("unknown")))
    assert repository.get_failure("a") is None
    assert repository.get_failure("unknown") is None


def test_a_message_moved_before_its_round_failed_is_left_to_the_reconciler(repository: OrderRepository) -> None:
    """Invariant 7: two real failures and a receive spent by a timed-out invocation; SQS moved the
    message to the DLQ, but the order is not dead-lettered: it stays open for the reconciler."""
    failed(repository, "a", 2)
    handler = DeadLetterHandler(repository, clock=lambda: NOW, max_receive_count=3)
    assert handler.handle_batch(sqs_event(sqs_record("a"))) == {"batchItemFailures": []}
    order = repository.get("a")
    assert order is not None
    assert order["status"] == "FAILED"
    assert repository.get_failure("a") is None


def test_a_round_whose_attempts_failed_is_dead_lettered(repository: OrderRepository) -> None:
    failed(repository, "a", 3)
    DeadLetterHandler(repository, clock=lambda: NOW, max_receive_count=3).handle_batch(sqs_event(sqs_record("a")))
    order = repository.get("a")
    assert order is not None
    assert order["status"] == "DEAD_LETTERED"


def test_an_order_the_reconciler_took_over_each_time_is_dead_lettered_at_last(repository: OrderRepository) -> None:
    """Persistent errors: invocations that never conclude, queued again by the reconciler
    maxReceiveCount times in the round, are dead-lettered after all."""
    failed(repository, "a", 1)
    for minute in range(3):
        current = repository.get("a")
        assert current is not None
        claimed_at = f"2026-11-25T10:0{minute + 1}:00.000Z"
        assert repository.claim_unchanged("a", OrderStatus.FAILED, current["updated_at"], claimed_at, RECONCILER)
    DeadLetterHandler(repository, clock=lambda: NOW, max_receive_count=3).handle_batch(sqs_event(sqs_record("a")))
    order = repository.get("a")
    assert order is not None
    assert order["status"] == "DEAD_LETTERED"
