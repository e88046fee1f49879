"""schemathesis fuzzes the local API from its own OpenAPI description (chalicelib/openapi.py).

Bounded: a few dozen examples per operation, positive and negative (schema-breaking) inputs:
every positive one must be accepted, every negative one refused.
The stack requires an x-api-key, as API Gateway does: schemathesis sends the key with valid
requests and leaves it out of some negative ones, which must get a 403. Every answer must be
below 500 and conform to the description: status code, content type, headers and body schema.
A run takes well under a minute.
"""

from __future__ import annotations

import io
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import ApiKeyAuthConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from chalicelib import openapi
from dofs_local.emulated.pipeline import LocalPipeline, PipelineOptions

MAX_EXAMPLES = 40
pytestmark = [
    pytest.mark.emulator,
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]  # schemathesis inside
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    positive_data_acceptance,
]

API_KEY = secrets.token_urlsafe(24)  # a fresh key per run: the stack requires it, as API Gateway would

schema = schemathesis.openapi.from_dict(openapi.document())
schema.config.auth.openapi.schemes[openapi.API_KEY_SCHEME] = ApiKeyAuthConfig(api_key=API_KEY)
# A request valid by the document is never refused for its shape (contract, section 2): only a
# 409 (the generator reusing an order_id with another body) or a 404 (an unknown id) may answer it.
schema.config.checks.positive_data_acceptance.expected_statuses = ["2XX", "404", "409"]


@pytest.fixture(scope="module")
def api_url() -> Iterator[str]:
    options = PipelineOptions(
        api_port=0,
        aws_port=0,
        success_rate=1.0,
        log_stream=io.StringIO(),
        quiet_http=True,
        require_api_key=API_KEY,
    )
    with LocalPipeline(options) as stack:
        warm_up(stack.api_url)
        yield stack.api_url


def warm_up(api_url: str) -> None:
    """One order end to end first, so the emulator has built every service's routes before
    hypothesis runs (building them while hypothesis changes the recursion limit can crash)."""
    body: dict[str, Any] = {
        "order_id": "warm-up",
        "customer_id": "c",
        "items": [{"sku": "A", "quantity": 1, "unit_price": "1"}],
    }
    key = {"x-api-key": API_KEY}
    assert requests.post(f"{api_url}/order", json=body, headers=key, timeout=30).status_code == 202
    deadline = time.monotonic() + 30
    while requests.get(f"{api_url}/order/warm-up", headers=key, timeout=30).json()["status"] != "FULFILLED":
        assert time.monotonic() < deadline, "the warm-up order did not reach FULFILLED"
        time.sleep(0.1)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_the_api_conforms_to_its_description(case: Any, api_url: str) -> None:
    case.call_and_validate(base_url=api_url, checks=CHECKS, timeout=30)
