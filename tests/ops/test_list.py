"""`list`: open orders by status from the open-orders index, dead-lettered ones from failed_orders'
dead-lettered index, page by page, never a scan; FULFILLED and REJECTED refused (exit 2)."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.repository import DynamoOrderRepository, FailureRecord
from chalicelib.rules import Verdict
from chalicelib.states import OrderStatus
from dofs_config.stage import Stage
from dofs_local.emulated.provisioning import Resources
from dofs_ops import __main__ as cli
from dofs_ops import operations
from dofs_ops.target import Target
from tests.conftest import REGION, make_order

pytestmark = pytest.mark.aws


def _at(minute: int) -> str:
    return f"2026-11-25T10:{minute:02d}:00.000Z"


@pytest.fixture
def target(resources: Resources, stage: Stage) -> Target:
    return Target(stage=stage, region=REGION, endpoint_url=None)  # moto answers in place of AWS


@pytest.fixture
def orders(repository: DynamoOrderRepository) -> None:
    """Two of each open status, opened at different minutes; two dead-lettered; one of each
    terminal status that is not listed."""
    for order_id, opened in {"acc-1": 4, "acc-2": 1, "pen-1": 2, "pen-2": 5, "fail-1": 3, "fail-2": 6}.items():
        repository.create(make_order(order_id), _at(opened))
        if not order_id.startswith("acc"):
            assert repository.record_verdict(order_id, "exec", Verdict(True), _at(10))
        if order_id.startswith("fail"):
            assert repository.record_failed_attempt(order_id, 1, "boom", _at(11)) is not None
    for order_id, minute in {"dead-1": 21, "dead-2": 20}.items():
        repository.create(make_order(order_id), _at(0))
        assert repository.record_verdict(order_id, "exec", Verdict(True), _at(10))
        record = FailureRecord(order_id, "workflow", "{}", 0, "boom", None, _at(minute))
        assert repository.dead_letter(record, _at(minute)).value == "RECORDED"
    repository.create(make_order("rejected"), _at(0))
    repository.record_verdict("rejected", "exec", Verdict(False, "DUPLICATE_SKU: A"), _at(10))
    repository.create(make_order("fulfilled"), _at(0))
    repository.record_verdict("fulfilled", "exec", Verdict(True), _at(10))
    assert repository.mark_fulfilled("fulfilled", 1, _at(12))


def _listed(target: Target, status: OrderStatus, since: str | None = None, page_size: int = 100) -> list[str]:
    return [order_id for order_id, _ in operations.list_orders(target, status, since, page_size, lambda _: None)]


@pytest.mark.usefixtures("orders")
@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (OrderStatus.ACCEPTED, ["acc-2", "acc-1"]),
        (OrderStatus.PENDING, ["pen-1", "pen-2"]),
        (OrderStatus.FAILED, ["fail-1", "fail-2"]),
        (OrderStatus.DEAD_LETTERED, ["dead-2", "dead-1"]),
    ],
)
def test_lists_each_status_oldest_first(target: Target, status: OrderStatus, expected: list[str]) -> None:
    assert _listed(target, status) == expected
    assert _listed(target, status, page_size=1) == expected, "page by page"


@pytest.mark.usefixtures("orders")
def test_since_is_when_the_order_was_opened_or_dead_lettered(target: Target) -> None:
    assert _listed(target, OrderStatus.ACCEPTED, since=_at(2)) == ["acc-1"]
    assert _listed(target, OrderStatus.FAILED, since=_at(4)) == ["fail-2"]
    assert _listed(target, OrderStatus.DEAD_LETTERED, since=_at(21)) == ["dead-1"]


@pytest.mark.usefixtures("orders")
def test_progress_counts_the_index_entries_read_page_by_page(target: Target) -> None:
    progress: list[str] = []
    listed = list(operations.list_orders(target, OrderStatus.PENDING, None, 1, progress.append))
    assert [order_id for order_id, _ in listed] == ["pen-1", "pen-2"]
    assert progress == [f"{count} orders read" for count in range(1, 7)], "the six open orders, one a page"


@pytest.mark.usefixtures("orders")
def test_reads_indexes_and_items_never_a_scan(target: Target, stage: Stage) -> None:
    calls: list[str] = []

    def record(model: Any, **_: Any) -> None:
        calls.append(model.name)

    target.repository._client.meta.events.register("before-call.dynamodb", record)
    for status in operations.LISTABLE_STATUSES:
        _listed(target, status, page_size=2)
    assert set(calls) == {"Query", "BatchGetItem"}
    assert calls.count("Query") >= len(operations.LISTABLE_STATUSES) * stage.open_orders_index_shards


def test_a_redriven_order_is_listed_open_not_dead_lettered(
    target: Target, repository: DynamoOrderRepository, orders: None
) -> None:
    from chalicelib.repository import RedriveOutcome

    assert repository.redrive("dead-1", 0, _at(30)) is RedriveOutcome.REDRIVEN
    assert _listed(target, OrderStatus.DEAD_LETTERED) == ["dead-2"]
    assert _listed(target, OrderStatus.PENDING) == ["pen-1", "pen-2", "dead-1"], "open since the redrive"


@pytest.mark.parametrize("status", ["FULFILLED", "rejected"])
def test_terminal_statuses_are_refused_naming_what_can_be_listed(
    capsys: pytest.CaptureFixture[str], stage: Stage, status: str
) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["list", "--status", status])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"{status.upper()} orders are not listed by status" in err
    assert "list one of ACCEPTED, PENDING, FAILED, DEAD_LETTERED" in err
    with pytest.raises(operations.NotListableError):
        next(operations.list_orders(Target(stage, REGION, None), OrderStatus(status.upper()), None, 100, print))
