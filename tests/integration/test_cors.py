"""A browser's CORS preflight over HTTP against the local stack, which requires an API key here as
API Gateway does: the preflight needs none, and the answer lets the stage's origin in."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from dofs_config.stage import load_stage
from dofs_local.emulated.pipeline import LocalPipeline, PipelineOptions

pytestmark = pytest.mark.emulator

API_KEY = "local-test-key-of-20-chars"  # pragma: allowlist secret - a stand-in key the local stack requires here
OTHER_ORIGIN = "https://elsewhere.example.com"


@pytest.fixture(scope="module")
def api_url() -> Iterator[str]:
    with LocalPipeline(PipelineOptions(api_port=0, aws_port=0, quiet_http=True, require_api_key=API_KEY)) as stack:
        yield stack.api_url


@pytest.fixture(scope="module")
def allowed_origin() -> str:
    [origin] = load_stage("local").cors_allowed_origins
    return origin


def preflight(url: str, origin: str, method: str) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(  # noqa: S310 - loopback http
        url,
        method="OPTIONS",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "content-type,x-api-key",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return response.status, dict(response.headers)


@pytest.mark.parametrize(("path", "method"), [("/order", "POST"), ("/order/o-1", "GET"), ("/openapi.json", "GET")])
def test_a_preflight_from_the_allowed_origin_needs_no_key_and_lets_it_in(
    api_url: str, allowed_origin: str, path: str, method: str
) -> None:
    status, headers = preflight(f"{api_url}{path}", allowed_origin, method)
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == allowed_origin
    assert method in headers["Access-Control-Allow-Methods"].split(",")
    assert {"content-type", "x-api-key"} <= set(headers["Access-Control-Allow-Headers"].lower().split(","))


def test_another_origin_is_not_let_in(api_url: str, allowed_origin: str) -> None:
    """The answer is the stage's, as API Gateway's mock integration gives it: it names the allowed
    origin, never the asking one, so a browser on another origin refuses the response."""
    _, headers = preflight(f"{api_url}/order", OTHER_ORIGIN, "POST")
    assert headers.get("Access-Control-Allow-Origin") != OTHER_ORIGIN
    assert headers.get("Access-Control-Allow-Origin") in {None, allowed_origin}


def test_the_actual_request_still_needs_the_key_and_carries_the_cors_headers(api_url: str, allowed_origin: str) -> None:
    url = f"{api_url}/order/unknown-order"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(url, headers={"Origin": allowed_origin}), timeout=30)  # noqa: S310
    assert refused.value.code == 403
    keyed = urllib.request.Request(url, headers={"Origin": allowed_origin, "x-api-key": API_KEY})  # noqa: S310
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(keyed, timeout=30)  # noqa: S310
    assert answer.value.code == 404
    assert json.loads(answer.value.read())["error"]
    assert answer.value.headers["Access-Control-Allow-Origin"] == allowed_origin
    assert "Location" in answer.value.headers["Access-Control-Expose-Headers"].split(",")


def test_without_the_key_the_answer_is_a_403_in_the_error_shape(api_url: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(f"{api_url}/openapi.json", timeout=30)  # noqa: S310 - loopback http
    assert answer.value.code == 403
    assert json.loads(answer.value.read()) == {"error": "Forbidden", "message": "Forbidden"}


def test_the_served_document_says_a_key_is_required(api_url: str) -> None:
    request = urllib.request.Request(f"{api_url}/openapi.json", headers={"x-api-key": API_KEY})  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        document = json.loads(response.read())
    assert document["security"] == [{"api_key": []}]
