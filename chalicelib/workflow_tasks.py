"""The state machine's Lambda tasks: ValidateOrder, StoreOrder and RecordWorkflowFailure.

Each is idempotent, because Step Functions retries them and EXPRESS workflows run at least once.
Each task's input and output is a model: the shapes the ASL's `Payload` and `ResultSelector`
(stepfunctions/order_workflow.asl.json) pass, checked against it by tests/test_workflow_tasks.py.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any, Final

from pydantic import BaseModel, ConfigDict

from chalicelib.clock import Clock, utc_now
from chalicelib.models import Order
from chalicelib.observability import count_dead_lettered, logger, order_context
from chalicelib.repository import DeadLetterOutcome, FailureRecord, OrderRepository
from chalicelib.rules import Verdict, check_business_rules
from chalicelib.settings import BusinessRules


class _TaskEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Validation(_TaskEvent):
    """ValidateOrder's result, as the state machine keeps it in `$.validation`."""

    valid: bool
    reason: str | None


class ValidateOrderInput(_TaskEvent):
    order: Order


class StoreOrderInput(_TaskEvent):
    order: Order
    validation: Validation
    execution_id: str


class StoreOrderOutput(_TaskEvent):
    enqueue: bool


class TaskFailure(BaseModel):
    """What a Catch puts in `$.error`: the failed step's error name and cause."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    Error: str = "Unknown"
    Cause: str = ""


class RecordWorkflowFailureInput(_TaskEvent):
    order: Order
    error: TaskFailure | None = None


# The errors the workflow's transient retriers retry (stepfunctions/order_workflow.asl.json, checked
# by tests/test_workflow_tasks.py): throttling, timeouts, the services' own errors. A step that
# still fails with one of them after its retries is not a failure of the order: it stays open,
# and the reconciler starts its workflow again or queues it (docs/CONTRACT.md section 4,
# invariant 7). Any other error (a crash, a bug) has been retried by the catch-all retrier too,
# and is persistent: the order is dead-lettered.
TRANSIENT_WORKFLOW_ERRORS: Final = frozenset(
    {
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
        "Lambda.Unknown",
        "States.Timeout",
        "Sandbox.Timedout",
        "TransientError",
        "SQS.SdkClientException",
        "SQS.AmazonSQSException",
    }
)


class WorkflowFailureOutcome(StrEnum):
    LEFT_FOR_RECONCILER = "LEFT_FOR_RECONCILER"  # a transient error outlasted the retries


class RecordWorkflowFailureOutput(_TaskEvent):
    outcome: DeadLetterOutcome | WorkflowFailureOutcome


def validate_order(event: dict[str, Any], settings: BusinessRules) -> dict[str, Any]:
    """Pure: checks the business rules and returns the verdict; writes nothing."""
    order = ValidateOrderInput.model_validate(event).order
    verdict = check_business_rules(order, settings)
    with order_context(order.order_id, "validate_order"):
        logger.info("order validated", extra=verdict.to_payload())
    return Validation(valid=verdict.valid, reason=verdict.reason).model_dump(mode="json")


class WorkflowTasks:
    def __init__(self, repository: OrderRepository, clock: Clock = utc_now) -> None:
        self._repository = repository
        self._clock = clock

    def store_order(self, event: dict[str, Any]) -> dict[str, Any]:
        """Records the verdict (PENDING or REJECTED); says whether this execution may queue it."""
        task = StoreOrderInput.model_validate(event)
        order_id = task.order.order_id
        verdict = Verdict(task.validation.valid, task.validation.reason)
        with order_context(order_id, "store_order"):
            claimed = self._repository.record_verdict(order_id, task.execution_id, verdict, self._clock())
            enqueue = claimed and verdict.valid
            logger.info("order stored", extra={"claimed": claimed, "enqueue": enqueue})
        return StoreOrderOutput(enqueue=enqueue).model_dump(mode="json")

    def record_workflow_failure(self, event: dict[str, Any]) -> dict[str, Any]:
        """The workflow gave up after its retries: on a persistent error the order becomes
        DEAD_LETTERED; on a transient one it is left open for the reconciler."""
        task = RecordWorkflowFailureInput.model_validate(event)
        failure = task.error or TaskFailure()
        now = self._clock()
        with order_context(task.order.order_id, "record_workflow_failure"):
            if failure.Error in TRANSIENT_WORKFLOW_ERRORS:
                logger.error(
                    "workflow gave up on a transient error; the reconciler takes the order over",
                    extra={"error": failure.Error, "cause": failure.Cause[:1000]},
                )
                return RecordWorkflowFailureOutput(outcome=WorkflowFailureOutcome.LEFT_FOR_RECONCILER).model_dump(
                    mode="json"
                )
            outcome = self._repository.dead_letter(
                FailureRecord(
                    order_id=task.order.order_id,
                    source="workflow",
                    original_message=json.dumps(task.order.to_payload(), sort_keys=True),
                    attempts=0,
                    last_error=f"{failure.Error}: {failure.Cause}"[:1000],
                    queued_at=None,
                    dead_lettered_at=now,
                ),
                now,
            )
            if outcome is DeadLetterOutcome.RECORDED:
                count_dead_lettered(source="workflow")
            logger.error("workflow failed; order dead-lettered", extra={"outcome": outcome.value})
        return RecordWorkflowFailureOutput(outcome=outcome).model_dump(mode="json")
