"""The reconciler: which orders are stuck, what it does to each (recorded in the order's history
with `by: reconciler`), each action losing to a transition of the pipeline that races it, and one
failure holding back no other. Each test runs on the in-memory store, workflow starter and queue
(unit) and on moto with the real state machine and queue (aws); those marked `aws` check what only
the real ones have (an execution running alongside a restart, the DynamoDB requests)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from chalicelib.errors import TransientError
from chalicelib.fulfillment import Fulfillment
from chalicelib.reconciler import Action, Reconciler
from chalicelib.redrive import queue_message
from chalicelib.repository import FailureRecord, RedriveOutcome, index_shard
from chalicelib.rules import Verdict
from chalicelib.states import OrderStatus
from dofs_config.stage import Stage
from tests.conftest import DynamoDBCalls, make_order, sqs_event, sqs_record, wait_for_executions

if TYPE_CHECKING:
    from chalicelib.repository import DynamoOrderRepository
    from tests.fakes import InMemoryOrderRepository, InMemoryQueue, RecordingWorkflow
    from tests.ports import SqsQueue, StepFunctionsStarter

    Queue = InMemoryQueue | SqsQueue
    Repository = InMemoryOrderRepository | DynamoOrderRepository  # OrderRepository, and the index of dead letters
    Workflow = RecordingWorkflow | StepFunctionsStarter

pytestmark = pytest.mark.memory_and_dynamodb

THRESHOLD_SECONDS = 900
LONG_AGO = "2026-11-25T09:00:00.000Z"  # an hour before NOW: past the threshold
RECENTLY = "2026-11-25T09:59:00.000Z"  # a minute before NOW: within it
NOW = "2026-11-25T10:00:00.000Z"


@pytest.fixture
def reconciler(repository: Repository, workflow: Workflow, queue: Queue, stage: Stage) -> Reconciler:
    return Reconciler(repository, workflow, queue, THRESHOLD_SECONDS, stage.max_receive_count, clock=lambda: NOW)


def history(repository: Repository, order_id: str) -> list[dict[str, Any]]:
    item = repository.get(order_id)
    assert item is not None
    return [{k: v for k, v in entry.items() if k != "at"} for entry in item["history"]]


def pending(repository: Repository, order_id: str, at: str, failed_attempts: int = 0) -> None:
    repository.create(make_order(order_id), at)
    assert repository.record_verdict(order_id, "exec-lost", Verdict(True), at)
    for attempt in range(1, failed_attempts + 1):
        repository.record_failed_attempt(order_id, attempt, f"error {attempt}", at)


def test_an_accepted_order_whose_execution_was_lost_is_started_again(
    reconciler: Reconciler, repository: Repository, workflow: Workflow
) -> None:
    repository.create(make_order("lost-execution"), LONG_AGO)
    repository.create(make_order("just-accepted"), RECENTLY)

    report = reconciler.run()

    assert (report.found, dict(report.actions)) == (1, {Action.RESTARTED: 1})
    assert workflow.started == [make_order("lost-execution")], "the stored order, as the API started it"
    # On moto the restarted execution then runs on (PENDING, queued): the next test.
    assert history(repository, "lost-execution")[:2] == [
        {"status": "ACCEPTED"},
        {"status": "ACCEPTED", "by": "reconciler"},
    ]
    assert history(repository, "just-accepted") == [{"status": "ACCEPTED"}], "within the threshold: left alone"


@pytest.mark.aws
def test_a_restart_racing_the_first_execution_queues_the_order_once(
    reconciler: Reconciler, repository: DynamoOrderRepository, workflow: StepFunctionsStarter, queue: SqsQueue
) -> None:
    """The first execution was slow, not lost: it runs alongside the restarted one. Either way the
    real state machine takes the order on to PENDING and queues it."""
    order = make_order("slow-execution")
    repository.create(order, LONG_AGO)
    workflow.start(order)
    reconciler.run()
    wait_for_executions(workflow.state_machine_arn)

    assert [json.loads(body)["order_id"] for body in queue.messages] == ["slow-execution"]
    item = repository.get("slow-execution")
    assert item is not None
    assert item["status"] == OrderStatus.PENDING


def test_an_order_whose_message_was_lost_is_queued_again_counting_its_attempts(
    reconciler: Reconciler, repository: Repository, queue: Queue
) -> None:
    pending(repository, "lost-pending", LONG_AGO)
    pending(repository, "lost-failed", LONG_AGO, failed_attempts=2)

    report = reconciler.run()

    assert dict(report.actions) == {Action.REQUEUED: 2}
    assert sorted(queue.messages) == sorted([queue_message("lost-pending"), queue_message("lost-failed", 0, 2)])
    assert history(repository, "lost-failed")[-1] == {"status": "FAILED", "by": "reconciler"}


def test_a_queued_again_order_counts_its_attempts_on(
    reconciler: Reconciler, repository: Repository, queue: Queue
) -> None:
    """The new message starts at receive count 1; its attempts continue the order's count."""
    pending(repository, "lost-after-two", LONG_AGO, failed_attempts=2)

    reconciler.run()

    [body] = queue.messages
    assert body == queue_message("lost-after-two", 0, 2)
    Fulfillment(repository, 0.0, lambda: 0.5, clock=lambda: NOW).handle_batch(
        sqs_event({**sqs_record("lost-after-two", receive_count=1), "body": body})
    )
    item = repository.get("lost-after-two")
    assert item is not None
    assert (item["status"], item["attempts"], item["history"][-1]["attempt"]) == ("FAILED", 3, 3)


def test_an_order_with_its_attempts_used_up_is_dead_lettered_by_the_reconciler(
    reconciler: Reconciler, repository: Repository, queue: Queue, stage: Stage
) -> None:
    pending(repository, "lost-dead-letter", LONG_AGO, failed_attempts=stage.max_receive_count)

    report = reconciler.run()

    assert dict(report.actions) == {Action.DEAD_LETTERED: 1}
    assert queue.messages == []
    assert history(repository, "lost-dead-letter")[-1] == {"status": "DEAD_LETTERED", "by": "reconciler"}
    failure = repository.get_failure("lost-dead-letter")
    assert failure is not None
    assert (failure["source"], failure["attempts"], failure["last_error"]) == (
        "reconciler",
        stage.max_receive_count,
        f"error {stage.max_receive_count}",
    )
    assert list(repository.dead_lettered_order_ids()) == [("lost-dead-letter", NOW)]
    assert reconciler.run().found == 0, "terminal now: out of the open-orders index, never found again"


def test_attempt_numbers_spent_on_throttling_do_not_use_up_the_round(
    reconciler: Reconciler, repository: Repository, queue: Queue, stage: Stage
) -> None:
    """Invariant 7: a throttled attempt takes a number but fails nothing. An order whose last
    attempt number reached maxReceiveCount after fewer real failures is queued again."""
    repository.create(make_order("throttled-between"), LONG_AGO)
    assert repository.record_verdict("throttled-between", "exec-lost", Verdict(True), LONG_AGO)
    # Attempt 1 was throttled (no FAILED entry); attempts 2 .. maxReceiveCount failed for real.
    for attempt in range(2, stage.max_receive_count + 1):
        repository.record_failed_attempt("throttled-between", attempt, f"error {attempt}", LONG_AGO)

    report = reconciler.run()

    assert dict(report.actions) == {Action.REQUEUED: 1}
    assert queue.messages == [queue_message("throttled-between", 0, stage.max_receive_count)]


def test_a_redriven_order_whose_message_was_lost_gets_the_rest_of_its_round(
    reconciler: Reconciler, repository: Repository, queue: Queue, stage: Stage
) -> None:
    """Three attempts, dead-lettered, redriven; one attempt of the new round, then its message lost:
    queued again in round 1 (not dead-lettered: the round has attempts left)."""
    pending(repository, "redriven", LONG_AGO, failed_attempts=stage.max_receive_count)
    repository.dead_letter(
        FailureRecord("redriven", "fulfillment", queue_message("redriven"), 3, "error 3", None, LONG_AGO), LONG_AGO
    )
    assert repository.redrive("redriven", 0, LONG_AGO) is RedriveOutcome.REDRIVEN
    assert repository.record_failed_attempt("redriven", stage.max_receive_count + 1, "error 4", LONG_AGO) is not None

    report = reconciler.run()

    assert dict(report.actions) == {Action.REQUEUED: 1}
    assert queue.messages == [queue_message("redriven", 1, stage.max_receive_count + 1)]


def test_a_transition_racing_the_reconciler_wins(
    reconciler: Reconciler, repository: Repository, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fulfillment moves the order between the reconciler's read and its claim."""
    pending(repository, "racing", LONG_AGO)
    real_get = repository.get

    def get_then_fulfill(order_id: str) -> Any:
        item = real_get(order_id)
        assert repository.mark_fulfilled(order_id, 1, NOW)
        return item

    monkeypatch.setattr(repository, "get", get_then_fulfill)
    report = reconciler.run()
    monkeypatch.setattr(repository, "get", real_get)

    assert dict(report.actions) == {Action.LEFT_ALONE: 1}
    assert queue.messages == []
    assert [entry["status"] for entry in history(repository, "racing")] == ["ACCEPTED", "PENDING", "FULFILLED"]


def test_two_claims_on_the_same_sighting_cannot_both_hold(repository: Repository) -> None:
    pending(repository, "claimed", LONG_AGO)
    assert repository.claim_unchanged("claimed", OrderStatus.PENDING, LONG_AGO, NOW, "reconciler")
    assert not repository.claim_unchanged("claimed", OrderStatus.PENDING, LONG_AGO, NOW, "reconciler")


def test_an_order_open_long_but_updated_recently_is_not_stuck(reconciler: Reconciler, repository: Repository) -> None:
    """Open since before the cutoff (the index's key), but moved on within the threshold."""
    repository.create(make_order("moving"), LONG_AGO)
    assert repository.record_verdict("moving", "exec", Verdict(True), RECENTLY)

    report = reconciler.run()

    assert (report.found, dict(report.actions)) == (0, {})
    assert history(repository, "moving") == [{"status": "ACCEPTED"}, {"status": "PENDING"}]


def test_one_order_failing_does_not_hold_back_the_others(
    reconciler: Reconciler, repository: Repository, workflow: Workflow, queue: Queue
) -> None:
    repository.create(make_order("cannot-restart"), LONG_AGO)
    pending(repository, "lost-message", LONG_AGO)
    workflow.unavailable = True

    report = reconciler.run()

    assert dict(report.actions) == {Action.ERRORED: 1, Action.REQUEUED: 1}
    assert queue.messages == [queue_message("lost-message")]
    item = repository.get("cannot-restart")
    assert item is not None
    assert (item["status"], item["updated_at"]) == (OrderStatus.ACCEPTED, NOW), "claimed: found a threshold later"


def test_an_order_that_cannot_be_read_or_queued_does_not_hold_back_the_others(
    reconciler: Reconciler, repository: Repository, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    pending(repository, "unreadable", LONG_AGO)
    pending(repository, "readable", LONG_AGO)
    real_get = repository.get

    def get(order_id: str) -> Any:
        if order_id == "unreadable":
            raise TransientError("throttled")
        return real_get(order_id)

    monkeypatch.setattr(repository, "get", get)
    report = reconciler.run()
    assert (report.found, dict(report.actions)) == (2, {Action.ERRORED: 1, Action.REQUEUED: 1})
    assert queue.messages == [queue_message("readable")]

    monkeypatch.setattr(repository, "get", real_get)
    queue.unavailable = True
    assert dict(reconciler.run().actions) == {Action.ERRORED: 1}, "unreadable is found again; its send fails"


def _one_order_per_shard(shards: int) -> list[str]:
    """Order ids, the first found for each shard of the open-orders index."""
    by_shard: dict[str, str] = {}
    number = 0
    while len(by_shard) < shards:
        by_shard.setdefault(index_shard(f"stuck-{number}", shards), f"stuck-{number}")
        number += 1
    return sorted(by_shard.values())


def test_stuck_orders_are_found_in_every_shard(
    reconciler: Reconciler, repository: Repository, queue: Queue, stage: Stage
) -> None:
    order_ids = _one_order_per_shard(stage.open_orders_index_shards)
    for order_id in order_ids:
        pending(repository, order_id, LONG_AGO)

    report = reconciler.run()

    assert (report.found, dict(report.actions)) == (len(order_ids), {Action.REQUEUED: len(order_ids)})
    assert sorted(queue.messages) == sorted(queue_message(order_id) for order_id in order_ids)


@pytest.mark.aws
def test_a_stuck_order_is_found_in_every_shard_by_queries_never_a_scan(
    reconciler: Reconciler,
    repository: DynamoOrderRepository,
    stage: Stage,
    record_dynamodb_calls: Callable[[Any], DynamoDBCalls],
) -> None:
    order_ids = _one_order_per_shard(stage.open_orders_index_shards)
    for order_id in order_ids:
        pending(repository, order_id, LONG_AGO)
    calls = record_dynamodb_calls(repository)

    report = reconciler.run()

    assert (report.found, dict(report.actions)) == (len(order_ids), {Action.REQUEUED: len(order_ids)})
    assert {operation for operation, _ in calls} == {"Query", "GetItem", "UpdateItem"}, "never a Scan"
    shards = {params["ExpressionAttributeValues"][":shard"]["S"] for operation, params in calls if operation == "Query"}
    assert shards == {str(shard) for shard in range(stage.open_orders_index_shards)}
    reads = [params for operation, params in calls if operation == "GetItem"]
    assert all(params["ConsistentRead"] for params in reads), "acts on what the table says now"
