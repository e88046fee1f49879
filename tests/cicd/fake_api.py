"""A small fake of the DOFS order API, served by http.server on 127.0.0.1 in a thread.

Each test scripts what the fake answers: the statuses successive GETs report, and any
replies to send before the real ones (e.g. a 503 first, to prove the smoke test retries).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeApi:
    # Statuses reported by successive GETs of the posted order; the last one repeats.
    statuses: list[str] = field(default_factory=lambda: ["ACCEPTED", "PENDING", "FULFILLED"])
    post_replies: list[Reply] = field(default_factory=list)  # sent, in order, before the normal 202
    get_replies: list[Reply] = field(default_factory=list)  # sent, in order, before the normal 200s
    send_location: bool = True
    location_prefix: str = "order/"
    extra: dict[str, Any] = field(default_factory=dict)  # merged into every order returned
    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    _gets: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        with self._lock:
            self.requests.append((method, path, headers, body))
            if method == "POST" and path.endswith("/order"):
                if self.post_replies:
                    return self.post_replies.pop(0)
                order = json.loads(body)
                self.orders[order["order_id"]] = order
                # Relative to the POST's URL, as the API answers it.
                location = {"Location": f"{self.location_prefix}{order['order_id']}"} if self.send_location else {}
                return Reply(202, {"order_id": order["order_id"], "status": "ACCEPTED"}, location)
            if method == "GET" and "/order/" in path:
                if self.get_replies:
                    return self.get_replies.pop(0)
                order_id = path.rsplit("/", 1)[1]
                if order_id not in self.orders:
                    return Reply(404, {"message": f"order {order_id} not found"})
                status = self.statuses[min(self._gets, len(self.statuses) - 1)]
                self._gets += 1
                attempts = sum(1 for seen in self.statuses[: self._gets] if seen in ("FAILED", "DEAD_LETTERED"))
                return Reply(200, {**self.orders[order_id], "status": status, "attempts": attempts, **self.extra})
            return Reply(404, {"message": "no route"})


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = self.server.api.handle(self.command, self.path, headers, body)
        payload = b"" if reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _serve
    do_POST = _serve

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, api: FakeApi) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.api = api


@contextmanager
def serve(api: FakeApi) -> Iterator[str]:
    """Serves `api` on a free port; yields its base URL."""
    server = _Server(api)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-dofs-api", daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
