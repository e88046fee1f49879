"""The state machine's Lambda tasks: ValidateOrder, StoreOrder and RecordWorkflowFailure.

Each is idempotent, because Step Functions retries them and EXPRESS workflows run at least once.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.clock import Clock, utc_now
from chalicelib.models import Order
from chalicelib.observability import count_dead_lettered, logger
from chalicelib.repository import DeadLetterOutcome, FailureRecord, OrderRepository
from chalicelib.rules import Verdict, check_business_rules
from chalicelib.settings import BusinessRules


def validate_order(event: dict[str, Any], settings: BusinessRules) -> dict[str, Any]:
    """Pure: checks the business rules and returns the verdict; writes nothing."""
    order = Order.model_validate(event["order"])
    verdict = check_business_rules(order, settings)
    logger.info(
        "order validated",
        extra={"order_id": order.order_id, "operation": "validate_order", **verdict.to_payload()},
    )
    return verdict.to_payload()


class WorkflowTasks:
    def __init__(self, repository: OrderRepository, clock: Clock = utc_now) -> None:
        self._repository = repository
        self._clock = clock

    def store_order(self, event: dict[str, Any]) -> dict[str, Any]:
        """Records the verdict (PENDING or REJECTED); says whether this execution may queue it."""
        order_id = event["order"]["order_id"]
        verdict = Verdict(bool(event["validation"]["valid"]), event["validation"].get("reason"))
        claimed = self._repository.record_verdict(order_id, event["execution_id"], verdict, self._clock())
        enqueue = claimed and verdict.valid
        logger.info(
            "order stored",
            extra={"order_id": order_id, "operation": "store_order", "claimed": claimed, "enqueue": enqueue},
        )
        return {"enqueue": enqueue}

    def record_workflow_failure(self, event: dict[str, Any]) -> dict[str, Any]:
        """The workflow gave up after its retries: the order becomes DEAD_LETTERED."""
        order_id = event["order"]["order_id"]
        failure = event.get("error") or {}
        now = self._clock()
        outcome = self._repository.dead_letter(
            FailureRecord(
                order_id=order_id,
                source="workflow",
                original_message=json.dumps(event["order"], sort_keys=True),
                attempts=0,
                last_error=f"{failure.get('Error', 'Unknown')}: {failure.get('Cause', '')}"[:1000],
                queued_at=None,
                dead_lettered_at=now,
            ),
            now,
        )
        if outcome is DeadLetterOutcome.RECORDED:
            count_dead_lettered(source="workflow")
        logger.error(
            "workflow failed; order dead-lettered",
            extra={"order_id": order_id, "operation": "record_workflow_failure", "outcome": outcome.value},
        )
        return {"outcome": outcome.value}
