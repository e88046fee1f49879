"""What one run of the local stack did, counted in-process: every AWS request (from botocore),
every Lambda invocation with its wall-clock time, its own CPU time and the AWS calls it made,
and when each order became terminal."""

from __future__ import annotations

import io
import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from botocore.client import BaseClient

from chalicelib.api import OrderApi
from chalicelib.repository import DeadLetterOutcome, DynamoOrderRepository

API_HANDLER = "api_handler"


@dataclass
class Invocation:
    """One call of a handler: its wall-clock time (on this machine: it includes the emulator's
    time and the machine's load), the CPU time of its own thread (`time.thread_time`: the
    handler's code and botocore's client side, not the emulator's threads that serve its calls),
    the SQS messages it was given (none unless an SQS batch) and the AWS calls it made."""

    wall_s: float
    cpu_s: float
    message_ids: tuple[str, ...] = ()
    calls: Counter[str] = field(default_factory=Counter)  # "service.Operation" -> count
    log_lines: Counter[str] = field(default_factory=Counter)  # its JSON log lines, by level
    log_bytes: Counter[str] = field(default_factory=Counter)


_LEVEL = re.compile(r'"level":\s*"(\w+)"')


class MeteredLogStream(io.StringIO):
    """The functions' log stream: each line written while a handler runs counts for that
    invocation (logging writes in the caller's thread), so a message the local stage redelivers
    does not add lines to an order's bill."""

    def __init__(self, meter: Meter) -> None:
        super().__init__()
        self._meter = meter

    def write(self, text: str) -> int:
        current: Invocation | None = getattr(self._meter._local, "invocation", None)
        if current is not None:
            for line in text.splitlines():
                level = _LEVEL.search(line)
                if level is not None:
                    current.log_lines[level.group(1)] += 1
                    current.log_bytes[level.group(1)] += len(line.encode()) + 1  # and its newline
        return super().write(text)


class Meter:
    def __init__(self) -> None:
        self.aws_calls: Counter[tuple[str, str]] = Counter()
        self.invocations: defaultdict[str, list[Invocation]] = defaultdict(list)
        self.terminal_at: dict[str, float] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        self._restore: list[tuple[Any, str, Any]] = []

    @contextmanager
    def uncounted(self) -> Iterator[None]:
        """The harness's own AWS calls (progress scans) are not part of the bill."""
        self._local.off = True
        try:
            yield
        finally:
            self._local.off = False

    def reset(self) -> None:
        with self._lock:
            self.aws_calls.clear()
            self.invocations.clear()

    def install(self, app_module: ModuleType) -> None:
        """Call before the stack starts: clients and handlers are bound at start-up."""
        self._patch(BaseClient, "_make_api_call", self._counting(BaseClient._make_api_call))
        app = app_module.app
        for name in [f.name for f in app.pure_lambda_functions] + [e.name for e in app.event_sources]:
            self._patch(app.handler_map, name, self._timed(name, app.handler_map[name]), item=True)
        for method in ("create_order", "get_order"):
            self._patch(OrderApi, method, self._timed(API_HANDLER, getattr(OrderApi, method)))
        self._observe_terminal()

    def uninstall(self) -> None:
        for target, name, original in reversed(self._restore):
            if isinstance(target, dict):
                target[name] = original
            else:
                setattr(target, name, original)
        self._restore.clear()

    def _patch(self, target: Any, name: str, replacement: Any, item: bool = False) -> None:
        original = target[name] if item else getattr(target, name)
        self._restore.append((target, name, original))
        if item:
            target[name] = replacement
        else:
            setattr(target, name, replacement)

    def _counting(self, original: Callable[..., Any]) -> Callable[..., Any]:
        meter = self

        def make_api_call(client: Any, operation: str, params: dict[str, Any]) -> Any:
            result: Any = None
            try:
                result = original(client, operation, params)
                return result
            finally:
                empty_poll = operation == "ReceiveMessage" and not (result or {}).get("Messages")
                if not getattr(meter._local, "off", False) and not empty_poll:
                    service = client.meta.service_model.service_name
                    with meter._lock:
                        meter.aws_calls[(service, operation)] += 1
                    current: Invocation | None = getattr(meter._local, "invocation", None)
                    if current is not None:  # this thread is running a handler: its call
                        current.calls[f"{service}.{operation}"] += 1

        return make_api_call

    def _timed(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        meter = self

        def timed(*args: Any, **kwargs: Any) -> Any:
            event = args[0] if args else None
            records = event.get("Records") if isinstance(event, dict) else None
            ids = tuple(str(r.get("messageId")) for r in records) if isinstance(records, list) else ()
            invocation = Invocation(0.0, 0.0, ids)
            outer = getattr(meter._local, "invocation", None)
            meter._local.invocation = invocation
            began, cpu_began = time.perf_counter(), time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                invocation.cpu_s = time.thread_time() - cpu_began
                invocation.wall_s = time.perf_counter() - began
                meter._local.invocation = outer
                with meter._lock:
                    meter.invocations[name].append(invocation)

        return timed

    def _observe_terminal(self) -> None:
        meter = self

        def mark(order_id: str) -> None:
            with meter._lock:
                meter.terminal_at.setdefault(order_id, time.time())

        record_verdict = DynamoOrderRepository.record_verdict
        mark_fulfilled = DynamoOrderRepository.mark_fulfilled
        dead_letter = DynamoOrderRepository.dead_letter

        def verdict(self: DynamoOrderRepository, order_id: str, execution: str, verdict: Any, now: str) -> bool:
            claimed = record_verdict(self, order_id, execution, verdict, now)
            if claimed and not verdict.valid:
                mark(order_id)
            return claimed

        def fulfilled(self: DynamoOrderRepository, order_id: str, attempt: int, now: str) -> bool:
            done = mark_fulfilled(self, order_id, attempt, now)
            if done:
                mark(order_id)
            return done

        def dead(self: DynamoOrderRepository, record: Any, now: str) -> DeadLetterOutcome:
            outcome = dead_letter(self, record, now)
            if outcome is DeadLetterOutcome.RECORDED:
                mark(record.order_id)
            return outcome

        self._patch(DynamoOrderRepository, "record_verdict", verdict)
        self._patch(DynamoOrderRepository, "mark_fulfilled", fulfilled)
        self._patch(DynamoOrderRepository, "dead_letter", dead)
