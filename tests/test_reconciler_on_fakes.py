"""The reconciler's decisions on the in-memory store, workflow starter and queue: which orders are
stuck, what it does to each, and that one failure holds back no other. tests/test_reconciler.py
runs them on moto, with the real workflow and queue, and checks the DynamoDB requests."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.errors import TransientError
from chalicelib.fulfillment import Fulfillment
from chalicelib.reconciler import Action, Reconciler
from chalicelib.redrive import queue_message
from chalicelib.repository import FailureRecord, RedriveOutcome, index_shard
from chalicelib.rules import Verdict
from chalicelib.states import OrderStatus
from dofs_config.stage import Stage
from tests.conftest import make_order, sqs_event, sqs_record
from tests.fakes import InMemoryOrderRepository, InMemoryQueue, RecordingWorkflow

pytestmark = pytest.mark.unit

THRESHOLD_SECONDS = 900
LONG_AGO = "2026-11-25T09:00:00.000Z"  # an hour before NOW: past the threshold
RECENTLY = "2026-11-25T09:59:00.000Z"  # a minute before NOW: within it
NOW = "2026-11-25T10:00:00.000Z"


@pytest.fixture
def store(stage: Stage) -> InMemoryOrderRepository:
    return InMemoryOrderRepository(stage.open_orders_index_shards)


@pytest.fixture
def workflow() -> RecordingWorkflow:
    return RecordingWorkflow()


@pytest.fixture
def queue() -> InMemoryQueue:
    return InMemoryQueue()


@pytest.fixture
def reconciler(
    store: InMemoryOrderRepository,
    workflow: RecordingWorkflow,
    queue: InMemoryQueue,
    stage: Stage,
    app_environment: None,
) -> Reconciler:
    return Reconciler(store, workflow, queue, THRESHOLD_SECONDS, stage.max_receive_count, clock=lambda: NOW)


def history(store: InMemoryOrderRepository, order_id: str) -> list[dict[str, Any]]:
    item = store.get(order_id)
    assert item is not None
    return [{k: v for k, v in entry.items() if k != "at"} for entry in item["history"]]


def pending(store: InMemoryOrderRepository, order_id: str, at: str, failed_attempts: int = 0) -> None:
    store.create(make_order(order_id), at)
    assert store.record_verdict(order_id, "exec-lost", Verdict(True), at)
    for attempt in range(1, failed_attempts + 1):
        store.record_failed_attempt(order_id, attempt, f"error {attempt}", at)


def test_an_accepted_order_whose_execution_was_lost_is_started_again(
    reconciler: Reconciler, store: InMemoryOrderRepository, workflow: RecordingWorkflow
) -> None:
    store.create(make_order("lost-execution"), LONG_AGO)
    store.create(make_order("just-accepted"), RECENTLY)

    report = reconciler.run()

    assert (report.found, dict(report.actions)) == (1, {Action.RESTARTED: 1})
    assert workflow.started == [make_order("lost-execution")], "the stored order, as the API started it"
    assert history(store, "lost-execution") == [{"status": "ACCEPTED"}, {"status": "ACCEPTED", "by": "reconciler"}]
    assert history(store, "just-accepted") == [{"status": "ACCEPTED"}], "within the threshold: left alone"


def test_an_order_whose_message_was_lost_is_queued_again_counting_its_attempts(
    reconciler: Reconciler, store: InMemoryOrderRepository, queue: InMemoryQueue
) -> None:
    pending(store, "lost-pending", LONG_AGO)
    pending(store, "lost-failed", LONG_AGO, failed_attempts=2)

    report = reconciler.run()

    assert dict(report.actions) == {Action.REQUEUED: 2}
    assert sorted(queue.messages) == sorted([queue_message("lost-pending"), queue_message("lost-failed", 0, 2)])
    assert history(store, "lost-failed")[-1] == {"status": "FAILED", "by": "reconciler"}


def test_the_queued_again_message_continues_the_attempt_count(
    reconciler: Reconciler, store: InMemoryOrderRepository, queue: InMemoryQueue
) -> None:
    pending(store, "lost-after-two", LONG_AGO, failed_attempts=2)
    reconciler.run()
    [body] = queue.messages
    Fulfillment(store, 0.0, lambda: 0.5, clock=lambda: NOW).handle_batch(
        sqs_event({**sqs_record("lost-after-two", receive_count=1), "body": body})
    )
    item = store.get("lost-after-two")
    assert item is not None
    assert (item["status"], item["attempts"], item["history"][-1]["attempt"]) == ("FAILED", 3, 3)


def test_an_order_with_its_attempts_used_up_is_dead_lettered_by_the_reconciler(
    reconciler: Reconciler, store: InMemoryOrderRepository, queue: InMemoryQueue, stage: Stage
) -> None:
    pending(store, "lost-dead-letter", LONG_AGO, failed_attempts=stage.max_receive_count)

    report = reconciler.run()

    assert dict(report.actions) == {Action.DEAD_LETTERED: 1}
    assert queue.messages == []
    assert history(store, "lost-dead-letter")[-1] == {"status": "DEAD_LETTERED", "by": "reconciler"}
    failure = store.get_failure("lost-dead-letter")
    assert failure is not None
    assert (failure["source"], failure["attempts"], failure["last_error"]) == (
        "reconciler",
        stage.max_receive_count,
        f"error {stage.max_receive_count}",
    )
    assert list(store.dead_lettered_order_ids()) == [("lost-dead-letter", NOW)]
    assert reconciler.run().found == 0, "terminal now: out of the open-orders index"


def test_a_redriven_order_whose_message_was_lost_gets_the_rest_of_its_round(
    reconciler: Reconciler, store: InMemoryOrderRepository, queue: InMemoryQueue, stage: Stage
) -> None:
    pending(store, "redriven", LONG_AGO, failed_attempts=stage.max_receive_count)
    store.dead_letter(
        FailureRecord("redriven", "fulfillment", queue_message("redriven"), 3, "error 3", None, LONG_AGO), LONG_AGO
    )
    assert store.redrive("redriven", 0, LONG_AGO) is RedriveOutcome.REDRIVEN
    assert store.record_failed_attempt("redriven", stage.max_receive_count + 1, "error 4", LONG_AGO) is not None

    assert dict(reconciler.run().actions) == {Action.REQUEUED: 1}
    assert queue.messages == [queue_message("redriven", 1, stage.max_receive_count + 1)]


def test_a_transition_racing_the_reconciler_wins(
    reconciler: Reconciler, store: InMemoryOrderRepository, queue: InMemoryQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fulfillment moves the order between the reconciler's read and its claim."""
    pending(store, "racing", LONG_AGO)
    real_get = store.get

    def get_then_fulfill(order_id: str) -> Any:
        item = real_get(order_id)
        assert store.mark_fulfilled(order_id, 1, NOW)
        return item

    monkeypatch.setattr(store, "get", get_then_fulfill)
    report = reconciler.run()
    monkeypatch.setattr(store, "get", real_get)

    assert dict(report.actions) == {Action.LEFT_ALONE: 1}
    assert queue.messages == []
    assert [entry["status"] for entry in history(store, "racing")] == ["ACCEPTED", "PENDING", "FULFILLED"]


def test_an_order_open_long_but_updated_recently_is_not_stuck(
    reconciler: Reconciler, store: InMemoryOrderRepository
) -> None:
    store.create(make_order("moving"), LONG_AGO)
    assert store.record_verdict("moving", "exec", Verdict(True), RECENTLY)

    report = reconciler.run()

    assert (report.found, dict(report.actions)) == (0, {})
    assert history(store, "moving") == [{"status": "ACCEPTED"}, {"status": "PENDING"}]


def test_one_order_failing_does_not_hold_back_the_others(
    reconciler: Reconciler, store: InMemoryOrderRepository, workflow: RecordingWorkflow, queue: InMemoryQueue
) -> None:
    store.create(make_order("cannot-restart"), LONG_AGO)
    pending(store, "lost-message", LONG_AGO)
    workflow.unavailable = True

    report = reconciler.run()

    assert dict(report.actions) == {Action.ERRORED: 1, Action.REQUEUED: 1}
    assert queue.messages == [queue_message("lost-message")]
    item = store.get("cannot-restart")
    assert item is not None
    assert (item["status"], item["updated_at"]) == (OrderStatus.ACCEPTED, NOW), "claimed: found a threshold later"


def test_an_order_that_cannot_be_read_or_queued_does_not_hold_back_the_others(
    reconciler: Reconciler, store: InMemoryOrderRepository, queue: InMemoryQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    pending(store, "unreadable", LONG_AGO)
    pending(store, "readable", LONG_AGO)
    real_get = store.get

    def get(order_id: str) -> Any:
        if order_id == "unreadable":
            raise TransientError("throttled")
        return real_get(order_id)

    monkeypatch.setattr(store, "get", get)
    assert dict(reconciler.run().actions) == {Action.ERRORED: 1, Action.REQUEUED: 1}
    assert queue.messages == [queue_message("readable")]

    monkeypatch.setattr(store, "get", real_get)
    queue.unavailable = True
    assert dict(reconciler.run().actions) == {Action.ERRORED: 1}, "unreadable is found again; its send fails"


def test_stuck_orders_are_found_in_every_shard(
    reconciler: Reconciler, store: InMemoryOrderRepository, queue: InMemoryQueue, stage: Stage
) -> None:
    by_shard: dict[str, str] = {}
    number = 0
    while len(by_shard) < stage.open_orders_index_shards:
        by_shard.setdefault(index_shard(f"stuck-{number}", stage.open_orders_index_shards), f"stuck-{number}")
        number += 1
    for order_id in by_shard.values():
        pending(store, order_id, LONG_AGO)

    report = reconciler.run()

    assert (report.found, dict(report.actions)) == (len(by_shard), {Action.REQUEUED: len(by_shard)})
    assert sorted(queue.messages) == sorted(queue_message(order_id) for order_id in by_shard.values())
