"""The fulfillment queue and the workflow starter on moto (SQS, Step Functions) with the interface of
tests/fakes.py's InMemoryQueue and RecordingWorkflow: what was sent or started, read back from the
service, and `unavailable` to refuse as the fakes do. The `queue` and `workflow` fixtures
(tests/conftest.py) hand out one or the other with the `repository` they go with, so one suite
checks the reconciler, the redrive and the API on the fakes (unit) and on moto (the contract).

boto3 only: moto is the `aws` fixture's, and a run of the unit tier never builds these."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import EndpointConnectionError

from chalicelib.models import Order
from chalicelib.workflow import StepFunctionsWorkflow, WorkflowUnavailableError


class SqsQueue:
    """`OrderQueue.send` (the reconciler) and the SQS client's `send_message` (the redrive), on a
    real queue; `messages` receives what is on it."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self._client = sqs
        self.QUEUE_URL = queue_url
        self.unavailable = False
        self._received: list[str] = []

    def send(self, message: str) -> None:
        self.send_message(QueueUrl=self.QUEUE_URL, MessageBody=message)

    def send_message(self, *, QueueUrl: str, MessageBody: str) -> dict[str, Any]:
        if self.unavailable:
            raise EndpointConnectionError(endpoint_url=QueueUrl)
        response: dict[str, Any] = self._client.send_message(QueueUrl=QueueUrl, MessageBody=MessageBody)
        return response

    @property
    def messages(self) -> list[str]:
        """The bodies of every message queued so far: received (so out of sight) and kept."""
        while True:
            received = self._client.receive_message(QueueUrl=self.QUEUE_URL, MaxNumberOfMessages=10)
            if not received.get("Messages"):
                return list(self._received)
            self._received += [message["Body"] for message in received["Messages"]]


class StepFunctionsStarter(StepFunctionsWorkflow):
    """The app's `StepFunctionsWorkflow`; `started` reads the executions back from Step Functions."""

    def __init__(self, stepfunctions: Any, state_machine_arn: str) -> None:
        super().__init__(stepfunctions, state_machine_arn)
        self._stepfunctions = stepfunctions
        self.state_machine_arn = state_machine_arn
        self.unavailable = False

    def start(self, order: Order) -> str:
        if self.unavailable:
            raise WorkflowUnavailableError("StartExecution failed (injected by the test)")
        return super().start(order)

    @property
    def started(self) -> list[Order]:
        """The order of each execution, oldest first."""
        executions = self._stepfunctions.list_executions(stateMachineArn=self.state_machine_arn)["executions"]
        inputs = [
            json.loads(self._stepfunctions.describe_execution(executionArn=execution["executionArn"])["input"])
            for execution in sorted(executions, key=lambda execution: execution["startDate"])
        ]
        return [Order.model_validate(workflow_input["order"]) for workflow_input in inputs]

    def started_ids(self) -> list[str]:
        return [order.order_id for order in self.started]
