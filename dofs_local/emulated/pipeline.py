"""The whole pipeline on one machine: emulator, workflow, queue pollers and the HTTP API.

    with LocalPipeline(PipelineOptions(api_port=0, aws_port=0)) as stack:
        requests.post(f"{stack.api_url}/order", json=...)

Everything runs in this process: Chalice functions are called in-process, AWS APIs are moto's.
The stack's own AWS calls (the functions', the pollers') reach moto's backends in-process
(`moto_patches.InProcessDispatch`: botocore and moto's API layer, without the socket); anything
else, such as the AWS CLI, reaches the same backends over HTTP at `aws_endpoint`.
"""

from __future__ import annotations

import functools
import importlib
import json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from types import ModuleType, TracebackType
from typing import Any, ClassVar, TextIO

import boto3
from chalice.app import SQSEventConfig
from chalice.cli.factory import CLIFactory
from chalice.local import (
    ChaliceRequestHandler,
    CustomLocalChalice,
    LocalChalice,
    LocalDevServer,
    RouteMatcher,
    ThreadedHTTPServer,
)

from chalicelib import runtime
from chalicelib.cors import route_cors
from chalicelib.openapi import API_KEY_REQUIRED_ENV
from chalicelib.settings import CorsSettings
from dofs_config.stage import LOCAL_ACCOUNT_ID, PROJECT_DIR, Stage, load_stage
from dofs_local.emulated import faults, lambda_bridge, moto_patches
from dofs_local.emulated.api_keys import UsagePlanKeys
from dofs_local.emulated.emulator import Emulator
from dofs_local.emulated.faults import FaultInjector, FaultSettings
from dofs_local.emulated.pollers import EventSource, QueuePoller
from dofs_local.emulated.provisioning import Resources, create_functions, provision

LOCAL_CLIENT = "local"  # the client whose key `require_api_key` gives
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}  # moto accepts any


class PortInUseError(RuntimeError):
    pass


@dataclass(frozen=True)
class PipelineOptions:
    api_port: int = 8000
    aws_port: int = 4566
    host: str = "127.0.0.1"
    stage: str = "local"
    success_rate: float | None = None  # None: FULFILLMENT_SUCCESS_RATE from the environment, else the stage's
    pollers_per_queue: int = 4
    log_stream: TextIO | None = None  # where the functions' JSON log lines go; None: stdout
    quiet_http: bool = False  # drop the API server's per-request access log
    faults: FaultSettings = field(default_factory=FaultSettings)  # fault injection (emulated/faults.py): off
    # Not None: answer 403, as API Gateway does, to a request whose x-api-key is not an enabled key
    # of the stage's usage plan in the emulator (`dofs_ops keys create` makes them); a non-empty
    # value is made the key of client LOCAL_CLIENT at start.
    require_api_key: str | None = None
    # How often the reconciler runs; None: a third of the stage's stuck-order threshold.
    reconcile_every_seconds: float | None = None
    # False: the stack's own AWS calls go over HTTP to the emulator too, as other clients' do.
    in_process_aws: bool = True


class LocalPipeline:
    """One per process: the emulator's backends, the Lambda bridge and os.environ are global."""

    _running: ClassVar[LocalPipeline | None] = None

    def __init__(self, options: PipelineOptions = PipelineOptions()) -> None:
        self.options = options
        self.stage: Stage = load_stage(options.stage)
        self._emulator = Emulator(options.host, options.aws_port)
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._api_server: LocalDevServer | None = None
        self._made_local: list[tuple[Any, type]] = []  # (app, its class) that create_local_server changed
        self._app_globals_before: dict[str, Any] | None = None  # app.py's globals, if imported again
        self._saved_environ: dict[str, str] = {}
        self._saved_log_streams: list[tuple[logging.StreamHandler[Any], Any]] = []
        self._saved_service: str | None = None  # the app's log service, if this stack renamed it
        self._in_process_sessions: list[Any] = []
        self.api_port = options.api_port
        self.resources: Resources | None = None
        self.faults: FaultInjector | None = None
        self._api_keys: UsagePlanKeys | None = None

    @property
    def api_url(self) -> str:
        return f"http://{self.options.host}:{self.api_port}"

    @property
    def aws_endpoint(self) -> str:
        return self._emulator.endpoint

    def __enter__(self) -> LocalPipeline:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        if LocalPipeline._running is not None:
            raise RuntimeError("a local stack is already running in this process; stop it first")
        for port in (self.options.aws_port, self.options.api_port):
            _ensure_free(self.options.host, port)
        self._saved_environ = dict(os.environ)
        LocalPipeline._running = self
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        self._emulator.start()
        for name, value in FAKE_CREDENTIALS.items():
            os.environ.setdefault(name, value)
        os.environ["AWS_DEFAULT_REGION"] = self.stage.region
        os.environ["AWS_ENDPOINT_URL"] = self.aws_endpoint
        # The OpenAPI document the stack serves says whether it needs a key (on AWS: always).
        key_required = "true" if self.options.require_api_key else "false"
        os.environ[API_KEY_REQUIRED_ENV] = key_required  # pragma: allowlist secret
        app_module, api_server = self._create_api_server()
        # Loading the app wrote the stage's variables into os.environ; the API handler's own
        # (STATE_MACHINE_ARN) and this run's overrides go on top.
        os.environ.update(self.stage.api_environment())
        if self.options.success_rate is not None:
            os.environ["FULFILLMENT_SUCCESS_RATE"] = str(self.options.success_rate)
        elif "FULFILLMENT_SUCCESS_RATE" in self._saved_environ:
            os.environ["FULFILLMENT_SUCCESS_RATE"] = self._saved_environ["FULFILLMENT_SUCCESS_RATE"]
        self.faults = faults.activate(self.options.faults)  # before the app creates its clients
        session = boto3.Session(region_name=self.stage.region)
        if self.options.in_process_aws:  # before any client is created: a client copies the hooks
            self._dispatch_in_process(boto3._get_default_session(), session)
        runtime.reset()
        runtime.api_settings()  # a bad setting fails here, at start-up, with its name
        self._configure_logs()

        self.resources = provision(self.stage, session)
        self._api_keys = UsagePlanKeys(session.client("apigateway"), self.resources.usage_plan_id)
        if self.options.require_api_key:
            self._api_keys.add(self.stage, LOCAL_CLIENT, self.options.require_api_key)
        # moto builds each service's URL router on first use; workflows hitting Lambda for the
        # first time from many threads at once can crash that build on CPython 3.11 ("AST
        # constructor recursion depth mismatch": a 500 that ends the execution). Build it now.
        session.client("lambda").list_functions()
        app = app_module.app
        # The reconciler's variables (its function's, on AWS); the other functions ignore them.
        reconciler_environment = self.stage.reconciler_environment(self.resources.order_queue_url)
        os.environ.update(reconciler_environment)
        create_functions(self.stage, session, _function_environments(app, self.stage, reconciler_environment))
        lambda_bridge.install(
            {self.stage.function_name(f.name): app.handler_map[f.name] for f in app.pure_lambda_functions}
        )
        runtime.reconciler_settings()
        self._threads.append(
            ReconcilerTimer(
                app.handler_map[RECONCILER_HANDLER],
                self.stage.function_name(RECONCILER_HANDLER),
                self.reconcile_every_seconds,
                self._stopping,
            )
        )
        sqs = session.client("sqs")
        for source in self._event_sources(app_module, self.resources):
            for _ in range(self.options.pollers_per_queue):
                self._threads.append(QueuePoller(sqs, source, self._stopping))
        self._api_server = api_server
        self._threads.append(threading.Thread(target=api_server.server.serve_forever, name="api", daemon=True))
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        if LocalPipeline._running is not self:
            return  # never started, or already stopped
        if self._api_server is not None:
            self._api_server.shutdown()
            self._api_server.server.server_close()
            self._api_server = None
        # create_local_server turned the app into a LocalChalice, whose current request lives in
        # its server's threads: give it back its class, for the tests' Client and the next stack.
        for app, app_class in self._made_local:
            app.__class__ = app_class
        self._made_local.clear()
        # Imported again for this stage: its globals back as they were, since the functions of the
        # app object the process imported first read them (the tests' Client calls that object).
        if self._app_globals_before is not None:
            module_globals = vars(sys.modules["app"])
            module_globals.clear()
            module_globals.update(self._app_globals_before)
            self._app_globals_before = None
        if self.resources is not None:
            self._wait_for_executions(self.resources.state_machine_arn)
        self._stopping.set()
        for thread in self._threads:
            if thread.ident is not None:  # a start that failed half-way left some unstarted
                thread.join(timeout=10)
        self._threads.clear()
        self._emulator.stop()
        for session in self._in_process_sessions:
            session.events.unregister("before-send", unique_id=IN_PROCESS_HOOK)
        self._in_process_sessions.clear()
        lambda_bridge.uninstall()
        faults.deactivate()
        self._restore_logs()
        os.environ.clear()
        os.environ.update(self._saved_environ)
        runtime.reset()
        LocalPipeline._running = None

    def _accepts_key(self, value: str) -> bool:
        return self._api_keys is not None and self._api_keys.allows(value)

    def _dispatch_in_process(self, *sessions: Any) -> None:
        dispatch = moto_patches.InProcessDispatch(self.aws_endpoint)
        for session in sessions:
            session.events.register("before-send", dispatch, unique_id=IN_PROCESS_HOOK)
            self._in_process_sessions.append(session)

    def _create_api_server(self) -> tuple[ModuleType, LocalDevServer]:
        factory = CLIFactory(project_dir=str(PROJECT_DIR), environ=os.environ)
        config = factory.create_config_obj(chalice_stage_name=self.stage.name)
        _, self._app_globals_before = import_app_for_the_stage(self.stage)
        app = config.chalice_app
        if not isinstance(app, LocalChalice):  # else made local by an earlier stack in this process
            self._made_local.append((app, type(app)))
            # What chalice.local.create_local_server does, which cannot be given a server class.
            CustomLocalChalice.__bases__ = (LocalChalice, type(app))
            app.__class__ = CustomLocalChalice
        server = LocalDevServer(app, config, self.options.host, self.options.api_port, server_cls=_ApiHttpServer)
        handler = _QuietRequestHandler if self.options.quiet_http else _RequestHandler
        server.server.RequestHandlerClass = functools.partial(
            handler,
            app_object=app,
            config=config,
            key_check=None if self.options.require_api_key is None else self._accepts_key,
            function_name=self.stage.function_name(API_HANDLER),
        )
        # Handler threads are joined on close; an idle keep-alive connection ends within `timeout`.
        server.server.daemon_threads = False
        server.server.block_on_close = True
        self.api_port = server.server.server_address[1]
        import app as app_module  # loaded by create_config_obj above

        return app_module, server

    def _event_sources(self, app_module: ModuleType, resources: Resources) -> Iterator[EventSource]:
        """The app's own `on_sqs_message` settings (batch size, window), bound to local queues."""
        queues = {
            app_module.ORDER_QUEUE_ARN: (resources.order_queue_url, resources.order_queue_arn),
            app_module.ORDER_DLQ_ARN: (resources.order_dlq_url, resources.order_dlq_arn),
        }
        for config in app_module.app.event_sources:
            if not isinstance(config, SQSEventConfig):  # the reconciler's schedule: ReconcilerTimer
                continue
            queue_url, queue_arn = queues[config.queue_arn]
            yield EventSource(
                function_name=self.stage.function_name(config.name),
                handler=app_module.app.handler_map[config.name],
                queue_url=queue_url,
                queue_arn=queue_arn,
                batch_size=config.batch_size,
                batching_window_seconds=config.maximum_batching_window_in_seconds,
                region=self.stage.region,
            )

    @property
    def reconcile_every_seconds(self) -> float:
        if self.options.reconcile_every_seconds is not None:
            return self.options.reconcile_every_seconds
        return self.stage.stuck_order_threshold_seconds / 3

    def _configure_logs(self) -> None:
        """The app's log lines name the stage's service, as in a Lambda container, where the
        variables are set before the app is imported: this process may have imported the app
        before (the tests, the bench), under other variables. They go to `log_stream` if set."""
        from chalicelib.observability import logger  # imported with the app

        service = self.stage.environment.get("POWERTOOLS_SERVICE_NAME")
        if service is not None and logger.service != service:
            self._saved_service = logger.service
            logger.append_keys(service=service)  # the formatter's, shared by every invocation
        if self.options.log_stream is None:
            return
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler):
                self._saved_log_streams.append((handler, handler.setStream(self.options.log_stream)))

    def _restore_logs(self) -> None:
        from chalicelib.observability import logger

        for handler, stream in self._saved_log_streams:
            handler.setStream(stream)
        self._saved_log_streams.clear()
        if self._saved_service is not None:
            logger.append_keys(service=self._saved_service)
            self._saved_service = None

    def _wait_for_executions(self, state_machine_arn: str, timeout: float = 15.0) -> None:
        """Lets workflows already started finish, so none calls back into a stopped emulator."""
        try:
            stepfunctions = boto3.client("stepfunctions", endpoint_url=self.aws_endpoint, region_name=self.stage.region)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                running = stepfunctions.list_executions(stateMachineArn=state_machine_arn, statusFilter="RUNNING")
                if not running["executions"]:
                    return
                time.sleep(0.1)
        except Exception:  # the emulator is already gone: nothing left to wait for
            return


def import_app_for_the_stage(stage: Stage) -> tuple[ModuleType, dict[str, Any] | None]:
    """app.py as the stage's Lambda container imports it: with the stage's variables set, since it
    reads its CORS setting at import; os.environ is left as it was. Already imported under other
    settings (the tests import it), it is imported again, and its globals from before are returned
    with it so that the caller can put them back (None: imported as it is, or for the first time)."""
    imported = sys.modules.get("app")
    if imported is not None and route_cors(CorsSettings.from_env(stage.environment)) == imported.CORS:
        return imported, None
    saved_environ = dict(os.environ)
    os.environ.update(stage.environment)
    try:
        if imported is None:
            return importlib.import_module("app"), None
        globals_before = dict(vars(imported))
        return importlib.reload(imported), globals_before
    finally:
        os.environ.clear()
        os.environ.update(saved_environ)


def _function_environments(app: Any, stage: Stage, reconciler: dict[str, str]) -> dict[str, dict[str, str]]:
    """Each of the app's functions (workflow tasks, queue handlers, the reconciler) with the
    variables it runs with here: the stage's, with this run's success rate, as Chalice sets them."""
    shared = {name: os.environ[name] for name in (*stage.environment, "FULFILLMENT_SUCCESS_RATE") if name in os.environ}
    names = [function.name for function in app.pure_lambda_functions] + [config.name for config in app.event_sources]
    # As .chalice/config.json gives them: the reconciler its settings, the DLQ handler a round's attempts.
    own = {RECONCILER_HANDLER: reconciler, DEAD_LETTER_HANDLER: {"MAX_RECEIVE_COUNT": reconciler["MAX_RECEIVE_COUNT"]}}
    return {name: {**shared, **own.get(name, {})} for name in names}


class ReconcilerTimer(threading.Thread):
    """EventBridge's schedule for the app's `reconcile_orders`: one run every period."""

    def __init__(self, handler: Any, function_name: str, every_seconds: float, stop: threading.Event) -> None:
        super().__init__(name="reconciler", daemon=True)
        self._handler = handler
        self._function_name = function_name
        self._every = every_seconds
        self._stopping = stop

    def run(self) -> None:
        while not self._stopping.wait(self._every):
            # A run that fails (an injected fault) is logged by the function; the next one retries.
            lambda_bridge.call_function(self._handler, self._function_name, SCHEDULED_EVENT)


IN_PROCESS_HOOK = "dofs-in-process-aws"
API_HANDLER = "api_handler"  # Chalice's name for the function that serves every route
RECONCILER_HANDLER = "reconcile_orders"
DEAD_LETTER_HANDLER = "handle_dead_letter"
# What EventBridge hands a scheduled function (the reconciler reads none of it).
SCHEDULED_EVENT: dict[str, Any] = {
    "version": "0",
    "id": "local",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": LOCAL_ACCOUNT_ID,
    "time": "1970-01-01T00:00:00Z",
    "region": "us-east-1",
    "resources": [],
    "detail": {},
}


class _ApiHttpServer(ThreadedHTTPServer):
    # The listen backlog: the standard library's 5 reset connections once more than a few
    # clients connected at once (64 clients, a new connection per request: 75 of 200 lost).
    request_queue_size = socket.SOMAXCONN


# The gateway's own answers (no route, no key; a method the route lacks, which Chalice answers
# itself) in the app's error shape, {"error": code, "message": text}; API Gateway's bodies carry
# the message only, which this shape extends.
_GATEWAY_ERRORS = {403: "Forbidden", 405: "MethodNotAllowed"}
_NO_ROUTE_MESSAGE = "Missing Authentication Token"  # API Gateway's words for a path it lacks


def _gateway_error_body(status: int, body: str | bytes | None) -> str:
    try:
        answer = json.loads(body or b"{}")
    except ValueError:
        answer = {}
    message = str(answer.get("message") or answer.get("Message") or _GATEWAY_ERRORS[status])
    code = "MissingAuthenticationToken" if message == _NO_ROUTE_MESSAGE else _GATEWAY_ERRORS[status]
    return json.dumps({"error": code, "message": message}, separators=(",", ":"))


class _RequestHandler(ChaliceRequestHandler):
    timeout = 2.0  # seconds an idle keep-alive connection is kept open

    def __init__(
        self,
        *args: Any,
        key_check: Callable[[str], bool] | None = None,
        function_name: str = API_HANDLER,
        **kwargs: Any,
    ) -> None:
        self._key_check = key_check  # set before the base class handles the request
        self._routes: dict[str, dict[str, Any]] = kwargs["app_object"].routes
        self._function_name = function_name
        super().__init__(*args, **kwargs)

    def _generic_handle(self) -> None:
        # Each request is an invocation of the API's function, with its own log keys and cold start.
        lambda_bridge.run_invocation(self._function_name, self._handle)

    def _handle(self) -> None:
        # `chalice local` ignores api_key_required; API Gateway answers 403 without a valid key,
        # except to a CORS preflight: browsers send OPTIONS without the page's headers.
        if (
            self._key_check is not None
            and self.command != "OPTIONS"
            and not self._key_check(self.headers.get("x-api-key", ""))
        ):
            self._parse_payload()  # read the body, so the connection stays usable
            self._send_http_response(403, {"Content-Type": "application/json"}, '{"message":"Forbidden"}')
            return
        super()._generic_handle()

    def _send_http_response(self, code: int, headers: dict[str, Any], body: str | bytes | None) -> None:
        if code in _GATEWAY_ERRORS:
            body = _gateway_error_body(code, body)
            headers = {**headers, "Content-Type": "application/json"}
        if code == HTTPStatus.METHOD_NOT_ALLOWED:  # RFC 9110: a 405 lists the methods the path has
            route = RouteMatcher(list(self._routes)).match_route(self.path).route
            headers["Allow"] = ", ".join(sorted({*self._routes[route], "OPTIONS"}))
        super()._send_http_response(code, headers, body)

    # The base class binds its own _generic_handle to each method; rebind them to the one above.
    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    def __getattr__(self, name: str) -> Any:
        """Any other method (TRACE, QUERY, ...) goes to the gateway too, which answers it as API
        Gateway does: JSON 403 for a path it does not serve, 405 for a method a route lacks. The
        base class would answer an HTML 501 page."""
        if name.startswith("do_"):
            return self._generic_handle
        raise AttributeError(name)


class _QuietRequestHandler(_RequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


def _ensure_free(host: str, port: int) -> None:
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise PortInUseError(
                f"{host}:{port} is already in use (is `make local` running?); choose another port"
            ) from exc
