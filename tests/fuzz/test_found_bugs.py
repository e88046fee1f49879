"""Bugs that the fuzzer found in chalicelib, each pinned by a test that fails without its fix."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from chalice.test import Client

from app import app
from dofs_config.stage import PROJECT_DIR
from dofs_local.emulated.provisioning import Resources

pytestmark = pytest.mark.aws


@pytest.fixture
def client(resources: Resources) -> Iterator[Client]:
    with Client(app, stage_name="local", project_dir=str(PROJECT_DIR)) as test_client:
        yield test_client


@pytest.mark.parametrize("price", ["1e30", "1" * 27, 10**40])
def test_a_huge_unit_price_is_a_400_naming_the_field_not_a_500(client: Client, price: str | int) -> None:
    """Decimal.quantize raised InvalidOperation for prices past Decimal's 28-digit precision."""
    body = {"customer_id": "c", "items": [{"sku": "A", "quantity": 1, "unit_price": price}]}
    response = client.http.post("/order", body=json.dumps(body), headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert [entry["field"] for entry in json.loads(response.body)["fields"]] == ["items[0].unit_price"]
