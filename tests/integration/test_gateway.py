"""The local server answers what it does not serve as API Gateway does: JSON, never HTML."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.integration.conftest import RunningStack, StackFactory

pytestmark = pytest.mark.emulator


@pytest.fixture(scope="module")
def running(start_stack: StackFactory) -> RunningStack:
    return start_stack(1.0)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("TRACE", "/order", 405),
        ("QUERY", "/order/o-1", 405),
        ("PUT", "/order", 405),
        ("TRACE", "/nowhere", 403),
        ("GET", "/nowhere", 403),
    ],
)
def test_unserved_methods_and_paths_get_json_as_from_api_gateway(
    running: RunningStack, method: str, path: str, status: int
) -> None:
    request = urllib.request.Request(f"{running.api_url}{path}", method=method)  # noqa: S310 - loopback
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(request, timeout=30)  # noqa: S310
    assert answer.value.code == status
    assert answer.value.headers["Content-Type"] == "application/json"
    assert isinstance(json.loads(answer.value.read()), dict), "a JSON error body, not an HTML page"
