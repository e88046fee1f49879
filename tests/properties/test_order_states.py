"""Properties of the order state machine: forward only, in the rules and in DynamoDB."""

from __future__ import annotations

import itertools
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.repository import FailureRecord, OrderRepository
from chalicelib.rules import Verdict
from chalicelib.states import ALLOWED_SOURCES, OrderStatus, can_transition
from tests.conftest import make_order

pytestmark = pytest.mark.memory_and_dynamodb

NOW = "2026-11-25T10:00:00.000Z"
# How far along an order is; a transition may never lower it.
RANK = {
    OrderStatus.ACCEPTED: 0,
    OrderStatus.PENDING: 1,
    OrderStatus.REJECTED: 1,
    OrderStatus.FAILED: 2,
    OrderStatus.FULFILLED: 3,
    OrderStatus.DEAD_LETTERED: 3,
}
_ids = itertools.count()


@pytest.mark.unit
def test_the_rules_only_move_forward() -> None:
    for current, target in itertools.product(OrderStatus, repeat=2):
        if can_transition(current, target):
            assert RANK[target] >= RANK[current], f"{current} -> {target}"
            assert not current.is_terminal, f"{current} is terminal yet may become {target}"
    assert ALLOWED_SOURCES[OrderStatus.ACCEPTED] == frozenset(), "nothing goes back to ACCEPTED"


# One repository call each; attempts and executions drawn small, so repeats and races are common.
OPERATION = st.one_of(
    st.tuples(st.just("verdict"), st.sampled_from(["exec-a", "exec-b"]), st.booleans()),
    st.tuples(st.just("failed"), st.integers(1, 4)),
    st.tuples(st.just("fulfilled"), st.integers(1, 4)),
    st.tuples(st.just("dead_letter"), st.sampled_from(["fulfillment", "workflow"])),
)


@settings(  # as many examples as the profile says (tests/conftest.py)
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(OPERATION, min_size=1, max_size=10))
def test_no_sequence_of_operations_moves_an_order_backwards(
    repository: OrderRepository, operations: list[tuple[object, ...]]
) -> None:
    order_id = f"prop-{next(_ids)}"
    repository.create(make_order(order_id), NOW)
    for operation in operations:
        match operation:
            case ("verdict", execution, valid):
                repository.record_verdict(order_id, str(execution), Verdict(bool(valid), None if valid else "R"), NOW)
            case ("failed", attempt):
                repository.record_failed_attempt(order_id, int(str(attempt)), "boom", NOW)
            case ("fulfilled", attempt):
                repository.mark_fulfilled(order_id, int(str(attempt)), NOW)
            case ("dead_letter", source):
                record = FailureRecord(order_id, str(source), "{}", 3, "boom", None, NOW)
                repository.dead_letter(record, NOW)
        item = repository.get(order_id)
        assert item is not None
        history = [OrderStatus(entry["status"]) for entry in item["history"]]
        assert history[0] is OrderStatus.ACCEPTED
        assert OrderStatus(item["status"]) is history[-1]
        for before, after in pairwise(history):
            assert can_transition(before, after), f"{before} -> {after} after {operations}"
        assert sum(status.is_terminal for status in history) <= 1, history
        failure = repository.get_failure(order_id)
        assert (failure is not None) == (item["status"] == OrderStatus.DEAD_LETTERED)
