"""Every change the local pipeline makes to moto, in one place, each with the moto version it
was written for (tests/test_moto_patches.py fails when an upgrade moves what one patches).

- Routing a request to its service is memoised: moto resolves the backend for a host by
  listing its package directory and trying hundreds of URL patterns under one lock, on every
  request, which made that lock the stack's bottleneck.
- A state machine's definition is parsed once, not at the start of every execution (ANTLR in
  pure Python: about 25 ms of CPU each time). The parsed program keeps no execution state:
  retries, inputs and outputs live in each execution's environment.
- The Step Functions interpreter reuses one boto3 client per service and region instead of
  building a new one (about 10 ms of CPU) for every Lambda and SQS task it runs.
- DynamoDB writes and SQS receives are atomic across the server's request threads: moto
  checks a ConditionExpression and writes in separate steps, and two concurrent receives
  could take the same message, so without a lock a conditional write could race. A long
  poll waits outside the lock, so one idle poller never holds up the rest.
- Lambda's Invoke runs the app's functions in this process (`lambda_bridge.py`, installed by
  the pipeline at start-up), since moto's own Lambda needs Docker.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from moto.awslambda.models import LambdaBackend, LambdaFunction, LayerDataType
from moto.core.models import botocore_stubber
from moto.dynamodb.models import DynamoDBBackend
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.settings import moto_server_port
from moto.sqs.models import SQSBackend
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_sqs
from moto.stepfunctions.parser.asl.utils import boto_client
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

from dofs_local.emulated import create_time_checks

_backend_lock = threading.RLock()
LONG_POLL_INTERVAL_SECONDS = 0.02


def _atomic(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with _backend_lock:
            return method(*args, **kwargs)

    locked.__dofs_atomic__ = True  # type: ignore[attr-defined]
    return locked


def _atomic_receive(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def receive(
        self: SQSBackend,
        queue_name: str,
        count: int,
        wait_seconds_timeout: int,
        visibility_timeout: int,
        message_attribute_names: list[str] | None = None,
    ) -> Any:
        deadline = time.monotonic() + (wait_seconds_timeout or 0)
        while True:
            with _backend_lock:
                messages = method(self, queue_name, count, 0, visibility_timeout, message_attribute_names)
            if messages or time.monotonic() >= deadline:
                return messages
            time.sleep(LONG_POLL_INTERVAL_SECONDS)

    receive.__dofs_atomic__ = True  # type: ignore[attr-defined]
    return receive


def memoise_backend_routing() -> None:
    """A host always maps to the same backend, so the lookup is cached per host."""
    lookup = DomainDispatcherApplication.get_backend_for_host
    if getattr(lookup, "__dofs_memoised__", False):
        return
    cache: dict[str | None, Any] = {}

    @functools.wraps(lookup)
    def cached(self: DomainDispatcherApplication, host: str | None) -> Any:
        if host not in cache:
            cache[host] = lookup(self, host)
        return cache[host]

    cached.__dofs_memoised__ = True  # type: ignore[attr-defined]
    DomainDispatcherApplication.get_backend_for_host = cached  # type: ignore[method-assign]


def parse_definitions_once() -> None:
    entrypoint = ExecutionWorker._get_evaluation_entrypoint
    if getattr(entrypoint, "__dofs_cached__", False):
        return
    programs: dict[str, Any] = {}
    lock = threading.Lock()

    def cached_entrypoint(self: ExecutionWorker) -> Any:
        definition = self._evaluation_details.state_machine_details.definition
        with lock:
            if definition not in programs:
                programs[definition] = entrypoint(self)
            return programs[definition]

    cached_entrypoint.__dofs_cached__ = True  # type: ignore[attr-defined]
    ExecutionWorker._get_evaluation_entrypoint = cached_entrypoint  # type: ignore[method-assign]


def reuse_workflow_clients() -> None:
    """The interpreter's Lambda and SQS tasks get a cached client (boto3 clients are thread-safe)."""
    if getattr(getattr(lambda_eval_utils, "boto_client_for", None), "__dofs_cached__", False):
        return
    clients: dict[tuple[str, str, bool, str], Any] = {}
    lock = threading.Lock()

    def cached_client(region: str, service: str, state_credentials: Any = None) -> Any:
        # In-process mocks and the server need different clients (moto picks the endpoint).
        key = (region, service, botocore_stubber.enabled, moto_server_port())
        with lock:
            if key not in clients:
                clients[key] = boto_client.boto_client_for(region, service, state_credentials)
            return clients[key]

    cached_client.__dofs_cached__ = True  # type: ignore[attr-defined]
    for module in (lambda_eval_utils, state_task_service_sqs):
        module.boto_client_for = cached_client  # type: ignore[attr-defined]


# Accounts that publish public layers every account may use: Powertools for AWS Lambda (Python).
PUBLIC_LAYER_ACCOUNTS = frozenset({"017000801446"})


def accept_public_layers() -> None:
    """A layer version of a public publisher exists, as on AWS; moto's own layers as before."""
    original = LambdaFunction._get_layers_data
    if getattr(original, "__dofs_public_layers__", False):
        return

    def layers_data(self: LambdaFunction, layers_versions_arns: list[str]) -> list[LayerDataType]:
        public = {arn for arn in layers_versions_arns if arn.split(":")[4] in PUBLIC_LAYER_ACCOUNTS}
        own = [arn for arn in layers_versions_arns if arn not in public]
        known = iter(original(self, own) if own else [])
        return [LayerDataType(Arn=arn, CodeSize=0) if arn in public else next(known) for arn in layers_versions_arns]

    layers_data.__dofs_public_layers__ = True  # type: ignore[attr-defined]
    LambdaFunction._get_layers_data = layers_data  # type: ignore[method-assign]


def make_backends_atomic() -> None:
    for backend, names in ((DynamoDBBackend, _DYNAMODB_WRITES), (SQSBackend, _SQS_WRITES)):
        for name in names:
            method = getattr(backend, name)
            if not getattr(method, "__dofs_atomic__", False):
                setattr(backend, name, _atomic(method))
    if not getattr(SQSBackend.receive_message, "__dofs_atomic__", False):
        SQSBackend.receive_message = _atomic_receive(SQSBackend.receive_message)  # type: ignore[method-assign]


@dataclass(frozen=True)
class MotoPatch:
    """What one patch replaces: `owner.attribute`, whose leading parameters it relies on."""

    owner: Any
    attribute: str
    parameters: tuple[str, ...]
    written_for_moto: str = "5.2.5"


_DYNAMODB_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")
_SQS_WRITES = ("delete_message", "delete_message_batch", "send_message", "send_message_batch")
PATCHES: tuple[MotoPatch, ...] = (
    MotoPatch(DomainDispatcherApplication, "get_backend_for_host", ("self", "host")),
    MotoPatch(ExecutionWorker, "_get_evaluation_entrypoint", ("self",)),
    MotoPatch(lambda_eval_utils, "boto_client_for", ("region", "service", "state_credentials")),
    MotoPatch(state_task_service_sqs, "boto_client_for", ("region", "service", "state_credentials")),
    MotoPatch(
        SQSBackend, "receive_message", ("self", "queue_name", "count", "wait_seconds_timeout", "visibility_timeout")
    ),
    *(MotoPatch(DynamoDBBackend, name, ("self",)) for name in _DYNAMODB_WRITES),
    *(MotoPatch(SQSBackend, name, ("self", "queue_name")) for name in _SQS_WRITES),
    MotoPatch(LambdaBackend, "invoke", ("self", "function_name", "qualifier", "body", "headers", "response_headers")),
    MotoPatch(LambdaFunction, "_get_layers_data", ("self", "layers_versions_arns")),
)


def apply_all() -> None:
    """The server's patches (idempotent); the Lambda bridge is installed by the pipeline."""
    make_backends_atomic()
    memoise_backend_routing()
    reuse_workflow_clients()
    parse_definitions_once()
    accept_public_layers()
    create_time_checks.install()  # AWS's create-time checks of roles (see that module)
