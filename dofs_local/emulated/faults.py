"""Fault injection for the local stack: off by default, each fault at its own probability.

    FaultSettings.every_fault(0.05, seed=7)           # all eight kinds at 5 %
    FaultSettings.parse("throttle=0.1,lambda_timeout=0.02", seed=7)

What each kind does, and where it hooks in:

- `crash_before_write` / `crash_after_write`: a DynamoDB write of the app (PutItem, UpdateItem,
  DeleteItem, TransactWriteItems) raises `InjectedCrash` before the request is sent, or after
  DynamoDB committed it. The app catches neither (they are not botocore errors), so the function
  fails as if its process died there: the API answers 5xx, a workflow task fails, an SQS record
  is retried.
- `throttle`: a DynamoDB call of the app (writes and GetItem) fails with
  ProvisionedThroughputExceededException before it is sent; the app maps it to TransientError.
- `send_message_failure`: the workflow's SQS SendMessage (moto's Step Functions interpreter)
  fails with a ClientError, which the interpreter reports as SQS.SdkClientException.
- `lambda_timeout`: an invocation through the Lambda bridge or an SQS poller runs, then its
  result is thrown away and Lambda's timeout error (`Sandbox.Timedout`, "Task timed out after
  N seconds") is reported instead: the work may be done, the caller does not know.
- `duplicate_delivery`: a poller hands some records of a batch to a second, concurrent
  invocation of the function, as SQS's at-least-once delivery may.
- `execution_lost`: the app's StartExecution answers with an execution ARN, but the execution
  never runs (lost before its first step): the order stays ACCEPTED until the reconciler
  restarts its workflow.
- `message_lost`: a poller deletes a received message without handing it to the function (of
  order_queue: the order stays PENDING or FAILED; of the DLQ: FAILED with its attempts used up),
  until the reconciler queues it again or dead-letters it.

The botocore hooks sit on boto3's default session, which the app's clients (chalicelib/runtime.py)
and moto's Step Functions interpreter use; the local stack's own clients (provisioning, pollers,
the chaos runner) use sessions of their own and are never hit. Hooks apply to clients created
after `install()`: the stack calls `runtime.reset()` after it.
"""

from __future__ import annotations

import json
import os
import random
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from chalicelib.states import OrderStatus
from dofs_local.stage import load_stage

WRITE_OPERATIONS = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems")
READ_OPERATIONS = ("GetItem",)
# The timeout a timed-out invocation reports: the local stage's function timeout.
LAMBDA_TIMEOUT_SECONDS = load_stage("local").function_timeout_seconds("fulfill_order")


class FaultKind(StrEnum):
    CRASH_BEFORE_WRITE = "crash_before_write"
    CRASH_AFTER_WRITE = "crash_after_write"
    THROTTLE = "throttle"
    DUPLICATE_DELIVERY = "duplicate_delivery"
    LAMBDA_TIMEOUT = "lambda_timeout"
    SEND_MESSAGE_FAILURE = "send_message_failure"
    EXECUTION_LOST = "execution_lost"
    MESSAGE_LOST = "message_lost"


class InjectedCrash(Exception):
    """The function died here; nothing in the app catches it."""


@dataclass(frozen=True)
class FaultSettings:
    crash_before_write: float = 0.0
    crash_after_write: float = 0.0
    throttle: float = 0.0
    duplicate_delivery: float = 0.0
    lambda_timeout: float = 0.0
    send_message_failure: float = 0.0
    execution_lost: float = 0.0
    message_lost: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for kind in FaultKind:
            value = self.probability(kind)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"fault probability {kind.value}={value} is not between 0 and 1")

    def probability(self, kind: FaultKind) -> float:
        value: float = getattr(self, kind.value)
        return value

    @property
    def enabled(self) -> bool:
        return any(self.probability(kind) > 0 for kind in FaultKind)

    @classmethod
    def every_fault(cls, probability: float, seed: int = 0) -> FaultSettings:
        return cls(**{kind.value: probability for kind in FaultKind}, seed=seed)

    @classmethod
    def parse(cls, text: str, seed: int = 0) -> FaultSettings:
        """`all=0.05`, `throttle=0.1,lambda_timeout=0.02` or both (later entries win); '' = off."""
        values = {kind.value: 0.0 for kind in FaultKind}
        for entry in filter(None, (part.strip() for part in text.split(","))):
            name, sep, value = entry.partition("=")
            name = name.strip()
            if not sep:
                raise ValueError(f"fault setting {entry!r} is not NAME=PROBABILITY")
            if name == "all":
                values = dict.fromkeys(values, float(value))
            elif name in values:
                values[name] = float(value)
            else:
                raise ValueError(f"unknown fault {name!r}; known: all, {', '.join(values)}")
        return cls(**values, seed=seed)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> FaultSettings:
        """DOFS_FAULTS (as `parse` reads it) and DOFS_FAULT_SEED."""
        return cls.parse(environ.get("DOFS_FAULTS", ""), int(environ.get("DOFS_FAULT_SEED") or 0))

    def describe(self) -> str:
        if not self.enabled:
            return "off"
        on = [f"{f.name}={getattr(self, f.name)}" for f in fields(self) if f.name != "seed" and getattr(self, f.name)]
        return ", ".join(on) + f" (seed {self.seed})"


class FaultInjector:
    """Decides, hooks in and counts. One is active at a time (the stack's)."""

    def __init__(self, settings: FaultSettings) -> None:
        self.settings = settings
        self._rng = random.Random(settings.seed)  # noqa: S311 - reproducible chaos, not a secret
        self._lock = threading.Lock()
        self.injected: Counter[str] = Counter()  # by kind
        self.injected_at: Counter[str] = Counter()  # by "kind operation-or-function"
        self.invocations: Counter[str] = Counter()  # by function
        self.repeat_invocations: Counter[str] = Counter()  # same function, same order, again
        self.fulfillment_writes: Counter[str] = Counter()  # committed FULFILLED transitions by order
        # When each scheduled run (the reconciler's) began: the cadence invariant 1's bound is checked against.
        self.scheduled_runs: list[datetime] = []
        self._seen: set[tuple[str, str]] = set()
        self._session: Any = None

    # -- decisions ---------------------------------------------------------------------------

    def fire(self, kind: FaultKind, where: str) -> bool:
        probability = self.settings.probability(kind)
        if probability <= 0:
            return False
        with self._lock:
            hit = self._rng.random() < probability
            if hit:
                self.injected[kind.value] += 1
                self.injected_at[f"{kind.value} {where}"] += 1
        return hit

    # -- botocore hooks on the default session -----------------------------------------------

    def install(self) -> None:
        session = boto3._get_default_session()
        events = session.events
        for operation in WRITE_OPERATIONS + READ_OPERATIONS:
            events.register(f"before-call.dynamodb.{operation}", self._before_dynamodb, unique_id=_uid(operation))
        for operation in WRITE_OPERATIONS:
            events.register(f"after-call.dynamodb.{operation}", self._after_dynamodb, unique_id=_uid(operation, "a"))
        events.register("before-call.sqs.SendMessage", self._before_send_message, unique_id=_uid("SendMessage"))
        events.register(
            "before-call.sfn.StartExecution", self._before_start_execution, unique_id=_uid("StartExecution")
        )
        self._session = session

    def uninstall(self) -> None:
        if self._session is None:
            return
        events = self._session.events
        for operation in WRITE_OPERATIONS + READ_OPERATIONS:
            events.unregister(f"before-call.dynamodb.{operation}", unique_id=_uid(operation))
        for operation in WRITE_OPERATIONS:
            events.unregister(f"after-call.dynamodb.{operation}", unique_id=_uid(operation, "a"))
        events.unregister("before-call.sqs.SendMessage", unique_id=_uid("SendMessage"))
        events.unregister("before-call.sfn.StartExecution", unique_id=_uid("StartExecution"))
        self._session = None

    def _before_dynamodb(self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if _active is not self:  # a client created while we were installed outlives us
            return
        operation = model.name
        if self.fire(FaultKind.THROTTLE, operation):
            raise ClientError(
                {
                    "Error": {
                        "Code": "ProvisionedThroughputExceededException",
                        "Message": "injected: the level of configured provisioned throughput was exceeded",
                    },
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                },
                operation,
            )
        if operation not in WRITE_OPERATIONS:
            return
        context["dofs_fulfills"] = _fulfilled_order(operation, params)
        if self.fire(FaultKind.CRASH_BEFORE_WRITE, operation):
            raise InjectedCrash(f"injected crash before {operation}")

    def _after_dynamodb(self, http_response: Any, model: Any, context: dict[str, Any], **_: Any) -> None:
        if _active is not self or http_response is None or http_response.status_code >= 300:
            return  # the write did not happen: nothing was done, nothing to crash after
        order_id = context.get("dofs_fulfills")
        if order_id:
            with self._lock:
                self.fulfillment_writes[order_id] += 1
        if self.fire(FaultKind.CRASH_AFTER_WRITE, model.name):
            raise InjectedCrash(f"injected crash after {model.name}")

    def _before_send_message(self, **_: Any) -> None:
        if _active is not self:
            return
        if self.fire(FaultKind.SEND_MESSAGE_FAILURE, "SendMessage"):
            raise ClientError(
                {
                    "Error": {"Code": "InternalError", "Message": "injected: SQS could not take the message"},
                    "ResponseMetadata": {"HTTPStatusCode": 500},
                },
                "SendMessage",
            )

    def _before_start_execution(self, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        """Answers StartExecution as Step Functions would, without starting anything."""
        if _active is not self or not self.fire(FaultKind.EXECUTION_LOST, "StartExecution"):
            return None
        body = json.loads(params.get("body") or b"{}")
        arn = str(body["stateMachineArn"]).replace(":stateMachine:", ":execution:") + f":{body['name']}"
        return AWSResponse(url="", status_code=200, headers={}, raw=None), {
            "executionArn": arn,
            "startDate": datetime.now(UTC),
        }

    # -- queue messages ----------------------------------------------------------------------

    def lost(self, function_name: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The messages a poller loses: deleted, never handed to the function."""
        return [message for message in messages if self.fire(FaultKind.MESSAGE_LOST, function_name)]

    # -- Lambda invocations ------------------------------------------------------------------

    def invoked(self, function_name: str, event: Any) -> None:
        order_ids = _order_ids_of(event)
        with self._lock:
            if isinstance(event, dict) and event.get("detail-type") == "Scheduled Event":
                self.scheduled_runs.append(datetime.now(UTC))
            self.invocations[function_name] += 1
            for order_id in order_ids:
                key = (function_name, order_id)
                if key in self._seen:
                    self.repeat_invocations[function_name] += 1
                self._seen.add(key)

    def timed_out(self, function_name: str) -> dict[str, Any] | None:
        """Lambda's error payload for a timed-out invocation, when this one times out."""
        if not self.fire(FaultKind.LAMBDA_TIMEOUT, function_name):
            return None
        return {
            "errorType": "Sandbox.Timedout",
            "errorMessage": f"Task timed out after {LAMBDA_TIMEOUT_SECONDS:.2f} seconds",
        }

    def duplicates(self, function_name: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [record for record in records if self.fire(FaultKind.DUPLICATE_DELIVERY, function_name)]

    def figures(self) -> dict[str, Any]:
        with self._lock:
            return {
                "injected": {kind.value: self.injected[kind.value] for kind in FaultKind},
                "injected_at": dict(sorted(self.injected_at.items())),
                "invocations": dict(sorted(self.invocations.items())),
                "repeat_invocations": dict(sorted(self.repeat_invocations.items())),
                "fulfillment_writes": sum(self.fulfillment_writes.values()),
            }


def _uid(operation: str, suffix: str = "b") -> str:
    return f"dofs-faults-{operation}-{suffix}"


def _fulfilled_order(operation: str, params: dict[str, Any]) -> str | None:
    """The order an UpdateItem moves to FULFILLED (the fulfillment's side effect), if it does."""
    if operation != "UpdateItem":
        return None
    try:
        body = json.loads(params.get("body") or b"{}")
        target = body.get("ExpressionAttributeValues", {}).get(":target", {}).get("S")
        order_id = body["Key"]["order_id"]["S"]
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return str(order_id) if target == OrderStatus.FULFILLED.value else None


def _order_ids_of(event: Any) -> list[str]:
    if not isinstance(event, dict):
        return []
    order = event.get("order")
    if isinstance(order, dict) and isinstance(order.get("order_id"), str):
        return [order["order_id"]]
    ids = []
    for record in event.get("Records") or []:
        try:
            message = json.loads(record.get("body", ""))
        except (ValueError, AttributeError):
            continue
        if isinstance(message, dict) and isinstance(message.get("order_id"), str):
            ids.append(message["order_id"])
    return ids


_active: FaultInjector | None = None


def active() -> FaultInjector | None:
    return _active


def activate(settings: FaultSettings) -> FaultInjector | None:
    """Installs an injector for these settings (None when every fault is off)."""
    global _active
    deactivate()
    if not settings.enabled:
        return None
    injector = FaultInjector(settings)
    injector.install()
    _active = injector
    return injector


def deactivate() -> None:
    global _active
    if _active is not None:
        _active.uninstall()
    _active = None
