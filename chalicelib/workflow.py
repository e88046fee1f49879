"""Starting the order workflow (Step Functions)."""

from __future__ import annotations

import json
import uuid
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.models import Order


class WorkflowUnavailableError(Exception):
    """The workflow could not be started; the API answers 503 and the client may retry."""


class WorkflowStarter(Protocol):
    def start(self, order: Order) -> str:
        """Start one execution for the order and return its id."""
        ...


def workflow_input(order: Order) -> dict[str, Any]:
    return {"order": order.to_payload()}


class StepFunctionsWorkflow:
    def __init__(self, stepfunctions: Any, state_machine_arn: str) -> None:
        self._client = stepfunctions
        self._arn = state_machine_arn

    def start(self, order: Order) -> str:
        # A unique name per start: a replayed POST may start a second execution, and
        # StoreOrder's claim makes sure only one of them ever queues the order.
        name = f"{order.order_id}-{uuid.uuid4().hex[:12]}"
        try:
            response = self._client.start_execution(
                stateMachineArn=self._arn, name=name, input=json.dumps(workflow_input(order))
            )
        except (ClientError, BotoCoreError) as exc:
            raise WorkflowUnavailableError(str(exc)) from exc
        execution_arn: str = response["executionArn"]
        return execution_arn
