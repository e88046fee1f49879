from __future__ import annotations

import random

import pytest

from chalicelib.fulfillment import Fulfillment
from chalicelib.repository import OrderRepository
from chalicelib.rules import Verdict
from tests.conftest import make_order, sqs_event, sqs_record

pytestmark = pytest.mark.memory_and_dynamodb

NOW = "2026-11-25T10:00:00.000Z"


def pending(repository: OrderRepository, *order_ids: str) -> None:
    for order_id in order_ids:
        repository.create(make_order(order_id), NOW)
        repository.record_verdict(order_id, "exec", Verdict(True), NOW)


def status(repository: OrderRepository, order_id: str) -> str:
    item = repository.get(order_id)
    assert item is not None
    return str(item["status"])


def test_success_rate_one_fulfills_at_the_first_attempt(repository: OrderRepository) -> None:
    pending(repository, "a")
    result = Fulfillment(repository, 1.0, random.Random(1).random).handle_batch(sqs_event(sqs_record("a")))
    assert result == {"batchItemFailures": []}
    assert status(repository, "a") == "FULFILLED"


def test_success_rate_zero_fails_and_reports_the_message(repository: OrderRepository) -> None:
    pending(repository, "a")
    result = Fulfillment(repository, 0.0, random.Random(1).random).handle_batch(
        sqs_event(sqs_record("a", receive_count=2))
    )
    assert result == {"batchItemFailures": [{"itemIdentifier": "msg-a-2"}]}
    item = repository.get("a")
    assert item is not None
    assert (item["status"], item["attempts"]) == ("FAILED", 2)
    assert "attempt 2" in item["last_error"]


def test_seeded_randomness_decides_each_attempt(repository: OrderRepository) -> None:
    ids = [f"o{i}" for i in range(10)]
    pending(repository, *ids)
    rolls = random.Random(0)
    expected_failures = {order_id for order_id in ids if rolls.random() >= 0.7}
    result = Fulfillment(repository, 0.7, random.Random(0).random).handle_batch(
        sqs_event(*(sqs_record(i) for i in ids))
    )
    failed = {entry["itemIdentifier"].split("-")[1] for entry in result["batchItemFailures"]}
    assert failed == expected_failures
    assert 0 < len(failed) < len(ids), "seed 0 gives a mix; pick another seed if the rate changes"
    for order_id in ids:
        assert status(repository, order_id) == ("FAILED" if order_id in failed else "FULFILLED")


def test_duplicate_delivery_never_fulfills_twice(repository: OrderRepository) -> None:
    pending(repository, "a")
    fulfillment = Fulfillment(repository, 1.0, random.Random(1).random)
    fulfillment.handle_batch(sqs_event(sqs_record("a", message_id="m1")))
    first = repository.get("a")
    result = fulfillment.handle_batch(sqs_event(sqs_record("a", message_id="m2"), sqs_record("a", message_id="m3")))
    assert result == {"batchItemFailures": []}
    assert repository.get("a") == first, "the duplicates changed nothing"


def test_a_late_failure_never_undoes_fulfillment(repository: OrderRepository) -> None:
    pending(repository, "a")
    Fulfillment(repository, 1.0, random.Random(1).random).handle_batch(sqs_event(sqs_record("a")))
    result = Fulfillment(repository, 0.0, random.Random(1).random).handle_batch(
        sqs_event(sqs_record("a", receive_count=2))
    )
    assert result == {"batchItemFailures": []}, "a terminal order's message is dropped, not retried"
    assert status(repository, "a") == "FULFILLED"


def test_one_crashing_record_does_not_fail_its_neighbours(repository: OrderRepository) -> None:
    pending(repository, "a", "c")
    broken = sqs_record("b")
    broken["body"] = "{not json"
    crashing = sqs_record("boom")
    fulfillment = Fulfillment(repository, 1.0, random.Random(1).random)
    original = repository.mark_fulfilled

    def crash_on_boom(order_id: str, attempt: int, now: str) -> bool:
        if order_id == "boom":
            raise RuntimeError("handler crashed")
        return original(order_id, attempt, now)

    repository.mark_fulfilled = crash_on_boom  # type: ignore[method-assign]
    result = fulfillment.handle_batch(sqs_event(sqs_record("a"), broken, crashing, sqs_record("c")))
    assert result == {"batchItemFailures": [{"itemIdentifier": "msg-boom-1"}]}
    assert status(repository, "a") == status(repository, "c") == "FULFILLED"
