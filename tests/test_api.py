"""Every row of the contract's API table. Each test runs on OrderApi with the in-memory store and
workflow starter (unit) and through Chalice's test client against moto, the state machine running
(aws); those marked `unit` need a fake's failure (a busy store, a replay racing nothing), those
marked `aws` what only API Gateway's event has."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from chalicelib.api import OrderApi
from chalicelib.repository import OrderRepository
from chalicelib.rules import Verdict
from tests.conftest import make_order, order_body
from tests.fakes import InMemoryOrderRepository, RecordingWorkflow

if TYPE_CHECKING:
    from chalice.test import Client

    from dofs_local.emulated.provisioning import Resources
    from tests.ports import StepFunctionsStarter

    Workflow = RecordingWorkflow | StepFunctionsStarter

pytestmark = pytest.mark.memory_and_dynamodb

NOW = "2026-11-25T10:00:00.000Z"
JSON = "application/json"


def raw_body(body: Any) -> bytes | str:
    return body if isinstance(body, bytes | str) else json.dumps(body)


class Direct:
    """OrderApi on the fakes, its clock at NOW: nothing runs after the workflow is started."""

    workflow_runs = False

    def __init__(self, repository: OrderRepository, workflow: RecordingWorkflow) -> None:
        self._api = OrderApi(repository, workflow, clock=lambda: NOW)
        self._repository = repository
        self._workflow = workflow

    def post(self, body: Any, content_type: str | None = JSON) -> Any:
        return self._api.create_order(raw_body(body), content_type)

    def get(self, order_id: str) -> Any:
        return self._api.get_order(order_id)

    def workflow_down(self) -> None:
        self._workflow.unavailable = True

    def claimed(self, order_id: str) -> None:
        """The order's execution records its verdict."""
        assert self._repository.record_verdict(order_id, "exec-1", Verdict(True), NOW)


class ThroughChalice:
    """The app through Chalice's test client, on moto: its workflow runs the order on to PENDING."""

    workflow_runs = True

    def __init__(self, client: Client, resources: Resources) -> None:
        self._client = client
        self._resources = resources

    def post(self, body: Any, content_type: str | None = JSON) -> Any:
        headers = {} if content_type is None else {"Content-Type": content_type}
        return self._client.http.post("/order", headers=headers, body=raw_body(body))

    def get(self, order_id: str) -> Any:
        return self._client.http.get(f"/order/{order_id}")

    def workflow_down(self) -> None:
        import boto3

        boto3.client("stepfunctions").delete_state_machine(stateMachineArn=self._resources.state_machine_arn)

    def claimed(self, order_id: str) -> None:
        from tests.waiting import wait_for_status

        wait_for_status(order_id, {"PENDING"})


@pytest.fixture
def api(repository: OrderRepository, workflow: Workflow, request: pytest.FixtureRequest) -> Iterator[Any]:
    """The API on the fakes, or the app on moto: `workflow` reads back the executions it started."""
    if isinstance(workflow, RecordingWorkflow):
        yield Direct(repository, workflow)
        return
    from chalice.test import Client

    from app import app
    from dofs_config.stage import PROJECT_DIR

    with Client(app, stage_name="local", project_dir=str(PROJECT_DIR)) as client:
        yield ThroughChalice(client, request.getfixturevalue("resources"))


def body_of(response: Any) -> dict[str, Any]:
    return json.loads(response.body)  # type: ignore[no-any-return]


def test_post_accepts_starts_one_workflow_and_get_finds_the_order(api: Any, workflow: Workflow) -> None:
    response = api.post(order_body(order_id="o-1"))
    assert (response.status_code, body_of(response)) == (202, {"order_id": "o-1", "status": "ACCEPTED"})
    assert response.headers["Location"] == "order/o-1"
    assert workflow.started_ids() == ["o-1"]
    found = api.get("o-1")
    assert found.status_code == 200
    order = body_of(found)
    assert order["order_id"] == "o-1"
    assert order["status"] in ({"ACCEPTED", "PENDING"} if api.workflow_runs else {"ACCEPTED"})
    assert (order["total"], order["attempts"]) == ("25.00", 0)
    assert order["items"] == [{"sku": "SKU-1", "quantity": 2, "unit_price": "12.50"}]
    assert {"created_at", "updated_at"} <= order.keys()
    if not api.workflow_runs:
        assert (order["created_at"], order["updated_at"]) == (NOW, NOW), "the API's clock"
    assert "body_hash" not in order


def test_post_without_an_id_generates_one(api: Any) -> None:
    response = api.post(order_body())
    assert response.status_code == 202
    assert api.get(body_of(response)["order_id"]).status_code == 200


def test_invalid_body_names_each_bad_field_and_stores_nothing(api: Any, workflow: Workflow) -> None:
    response = api.post({"customer_id": "", "items": [{"sku": "A", "quantity": 0, "unit_price": "1.234"}], "x": 1})
    error = body_of(response)
    assert (response.status_code, error["error"]) == (400, "InvalidOrder")
    assert {e["field"] for e in error["fields"]} == {"customer_id", "items[0].quantity", "items[0].unit_price", "x"}
    assert "customer_id" in error["message"]
    assert workflow.started_ids() == []


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"", b"\xff\xfe"])
def test_malformed_json_is_a_400(api: Any, raw: bytes) -> None:
    response = api.post(raw)
    assert response.status_code == 400
    assert body_of(response)["error"] in {"InvalidJSON", "InvalidOrder"}


def test_a_replay_of_a_claimed_order_answers_its_status_and_starts_nothing(api: Any, workflow: Workflow) -> None:
    """The same id and body again, once the order's execution has claimed it: an idempotent replay,
    answered from the store; no second execution, so no second fulfillment."""
    first = api.post(order_body(order_id="o-2"))
    api.claimed("o-2")
    replay = api.post(order_body(order_id="o-2", items=[{"sku": "SKU-1", "quantity": 2, "unit_price": 12.5}]))
    assert (first.status_code, replay.status_code) == (202, 202)
    assert body_of(replay) == {"order_id": "o-2", "status": "PENDING"}
    assert replay.headers["Location"] == "order/o-2"
    assert workflow.started_ids() == ["o-2"]


def test_same_id_with_a_different_body_is_a_409(api: Any, repository: OrderRepository) -> None:
    api.post(order_body(order_id="o-3"))
    response = api.post(order_body(order_id="o-3", customer_id="someone-else"))
    assert (response.status_code, body_of(response)["error"]) == (409, "OrderConflict")
    assert "o-3" in body_of(response)["message"]
    stored = repository.get("o-3")
    assert stored is not None
    assert stored["customer_id"] == "customer-1", "the first body stays"


def test_body_over_256_kib_is_a_413(api: Any) -> None:
    assert api.post(json.dumps(order_body(customer_id="c", padding="x" * (256 * 1024)))).status_code == 413


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_not_json_is_a_415(api: Any, content_type: str | None) -> None:
    response = api.post(order_body(), content_type=content_type)
    assert response.status_code == 415
    assert repr(content_type) in body_of(response)["message"]


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/merge-patch+json"])
def test_json_media_types_are_accepted(api: Any, content_type: str) -> None:
    assert api.post(order_body(), content_type=content_type).status_code == 202


def test_workflow_that_cannot_start_is_a_503_and_leaves_nothing(api: Any, repository: OrderRepository) -> None:
    api.workflow_down()
    response = api.post(order_body(order_id="o-4"))
    assert (response.status_code, response.headers["Retry-After"]) == (503, "1")
    assert body_of(response)["error"] == "ServiceUnavailable"
    assert repository.get("o-4") is None, "nothing half-done is left behind"
    assert api.get("o-4").status_code == 404


def test_get_unknown_is_a_404_and_malformed_id_a_400(api: Any) -> None:
    assert api.get("nope").status_code == 404
    malformed = api.get("x" * 65)
    assert (malformed.status_code, body_of(malformed)["error"]) == (400, "InvalidOrderId")


# What the fakes alone can set up: a replay before any execution claims the order (on moto the
# workflow races it), a workflow down after the first request, a busy store.


@pytest.fixture
def store() -> InMemoryOrderRepository:
    return InMemoryOrderRepository()


@pytest.fixture
def fake_workflow() -> RecordingWorkflow:
    return RecordingWorkflow()


@pytest.fixture
def order_api(store: InMemoryOrderRepository, fake_workflow: RecordingWorkflow, app_environment: None) -> OrderApi:
    return OrderApi(store, fake_workflow, clock=lambda: NOW)


@pytest.mark.unit
def test_a_replay_of_an_accepted_order_starts_the_workflow_again(
    order_api: OrderApi, fake_workflow: RecordingWorkflow
) -> None:
    order_api.create_order(json.dumps(order_body(order_id="o-2")), JSON)
    replay = order_api.create_order(
        json.dumps(order_body(order_id="o-2", items=[{"sku": "SKU-1", "quantity": 2, "unit_price": 12.5}])), JSON
    )
    assert (replay.status_code, body_of(replay)) == (202, {"order_id": "o-2", "status": "ACCEPTED"})
    # The first request may have died before its workflow started; only one execution can claim it.
    assert fake_workflow.started_ids() == ["o-2", "o-2"]


@pytest.mark.unit
def test_a_replay_while_the_workflow_is_down_is_a_503_and_keeps_the_order(
    order_api: OrderApi, store: InMemoryOrderRepository, fake_workflow: RecordingWorkflow
) -> None:
    order_api.create_order(json.dumps(order_body(order_id="o-5")), JSON)
    fake_workflow.unavailable = True
    assert order_api.create_order(json.dumps(order_body(order_id="o-5")), JSON).status_code == 503
    assert store.get("o-5") is not None, "the first request's workflow may still claim it"


@pytest.mark.unit
def test_a_busy_store_is_a_503_for_both_routes(order_api: OrderApi, store: InMemoryOrderRepository) -> None:
    store.create(make_order("o-6"), NOW)
    store.unavailable = True
    for response in (order_api.create_order(json.dumps(order_body(order_id="o-7")), JSON), order_api.get_order("o-6")):
        assert (response.status_code, body_of(response)["error"]) == (503, "ServiceUnavailable")
        assert response.headers["Retry-After"] == "1"


@pytest.mark.aws
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

    from app import app

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


@pytest.mark.aws
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
