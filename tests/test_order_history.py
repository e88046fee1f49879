"""`GET /order/{id}` shows the order's `history`: every transition with status, time, attempt,
and who made it where not the pipeline (contract section 2, invariant 6)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.openapi import document
from chalicelib.repository import OrderRepository
from chalicelib.rules import Verdict
from chalicelib.views import OrderView
from tests.conftest import make_order

pytestmark = pytest.mark.memory_and_dynamodb


def _at(second: int) -> str:
    return f"2026-11-25T10:00:{second:02d}.000Z"


def test_the_view_shows_every_stored_transition(repository: OrderRepository) -> None:
    repository.create(make_order(), _at(0))
    repository.record_verdict("order-1", "exec-a", Verdict(True), _at(1))
    repository.record_failed_attempt("order-1", 1, "boom", _at(2))
    repository.mark_fulfilled("order-1", 2, _at(3))
    item = repository.get("order-1")
    assert item is not None

    shown = OrderView.from_item(item).body()

    assert shown["history"] == [
        {"status": "ACCEPTED", "at": _at(0)},
        {"status": "PENDING", "at": _at(1)},
        {"status": "FAILED", "at": _at(2), "attempt": 1},
        {"status": "FULFILLED", "at": _at(3), "attempt": 2},
    ]
    json.dumps(shown)  # attempts stored as Decimal come out as JSON numbers


@pytest.mark.unit
def test_the_view_names_who_made_a_transition_outside_the_pipeline() -> None:
    item: dict[str, Any] = {
        "order_id": "o-1",
        "status": "PENDING",
        "customer_id": "c",
        "currency": "USD",
        "items": [],
        "total": "0",
        "created_at": _at(0),
        "updated_at": _at(5),
        "history": [{"status": "ACCEPTED", "at": _at(0)}, {"status": "PENDING", "at": _at(5), "by": "reconciler"}],
    }
    assert OrderView.from_item(item).body()["history"][1] == {"status": "PENDING", "at": _at(5), "by": "reconciler"}


@pytest.mark.unit
def test_the_openapi_document_describes_the_history() -> None:
    schemas = document()["components"]["schemas"]
    history = schemas["OrderView"]["properties"]["history"]
    assert history["items"] == {"$ref": "#/components/schemas/HistoryEntry"}
    assert set(schemas["HistoryEntry"]["properties"]) == {"status", "at", "attempt", "by"}
