"""The two faults the reconciler exists for, each on its own: an execution lost before its first
step, and a queue message lost."""

from __future__ import annotations

import json
import threading
from typing import Any

import boto3
import pytest

from chalicelib.workflow import StepFunctionsWorkflow
from dofs_config.stage import Stage
from dofs_local.emulated.faults import FaultKind
from dofs_local.emulated.pollers import EventSource, QueuePoller
from dofs_local.emulated.provisioning import Resources
from tests.conftest import make_order

pytestmark = pytest.mark.aws


def test_a_lost_execution_is_answered_but_never_runs(inject: Any, resources: Resources) -> None:
    injector = inject(execution_lost=1.0)
    stepfunctions = boto3.client("stepfunctions")  # the default session's, as the app's

    arn = StepFunctionsWorkflow(stepfunctions, resources.state_machine_arn).start(make_order("lost-1"))

    assert arn.startswith(resources.state_machine_arn.replace(":stateMachine:", ":execution:") + ":lost-1-")
    assert stepfunctions.list_executions(stateMachineArn=resources.state_machine_arn)["executions"] == []
    assert injector.injected[FaultKind.EXECUTION_LOST] == 1


def test_a_lost_message_is_deleted_and_never_handed_to_the_function(
    inject: Any, resources: Resources, stage: Stage
) -> None:
    injector = inject(message_lost=1.0)
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=resources.order_queue_url, MessageBody=json.dumps({"order_id": "lost-2"}))
    handed: list[Any] = []
    source = EventSource(
        function_name=stage.function_name("fulfill_order"),
        handler=lambda event, context: handed.append(event),
        queue_url=resources.order_queue_url,
        queue_arn=resources.order_queue_arn,
        batch_size=10,
        batching_window_seconds=0,
        region=stage.region,
    )
    poller = QueuePoller(sqs, source, threading.Event())
    received = sqs.receive_message(QueueUrl=resources.order_queue_url, AttributeNames=["All"])["Messages"]

    poller._deliver(received)

    assert handed == []
    assert injector.injected[FaultKind.MESSAGE_LOST] == 1
    attributes = sqs.get_queue_attributes(QueueUrl=resources.order_queue_url, AttributeNames=["All"])["Attributes"]
    assert (attributes["ApproximateNumberOfMessages"], attributes["ApproximateNumberOfMessagesNotVisible"]) == (
        "0",
        "0",
    ), "deleted, not left to come back"
