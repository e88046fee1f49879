from __future__ import annotations

from chalicelib.repository import DynamoOrderRepository
from chalicelib.settings import BusinessRules
from chalicelib.workflow_tasks import WorkflowTasks, validate_order
from tests.conftest import make_order

NOW = "2026-11-25T10:00:00.000Z"


def test_validate_order_returns_the_verdict() -> None:
    settings = BusinessRules.from_env({})
    assert validate_order({"order": make_order().to_payload()}, settings) == {"valid": True, "reason": None}
    rejected = validate_order({"order": make_order(currency="JPY").to_payload()}, settings)
    assert rejected["valid"] is False
    assert "UNSUPPORTED_CURRENCY" in rejected["reason"]


def test_store_order_enqueues_only_for_the_claiming_execution(repository: DynamoOrderRepository) -> None:
    repository.create(make_order(), NOW)
    tasks = WorkflowTasks(repository, clock=lambda: NOW)
    event = {"order": make_order().to_payload(), "validation": {"valid": True, "reason": None}, "execution_id": "e1"}
    assert tasks.store_order(event) == {"enqueue": True}
    assert tasks.store_order(event) == {"enqueue": True}, "its own retry"
    assert tasks.store_order({**event, "execution_id": "e2"}) == {"enqueue": False}


def test_store_order_never_enqueues_a_rejection(repository: DynamoOrderRepository) -> None:
    repository.create(make_order(), NOW)
    tasks = WorkflowTasks(repository, clock=lambda: NOW)
    event = {"order": make_order().to_payload(), "validation": {"valid": False, "reason": "R"}, "execution_id": "e1"}
    assert tasks.store_order(event) == {"enqueue": False}
    item = repository.get("order-1")
    assert item is not None
    assert (item["status"], item["reason"]) == ("REJECTED", "R")


def test_workflow_failure_dead_letters_an_accepted_order(repository: DynamoOrderRepository) -> None:
    repository.create(make_order(), NOW)
    tasks = WorkflowTasks(repository, clock=lambda: NOW)
    event = {"order": make_order().to_payload(), "error": {"Error": "SQS.AmazonSQSException", "Cause": "down"}}
    assert tasks.record_workflow_failure(event) == {"outcome": "RECORDED"}
    assert tasks.record_workflow_failure(event) == {"outcome": "ALREADY_RECORDED"}
    failure = repository.get_failure("order-1")
    assert failure is not None
    assert (failure["source"], failure["last_error"]) == ("workflow", "SQS.AmazonSQSException: down")
