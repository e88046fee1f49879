"""Bugs that `make chaos` found in chalicelib, each pinned by a test that fails without its fix."""

from __future__ import annotations

import pytest

from chalicelib.repository import DynamoOrderRepository
from chalicelib.rules import Verdict
from tests.conftest import make_order

pytestmark = pytest.mark.aws

NOW = "2026-11-25T10:00:00.000Z"
LATER = "2026-11-25T10:00:05.000Z"


def test_a_retried_store_order_does_not_record_its_transition_twice(repository: DynamoOrderRepository) -> None:
    """StoreOrder timed out (or crashed) after its write and Step Functions retried it: the retry
    must still hold the claim, but must not append a second REJECTED (or PENDING) to the history,
    which read as the order reaching a terminal state twice."""
    for order_id, verdict in (("rej-1", Verdict(False, "DUPLICATE_SKU: A")), ("ok-1", Verdict(True, None))):
        repository.create(make_order(order_id), NOW)
        assert repository.record_verdict(order_id, "exec-a", verdict, NOW)
        assert repository.record_verdict(order_id, "exec-a", verdict, LATER), "the same execution's retry"
        assert not repository.record_verdict(order_id, "exec-b", verdict, LATER), "another execution"
        item = repository.get(order_id)
        assert item is not None
        assert [entry["status"] for entry in item["history"]] == ["ACCEPTED", item["status"]]
        assert item["updated_at"] == NOW
