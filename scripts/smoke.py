#!/usr/bin/env python3
"""End-to-end smoke test of a DOFS deployment: standard library only, so it runs anywhere.

It posts one valid order with a unique ``order_id``, expects ``202`` and a ``Location``
header, reads the order back at once (``200``; never a 404 for an accepted order), then
polls ``GET /order/{order_id}`` until the order reaches a terminal status or the timeout
expires. Every step prints one progress line; any failure exits non-zero with a clear
message.

    python3 scripts/smoke.py --api-url http://127.0.0.1:8000
    python3 scripts/smoke.py --api-url https://abc.execute-api.us-east-1.amazonaws.com/api --api-key KEY
    python3 scripts/smoke.py --outputs-json build/deploy-outputs.json --api-key KEY   # `terraform output -json`

On AWS the key is a client's (`python -m dofs_ops keys create CLIENT`); `make smoke-deployed`
makes client smoke's own.

The order is valid, so ``REJECTED`` is a failure. ``FULFILLED`` passes; so does
``DEAD_LETTERED`` by default (fulfillment succeeds 70 % of the time per attempt, so a valid
order dead-letters now and then, and that is the pipeline working); ``--expect`` narrows it.

Exit codes: 0 passed, 1 the deployment misbehaved or timed out, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

TERMINAL_STATUSES = frozenset({"FULFILLED", "DEAD_LETTERED", "REJECTED"})
KNOWN_STATUSES = TERMINAL_STATUSES | {"ACCEPTED", "PENDING", "FAILED"}
# What `--expect` may ask for, and which terminal statuses each one accepts.
EXPECTATIONS: Mapping[str, frozenset[str]] = {
    "terminal": frozenset({"FULFILLED", "DEAD_LETTERED"}),
    "FULFILLED": frozenset({"FULFILLED"}),
    "DEAD_LETTERED": frozenset({"DEAD_LETTERED"}),
}
# Worth another try: throttling, a gateway hiccup, the contract's "workflow could not start".
TRANSIENT_HTTP_STATUSES = frozenset({429, 502, 503, 504})
# Output names tried, in order, when reading `terraform output -json`.
URL_OUTPUT_NAMES = ("api_url", "api_endpoint", "api_invoke_url", "EndpointURL")

DEFAULT_TIMEOUT_SECONDS = 120.0
DEFAULT_INTERVAL_SECONDS = 2.0
DEFAULT_REQUEST_TIMEOUT_SECONDS = 10.0


class SmokeFailure(Exception):
    """The deployment did not behave as the contract says; the message says how."""


class ConfigError(Exception):
    """The smoke test was asked for something it cannot do (bad URL, unreadable outputs)."""


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SmokeFailure(f"HTTP {self.status}: body is not JSON: {self.body[:200]!r}") from exc

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None


class TransportError(Exception):
    """No HTTP response at all (connection refused, DNS, socket timeout)."""


Sender = Callable[[str, str, bytes | None, Mapping[str, str], float], HttpResponse]


def urllib_send(method: str, url: str, body: bytes | None, headers: Mapping[str, str], timeout: float) -> HttpResponse:
    """One HTTP request through urllib; any status, 4xx/5xx included, comes back as a response."""
    request = urllib.request.Request(url, data=body, headers=dict(headers), method=method)  # noqa: S310 - scheme checked
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - scheme checked in SmokeConfig
            return HttpResponse(response.status, dict(response.headers.items()), response.read())
    except urllib.error.HTTPError as exc:
        return HttpResponse(exc.code, dict(exc.headers.items()) if exc.headers else {}, exc.read())
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TransportError(f"{method} {url}: {reason}") from exc


@dataclass(frozen=True)
class SmokeConfig:
    api_url: str
    api_key: str | None = None
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    interval_seconds: float = DEFAULT_INTERVAL_SECONDS
    request_timeout_seconds: float = DEFAULT_REQUEST_TIMEOUT_SECONDS
    expect: str = "terminal"
    order_id: str = field(default_factory=lambda: f"smoke-{uuid.uuid4().hex}")

    def __post_init__(self) -> None:
        parsed = urllib.parse.urlsplit(self.api_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ConfigError(f"API URL must be an http(s) URL, got {self.api_url!r}")
        if self.expect not in EXPECTATIONS:
            raise ConfigError(f"--expect must be one of {', '.join(EXPECTATIONS)}, got {self.expect!r}")
        if self.timeout_seconds <= 0 or self.interval_seconds <= 0:
            raise ConfigError("timeout and interval must be positive")

    @property
    def base_url(self) -> str:
        return self.api_url.rstrip("/")


def order_body(order_id: str) -> dict[str, Any]:
    """A valid order: one item, well under MAX_ORDER_TOTAL, in a supported currency."""
    return {
        "order_id": order_id,
        "customer_id": "smoke-test",
        "items": [{"sku": "SMOKE-SKU-1", "quantity": 1, "unit_price": "1.00"}],
        "currency": "USD",
    }


@dataclass
class SmokeRun:
    """One run of the smoke test; `run()` returns the terminal status or raises SmokeFailure."""

    config: SmokeConfig
    send: Sender = urllib_send
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    out: TextIO | None = None  # None: whatever sys.stdout is at the time
    _deadline: float = 0.0
    _last_transient: str = ""
    _transient_repeats: int = 0

    def log(self, message: str) -> None:
        print(f"[smoke] {message}", file=self.out or sys.stdout, flush=True)

    def run(self) -> str:
        config = self.config
        self._deadline = self.clock() + config.timeout_seconds
        self.log(f"API {config.base_url}, order_id {config.order_id}, timeout {config.timeout_seconds:g}s")
        url = self.post_order()
        first = self.retry_until_deadline("GET", url, None, "GET /order/{order_id} right after the 202")
        order = self.read_order(first, step="GET right after 202")
        status = self.status_of(order)
        self.log(f"GET /order/{config.order_id} -> 200, status {status}")
        last = status
        while status not in TERMINAL_STATUSES:
            remaining = self._deadline - self.clock()
            if remaining <= 0:
                raise SmokeFailure(
                    f"timed out after {config.timeout_seconds:g}s: order {config.order_id} still {status}"
                    f" (attempts {order.get('attempts')}); terminal is one of {', '.join(sorted(TERMINAL_STATUSES))}"
                )
            self.sleep(min(config.interval_seconds, remaining))
            polled = self.request("GET", url, None)
            if polled is None:
                continue
            order = self.read_order(polled, step="poll")
            status = self.status_of(order)
            if status != last:
                self.log(f"status {last} -> {status} (attempts {order.get('attempts')})")
                last = status
        return self.judge(order, status)

    def judge(self, order: Mapping[str, Any], status: str) -> str:
        accepted = EXPECTATIONS[self.config.expect]
        detail = order.get("reason") or order.get("last_error")
        if status == "REJECTED":
            raise SmokeFailure(f"order {self.config.order_id} was REJECTED although it is valid: {detail}")
        if status not in accepted:
            raise SmokeFailure(
                f"order {self.config.order_id} ended {status}, expected {' or '.join(sorted(accepted))}"
                + (f" (last error: {detail})" if detail else "")
            )
        if status == "DEAD_LETTERED":
            self.log(f"order dead-lettered after {order.get('attempts')} attempts (last error: {detail})")
        self.log(f"PASSED: order {self.config.order_id} reached {status}")
        return status

    def headers(self, *, with_body: bool) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "dofs-smoke/1"}
        if with_body:
            headers["Content-Type"] = "application/json"
        if self.config.api_key:
            headers["x-api-key"] = self.config.api_key
        return headers

    def request(self, method: str, url: str, body: bytes | None) -> HttpResponse | None:
        """Sends once; returns None for a transient failure (the caller retries), raises for the rest."""
        try:
            response = self.send(
                method, url, body, self.headers(with_body=body is not None), self.config.request_timeout_seconds
            )
        except TransportError as exc:
            self.transient(str(exc))
            return None
        if response.status in TRANSIENT_HTTP_STATUSES:
            self.transient(f"{method} {url} -> HTTP {response.status}")
            return None
        self._last_transient = ""
        return response

    def transient(self, message: str) -> None:
        """Logs a retryable failure; the same one again only every 10th time, with its count."""
        if message == self._last_transient:
            self._transient_repeats += 1
            if self._transient_repeats % 10 == 0:
                self.log(f"transient: {message} (x{self._transient_repeats + 1}, retrying until the timeout)")
            return
        self._last_transient, self._transient_repeats = message, 0
        self.log(f"transient: {message}")

    def retry_until_deadline(self, method: str, url: str, body: bytes | None, what: str) -> HttpResponse:
        while True:
            response = self.request(method, url, body)
            if response is not None:
                return response
            if self.clock() >= self._deadline:
                raise SmokeFailure(f"timed out after {self.config.timeout_seconds:g}s: {what} never got an answer")
            self.sleep(self.config.interval_seconds)

    def post_order(self) -> str:
        """Posts the order; returns the URL its Location resolves to, against the POST's URL."""
        config = self.config
        body = json.dumps(order_body(config.order_id)).encode("utf-8")
        post_url = f"{config.base_url}/order"
        # A POST is idempotent for one order_id and body, so retrying a transient failure is safe.
        response = self.retry_until_deadline("POST", post_url, body, "POST /order")
        if response.status != 202:
            raise SmokeFailure(f"POST /order -> HTTP {response.status}, expected 202: {response.body[:300]!r}")
        payload = response.json()
        if not isinstance(payload, dict) or payload.get("order_id") != config.order_id:
            raise SmokeFailure(f"POST /order -> 202 but the body does not name order {config.order_id}: {payload!r}")
        if payload.get("status") != "ACCEPTED":
            raise SmokeFailure(f"POST /order -> 202 but status is {payload.get('status')!r}, expected 'ACCEPTED'")
        location = response.header("Location")
        if not location:
            raise SmokeFailure("POST /order -> 202 without a Location header")
        order_url = urllib.parse.urljoin(post_url, location)
        expected_url = f"{config.base_url}/order/{config.order_id}"
        if order_url != expected_url:
            raise SmokeFailure(f"POST /order -> Location {location!r} resolves to {order_url}, not {expected_url}")
        self.log(f"POST /order -> 202 ACCEPTED, Location {location} ({order_url})")
        return order_url

    def read_order(self, response: HttpResponse, *, step: str) -> dict[str, Any]:
        if response.status != 200:
            raise SmokeFailure(
                f"{step}: GET /order/{self.config.order_id} -> HTTP {response.status}, expected 200:"
                f" {response.body[:300]!r}"
            )
        payload = response.json()
        if not isinstance(payload, dict):
            raise SmokeFailure(f"{step}: GET /order/{self.config.order_id} returned {payload!r}, not an object")
        if payload.get("order_id") not in (None, self.config.order_id):
            raise SmokeFailure(f"{step}: GET /order/{self.config.order_id} returned order {payload.get('order_id')!r}")
        return payload

    @staticmethod
    def status_of(order: Mapping[str, Any]) -> str:
        status = order.get("status")
        if not isinstance(status, str) or status not in KNOWN_STATUSES:
            raise SmokeFailure(f"order has unknown status {status!r}: {order!r}")
        return status


def read_outputs(path: str, url_name: str | None) -> str:
    """The API URL from `terraform output -json` (or a flat {"name": "value"} JSON object). Never
    a key: no output holds one (each client's key is made by `dofs_ops keys create`)."""
    try:
        with open(path, encoding="utf-8") as handle:
            raw = json.load(handle)
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read outputs file {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"outputs file {path} is not a JSON object")
    values = {
        name: (item.get("value") if isinstance(item, dict) and "value" in item else item) for name, item in raw.items()
    }

    def pick(names: Sequence[str]) -> str | None:
        for name in names:
            value = values.get(name)
            if isinstance(value, str) and value:
                return value
        return None

    url = pick([url_name] if url_name else URL_OUTPUT_NAMES)
    if url is None:
        wanted = url_name or " or ".join(URL_OUTPUT_NAMES)
        raise ConfigError(f"outputs file {path} has no output {wanted}; it has: {', '.join(sorted(values)) or 'none'}")
    return url


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--api-url", default=os.environ.get("API_URL") or None, help="base URL (env API_URL)")
    parser.add_argument("--api-key", default=os.environ.get("API_KEY") or None, help="x-api-key (env API_KEY)")
    parser.add_argument("--outputs-json", help="read the URL from `terraform output -json` saved here")
    parser.add_argument("--url-output", help=f"output name holding the URL (default: first of {URL_OUTPUT_NAMES})")
    parser.add_argument(
        "--timeout",
        type=float,
        default=float(os.environ.get("SMOKE_TIMEOUT") or DEFAULT_TIMEOUT_SECONDS),
        help="seconds to wait for a terminal status (env SMOKE_TIMEOUT, default %(default)s)",
    )
    parser.add_argument("--interval", type=float, default=DEFAULT_INTERVAL_SECONDS, help="seconds between polls")
    parser.add_argument(
        "--expect",
        default=os.environ.get("SMOKE_EXPECT") or "terminal",
        choices=sorted(EXPECTATIONS),
        help="terminal statuses that pass: 'terminal' = FULFILLED or DEAD_LETTERED (env SMOKE_EXPECT)",
    )
    parser.add_argument("--order-id", help="order_id to post (default: a unique smoke-<uuid>)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, *, send: Sender = urllib_send) -> int:
    args = parse_args(argv)
    try:
        api_url, api_key = args.api_url, args.api_key
        if args.outputs_json:
            api_url = read_outputs(args.outputs_json, args.url_output)
        if not api_url:
            raise ConfigError("no API URL: pass --api-url URL (make smoke API_URL=...) or --outputs-json FILE")
        config = SmokeConfig(
            api_url=api_url,
            api_key=api_key,
            timeout_seconds=args.timeout,
            interval_seconds=args.interval,
            expect=args.expect,
            **({"order_id": args.order_id} if args.order_id else {}),
        )
    except ConfigError as exc:
        print(f"[smoke] ERROR: {exc}", file=sys.stderr, flush=True)
        return 2
    try:
        SmokeRun(config, send=send).run()
    except SmokeFailure as exc:
        print(f"[smoke] FAILED: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
