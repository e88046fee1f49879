"""Runs Lambda invocations made against moto in this process, with the app's own functions.

moto's Step Functions interpreter invokes Lambda tasks through its Lambda backend, which would
need Docker. `install()` wraps `LambdaBackend.invoke` so that a call naming one of the app's
functions runs that function here and answers as Lambda does: the return value as the payload,
or an unhandled exception as `x-amz-function-error: Unhandled` with `errorType` set to the
exception's class name (which the state machine's Retry and Catch rules match). Calls naming
other functions go to moto unchanged. tests/test_lambda_bridge.py fails if a moto upgrade
moves the method this relies on.

A function's configuration is honoured as on AWS, where `UpdateFunctionConfiguration` gives the
next invocations new containers with the new variables: before each invocation the bridge reads
the function's variables from the emulated Lambda, and when they changed it applies the changed
ones and lets the app rebuild its cached settings (`runtime.reset()`). Every function here shares
this process's environment, so a change is seen by all of them (only the one that reads the
variable cares); a variable removed from the configuration is left as it was.

Lambda runs one invocation at a time per process; here many run at once in one process. So each
invocation runs in a context of its own (`run_invocation`): the keys the app appends to its log
lines with Powertools' standard `append_keys`/`remove_keys` (the order, the Lambda context) are
kept in that context, never in the formatter all threads share, and Powertools' cold start is
the invocation's own: the first of each function since the bridge was installed, or since its
configuration changed (a new environment on AWS too).
"""

from __future__ import annotations

import contextvars
import json
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aws_lambda_powertools.logging.logger as powertools_logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter, clear_context_keys
from moto.awslambda.exceptions import UnknownFunctionException
from moto.awslambda.models import LambdaBackend, lambda_backends

from chalicelib import runtime
from dofs_config.stage import LOCAL_ACCOUNT_ID
from dofs_local.emulated import faults

Handler = Callable[[Any, Any], Any]
T = TypeVar("T")

_lock = threading.Lock()
_handlers: dict[str, Handler] = {}
_original_invoke = LambdaBackend.invoke
# Each function's variables as the bridge last saw them in the emulated Lambda.
_environments: dict[str, dict[str, str]] = {}
# Functions whose emulated environment has served an invocation (the next one is warm).
_warm: set[str] = set()
# The running invocation's cold start; None outside an emulated invocation.
_cold_start: contextvars.ContextVar[bool | None] = contextvars.ContextVar("dofs_cold_start", default=None)


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int = 256
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def function_name_of(name_or_arn: str) -> str:
    """`dofs-local-x`, `arn:aws:lambda:...:function:dofs-local-x[:qualifier]` -> `dofs-local-x`."""
    if name_or_arn.startswith("arn:"):
        return name_or_arn.split(":")[6]
    return name_or_arn.split(":")[0]


def call_function(handler: Handler, function_name: str, event: Any) -> tuple[Any, dict[str, Any] | None]:
    """Runs one invocation; returns (result, None) or (None, Lambda's error payload)."""
    _apply_configuration(function_name)
    injector = faults.active()  # None unless the stack runs with fault injection on
    if injector is not None:
        injector.invoked(function_name, event)
    result: Any = None
    error: dict[str, Any] | None = None
    try:
        result = run_invocation(function_name, lambda: handler(event, LambdaContext(function_name)))
    except Exception as exc:  # a Lambda function's unhandled error is data for its caller
        error = {"errorMessage": str(exc), "errorType": type(exc).__name__, "stackTrace": []}
    timeout = injector.timed_out(function_name) if injector is not None else None
    if timeout is not None:  # the work may be done, but the caller only learns of the timeout
        return None, timeout
    return result, error


def run_invocation(function_name: str, invoke: Callable[[], T]) -> T:
    """Runs one invocation of the function in a context of its own (see above)."""
    with _lock:
        cold_start = function_name not in _warm
        _warm.add(function_name)

    def in_own_context() -> T:
        clear_context_keys()  # none of the caller's keys
        _cold_start.set(cold_start)
        return invoke()

    return contextvars.copy_context().run(in_own_context)


def _is_cold_start() -> bool:
    cold_start = _cold_start.get()
    return _powertools_is_cold_start() if cold_start is None else cold_start


def _append_keys(self: LambdaPowertoolsFormatter, **keys: Any) -> None:
    if _cold_start.get() is None:
        _formatter_append_keys(self, **keys)
    else:
        self.thread_safe_append_keys(**keys)


def _remove_keys(self: LambdaPowertoolsFormatter, keys: Iterable[str]) -> None:
    if _cold_start.get() is None:
        _formatter_remove_keys(self, keys)
    else:
        self.thread_safe_remove_keys(keys)


_powertools_is_cold_start = powertools_logger._is_cold_start
_formatter_append_keys = LambdaPowertoolsFormatter.append_keys
_formatter_remove_keys = LambdaPowertoolsFormatter.remove_keys


def _isolate_invocations(on: bool) -> None:
    powertools_logger._is_cold_start = _is_cold_start if on else _powertools_is_cold_start
    LambdaPowertoolsFormatter.append_keys = _append_keys if on else _formatter_append_keys  # type: ignore[method-assign]
    LambdaPowertoolsFormatter.remove_keys = _remove_keys if on else _formatter_remove_keys  # type: ignore[method-assign]


def _apply_configuration(function_name: str) -> None:
    """Applies the function's variables if they changed in the emulated Lambda since last seen
    (an operator's `aws lambda update-function-configuration --environment ...`)."""
    configured = _configured_environment(function_name)
    if configured is None:
        return  # not created in the emulator (a test calling a handler alone): nothing to honour
    with _lock:
        seen = _environments.setdefault(function_name, configured)
        changed = {name: value for name, value in configured.items() if seen.get(name) != value}
        if not changed:
            return
        _environments[function_name] = configured
        _warm.discard(function_name)
        os.environ.update(changed)
    runtime.reset()


def _configured_environment(function_name: str) -> dict[str, str] | None:
    try:
        backend = lambda_backends[LOCAL_ACCOUNT_ID][os.environ.get("AWS_DEFAULT_REGION", "us-east-1")]
        return dict(backend.get_function(function_name).environment_vars)
    except UnknownFunctionException:
        return None


def invoke_in_process(handler: Handler, function_name: str, body: str | bytes | None) -> tuple[bytes, bool]:
    """Returns the payload and whether the function failed, as Lambda's Invoke API reports them."""
    result, error = call_function(handler, function_name, json.loads(body) if body else {})
    if error is not None:
        return json.dumps(error).encode(), True
    return json.dumps(result, default=str).encode(), False


def _invoke(
    self: LambdaBackend, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
) -> str | bytes | None:
    name = function_name_of(function_name)
    with _lock:
        handler = _handlers.get(name)
    if handler is None:
        return _original_invoke(self, function_name, qualifier, body, headers, response_headers)
    payload, failed = invoke_in_process(handler, name, body)
    if failed:
        response_headers["x-amz-function-error"] = "Unhandled"
    response_headers["Content-Length"] = str(len(payload))
    return payload


def install(handlers: Mapping[str, Handler]) -> None:
    """Route invocations of these function names to these callables (adds to earlier ones).
    Functions already created in the emulator start from their configuration as it is now."""
    for name in handlers:
        configured = _configured_environment(name)
        if configured is not None:
            with _lock:
                _environments[name] = configured
    with _lock:
        _handlers.update(handlers)
        LambdaBackend.invoke = _invoke  # type: ignore[method-assign]
        _isolate_invocations(True)


def uninstall() -> None:
    with _lock:
        _handlers.clear()
        _environments.clear()
        _warm.clear()
        LambdaBackend.invoke = _original_invoke  # type: ignore[method-assign]
        _isolate_invocations(False)
