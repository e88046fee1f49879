"""A throttled order store never spends an attempt nor drops a dead letter: fulfillment hands the
message back unattempted, the dead-letter handler leaves its message to come back. On the fakes;
test_resilience.py does the same with DynamoDB on moto throttled."""

from __future__ import annotations

import pytest

from chalicelib.dead_letter import DeadLetterHandler
from chalicelib.fulfillment import Fulfillment
from chalicelib.rules import Verdict
from tests.conftest import make_order, sqs_event, sqs_record
from tests.fakes import InMemoryOrderRepository, RecordingRetryQueue

pytestmark = pytest.mark.unit

NOW = "2026-11-25T10:00:00.000Z"


@pytest.fixture
def store(app_environment: None) -> InMemoryOrderRepository:
    store = InMemoryOrderRepository()
    store.create(make_order("a"), NOW)
    assert store.record_verdict("a", "exec", Verdict(True), NOW)
    return store


@pytest.mark.parametrize("success_rate", [0.0, 1.0])
def test_a_throttled_store_spends_no_attempt(store: InMemoryOrderRepository, success_rate: float) -> None:
    retries = RecordingRetryQueue(3)
    fulfillment = Fulfillment(store, success_rate, lambda: 0.5, clock=lambda: NOW, retries=retries)
    store.unavailable = True
    assert fulfillment.handle_batch(sqs_event(sqs_record("a", receive_count=2))) == {"batchItemFailures": []}
    assert (retries.handed_back, retries.dead_lettered) == ([("msg-a-2", 1, False)], []), "receive 2 was no attempt"
    store.unavailable = False
    item = store.get("a")
    assert item is not None
    assert (item["status"], item["attempts"]) == ("PENDING", 0)


def test_a_throttled_store_leaves_the_dead_letter_to_come_back(store: InMemoryOrderRepository) -> None:
    handler = DeadLetterHandler(store, clock=lambda: NOW)
    store.unavailable = True
    assert handler.handle_batch(sqs_event(sqs_record("a"))) == {"batchItemFailures": [{"itemIdentifier": "msg-a-1"}]}
    store.unavailable = False
    assert handler.handle_batch(sqs_event(sqs_record("a"))) == {"batchItemFailures": []}
    failure = store.get_failure("a")
    assert failure is not None
    assert (failure["source"], failure["dead_letter_count"]) == ("fulfillment", 1)
