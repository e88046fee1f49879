from __future__ import annotations

from decimal import Decimal

import pytest
from botocore.exceptions import ClientError

from chalicelib.errors import TransientError
from chalicelib.repository import DeadLetterOutcome, FailureRecord, OrderRepository, _transient_errors
from chalicelib.rules import Verdict
from tests.conftest import make_order

pytestmark = pytest.mark.memory_and_dynamodb

NOW = "2026-11-25T10:00:00.000Z"
VALID = Verdict(True)


def failure(order_id: str = "order-1") -> FailureRecord:
    return FailureRecord(order_id, "fulfillment", '{"order_id": "order-1"}', 3, "boom", None, NOW)


def test_create_stores_an_accepted_order_once(repository: OrderRepository) -> None:
    order = make_order()
    assert repository.create(order, NOW) is None
    existing = repository.create(order, NOW)
    assert existing is not None
    assert existing["status"] == "ACCEPTED"
    assert existing["total"] == Decimal("25.00")
    assert existing["items"][0]["unit_price"] == Decimal("12.50")
    assert existing["body_hash"] == order.body_hash


def test_verdict_is_claimed_by_one_execution_and_repeats_for_it(repository: OrderRepository) -> None:
    repository.create(make_order(), NOW)
    assert repository.record_verdict("order-1", "exec-a", VALID, NOW)
    assert repository.record_verdict("order-1", "exec-a", VALID, NOW), "a retry of the same execution"
    assert not repository.record_verdict("order-1", "exec-b", VALID, NOW), "another execution"
    item = repository.get("order-1")
    assert item is not None
    assert (item["status"], item["execution_id"]) == ("PENDING", "exec-a")


def test_verdict_on_a_missing_order_claims_nothing(repository: OrderRepository) -> None:
    assert not repository.record_verdict("ghost", "exec-a", VALID, NOW)
    assert repository.get("ghost") is None


def test_rejection_keeps_the_reason(repository: OrderRepository) -> None:
    repository.create(make_order(), NOW)
    assert repository.record_verdict("order-1", "exec-a", Verdict(False, "DUPLICATE_SKU: A"), NOW)
    item = repository.get("order-1")
    assert item is not None
    assert (item["status"], item["reason"]) == ("REJECTED", "DUPLICATE_SKU: A")
    assert not repository.mark_fulfilled("order-1", 1, NOW), "REJECTED is terminal"


def test_failed_attempts_count_once_each_and_never_go_backwards(repository: OrderRepository) -> None:
    repository.create(make_order(), NOW)
    repository.record_verdict("order-1", "exec-a", VALID, NOW)
    first = repository.record_failed_attempt("order-1", 1, "e1", NOW)
    assert first is not None
    assert (first["status"], first["attempts"]) == ("FAILED", 1)
    again = repository.record_failed_attempt("order-1", 1, "e1 again", NOW)
    assert again is not None, "a duplicate delivery is still a failure to retry"
    assert (again["attempts"], again["last_error"]) == (1, "e1")
    assert repository.mark_fulfilled("order-1", 2, NOW)
    assert repository.record_failed_attempt("order-1", 3, "late", NOW) is None
    assert not repository.mark_fulfilled("order-1", 3, NOW), "never fulfilled twice"
    item = repository.get("order-1")
    assert item is not None
    assert (item["status"], item["attempts"]) == ("FULFILLED", 2)
    assert [h["status"] for h in item["history"]] == ["ACCEPTED", "PENDING", "FAILED", "FULFILLED"]


def test_dead_letter_writes_one_record_and_is_idempotent(repository: OrderRepository) -> None:
    repository.create(make_order(), NOW)
    repository.record_verdict("order-1", "exec-a", VALID, NOW)
    repository.record_failed_attempt("order-1", 3, "boom", NOW)
    assert repository.dead_letter(failure(), NOW) is DeadLetterOutcome.RECORDED
    assert repository.dead_letter(failure(), NOW) is DeadLetterOutcome.ALREADY_RECORDED
    order = repository.get("order-1")
    record = repository.get_failure("order-1")
    assert order is not None
    assert record is not None
    assert order["status"] == "DEAD_LETTERED"
    assert (record["attempts"], record["last_error"], record["source"]) == (3, "boom", "fulfillment")
    assert not repository.mark_fulfilled("order-1", 4, NOW), "DEAD_LETTERED never becomes FULFILLED"


def test_dead_letter_of_a_fulfilled_order_records_nothing(repository: OrderRepository) -> None:
    repository.create(make_order(), NOW)
    repository.record_verdict("order-1", "exec-a", VALID, NOW)
    repository.mark_fulfilled("order-1", 1, NOW)
    assert repository.dead_letter(failure(), NOW) is DeadLetterOutcome.NOT_ELIGIBLE
    assert repository.get_failure("order-1") is None
    item = repository.get("order-1")
    assert item is not None
    assert item["status"] == "FULFILLED"


def test_delete_if_accepted_only_removes_an_untouched_order(repository: OrderRepository) -> None:
    order = make_order()
    repository.create(order, NOW)
    repository.delete_if_accepted("order-1", "another-hash")
    assert repository.get("order-1") is not None
    repository.record_verdict("order-1", "exec-a", VALID, NOW)
    repository.delete_if_accepted("order-1", order.body_hash)
    assert repository.get("order-1") is not None, "the workflow already took it"
    repository.create(make_order("order-2"), NOW)
    repository.delete_if_accepted("order-2", make_order("order-2").body_hash)
    assert repository.get("order-2") is None


@pytest.mark.unit
@pytest.mark.parametrize(
    ("code", "transient"), [("ProvisionedThroughputExceededException", True), ("ValidationException", False)]
)
def test_throttling_becomes_a_transient_error(code: str, transient: bool) -> None:
    error = ClientError({"Error": {"Code": code, "Message": "x"}}, "PutItem")
    expected = TransientError if transient else ClientError
    with pytest.raises(expected), _transient_errors():
        raise error
