"""The OpenAPI description agrees with the models and with what the API really answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib import openapi, views
from chalicelib.models import OrderRequest
from dofs_config.stage import PROJECT_DIR
from dofs_local.emulated.provisioning import Resources
from tests.conftest import order_body
from tests.waiting import wait_for_status

pytestmark = pytest.mark.aws

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def client(resources: Resources, workflow_functions: dict[str, Any]) -> Iterator[Client]:
    with Client(app, stage_name="local", project_dir=str(PROJECT_DIR)) as test_client:
        yield test_client


def schema_of(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = openapi.document()["components"]["schemas"][name]
    return schema


def test_the_request_schema_is_the_request_model() -> None:
    generated = OrderRequest.model_json_schema(ref_template=openapi.REF_TEMPLATE)
    generated.pop("$defs")
    assert schema_of("OrderRequest") == generated
    assert schema_of("OrderItem")["required"] == ["sku", "quantity", "unit_price"]
    document = openapi.document()
    assert document["openapi"].startswith("3.")
    for path, operations in document["paths"].items():
        for operation in operations.values():
            assert "403" in operation["responses"], f"{path}: API Gateway's answer without a key"
            for response in operation["responses"].values():
                for media in response.get("content", {}).values():
                    ref = media["schema"].get("$ref")
                    assert ref is None or ref.rsplit("/", 1)[1] in document["components"]["schemas"]


def test_the_api_serves_the_document(client: Client) -> None:
    response = client.http.get("/openapi.json")
    assert response.status_code == 200
    assert json.loads(response.body) == json.loads(json.dumps(openapi.document()))


def test_every_answer_fits_its_response_model(client: Client) -> None:
    body = order_body(order_id="doc-1")
    accepted = client.http.post("/order", headers=JSON, body=json.dumps(body))
    assert accepted.status_code == 202
    views.OrderAccepted.model_validate_json(accepted.body)
    wait_for_status("doc-1", {"PENDING", "FULFILLED", "FAILED", "DEAD_LETTERED"})
    shown = client.http.get("/order/doc-1")
    assert views.OrderView.model_validate_json(shown.body).order_id == "doc-1"
    invalid = client.http.post("/order", headers=JSON, body='{"customer_id": "", "items": []}')
    assert invalid.status_code == 400
    assert {f.field for f in views.InvalidRequestBody.model_validate_json(invalid.body).fields or []} == {
        "customer_id",
        "items",
    }
    for response in (
        client.http.get("/order/nope"),
        client.http.post("/order", headers=JSON, body=json.dumps({**body, "customer_id": "other"})),
        client.http.post("/order", headers={"Content-Type": "text/plain"}, body="x"),
    ):
        assert response.status_code in {404, 409, 415}
        views.ErrorBody.model_validate_json(response.body)
    views.InvalidRequestBody.model_validate_json(client.http.get("/order/bad%20id").body)
