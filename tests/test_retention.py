"""Retention: a terminal order gets `expires_at` (DynamoDB's TTL attribute, epoch seconds) at its
stage's retention, a dead-lettered one and its failed_orders record at the longer one, and a
redrive takes it off again; the stages set the retention and Terraform turns TTL on."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.repository import EXPIRES_AT, DynamoOrderRepository, FailureRecord, OrderRepository, Retention
from chalicelib.rules import Verdict
from chalicelib.settings import Settings
from dofs_config.stage import PROJECT_DIR, Stage, load_stage
from tests.conftest import REPOSITORY_KINDS, _dynamodb_client, make_order
from tests.fakes import InMemoryOrderRepository

pytestmark = pytest.mark.memory_and_dynamodb

NOW = "2026-11-25T10:00:00.000Z"
EPOCH = int(datetime(2026, 11, 25, 10, tzinfo=UTC).timestamp())
DAY = 86400


@pytest.fixture(params=REPOSITORY_KINDS)
def kept(request: pytest.FixtureRequest, stage: Stage) -> OrderRepository:
    """A stage's repository keeping orders 90 days, dead-lettered ones 365: the fake and DynamoDB."""
    if request.param == "memory":
        return InMemoryOrderRepository(retention=Retention(90, 365))
    request.getfixturevalue("resources")
    return DynamoOrderRepository(
        _dynamodb_client(), stage.orders_table, stage.failed_orders_table, retention=Retention(90, 365)
    )


def _order(repository: OrderRepository, order_id: str) -> dict[str, Any]:
    item = repository.get(order_id)
    assert item is not None
    return item


def _accepted(repository: OrderRepository, order_id: str, valid: bool = True) -> None:
    repository.create(make_order(order_id), NOW)
    repository.record_verdict(order_id, "execution-1", Verdict(valid, None if valid else "too big"), NOW)


def test_a_fulfilled_order_expires_after_the_order_retention(kept: OrderRepository) -> None:
    _accepted(kept, "order-1")
    assert EXPIRES_AT not in _order(kept, "order-1")  # open orders never expire
    kept.record_failed_attempt("order-1", 1, "boom", NOW)
    assert EXPIRES_AT not in _order(kept, "order-1")
    assert kept.mark_fulfilled("order-1", 2, NOW)
    assert _order(kept, "order-1")[EXPIRES_AT] == EPOCH + 90 * DAY


def test_a_rejected_order_expires_after_the_order_retention(kept: OrderRepository) -> None:
    _accepted(kept, "order-1", valid=False)
    assert _order(kept, "order-1")[EXPIRES_AT] == EPOCH + 90 * DAY


def test_a_dead_letter_keeps_the_order_and_its_record_for_the_failed_retention_and_a_redrive_clears_it(
    kept: OrderRepository,
) -> None:
    _accepted(kept, "order-1")
    record = FailureRecord("order-1", "fulfillment", '{"order_id": "order-1"}', 3, "boom", None, NOW, redrive_round=0)
    kept.dead_letter(record, NOW)
    assert _order(kept, "order-1")[EXPIRES_AT] == EPOCH + 365 * DAY
    failure = kept.get_failure("order-1")
    assert failure is not None
    assert failure[EXPIRES_AT] == EPOCH + 365 * DAY
    kept.redrive("order-1", 0, NOW)
    assert EXPIRES_AT not in _order(kept, "order-1")  # open again


def test_without_a_retention_nothing_expires(repository: OrderRepository) -> None:
    _accepted(repository, "order-1")
    repository.mark_fulfilled("order-1", 1, NOW)
    assert EXPIRES_AT not in _order(repository, "order-1")


@pytest.mark.unit
@pytest.mark.parametrize("name", ["dev", "prod"])
def test_deployed_stages_set_a_retention_their_functions_read(name: str) -> None:
    stage = load_stage(name)
    settings = Settings.from_env({**stage.environment, "ORDERS_TABLE": "o", "FAILED_ORDERS_TABLE": "f"})
    assert settings.order_retention_days is not None
    assert settings.failed_order_retention_days is not None
    assert settings.failed_order_retention_days > settings.order_retention_days


@pytest.mark.unit
def test_terraform_turns_ttl_on_for_the_attribute_the_app_writes() -> None:
    stage_tf = (PROJECT_DIR / "infra" / "stage" / "main.tf").read_text()
    module_tf = (PROJECT_DIR / "infra" / "modules" / "dynamodb" / "main.tf").read_text()
    assert f'ttl_attribute = "{EXPIRES_AT}"' in stage_tf
    assert "attribute_name = ttl.value" in module_tf
