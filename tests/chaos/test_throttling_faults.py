"""The throttling faults, in the shapes AWS gives them: DynamoDB refuses a table's requests for
seconds at a time (botocore's retries meet every refusal), a transaction is cancelled with
ThrottlingError, StartExecution is refused "Rate exceeded"."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from chalicelib import runtime
from chalicelib.errors import TransientError
from chalicelib.rules import Verdict
from dofs_local.emulated import faults
from dofs_local.emulated.faults import FaultKind, FaultSettings
from dofs_local.emulated.pollers import QueuePoller
from tests.chaos.conftest import Inject
from tests.conftest import make_order
from tests.test_pollers import MESSAGE, RecordingQueue, source_of

pytestmark = pytest.mark.aws

NOW = "2026-11-25T10:00:00.000Z"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(faults, "monotonic", clock)
    return clock


def test_a_throttled_table_refuses_every_try_for_its_window(inject: Inject, clock: Clock) -> None:
    injector = inject(throttle_window=1.0)
    repository = runtime.repository()
    with pytest.raises(TransientError, match=r"ProvisionedThroughputExceeded|Throttling"):
        repository.get("a")
    # botocore tried 3 times: the first opened the window, the retries met it.
    assert injector.injected[FaultKind.THROTTLE_WINDOW] == 1, injector.figures()
    clock.now += faults.THROTTLE_WINDOW_SECONDS
    injector.settings = FaultSettings(seed=0)  # no new window: the table answers again
    assert repository.get("a") is None


def test_nothing_is_written_while_the_table_is_throttled(inject: Inject, clock: Clock) -> None:
    injector = inject(throttle_window=1.0)
    repository = runtime.repository()
    with pytest.raises(TransientError):
        repository.create(make_order("a"), NOW)
    clock.now += faults.THROTTLE_WINDOW_SECONDS
    injector.settings = FaultSettings(seed=0)
    assert repository.get("a") is None, "the refused write never reached the table"


def test_a_throttled_transaction_is_cancelled_with_throttling_error(inject: Inject, clock: Clock) -> None:
    from tests.test_resilience import failure_record

    repository = runtime.repository()
    repository.create(make_order("a"), NOW)
    repository.record_verdict("a", "exec", Verdict(True), NOW)
    inject(throttle_window=1.0)
    runtime.reset()  # clients built now carry the injector's hooks
    with pytest.raises(TransientError, match="TransactionCanceled"):
        runtime.repository().dead_letter(failure_record("a"), NOW)


def test_start_execution_is_refused_rate_exceeded_on_every_try(inject: Inject, resources: Any) -> None:
    from botocore.exceptions import ClientError

    injector = inject(start_execution_throttle=1.0)
    sfn = runtime._client("stepfunctions")
    with pytest.raises(ClientError, match="ThrottlingException"):
        sfn.start_execution(stateMachineArn=resources.state_machine_arn, name="e1", input="{}")
    assert injector.injected[FaultKind.START_EXECUTION_THROTTLE] == runtime.MAX_ATTEMPTS, "botocore retried it"
    assert sfn.list_executions(stateMachineArn=resources.state_machine_arn)["executions"] == [], "none started"


def test_a_refused_invocation_is_retried_within_the_visibility_timeout(
    inject: Inject, monkeypatch: pytest.MonkeyPatch
) -> None:
    injector = inject(lambda_throttle=1.0)
    refusals = iter([True, True, False])
    monkeypatch.setattr(injector, "invoke_throttled", lambda function_name: next(refusals))
    events: list[Any] = []
    queue = RecordingQueue(visibility_timeout=2)
    QueuePoller(queue, source_of(lambda event, context: events.append(event)), threading.Event())._deliver([MESSAGE])
    assert len(events) == 1, "taken on the third try, within the visibility timeout"
    assert queue.deleted == ["r-1"]


def test_an_invocation_refused_past_the_visibility_timeout_leaves_the_batch_to_come_back(inject: Inject) -> None:
    inject(lambda_throttle=1.0)
    events: list[Any] = []
    queue = RecordingQueue(visibility_timeout=0)
    QueuePoller(queue, source_of(lambda event, context: events.append(event)), threading.Event())._deliver([MESSAGE])
    assert events == []
    assert queue.deleted == [], "not deleted: it comes back after the visibility timeout, its receive counted"


def _dead_lettered(*failed_attempts: int, source: str = "fulfillment", last_error: str = "boom") -> Any:
    from dofs_local.scenarios.invariants import Snapshot

    history: list[dict[str, Any]] = [{"status": "PENDING", "at": "t0"}]
    history += [{"status": "FAILED", "at": f"t{n}", "attempt": n} for n in failed_attempts]
    history.append({"status": "DEAD_LETTERED", "at": "t9"})
    order = {
        "order_id": "o",
        "status": "DEAD_LETTERED",
        "attempts": max(failed_attempts, default=0),
        "history": history,
    }
    return Snapshot({"o": order}, {"o": {"order_id": "o", "source": source, "last_error": last_error}})


@pytest.mark.parametrize(
    ("snapshot", "crashed", "cause"),
    [
        (_dead_lettered(1, 2, 3), {}, "simulated failures"),
        (_dead_lettered(1, 4), {"o": 1}, "simulated failures and crashes"),
        (_dead_lettered(source="workflow", last_error="KeyError: a bug"), {}, "workflow"),
        # The workflow gave up on throttling: the order should have been left to the reconciler.
        (_dead_lettered(source="workflow", last_error="TransientError: throttled"), {}, "too few attempts"),
        (_dead_lettered(1, 4), {}, "too few attempts"),  # receive 2 or 3 spent on throttling
        (_dead_lettered(1, 2, source="reconciler"), {}, "too few attempts"),
    ],
)
def test_each_dead_letter_has_its_cause_and_too_few_attempts_is_a_violation(
    snapshot: Any, crashed: dict[str, int], cause: str
) -> None:
    from dofs_local.scenarios.invariants import dead_letter_causes, premature_dead_letter_violations

    causes = dead_letter_causes(snapshot, ["o"], 3, crashed)
    assert causes == {cause: ["o"]}
    problems = premature_dead_letter_violations(causes, snapshot, 3)
    assert bool(problems) == (cause == "too few attempts"), problems
