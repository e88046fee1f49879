"""The API's rules (OrderApi: checks, idempotent acceptance, views, 503s) on the in-memory store and
workflow starter. tests/test_api.py runs the same rows through Chalice and moto."""

from __future__ import annotations

import json
from typing import Any

import pytest
from chalice.app import Response

from chalicelib.api import OrderApi
from chalicelib.rules import Verdict
from tests.conftest import make_order, order_body
from tests.fakes import InMemoryOrderRepository, RecordingWorkflow

pytestmark = pytest.mark.unit

NOW = "2026-11-25T10:00:00.000Z"
JSON = "application/json"


@pytest.fixture
def store() -> InMemoryOrderRepository:
    return InMemoryOrderRepository()


@pytest.fixture
def workflow() -> RecordingWorkflow:
    return RecordingWorkflow()


@pytest.fixture
def api(store: InMemoryOrderRepository, workflow: RecordingWorkflow, app_environment: None) -> OrderApi:
    return OrderApi(store, workflow, clock=lambda: NOW)


def post(api: OrderApi, body: Any, content_type: str | None = JSON) -> Response:
    raw = body if isinstance(body, bytes | str) else json.dumps(body)
    return api.create_order(raw, content_type)


def body_of(response: Response) -> dict[str, Any]:
    return json.loads(response.body)  # type: ignore[no-any-return]


def test_post_accepts_starts_one_workflow_and_get_finds_the_order(api: OrderApi, workflow: RecordingWorkflow) -> None:
    response = post(api, order_body(order_id="o-1"))
    assert (response.status_code, body_of(response)) == (202, {"order_id": "o-1", "status": "ACCEPTED"})
    assert response.headers["Location"] == "order/o-1"
    assert workflow.started_ids() == ["o-1"]
    found = api.get_order("o-1")
    order = body_of(found)
    assert (found.status_code, order["status"], order["total"], order["attempts"]) == (200, "ACCEPTED", "25.00", 0)
    assert order["items"] == [{"sku": "SKU-1", "quantity": 2, "unit_price": "12.50"}]
    assert (order["created_at"], order["updated_at"]) == (NOW, NOW)
    assert "body_hash" not in order


def test_post_without_an_id_generates_one(api: OrderApi) -> None:
    order_id = body_of(post(api, order_body()))["order_id"]
    assert api.get_order(order_id).status_code == 200


def test_invalid_body_names_each_bad_field_and_stores_nothing(api: OrderApi, workflow: RecordingWorkflow) -> None:
    response = post(api, {"customer_id": "", "items": [{"sku": "A", "quantity": 0, "unit_price": "1.234"}], "x": 1})
    error = body_of(response)
    assert (response.status_code, error["error"]) == (400, "InvalidOrder")
    assert {e["field"] for e in error["fields"]} == {"customer_id", "items[0].quantity", "items[0].unit_price", "x"}
    assert workflow.started == []


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"", b"\xff\xfe"])
def test_malformed_json_is_a_400(api: OrderApi, raw: bytes) -> None:
    response = post(api, raw)
    assert response.status_code == 400
    assert body_of(response)["error"] in {"InvalidJSON", "InvalidOrder"}


def test_a_replay_of_an_accepted_order_starts_the_workflow_again(api: OrderApi, workflow: RecordingWorkflow) -> None:
    post(api, order_body(order_id="o-2"))
    replay = post(api, order_body(order_id="o-2", items=[{"sku": "SKU-1", "quantity": 2, "unit_price": 12.5}]))
    assert (replay.status_code, body_of(replay)) == (202, {"order_id": "o-2", "status": "ACCEPTED"})
    # The first request may have died before its workflow started; only one execution can claim it.
    assert workflow.started_ids() == ["o-2", "o-2"]


def test_a_replay_of_a_claimed_order_answers_its_status_and_starts_nothing(
    api: OrderApi, store: InMemoryOrderRepository, workflow: RecordingWorkflow
) -> None:
    post(api, order_body(order_id="o-2"))
    assert store.record_verdict("o-2", "exec-1", Verdict(True), NOW)
    replay = post(api, order_body(order_id="o-2"))
    assert (replay.status_code, body_of(replay)["status"]) == (202, "PENDING")
    assert replay.headers["Location"] == "order/o-2"
    assert workflow.started_ids() == ["o-2"]


def test_same_id_with_a_different_body_is_a_409(api: OrderApi, store: InMemoryOrderRepository) -> None:
    post(api, order_body(order_id="o-3"))
    response = post(api, order_body(order_id="o-3", customer_id="someone-else"))
    assert (response.status_code, body_of(response)["error"]) == (409, "OrderConflict")
    stored = store.get("o-3")
    assert stored is not None
    assert stored["customer_id"] == "customer-1", "the first body stays"


def test_body_over_256_kib_is_a_413(api: OrderApi) -> None:
    assert post(api, json.dumps(order_body(customer_id="c", padding="x" * (256 * 1024)))).status_code == 413


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_not_json_is_a_415(api: OrderApi, content_type: str | None) -> None:
    response = post(api, order_body(), content_type=content_type)
    assert response.status_code == 415
    assert repr(content_type) in body_of(response)["message"]


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/merge-patch+json"])
def test_json_media_types_are_accepted(api: OrderApi, content_type: str) -> None:
    assert post(api, order_body(), content_type=content_type).status_code == 202


def test_workflow_that_cannot_start_is_a_503_and_leaves_nothing(
    api: OrderApi, store: InMemoryOrderRepository, workflow: RecordingWorkflow
) -> None:
    workflow.unavailable = True
    response = post(api, order_body(order_id="o-4"))
    assert (response.status_code, response.headers["Retry-After"]) == (503, "1")
    assert body_of(response)["error"] == "ServiceUnavailable"
    assert store.get("o-4") is None, "nothing half-done is left behind"
    assert api.get_order("o-4").status_code == 404


def test_a_replay_while_the_workflow_is_down_is_a_503_and_keeps_the_order(
    api: OrderApi, store: InMemoryOrderRepository, workflow: RecordingWorkflow
) -> None:
    post(api, order_body(order_id="o-5"))
    workflow.unavailable = True
    assert post(api, order_body(order_id="o-5")).status_code == 503
    assert store.get("o-5") is not None, "the first request's workflow may still claim it"


def test_a_busy_store_is_a_503_for_both_routes(api: OrderApi, store: InMemoryOrderRepository) -> None:
    store.create(make_order("o-6"), NOW)
    store.unavailable = True
    for response in (post(api, order_body(order_id="o-7")), api.get_order("o-6")):
        assert (response.status_code, body_of(response)["error"]) == (503, "ServiceUnavailable")
        assert response.headers["Retry-After"] == "1"


def test_get_unknown_is_a_404_and_malformed_id_a_400(api: OrderApi) -> None:
    assert api.get_order("nope").status_code == 404
    malformed = api.get_order("x" * 65)
    assert (malformed.status_code, body_of(malformed)["error"]) == (400, "InvalidOrderId")
