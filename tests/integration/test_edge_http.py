"""The API's edge over HTTP against the local stack: hostile input (the cases of tests/hostile),
a Location that resolves, the document the stack serves, and many clients connecting at once."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.hostile.cases import BAD_ORDER_ID_PATHS, CASES, Hostile, assert_refused, valid_order
from tests.integration.conftest import RunningStack, StackFactory

pytestmark = pytest.mark.emulator

CONCURRENT_CLIENTS = 64
POSTS = 200


@pytest.fixture(scope="module")
def running(start_stack: StackFactory) -> RunningStack:
    return start_stack(1.0)


def send(
    api_url: str, method: str, path: str, body: bytes | None = None, content_type: str = ""
) -> tuple[int, bytes, dict[str, str]]:
    """One request on a connection of its own, as most clients and load tools open them."""
    address = urllib.parse.urlsplit(api_url)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=60)
    try:
        headers = {"Content-Type": content_type} if content_type else {}
        connection.request(method, path, body=body, headers={**headers, "Connection": "close"})
        response = connection.getresponse()
        return response.status, response.read(), dict(response.headers)
    finally:
        connection.close()


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_a_hostile_body_gets_a_4xx_naming_the_problem(running: RunningStack, case: Hostile) -> None:
    status, body, _ = send(running.api_url, "POST", "/order", case.body, case.content_type)
    assert_refused(case, status, body)


@pytest.mark.parametrize("path", BAD_ORDER_ID_PATHS)
def test_a_malformed_order_id_in_the_path_is_a_400(running: RunningStack, path: str) -> None:
    status, body, _ = send(running.api_url, "GET", path)
    assert_refused(Hostile(path, b"", 400, "order_id"), status, body)


def test_the_location_resolves_against_the_post_url_to_the_order(running: RunningStack) -> None:
    post_url = f"{running.api_url}/order"
    status, _, headers = send(
        running.api_url, "POST", "/order", json.dumps(valid_order(order_id="edge-loc")).encode(), "application/json"
    )
    assert status == 202
    order_url = urllib.parse.urljoin(post_url, headers["Location"])
    assert order_url == f"{running.api_url}/order/edge-loc"
    status, body, _ = send(running.api_url, "GET", urllib.parse.urlsplit(order_url).path)
    assert status == 200
    assert json.loads(body)["order_id"] == "edge-loc"


def test_the_served_document_asks_for_no_key_where_the_stack_needs_none(running: RunningStack) -> None:
    status, body, _ = send(running.api_url, "GET", "/openapi.json")
    assert status == 200
    assert json.loads(body)["security"] == []


def test_many_clients_connecting_at_once_are_all_answered(running: RunningStack) -> None:
    """200 POSTs from 64 clients, each on a new connection: with the standard library's listen
    backlog of 5, about 75 were reset before the server accepted them."""
    order = json.dumps(valid_order(order_id="edge-many")).encode()  # one order: replays, quick

    def post(_: int) -> int | str:
        try:
            return send(running.api_url, "POST", "/order", order, "application/json")[0]
        except OSError as exc:
            return f"{type(exc).__name__}: {exc}"

    with ThreadPoolExecutor(CONCURRENT_CLIENTS) as clients:
        answers = list(clients.map(post, range(POSTS)))
    assert answers == [202] * POSTS, {str(answer) for answer in answers if answer != 202}


def test_connections_wait_in_the_backlog_while_the_server_is_busy(running: RunningStack) -> None:
    """The kernel completes a client's handshake only while the listen backlog has room; a server
    busy elsewhere (the accept loop stopped here) must still take CONCURRENT_CLIENTS at once. With
    the standard library's backlog of 5, the 7th connect waits for a SYN retransmission (1 s)."""
    server = running.stack._api_server
    assert server is not None
    address = urllib.parse.urlsplit(running.api_url)
    server.shutdown()  # stops accepting; the listening socket stays open
    waiting: list[socket.socket] = []
    try:
        for _ in range(CONCURRENT_CLIENTS):
            waiting.append(socket.create_connection((address.hostname, address.port), timeout=0.5))
    finally:
        threading.Thread(target=server.server.serve_forever, daemon=True).start()
    body = json.dumps(valid_order(order_id="edge-backlog")).encode()
    request = b"POST /order HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n"
    request += b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    statuses = []
    for connection in waiting:
        with connection:
            connection.settimeout(60)
            connection.sendall(request)
            statuses.append(connection.makefile("rb").readline().split()[1])
    assert statuses == [b"202"] * CONCURRENT_CLIENTS
