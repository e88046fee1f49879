"""The `by-status` index query: orders in one status, oldest update first, paginated, no scan."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.repository import DynamoOrderRepository
from chalicelib.rules import Verdict
from chalicelib.states import OrderStatus
from tests.conftest import make_order


def _at(minute: int) -> str:
    return f"2026-11-25T10:{minute:02d}:00.000Z"


@pytest.fixture
def pending_orders(repository: DynamoOrderRepository) -> list[tuple[str, str]]:
    """Five PENDING orders updated at minutes 1..5, and one ACCEPTED and one REJECTED beside them."""
    expected = []
    for minute in (3, 1, 5, 2, 4):  # stored out of order: the index sorts them
        order_id = f"order-{minute}"
        repository.create(make_order(order_id), _at(0))
        assert repository.record_verdict(order_id, f"exec-{minute}", Verdict(True), _at(minute))
        expected.append((order_id, _at(minute)))
    repository.create(make_order("still-accepted"), _at(2))
    repository.create(make_order("rejected"), _at(0))
    repository.record_verdict("rejected", "exec-r", Verdict(False, "DUPLICATE_SKU: A"), _at(2))
    return sorted(expected, key=lambda pair: pair[1])


def _dynamodb_calls(repository: DynamoOrderRepository) -> list[str]:
    calls: list[str] = []

    def record(model: Any, **_: Any) -> None:
        calls.append(model.name)

    repository._orders.meta.client.meta.events.register("before-call.dynamodb", record)
    return calls


def test_yields_the_orders_in_one_status_oldest_update_first(
    repository: DynamoOrderRepository, pending_orders: list[tuple[str, str]]
) -> None:
    assert list(repository.order_ids_by_status(OrderStatus.PENDING)) == pending_orders
    assert list(repository.order_ids_by_status(OrderStatus.ACCEPTED)) == [("still-accepted", _at(2))]
    assert list(repository.order_ids_by_status(OrderStatus.FULFILLED)) == []


def test_time_bounds_are_inclusive_since_and_exclusive_before(
    repository: DynamoOrderRepository, pending_orders: list[tuple[str, str]]
) -> None:
    pending = OrderStatus.PENDING
    assert [o for o, _ in repository.order_ids_by_status(pending, updated_before=_at(3))] == ["order-1", "order-2"]
    assert [o for o, _ in repository.order_ids_by_status(pending, updated_since=_at(4))] == ["order-4", "order-5"]
    between = repository.order_ids_by_status(pending, updated_since=_at(2), updated_before=_at(4))
    assert [o for o, _ in between] == ["order-2", "order-3"]


def test_pages_through_every_result_with_queries_only(
    repository: DynamoOrderRepository, pending_orders: list[tuple[str, str]]
) -> None:
    calls = _dynamodb_calls(repository)
    assert list(repository.order_ids_by_status(OrderStatus.PENDING, page_size=2)) == pending_orders
    assert len(calls) >= 3, "five orders in pages of two"
    assert set(calls) == {"Query"}, "never a scan"
