"""Properties of redrives mixed into the pipeline's operations: the only backward move is an
operator's DEAD_LETTERED -> PENDING, and the order keeps one failed_orders record that counts
every dead-letter."""

from __future__ import annotations

import itertools
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.redrive import redrive_round_of
from chalicelib.repository import DeadLetterOutcome, FailureRecord, OrderRepository
from chalicelib.rules import Verdict
from chalicelib.states import OPERATOR, OrderStatus, can_transition, is_redrive
from tests.conftest import make_order

pytestmark = pytest.mark.memory_and_dynamodb

NOW = "2026-11-25T10:00:00.000Z"
_ids = itertools.count()

# Rounds drawn small, so stale messages of an earlier round and races on the same round are common.
OPERATION = st.one_of(
    st.tuples(st.just("verdict"), st.booleans()),
    st.tuples(st.just("failed"), st.integers(1, 4)),
    st.tuples(st.just("fulfilled"), st.integers(1, 4)),
    st.tuples(st.just("dead_letter"), st.integers(0, 2)),
    st.tuples(st.just("redrive"), st.integers(0, 2)),
    st.tuples(st.just("undo"), st.integers(1, 2)),
)


def _apply(repository: OrderRepository, order_id: str, operation: tuple[object, ...]) -> None:
    match operation:
        case ("verdict", valid):
            repository.record_verdict(order_id, "exec", Verdict(bool(valid), None if valid else "R"), NOW)
        case ("failed", attempt):
            repository.record_failed_attempt(order_id, int(str(attempt)), "boom", NOW)
        case ("fulfilled", attempt):
            repository.mark_fulfilled(order_id, int(str(attempt)), NOW)
        case ("dead_letter", redrive_round):
            # A DLQ message of that round, read as the dead-letter handler reads it.
            body = f'{{"order_id": "{order_id}", "redrive": {redrive_round}}}'
            round_of_body = redrive_round_of(body)
            current = repository.get(order_id)
            outcome = repository.dead_letter(
                FailureRecord(order_id, "fulfillment", body, 3, "boom", None, NOW, redrive_round=round_of_body), NOW
            )
            if outcome is DeadLetterOutcome.RECORDED:  # never by a message of another round
                assert current is not None
                assert round_of_body == current.get("redrive_count", 0)
        case ("redrive", seen_round):
            repository.redrive(order_id, int(str(seen_round)), NOW)
        case ("undo", redrive_round):
            repository.undo_redrive(order_id, int(str(redrive_round)), 3, "queue down", NOW)


def _check_history(history: list[dict[str, object]], operations: list[tuple[object, ...]]) -> None:
    for before, after in pairwise(history):
        old, new = OrderStatus(str(before["status"])), OrderStatus(str(after["status"]))
        # The operator's moves: a redrive, or undoing one whose message could not be queued.
        operators_move = is_redrive(old, new) or (old, new) == (OrderStatus.PENDING, OrderStatus.DEAD_LETTERED)
        by_operator = after.get("by") == OPERATOR
        assert can_transition(old, new) or (by_operator and operators_move), f"{old} -> {new} after {operations}"


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(OPERATION, min_size=1, max_size=12))
def test_only_an_operator_moves_an_order_back_and_its_record_counts_every_dead_letter(
    repository: OrderRepository, operations: list[tuple[object, ...]]
) -> None:
    order_id = f"redrive-{next(_ids)}"
    repository.create(make_order(order_id), NOW)
    for operation in operations:
        _apply(repository, order_id, operation)
        item = repository.get(order_id)
        assert item is not None
        history = item["history"]
        assert OrderStatus(item["status"]) is OrderStatus(history[-1]["status"])
        _check_history(history, operations)
        failure = repository.get_failure(order_id)
        pipeline_dead_letters = sum(
            1 for entry in history if entry["status"] == OrderStatus.DEAD_LETTERED and entry.get("by") is None
        )
        assert (failure is not None) == (pipeline_dead_letters > 0)
        if failure is not None:
            assert failure["dead_letter_count"] == pipeline_dead_letters
            assert failure.get("redrive_count", 0) == item.get("redrive_count", 0)
        redrives = sum(1 for entry in history if entry.get("by") == OPERATOR and entry["status"] == OrderStatus.PENDING)
        assert item.get("redrive_count", 0) == redrives
