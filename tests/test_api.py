"""Every row of the contract's API table, through Chalice's test client against moto."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from chalice.test import Client

from app import app
from dofs_config.stage import PROJECT_DIR
from dofs_local.emulated.provisioning import Resources
from tests.conftest import order_body, wait_for_executions
from tests.waiting import wait_for_status

pytestmark = pytest.mark.aws

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def client(resources: Resources, workflow_functions: dict[str, Any]) -> Iterator[Client]:
    with Client(app, stage_name="local", project_dir=str(PROJECT_DIR)) as test_client:
        yield test_client


def post(client: Client, body: Any, headers: dict[str, str] | None = None) -> Any:
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.http.post("/order", headers=headers or JSON, body=raw)


def body_of(response: Any) -> dict[str, Any]:
    return json.loads(response.body)  # type: ignore[no-any-return]


def test_post_accepts_and_get_finds_the_order_at_once(client: Client) -> None:
    response = post(client, order_body(order_id="o-1"))
    assert response.status_code == 202
    assert body_of(response) == {"order_id": "o-1", "status": "ACCEPTED"}
    assert response.headers["Location"] == "order/o-1"
    found = client.http.get("/order/o-1")
    assert found.status_code == 200
    order = body_of(found)
    assert order["order_id"] == "o-1"
    assert order["status"] in {"ACCEPTED", "PENDING"}
    assert order["total"] == "25.00"
    assert order["items"] == [{"sku": "SKU-1", "quantity": 2, "unit_price": "12.50"}]
    assert order["attempts"] == 0
    assert {"created_at", "updated_at"} <= order.keys()
    assert "body_hash" not in order


def test_post_without_an_id_generates_one(client: Client) -> None:
    response = post(client, order_body())
    order_id = body_of(response)["order_id"]
    assert response.status_code == 202
    assert client.http.get(f"/order/{order_id}").status_code == 200


def test_invalid_body_names_each_bad_field(client: Client) -> None:
    response = post(client, {"customer_id": "", "items": [{"sku": "A", "quantity": 0, "unit_price": "1.234"}], "x": 1})
    assert response.status_code == 400
    error = body_of(response)
    assert error["error"] == "InvalidOrder"
    assert {e["field"] for e in error["fields"]} == {"customer_id", "items[0].quantity", "items[0].unit_price", "x"}
    assert "customer_id" in error["message"]


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"", b"\xff\xfe"])
def test_malformed_json_is_a_400(client: Client, raw: bytes) -> None:
    response = post(client, raw)
    assert response.status_code == 400
    assert body_of(response)["error"] in {"InvalidJSON", "InvalidOrder"}


def test_same_id_and_body_is_an_idempotent_replay(client: Client, resources: Resources) -> None:
    first = post(client, order_body(order_id="o-2"))
    wait_for_status("o-2", {"PENDING"})
    replay = post(client, order_body(order_id="o-2", items=[{"sku": "SKU-1", "quantity": 2, "unit_price": 12.5}]))
    assert (first.status_code, replay.status_code) == (202, 202)
    assert body_of(replay) == {"order_id": "o-2", "status": "PENDING"}
    assert replay.headers["Location"] == "order/o-2"
    # PENDING is written a step before the workflow queues the order: count once it has finished.
    wait_for_executions(resources.state_machine_arn)
    sqs = boto3.client("sqs")
    attributes = sqs.get_queue_attributes(
        QueueUrl=resources.order_queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "1", "one message: no second fulfillment"


def test_same_id_with_a_different_body_is_a_409(client: Client) -> None:
    post(client, order_body(order_id="o-3"))
    response = post(client, order_body(order_id="o-3", customer_id="someone-else"))
    assert response.status_code == 409
    assert "o-3" in body_of(response)["message"]


def test_body_over_256_kib_is_a_413(client: Client) -> None:
    response = post(client, json.dumps(order_body(customer_id="c", padding="x" * (256 * 1024))))
    assert response.status_code == 413


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_not_json_is_a_415(client: Client, content_type: str) -> None:
    response = post(client, order_body(), headers={"Content-Type": content_type})
    assert response.status_code == 415
    assert content_type in body_of(response)["message"]


def test_json_with_a_charset_is_accepted(client: Client) -> None:
    response = post(client, order_body(), headers={"Content-Type": "application/json; charset=utf-8"})
    assert response.status_code == 202


def test_workflow_that_cannot_start_is_a_503_and_leaves_nothing(client: Client, resources: Resources) -> None:
    boto3.client("stepfunctions").delete_state_machine(stateMachineArn=resources.state_machine_arn)
    response = post(client, order_body(order_id="o-4"))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert body_of(response)["error"] == "ServiceUnavailable"
    assert client.http.get("/order/o-4").status_code == 404, "nothing half-done is left behind"


def test_get_unknown_is_a_404_and_malformed_id_a_400(client: Client) -> None:
    assert client.http.get("/order/nope").status_code == 404
    malformed = client.http.get("/order/" + "x" * 65)
    assert malformed.status_code == 400
    assert body_of(malformed)["error"] == "InvalidOrderId"


@pytest.mark.parametrize(
    ("host", "request_path", "order_url"),
    [
        ("abc123.execute-api.us-east-1.amazonaws.com", "/api/order", "https://{host}/api/order/aws-1"),
        ("orders.example.com", "/v1/order", "https://{host}/v1/order/aws-1"),  # a custom domain's base path
        ("orders.example.com", "/order", "https://{host}/order/aws-1"),  # a custom domain at its root
    ],
)
def test_the_location_resolves_to_the_order_behind_api_gateway(
    resources: Resources, workflow_functions: dict[str, Any], host: str, request_path: str, order_url: str
) -> None:
    """API Gateway hands the function the resource path (/order), not the URL the client used:
    the Location must resolve against the latter, whatever stage or base path it has."""
    from chalice.local import LambdaContext

    headers = {"content-type": "application/json", "host": host}
    event = {
        "resource": "/order",
        "path": "/order",
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"resourcePath": "/order", "httpMethod": "POST", "stage": "api", "path": request_path},
        "body": json.dumps(order_body(order_id="aws-1")),
        "isBase64Encoded": False,
    }
    answer = app(event, LambdaContext("api_handler", 128))
    assert answer["statusCode"] == 202
    post_url = f"https://{host}{request_path}"
    assert urllib.parse.urljoin(post_url, answer["headers"]["Location"]) == order_url.format(host=host)


@pytest.mark.parametrize(
    ("setting", "security"), [(None, [{"api_key": []}]), ("false", []), ("true", [{"api_key": []}])]
)
def test_the_document_asks_for_a_key_unless_the_stack_needs_none(
    monkeypatch: pytest.MonkeyPatch, setting: str | None, security: list[dict[str, list[str]]]
) -> None:
    from chalicelib import openapi

    if setting is None:
        monkeypatch.delenv(openapi.API_KEY_REQUIRED_ENV, raising=False)  # AWS: never set
    else:
        monkeypatch.setenv(openapi.API_KEY_REQUIRED_ENV, setting)
    assert openapi.document()["security"] == security
