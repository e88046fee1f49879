"""Every change the local pipeline makes to moto, in one place, each with the moto version it
was written for (tests/test_moto_patches.py fails when an upgrade moves what one patches).

Fidelity: the stack behaves as AWS does.
- Thread safety: DynamoDB writes and reads and SQS receives are atomic across the server's
  request threads: moto checks a ConditionExpression and writes in separate steps, and two
  concurrent receives could take the same message, so without a lock a conditional write could
  race; a read iterating a table while another thread writes it failed ("dictionary changed size
  during iteration"). A long poll waits outside the lock, so one idle poller never holds up the rest.
- What AWS has and moto lacks: Powertools' public SSM parameters (the layer of a release, by
  architecture and Python) answer as on AWS for the installed release, and a public publisher's
  layers exist.
- AWS's create-time checks of roles (`create_time_checks.py`).
- Lambda's Invoke runs the app's functions in this process (`lambda_bridge.py`, installed by
  the pipeline at start-up), since moto's own Lambda needs Docker.

Speed: each is kept because it saves, measured, at least 3 % of the CPU of `make demo`'s run, of
a slice of the moto-backed tests or of tests/integration/test_pipeline.py
(`python -m dofs_local.measurement.moto_patch_savings` times them without each one); `apply_all`
says what each saves.
- Routing a request to its service is memoised: moto resolves the backend for a host by
  listing its package directory and trying hundreds of URL patterns under one lock, on every
  request.
- A state machine's definition is parsed once, not at the start of every execution (ANTLR in
  pure Python). The parsed program keeps no execution state: retries, inputs and outputs live
  in each execution's environment.
- The Step Functions interpreter reuses one boto3 client per service and region instead of
  building a new one for every Lambda and SQS task it runs, and its calls to this same server
  are dispatched to moto's backends in this process instead of over HTTP: the request still
  goes through botocore and moto's Lambda and SQS APIs, as any caller's.
- The interpreter runs each execution, its program and each Task state on a reused worker
  thread instead of a new thread each; TimeoutSeconds is enforced as before, by waiting for the
  worker that long.
- The interpreter compiles each JSONPath once (jsonpath_ng builds a new parser, with its yacc
  tables, at every `parse`); DynamoDB parses each UpdateExpression text once (moto parsed it
  twice per UpdateItem); moto dispatches an action without listing the response class's
  methods (`inspect.getmembers`) at every request.
- SQS reads the clock with `time.time()` instead of building datetimes (moto checks every
  message's visibility and delay on each send and receive), and checks a received message's
  retention period by reading that one attribute instead of computing every queue attribute,
  each of which counts the queue's messages.
"""

from __future__ import annotations

import contextvars
import copy
import datetime
import functools
import logging
import queue
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import moto.backend_index as backend_index
import moto.backends
import moto.core.responses
import moto.sqs.models
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from moto.awslambda.models import LambdaBackend, LambdaFunction, LayerDataType
from moto.core.base_backend import BackendDict
from moto.core.botocore_stubber import BotocoreStubber, MockRawResponse
from moto.core.models import botocore_stubber
from moto.core.request import normalize_request
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.settings import moto_server_port
from moto.sqs.models import Message, SQSBackend
from moto.ssm.models import Parameter, ParameterDict
from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.component.program.program import Program
from moto.stepfunctions.parser.asl.component.state.exec import execute_state
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_sqs
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.utils import boto_client, json_path
from moto.stepfunctions.parser.backend import execution_worker
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from werkzeug.exceptions import HTTPException

from dofs_config.stage import (
    LOCAL_ACCOUNT_ID,
    POWERTOOLS_PACKAGE,
    POWERTOOLS_PARAMETER_PREFIX,
    POWERTOOLS_PUBLISHER_ACCOUNT,
    packaged_runtime,
    powertools_layer_name,
    powertools_layer_parameter,
)
from dofs_local.emulated import create_time_checks, lambda_logging

_backend_lock = threading.RLock()
LONG_POLL_INTERVAL_SECONDS = 0.02


def _atomic(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with _backend_lock:
            return method(*args, **kwargs)

    locked.__dofs_atomic__ = True  # type: ignore[attr-defined]
    return locked


def _atomic_snapshot(method: Callable[..., Any]) -> Callable[..., Any]:
    """A read under the lock that returns a copy: moto serialises the items it returns after the
    call, and a write in another thread changing them meanwhile broke that ("dictionary changed
    size during iteration" in GetItem's response)."""

    @functools.wraps(method)
    def snapshot(*args: Any, **kwargs: Any) -> Any:
        with _backend_lock:
            return copy.deepcopy(method(*args, **kwargs))

    snapshot.__dofs_atomic__ = True  # type: ignore[attr-defined]
    return snapshot


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


class InProcessDispatch:
    """A botocore `before-send` hook that answers a request to this emulator from moto's backends
    in this process, as moto's own in-process mock does, instead of over HTTP: the request is
    still serialized by botocore, parsed and answered by moto's API layer and parsed back by
    botocore; only the socket, werkzeug and Flask are skipped. Requests to any other endpoint
    are left alone (the hook answers None)."""

    def __init__(self, endpoint: str) -> None:
        self._netloc = urlsplit(endpoint).netloc.replace("localhost", "127.0.0.1")

    def __call__(self, request: AWSPreparedRequest, **event: Any) -> AWSResponse | None:
        parts = urlsplit(request.url)
        if parts.netloc.replace("localhost", "127.0.0.1") != self._netloc:
            return None
        # SigV4's credential scope (key/date/region/service/aws4_request) names the service's
        # AWS host, which moto's URL patterns match.
        authorization: str | bytes = request.headers.get("Authorization", b"")
        text = authorization.decode() if isinstance(authorization, bytes) else authorization
        _, _, region, signing_name, _ = text.split(",")[0].split("Credential=")[-1].split("/")
        host = f"{signing_name}.{region}.amazonaws.com"
        request.url = urlunsplit(("https", host, parts.path, parts.query, ""))
        normalized = normalize_request(request)
        handler = _handler_for(f"https://{host}{parts.path}")
        try:
            status, headers, body = handler(normalized, normalized.raw_url, normalized.headers)
        except HTTPException as error:  # moto answers some errors by raising them
            status, headers, body = error.code or 500, dict(error.get_headers()), error.get_body()
        return AWSResponse(request.url, status, headers, MockRawResponse(body))


@functools.lru_cache(maxsize=256)
def _handler_for(url: str) -> Callable[[Any, str, Any], Any]:
    """moto's handler of a URL, found as its in-process mock finds it (BotocoreStubber), once."""
    for service, pattern in backend_index.backend_url_patterns:
        if pattern.match(url):
            backend_dict: Any = getattr(moto.backends, "get_backend")(service)  # noqa: B009 - typed per name
            if isinstance(backend_dict, BackendDict):
                regions = backend_dict[LOCAL_ACCOUNT_ID]
                backend = regions["us-east-1"] if "us-east-1" in regions else regions["aws"]
            else:
                backend = backend_dict["global"]
            for url_pattern, handler in backend.urls.items():
                if re.compile(url_pattern).match(url):
                    return handler  # type: ignore[no-any-return]
    raise RuntimeError(f"moto has no handler for {url}")  # never fall through to a real network call


def reuse_workflow_clients() -> None:
    """The interpreter's Lambda and SQS tasks get a cached client (boto3 clients are thread-safe),
    whose requests are answered in this process when the interpreter runs in the server."""
    if getattr(getattr(lambda_eval_utils, "boto_client_for", None), "__dofs_cached__", False):
        return
    clients: dict[tuple[str, str, bool, str], Any] = {}
    lock = threading.Lock()

    def cached_client(region: str, service: str, state_credentials: Any = None) -> Any:
        # In-process mocks and the server need different clients (moto picks the endpoint).
        in_process_mock = botocore_stubber.enabled
        key = (region, service, in_process_mock, moto_server_port())
        with lock:
            if key not in clients:
                client = boto_client.boto_client_for(region, service, state_credentials)
                if not in_process_mock:  # the interpreter calls this server: no need for HTTP
                    client.meta.events.register("before-send", InProcessDispatch(client.meta.endpoint_url))
                clients[key] = client
            return clients[key]

    cached_client.__dofs_cached__ = True  # type: ignore[attr-defined]
    for module in (lambda_eval_utils, state_task_service_sqs):
        module.boto_client_for = cached_client  # type: ignore[attr-defined]


def compile_json_paths_once() -> None:
    """A JSONPath compiles to the same expression every time; `find` and `update_or_create`
    leave the expression unchanged, so one compiled expression serves every execution."""
    for module in (json_path, result_path):
        parse = getattr(module, "parse")  # noqa: B009 - not re-exported by every module
        if not getattr(parse, "__dofs_cached__", False):
            cached = functools.lru_cache(maxsize=1024)(parse)
            cached.__dofs_cached__ = True  # type: ignore[attr-defined]
            setattr(module, "parse", cached)  # noqa: B010


def parse_update_expressions_once() -> None:
    """moto parses an UpdateExpression twice per UpdateItem (its response layer, then its backend)
    and only ever reads the tree: its validator works on a deep copy. Parse each text once."""
    make = UpdateExpressionParser.make
    if getattr(make, "__dofs_cached__", False):
        return
    cached = functools.lru_cache(maxsize=1024)(make)
    cached.__dofs_cached__ = True  # type: ignore[attr-defined]
    UpdateExpressionParser.make = cached


def list_action_methods_once() -> None:
    """moto listed a response class's methods (inspect.getmembers) at every request. List them
    once per class, again only when a class in its MRO gains or loses an attribute (a test or a
    patch can add an action to a response class after the first request)."""
    names_of = getattr(moto.core.responses, "method_names_from_class")  # noqa: B009 - not re-exported
    if getattr(names_of, "__dofs_cached__", False):
        return
    listed: dict[tuple[Any, ...], list[str]] = {}

    def cached(clazz: Any) -> list[str]:
        key = (clazz, *(len(vars(base)) for base in getattr(clazz, "__mro__", ())))
        if key not in listed:
            listed[key] = names_of(clazz)
        return listed[key]

    cached.__dofs_cached__ = True  # type: ignore[attr-defined]
    setattr(moto.core.responses, "method_names_from_class", cached)  # noqa: B010


class _WorkerPool:
    """Threads that run one callable after another, as many as are busy at once: a call never
    waits for a worker (a state that overran its TimeoutSeconds keeps its worker, as moto's own
    thread kept running), and a worker idle for `IDLE_WORKER_SECONDS` ends."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._tasks: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0  # workers waiting for a task that no submitted task has claimed yet
        self.started = 0  # workers started so far (the tests read it)

    def submit(self, task: Callable[[], None]) -> None:
        with self._lock:
            if self._idle:
                self._idle -= 1
            else:
                self.started += 1
                threading.Thread(target=self._work, name=f"{self._name}-{self.started}", daemon=True).start()
        self._tasks.put(task)

    def _work(self) -> None:
        while True:
            try:
                task = self._tasks.get(timeout=IDLE_WORKER_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self._idle:  # no task is on its way to this worker: end it
                        self._idle -= 1
                        return
                continue
            # A fresh context, as a new thread starts with: no context variable leaks between tasks.
            contextvars.Context().run(_run_logging_errors, task)
            with self._lock:
                self._idle += 1


def _run_logging_errors(task: Callable[[], None]) -> None:
    try:
        task()
    except Exception:  # a thread would have printed it and ended; the worker logs it and goes on
        logging.getLogger(__name__).exception("workflow task failed in its worker")


IDLE_WORKER_SECONDS = 30.0
_workflow_workers = _WorkerPool("sfn-worker")


class PooledThread:
    """What moto's interpreter uses of a `threading.Thread` (start, join with a timeout,
    is_alive), run by a reused worker instead of a new thread."""

    __slots__ = ("_args", "_done", "_kwargs", "_started", "_target")

    def __init__(
        self,
        group: None = None,
        target: Callable[..., Any] | None = None,
        name: str | None = None,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        daemon: bool | None = None,
    ) -> None:
        self._target = target
        self._args = args
        self._kwargs = kwargs or {}
        self._started = False
        self._done = threading.Event()

    def start(self) -> None:
        self._started = True
        _workflow_workers.submit(self._run)

    def _run(self) -> None:
        try:
            if self._target is not None:
                self._target(*self._args, **self._kwargs)
        finally:
            self._target, self._args, self._kwargs = None, (), {}  # moto keeps every handle: drop what it ran
            self._done.set()

    def join(self, timeout: float | None = None) -> None:
        self._done.wait(timeout)

    def is_alive(self) -> bool:
        return self._started and not self._done.is_set()


def _pooled_program_eval(self: Program, env: Environment) -> None:
    """moto's `Program.eval` with a pooled worker for its thread: the execution's TimeoutSeconds
    is enforced the same way, by waiting for the worker at most that long."""
    timeout = self.timeout_seconds.timeout_seconds if self.timeout_seconds else None
    env.next_state_name = self.start_at.start_at_name
    worker = PooledThread(target=functools.partial(EvalComponent.eval, self), args=(env,))
    worker.start()
    worker.join(timeout=timeout)
    if worker.is_alive():
        env.set_timed_out()


# What each patch replaced, as moto defined it: the upgrade checks read these, not the patches.
ORIGINALS: dict[tuple[Any, str], Any] = {}


def _replace(owner: Any, attribute: str, replacement: Any) -> None:
    ORIGINALS.setdefault((owner, attribute), getattr(owner, attribute, None))
    setattr(owner, attribute, replacement)


def replaced(owner: Any, attribute: str) -> Any:
    """What `owner.attribute` was before a patch replaced it (or is, where none did)."""
    return ORIGINALS[(owner, attribute)] if (owner, attribute) in ORIGINALS else getattr(owner, attribute, None)


def reuse_workflow_threads() -> None:
    """moto's interpreter starts a thread per execution, another for its program, and one per
    Task state (it enforces TimeoutSeconds by waiting for that thread): about a fifth of the
    stack's CPU went to starting and switching them. Each now runs on a reused worker; every
    timeout is still enforced by waiting for its worker at most that long."""
    if getattr(execute_state, "Thread") is PooledThread:  # noqa: B009 - typed as threading.Thread
        return
    for module in (execute_state, execution_worker):  # both call `Thread(target=..., daemon=True)`
        _replace(module, "Thread", PooledThread)
    _replace(Program, "eval", _pooled_program_eval)


def unix_time(dt: datetime.datetime | None = None) -> float:
    """moto's `unix_time`: seconds since the epoch, of `dt` (naive UTC) or of now."""
    if dt is None:
        return time.time()
    return (dt - _EPOCH).total_seconds()


def unix_time_millis(dt: datetime.datetime | None = None) -> float:
    return unix_time(dt) * 1000.0


_EPOCH = datetime.datetime(1970, 1, 1)


def _retention_check(self: SQSBackend, queue_name: str, message: Message) -> bool:
    # Set from the queue's MessageRetentionPeriod attribute (Queue._set_attributes).
    retention_period = int(getattr(self.get_queue(queue_name), "message_retention_period"))  # noqa: B009
    return bool(retention_period + message.sent_timestamp / 1000 > unix_time())  # type: ignore[operator]


def cheaper_sqs_bookkeeping() -> None:
    sqs = moto.sqs.models
    if getattr(sqs, "unix_time_millis") is unix_time_millis:  # noqa: B009 - not re-exported
        return
    setattr(sqs, "unix_time", unix_time)  # noqa: B010
    setattr(sqs, "unix_time_millis", unix_time_millis)  # noqa: B010
    SQSBackend.is_message_valid_based_on_retention_period = _retention_check  # type: ignore[method-assign]


# Accounts that publish public layers every account may use: Powertools for AWS Lambda (Python).
PUBLIC_LAYER_ACCOUNTS = frozenset({POWERTOOLS_PUBLISHER_ACCOUNT})


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


POWERTOOLS_ARCHITECTURES = ("x86_64", "arm64")
# The emulator's stand-in for the layer version number Powertools gave the release in a region:
# the stack and the tests never read it, only that the parameter names a layer of the publisher.
EMULATED_LAYER_VERSION = 1


def publish_powertools_parameters() -> None:
    """Powertools' public SSM parameters, as AWS answers them (moto has none, and refuses user
    parameters under /aws): the installed release's layer, for this interpreter's Python (the
    runtime Chalice packages) and each architecture; any other release is not found."""
    original = ParameterDict._check_loading_status
    if getattr(original, "__dofs_powertools__", False):
        return
    release = version(POWERTOOLS_PACKAGE)
    runtime = packaged_runtime()
    first = powertools_layer_parameter(POWERTOOLS_ARCHITECTURES[0], runtime, release)

    def check_loading_status(self: ParameterDict, key: str) -> None:
        original(self, key)
        if str(key or "").startswith(POWERTOOLS_PARAMETER_PREFIX):
            with publishing:
                publish(self)

    def publish(self: ParameterDict) -> None:
        # Once per account and region (dict's own lookup: ParameterDict's would recurse here).
        if not dict.__contains__(self, first):
            for architecture in POWERTOOLS_ARCHITECTURES:
                layer = powertools_layer_name(architecture, runtime, release)
                arn = f"arn:aws:lambda:{self.region_name}:{POWERTOOLS_PUBLISHER_ACCOUNT}:layer:{layer}"
                arn += f":{EMULATED_LAYER_VERSION}"
                name = powertools_layer_parameter(architecture, runtime, release)
                defaultdict.__getitem__(self, name).append(  # each value lists the parameter's versions
                    Parameter(  # type: ignore[abstract]  # as moto builds its own public parameters
                        account_id=self.account_id, name=name, value=arn, parameter_type="String",
                        description=None, allowed_pattern=None, keyid=None,
                        last_modified_date=datetime.datetime.now(datetime.UTC), version=1, data_type="text",
                    )
                )  # fmt: skip

    publishing = threading.Lock()  # two first reads at once would each publish version 1
    check_loading_status.__dofs_powertools__ = True  # type: ignore[attr-defined]
    _replace(ParameterDict, "_check_loading_status", check_loading_status)


def make_backends_atomic() -> None:
    for backend, names, wrap in (
        (DynamoDBBackend, _DYNAMODB_WRITES, _atomic),
        (DynamoDBBackend, _DYNAMODB_READS, _atomic_snapshot),
        (SQSBackend, _SQS_WRITES, _atomic),
    ):
        for name in names:
            method = getattr(backend, name)
            if not getattr(method, "__dofs_atomic__", False):
                setattr(backend, name, wrap(method))
    if not getattr(SQSBackend.receive_message, "__dofs_atomic__", False):
        SQSBackend.receive_message = _atomic_receive(SQSBackend.receive_message)  # type: ignore[method-assign]


@dataclass(frozen=True)
class MotoPatch:
    """What one patch replaces: `owner.attribute`, whose leading parameters it relies on."""

    owner: Any
    attribute: str
    parameters: tuple[str, ...]
    written_for_moto: str = "5.2.5"


# Reads too: moto iterates a table's items while a write in another thread changes them
# ("dictionary changed size during iteration" in GetItem and Scan under load), and serialises
# what a read returns after the call: reads return a copy taken under the lock.
_DYNAMODB_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")
_DYNAMODB_READS = ("get_item", "query", "scan")
_SQS_WRITES = ("delete_message", "delete_message_batch", "send_message", "send_message_batch")
PATCHES: tuple[MotoPatch, ...] = (
    MotoPatch(DomainDispatcherApplication, "get_backend_for_host", ("self", "host")),
    MotoPatch(ExecutionWorker, "_get_evaluation_entrypoint", ("self",)),
    MotoPatch(lambda_eval_utils, "boto_client_for", ("region", "service", "state_credentials")),
    MotoPatch(state_task_service_sqs, "boto_client_for", ("region", "service", "state_credentials")),
    MotoPatch(
        SQSBackend, "receive_message", ("self", "queue_name", "count", "wait_seconds_timeout", "visibility_timeout")
    ),
    *(MotoPatch(DynamoDBBackend, name, ("self",)) for name in (*_DYNAMODB_WRITES, *_DYNAMODB_READS)),
    *(MotoPatch(SQSBackend, name, ("self", "queue_name")) for name in _SQS_WRITES),
    MotoPatch(LambdaBackend, "invoke", ("self", "function_name", "qualifier", "body", "headers", "response_headers")),
    MotoPatch(BotocoreStubber, "process_request", ("self", "request")),
    MotoPatch(json_path, "parse", ("path",)),
    MotoPatch(result_path, "parse", ("string",)),
    MotoPatch(moto.core.responses, "method_names_from_class", ("clazz",)),
    MotoPatch(UpdateExpressionParser, "make", ("expression_str",)),
    MotoPatch(moto.sqs.models, "unix_time", ("dt",)),
    MotoPatch(moto.sqs.models, "unix_time_millis", ("dt",)),
    MotoPatch(SQSBackend, "is_message_valid_based_on_retention_period", ("self", "queue_name", "message")),
    MotoPatch(LambdaFunction, "_get_layers_data", ("self", "layers_versions_arns")),
    MotoPatch(ParameterDict, "_check_loading_status", ("self", "key")),
    MotoPatch(execute_state, "Thread", ("group", "target", "name", "args", "kwargs", "daemon")),
    MotoPatch(execution_worker, "Thread", ("group", "target", "name", "args", "kwargs", "daemon")),
    MotoPatch(Program, "eval", ("self", "env")),
)


def apply_all() -> None:
    """The server's patches (idempotent); the Lambda bridge is installed by the pipeline."""
    # Fidelity.
    make_backends_atomic()
    accept_public_layers()
    lambda_logging.install()
    publish_powertools_parameters()
    create_time_checks.install()  # AWS's create-time checks of roles (see that module)
    # Speed: each saves this share of the CPU of make demo's run / the tests' slice / test_pipeline.py.
    parse_definitions_once()  # 35 % / 12 % / -
    reuse_workflow_clients()  # 13 % / 3 % / -
    compile_json_paths_once()  # 7 % / 5 % / -
    parse_update_expressions_once()  # 1 % / 4 % / -
    cheaper_sqs_bookkeeping()  # 0 % / 4 % / 16 %
    list_action_methods_once()  # 2 % / 2 % / 7 %
    memoise_backend_routing()  # 0 % / 0 % / 6 %
    reuse_workflow_threads()  # 6 % / 1 % / 6 %
