"""The sparse, sharded indexes: the open orders (`open-orders` on orders) and the dead-lettered ones
(`dead-lettered` on failed_orders). An order costs at most two writes to the open-orders index,
leaves it when terminal, comes back when redriven; queries go shard by shard, page by page, never
a scan."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from chalicelib.repository import (
    OPEN_SHARD,
    OPEN_SINCE,
    DynamoOrderRepository,
    FailureRecord,
    RedriveOutcome,
    index_shard,
)
from chalicelib.rules import Verdict
from dofs_config.stage import Stage
from tests.conftest import DynamoDBCalls, make_order

pytestmark = pytest.mark.memory_and_dynamodb


def _at(minute: int) -> str:
    return f"2026-11-25T10:{minute:02d}:00.000Z"


def _index_keys(stage: Stage) -> list[str]:
    """The key attributes of every index on the orders table, as the table declares them."""
    table = boto3.client("dynamodb").describe_table(TableName=stage.orders_table)["Table"]
    return sorted({key["AttributeName"] for index in table["GlobalSecondaryIndexes"] for key in index["KeySchema"]})


def _index_writes(before: dict[str, Any] | None, after: dict[str, Any] | None, keys: list[str]) -> int:
    """What a write from `before` to `after` costs the table's indexes (sparse: an item is in an
    index only with every key attribute): 1 to put or delete an entry, 2 to change its key."""

    def entry(item: dict[str, Any] | None) -> tuple[Any, ...] | None:
        if item is None or any(key not in item for key in keys):
            return None
        return tuple(item[key] for key in keys)

    old, new = entry(before), entry(after)
    if old == new:
        return 0
    return (old is not None) + (new is not None)


def _dead_letter(repository: DynamoOrderRepository, order_id: str, at: str, redrive_round: int = 0) -> None:
    record = FailureRecord(order_id, "fulfillment", "{}", 3, "boom", None, at, redrive_round=redrive_round)
    assert repository.dead_letter(record, at).value == "RECORDED"


def _lifecycles(repository: DynamoOrderRepository) -> dict[str, list[Callable[[], object]]]:
    """Each way an order can go, step by step, from create to terminal."""

    def steps(order_id: str) -> dict[str, Callable[[], object]]:
        return {
            "create": lambda: repository.create(make_order(order_id), _at(0)),
            "pending": lambda: repository.record_verdict(order_id, "exec", Verdict(True), _at(1)),
            "rejected": lambda: repository.record_verdict(order_id, "exec", Verdict(False, "DUPLICATE_SKU: A"), _at(1)),
            "claimed": lambda: repository.claim_unchanged(
                order_id, repository_status(repository, order_id), _at(1), _at(2), "reconciler"
            ),
            "failed": lambda: repository.record_failed_attempt(order_id, 1, "boom", _at(3)),
            "failed again": lambda: repository.record_failed_attempt(order_id, 2, "boom", _at(4)),
            "fulfilled": lambda: repository.mark_fulfilled(order_id, 3, _at(5)),
            "dead-lettered": lambda: _dead_letter(repository, order_id, _at(5)),
        }

    fulfilled, rejected, dead = steps("fulfilled-order"), steps("rejected-order"), steps("dead-order")
    return {
        "fulfilled-order": [
            fulfilled[s] for s in ("create", "pending", "claimed", "failed", "failed again", "fulfilled")
        ],
        "rejected-order": [rejected[s] for s in ("create", "rejected")],
        "dead-order": [dead[s] for s in ("create", "pending", "failed", "failed again", "dead-lettered")],
    }


def repository_status(repository: DynamoOrderRepository, order_id: str) -> Any:
    from chalicelib.states import OrderStatus

    item = repository.get(order_id)
    assert item is not None
    return OrderStatus(item["status"])


@pytest.mark.aws
@pytest.mark.parametrize("order_id", ["fulfilled-order", "rejected-order", "dead-order"])
def test_an_order_costs_two_index_writes_from_create_to_terminal(
    repository: DynamoOrderRepository, stage: Stage, order_id: str
) -> None:
    keys = _index_keys(stage)
    writes: list[int] = []
    for step in _lifecycles(repository)[order_id]:
        before = repository.get(order_id)
        step()
        writes.append(_index_writes(before, repository.get(order_id), keys))
    # In when accepted, out when terminal, nothing in between (a changed key would be 2 each).
    assert writes[0] == 1
    assert writes[-1] == 1
    assert sum(writes) == 2, writes


def _order_update(operation: str, params: dict[str, Any]) -> str:
    """What a write does to the order's item: a put's attribute names, an update's expression
    (in a transaction, the update of the orders table)."""
    if operation == "PutItem":
        return "PUT " + " ".join(sorted(params["Item"]))
    if operation == "UpdateItem":
        return str(params["UpdateExpression"])
    [update] = [item["Update"] for item in params["TransactItems"] if item["Update"]["TableName"].endswith("-orders")]
    return str(update["UpdateExpression"])


@pytest.mark.aws
def test_only_the_writes_that_open_or_close_an_order_name_the_index_keys(
    repository: DynamoOrderRepository, record_dynamodb_calls: Callable[[Any], DynamoDBCalls]
) -> None:
    calls = record_dynamodb_calls(repository)
    for lifecycle in _lifecycles(repository).values():
        for step in lifecycle:
            step()
    updates = [
        _order_update(operation, params)
        for operation, params in calls
        if operation in {"PutItem", "UpdateItem", "TransactWriteItems"}
    ]
    naming = [update for update in updates if OPEN_SHARD in update or OPEN_SINCE in update]
    assert len(updates) == 13, updates
    # Each order's create puts both keys and its terminal update removes both; no other write names them.
    remove = f" REMOVE {OPEN_SHARD}, {OPEN_SINCE}"
    assert [update.endswith(remove) for update in naming] == [False, True] * 3
    for put in naming[::2]:
        assert {OPEN_SHARD, OPEN_SINCE} <= set(put.split())


def test_open_orders_are_listed_terminal_ones_are_not(repository: DynamoOrderRepository) -> None:
    for lifecycle in _lifecycles(repository).values():
        for step in lifecycle:
            step()
    repository.create(make_order("accepted"), _at(7))
    repository.create(make_order("pending"), _at(6))
    repository.record_verdict("pending", "exec", Verdict(True), _at(8))
    repository.create(make_order("failing"), _at(5))
    repository.record_verdict("failing", "exec", Verdict(True), _at(8))
    repository.record_failed_attempt("failing", 1, "boom", _at(9))

    # Oldest open first, across shards; the terminal orders are in no shard.
    assert list(repository.open_order_ids()) == [("failing", _at(5)), ("pending", _at(6)), ("accepted", _at(7))]
    for order_id in ("fulfilled-order", "rejected-order", "dead-order"):
        item = repository.get(order_id)
        assert item is not None
        assert OPEN_SHARD not in item
        assert OPEN_SINCE not in item


def test_a_redrive_puts_the_order_back_and_its_undoing_takes_it_out(repository: DynamoOrderRepository) -> None:
    repository.create(make_order("order-1"), _at(0))
    repository.record_verdict("order-1", "exec", Verdict(True), _at(1))
    _dead_letter(repository, "order-1", _at(2))
    assert list(repository.open_order_ids()) == []
    assert list(repository.dead_lettered_order_ids()) == [("order-1", _at(2))]

    assert repository.redrive("order-1", 0, _at(3)) is RedriveOutcome.REDRIVEN
    assert list(repository.open_order_ids()) == [("order-1", _at(3))], "open since the redrive"
    assert list(repository.dead_lettered_order_ids()) == []

    assert repository.undo_redrive("order-1", 1, 3, "queue unreachable", _at(4))
    assert list(repository.open_order_ids()) == []
    assert list(repository.dead_lettered_order_ids()) == [("order-1", _at(2))]

    assert repository.redrive("order-1", 1, _at(5)) is RedriveOutcome.REDRIVEN
    repository.record_failed_attempt("order-1", 1, "boom", _at(6))
    _dead_letter(repository, "order-1", _at(7), redrive_round=2)
    assert list(repository.open_order_ids()) == []
    assert list(repository.dead_lettered_order_ids()) == [("order-1", _at(7))], "dead-lettered again, listed once"


def test_time_bounds_are_inclusive_since_and_exclusive_before(repository: DynamoOrderRepository) -> None:
    for minute in (3, 1, 5, 2, 4):
        repository.create(make_order(f"order-{minute}"), _at(minute))
    assert [o for o, _ in repository.open_order_ids(opened_before=_at(3))] == ["order-1", "order-2"]
    assert [o for o, _ in repository.open_order_ids(opened_since=_at(4))] == ["order-4", "order-5"]
    between = repository.open_order_ids(opened_since=_at(2), opened_before=_at(4))
    assert [o for o, _ in between] == ["order-2", "order-3"]
    for minute in (1, 2):
        _dead_letter(repository, f"order-{minute}", _at(10 + minute))
    assert [o for o, _ in repository.dead_lettered_order_ids(since=_at(12))] == ["order-2"]


@pytest.mark.aws
def test_pages_through_every_shard_with_queries_only(
    repository: DynamoOrderRepository, stage: Stage, record_dynamodb_calls: Callable[[Any], DynamoDBCalls]
) -> None:
    created = [(f"order-{n:03d}", _at(n % 60)) for n in range(120)]
    for order_id, at in created:
        repository.create(make_order(order_id), at)
    calls = record_dynamodb_calls(repository)
    found = list(repository.open_order_ids(page_size=2))
    assert sorted(found) == sorted(created)
    assert [at for _, at in found] == sorted(at for _, at in created), "oldest first across the shards"
    assert {operation for operation, _ in calls} == {"Query"}, "never a scan"
    queried = {params["ExpressionAttributeValues"][":shard"]["S"] for _, params in calls}
    assert queried == {str(shard) for shard in range(stage.open_orders_index_shards)}
    assert len(calls) >= len(created) // 2, "two items a page"


@pytest.mark.unit
def test_the_shard_is_a_stable_hash_of_the_order_id_spread_evenly() -> None:
    # Fixed values: Python's hash() of a str changes from one process to the next, this must not.
    assert [index_shard(order_id, 32) for order_id in ("order-1", "order-2", "a")] == ["12", "3", "10"]
    spread = Counter(index_shard(f"order-{n}", 32) for n in range(32_000))
    assert set(spread) == {str(shard) for shard in range(32)}
    assert max(spread.values()) < 1.15 * 1000, "no shard takes much more than its share"


@pytest.mark.unit
def test_prod_keeps_every_index_partition_well_under_its_write_limit() -> None:
    from dofs_config.stage import load_stage

    # The rate prod must carry, in 3x bursts; two index writes an order; a partition takes 1,000
    # writes/s: each shard's share must stay under half of it.
    assert 1_000 * 3 * 2 / load_stage("prod").open_orders_index_shards < 500


@pytest.mark.aws
def test_get_many_reads_in_batches_of_100_and_asks_again_for_keys_left_unread(
    repository: DynamoOrderRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    order_ids = [f"order-{n:03d}" for n in range(150)]
    for order_id in order_ids:
        repository.create(make_order(order_id), _at(0))
    real_batch_get = repository._client.batch_get_item
    requested: list[int] = []

    def throttled_once(RequestItems: dict[str, Any]) -> dict[str, Any]:
        [(table, request)] = RequestItems.items()
        requested.append(len(request["Keys"]))
        if len(requested) > 1:
            return dict(real_batch_get(RequestItems=RequestItems))
        # The first request: DynamoDB answers half of it, leaving the rest unprocessed.
        half = len(request["Keys"]) // 2
        answered = real_batch_get(RequestItems={table: {"Keys": request["Keys"][:half]}})
        return {**answered, "UnprocessedKeys": {table: {"Keys": request["Keys"][half:]}}}

    pauses: list[float] = []
    monkeypatch.setattr(repository._client, "batch_get_item", throttled_once)
    monkeypatch.setattr("chalicelib.repository.time.sleep", pauses.append)

    items = repository.get_many([*order_ids, "no-such-order"])

    assert sorted(item["order_id"] for item in items) == order_ids
    assert requested == [100, 50, 51]
    assert pauses == [0.05], "backed off before asking again"


@pytest.mark.aws
def test_get_many_gives_up_as_a_transient_error_when_keys_stay_unread(
    repository: DynamoOrderRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.errors import TransientError

    def always_throttled(RequestItems: dict[str, Any]) -> dict[str, Any]:
        return {"Responses": {}, "UnprocessedKeys": RequestItems}

    monkeypatch.setattr(repository._client, "batch_get_item", always_throttled)
    monkeypatch.setattr("chalicelib.repository.time.sleep", lambda _: None)
    with pytest.raises(TransientError, match="left 1 orders unread"):
        repository.get_many(["order-1"])
