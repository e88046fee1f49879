"""Fault injection for the local stack: off by default, each fault at its own probability.

    FaultSettings.every_fault(0.05, seed=7)           # every kind at 5 %
    FaultSettings.parse("throttle=0.1,lambda_timeout=0.02", seed=7)

What each kind does, and where it hooks in:

- `crash_before_write` / `crash_after_write`: a DynamoDB write of the app (PutItem, UpdateItem,
  DeleteItem, TransactWriteItems) raises `InjectedCrash` before the request is sent, or after
  DynamoDB committed it. The app catches neither (they are not botocore errors), so the function
  fails as if its process died there: the API answers 5xx, a workflow task fails, an SQS record
  is retried.
- `throttle`: a DynamoDB call of the app (writes and GetItem) fails with
  ProvisionedThroughputExceededException before it is sent; the app maps it to TransientError.
- `throttle_window`: AWS's throttling as it comes, for seconds at a time: a DynamoDB call of the
  app opens, at this probability, a window of THROTTLE_WINDOW_SECONDS (then a cool-down of
  THROTTLE_COOLDOWN_SECONDS on that table) in which every request on that table is answered 400
  ProvisionedThroughputExceededException or ThrottlingException (a transaction:
  TransactionCanceledException, reason ThrottlingError). It hooks in where the
  request is sent, inside botocore's retry loop, so the app's retry configuration meets it as it
  would meet DynamoDB's.
- `lambda_throttle`: an SQS poller's invocation is refused with TooManyRequestsException before
  the function runs. As Lambda's event source mapping does, the poller retries it with backoff
  while the batch's visibility timeout lasts; past it, the messages come back to the queue with
  their receive counted (on AWS a stage prevents this by giving the consumer reserved concurrency
  at least its event source's maximum concurrency).
- `start_execution_throttle`: Step Functions answers a StartExecution request 400
  ThrottlingException ("Rate exceeded"), inside botocore's retry loop: the client retries it,
  and when every try is refused the API answers 503 and the caller retries.
- `send_message_failure`: an SQS SendMessage of the app fails with a ClientError: the workflow's
  (moto's Step Functions interpreter reports it as SQS.SdkClientException) and fulfillment's
  copies (the record is then a batch item failure).
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
import time
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
from dofs_config.stage import load_stage

WRITE_OPERATIONS = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems")
READ_OPERATIONS = ("GetItem",)
# A DynamoDB throttling episode: every request on the table is refused for this long; the next
# on that table begins no sooner than the cool-down after it (at most a third of the time refused).
THROTTLE_WINDOW_SECONDS = 2.0
THROTTLE_COOLDOWN_SECONDS = 2 * THROTTLE_WINDOW_SECONDS
# Where a throttling window's clock is read (tests replace it).
monotonic = time.monotonic
REFUSED_URL = "https://refused.invalid/"
DYNAMODB_THROTTLE_CODES = ("ProvisionedThroughputExceededException", "ThrottlingException")
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
    THROTTLE_WINDOW = "throttle_window"
    LAMBDA_THROTTLE = "lambda_throttle"
    START_EXECUTION_THROTTLE = "start_execution_throttle"


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
    throttle_window: float = 0.0
    lambda_throttle: float = 0.0
    start_execution_throttle: float = 0.0
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
        # Fulfillment attempts that died in an injected crash (their FAILED or FULFILLED write), by
        # order: attempts that failed by an error, which no history entry shows.
        self.crashed_attempts: Counter[str] = Counter()
        self._throttled_until: dict[str, tuple[float, str]] = {}  # table -> (window end, error code)
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
        for operation in WRITE_OPERATIONS + READ_OPERATIONS:
            events.register(f"before-send.dynamodb.{operation}", self._send_dynamodb, unique_id=_uid(operation, "s"))
        events.register("before-call.sqs.SendMessage", self._before_send_message, unique_id=_uid("SendMessage"))
        events.register(
            "before-call.sfn.StartExecution", self._before_start_execution, unique_id=_uid("StartExecution")
        )
        events.register("before-send.sfn.StartExecution", self._send_start_execution, unique_id=_uid("sfn", "s"))
        self._session = session

    def uninstall(self) -> None:
        if self._session is None:
            return
        events = self._session.events
        for operation in WRITE_OPERATIONS + READ_OPERATIONS:
            events.unregister(f"before-call.dynamodb.{operation}", unique_id=_uid(operation))
        for operation in WRITE_OPERATIONS:
            events.unregister(f"after-call.dynamodb.{operation}", unique_id=_uid(operation, "a"))
        for operation in WRITE_OPERATIONS + READ_OPERATIONS:
            events.unregister(f"before-send.dynamodb.{operation}", unique_id=_uid(operation, "s"))
        events.unregister("before-call.sqs.SendMessage", unique_id=_uid("SendMessage"))
        events.unregister("before-call.sfn.StartExecution", unique_id=_uid("StartExecution"))
        events.unregister("before-send.sfn.StartExecution", unique_id=_uid("sfn", "s"))
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
        context["dofs_fulfills"] = _attempted_order(operation, params, (OrderStatus.FULFILLED,))
        if self.fire(FaultKind.CRASH_BEFORE_WRITE, operation):
            self._count_crashed_attempt(operation, params)
            raise InjectedCrash(f"injected crash before {operation}")

    def _count_crashed_attempt(self, operation: str, params: dict[str, Any]) -> None:
        order_id = _attempted_order(operation, params, (OrderStatus.FULFILLED, OrderStatus.FAILED))
        if order_id:
            with self._lock:
                self.crashed_attempts[order_id] += 1

    def _send_dynamodb(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        """Each request (each of botocore's tries) on a table inside its throttling window is refused."""
        operation_name = event_name.rsplit(".", 1)[-1]
        tables = _tables_of(request.body)
        if _active is not self or not tables:
            return None
        windows = self._throttling_windows(tables, operation_name)
        if not windows:
            return None
        # The answer is this hook's; a less specific before-send hook runs after it (the local
        # stack's in-process dispatch, moto's mock) and must not carry the request out: each
        # leaves alone a request to an endpoint that is not its own.
        request.url = REFUSED_URL
        if operation_name == "TransactWriteItems":
            # DynamoDB cancels a throttled transaction, naming the items it could not write.
            reasons = [{"Code": "ThrottlingError" if table in windows else "None"} for table in tables]
            return _error_response(
                "TransactionCanceledException",
                "Transaction cancelled, please refer cancellation reasons for specific reasons",
                CancellationReasons=reasons,
            )
        return _error_response(next(iter(windows.values())), "injected: the request rate for the table is too high")

    def _throttling_windows(self, tables: list[str], operation: str) -> dict[str, str]:
        """The tables among these being throttled now, with the error code of their window; a
        request on tables none of which is may open a window on its first table."""
        now = monotonic()
        with self._lock:
            open_windows = {table: code for table, (end, code) in self._throttled_until.items() if end > now}
        windows = {table: open_windows[table] for table in tables if table in open_windows}
        last_end = self._throttled_until.get(tables[0], (-THROTTLE_COOLDOWN_SECONDS, ""))[0]
        if (
            not windows
            and last_end + THROTTLE_COOLDOWN_SECONDS <= now
            and self.fire(FaultKind.THROTTLE_WINDOW, operation)
        ):
            with self._lock:
                code = DYNAMODB_THROTTLE_CODES[self._rng.randrange(len(DYNAMODB_THROTTLE_CODES))]
                self._throttled_until[tables[0]] = (now + THROTTLE_WINDOW_SECONDS, code)
            windows = {tables[0]: code}
        return windows

    def _send_start_execution(self, request: Any, **_: Any) -> AWSResponse | None:
        if _active is not self or not self.fire(FaultKind.START_EXECUTION_THROTTLE, "StartExecution"):
            return None
        request.url = REFUSED_URL  # as in _send_dynamodb: no later hook carries it out
        return _error_response(
            "ThrottlingException", "Rate exceeded", prefix="com.amazonaws.swf.service.model.v20120606"
        )

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

    def invoke_throttled(self, function_name: str) -> bool:
        """Whether Lambda refuses this invocation (TooManyRequestsException) before it runs."""
        return self.fire(FaultKind.LAMBDA_THROTTLE, function_name)

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
                "crashed_attempts": sum(self.crashed_attempts.values()),
            }


def _uid(operation: str, suffix: str = "b") -> str:
    return f"dofs-faults-{operation}-{suffix}"


def _attempted_order(operation: str, params: dict[str, Any], targets: tuple[OrderStatus, ...]) -> str | None:
    """The order an UpdateItem moves to one of `targets` (FULFILLED, FAILED: a fulfillment
    attempt's write), if it does."""
    if operation != "UpdateItem":
        return None
    try:
        body = json.loads(params.get("body") or b"{}")
        target = body.get("ExpressionAttributeValues", {}).get(":target", {}).get("S")
        order_id = body["Key"]["order_id"]["S"]
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return str(order_id) if target in {status.value for status in targets} else None


def _tables_of(body: Any) -> list[str]:
    """The tables a DynamoDB request addresses, in order (a transaction's, item by item)."""
    try:
        request = json.loads(body or b"{}")
    except (ValueError, TypeError):
        return []
    if not isinstance(request, dict):
        return []
    if "TransactItems" in request:
        return [str(next(iter(item.values())).get("TableName")) for item in request["TransactItems"]]
    table = request.get("TableName")
    return [str(table)] if table else []


def _error_response(
    code: str, message: str, prefix: str = "com.amazonaws.dynamodb.v20120810", **extra: Any
) -> AWSResponse:
    """A 400 answer in the shape the service's JSON protocol gives it (botocore parses it, and
    its retry handler decides on it, as on a real one)."""
    body = json.dumps({"__type": f"{prefix}#{code}", "message": message, **extra}).encode()
    response = AWSResponse(
        url="",
        status_code=400,
        headers={"Content-Type": "application/x-amz-json-1.0", "x-amzn-ErrorType": code},
        raw=None,
    )
    response._content = body
    return response


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
