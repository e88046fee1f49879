"""Hostile input against the API in-process (Chalice's test client): every case a 4xx naming the
problem in the documented error shape, never a 5xx. The same cases run over HTTP against the local
stack in tests/integration/test_hostile_http.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import pytest
from chalice.test import Client

from app import app
from chalicelib import runtime
from dofs_config.stage import PROJECT_DIR
from dofs_local.emulated.provisioning import Resources
from tests.hostile.cases import BAD_ORDER_ID_PATHS, CASES, Hostile, assert_refused, valid_order

pytestmark = pytest.mark.aws


@pytest.fixture
def client(resources: Resources) -> Iterator[Client]:
    with Client(app, stage_name="local", project_dir=str(PROJECT_DIR)) as test_client:
        yield test_client


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_a_hostile_body_gets_a_4xx_naming_the_problem(client: Client, case: Hostile) -> None:
    response = client.http.post("/order", headers={"Content-Type": case.content_type}, body=case.body)
    assert_refused(case, response.status_code, response.body)


@pytest.mark.parametrize("path", BAD_ORDER_ID_PATHS)
def test_a_malformed_order_id_in_the_path_is_a_400(resources: Resources, path: str) -> None:
    # The handler itself, given the id as API Gateway decodes it: Chalice's test client routes
    # paths by its own rules, not API Gateway's.
    response = runtime.order_api().get_order(unquote(path.removeprefix("/order/")))
    assert_refused(Hostile(path, b"", 400, "order_id"), response.status_code, response.body.encode())


def test_the_cases_start_from_a_valid_order(client: Client, workflow_functions: Any) -> None:
    """Each case breaks one thing in a body the API accepts, so the break is what it refuses."""
    unicode_ids = valid_order(
        order_id="hostile-ok", customer_id="Zoë 😀 客户", items=[{"sku": "Ω-1", "quantity": 1, "unit_price": 1}]
    )
    for body in (valid_order(), unicode_ids):
        response = client.http.post(
            "/order", headers={"Content-Type": "application/json; charset=UTF-8"}, body=json.dumps(body)
        )
        assert response.status_code == 202, response.body
