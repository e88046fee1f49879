"""The local server answers what it does not serve as API Gateway does: JSON, never HTML."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.integration.conftest import RunningStack, StackFactory

pytestmark = pytest.mark.emulator
ALLOWED = {"/order": "OPTIONS, POST", "/order/o-1": "GET, OPTIONS"}  # what a 405's Allow lists


@pytest.fixture(scope="module")
def running(start_stack: StackFactory) -> RunningStack:
    return start_stack(1.0)


@pytest.mark.parametrize(
    ("method", "path", "status", "error"),
    [
        ("TRACE", "/order", 405, "MethodNotAllowed"),
        ("QUERY", "/order/o-1", 405, "MethodNotAllowed"),
        ("PUT", "/order", 405, "MethodNotAllowed"),
        ("TRACE", "/nowhere", 403, "MissingAuthenticationToken"),
        ("GET", "/nowhere", 403, "MissingAuthenticationToken"),
    ],
)
def test_unserved_methods_and_paths_get_json_as_from_api_gateway(
    running: RunningStack, method: str, path: str, status: int, error: str
) -> None:
    request = urllib.request.Request(f"{running.api_url}{path}", method=method)  # noqa: S310 - loopback
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(request, timeout=30)  # noqa: S310
    assert answer.value.code == status
    assert answer.value.headers["Content-Type"] == "application/json"
    body = json.loads(answer.value.read())
    assert body["error"] == error, "the documented error shape, not Chalice's {Code, Message}"
    assert isinstance(body["message"], str)
    if status == 405:
        assert answer.value.headers["Allow"] == ALLOWED[path]
