from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from chalicelib.repository import OrderRepository
from chalicelib.settings import BusinessRules
from chalicelib.workflow_tasks import (
    TRANSIENT_WORKFLOW_ERRORS,
    RecordWorkflowFailureInput,
    StoreOrderInput,
    StoreOrderOutput,
    ValidateOrderInput,
    Validation,
    WorkflowTasks,
    validate_order,
)
from dofs_local.emulated.provisioning import ASL_PATH
from tests.conftest import make_order

pytestmark = pytest.mark.memory_and_dynamodb

NOW = "2026-11-25T10:00:00.000Z"


@pytest.mark.unit
def test_validate_order_returns_the_verdict() -> None:
    settings = BusinessRules.from_env({})
    assert validate_order({"order": make_order().to_payload()}, settings) == {"valid": True, "reason": None}
    rejected = validate_order({"order": make_order(currency="JPY").to_payload()}, settings)
    assert rejected["valid"] is False
    assert "UNSUPPORTED_CURRENCY" in rejected["reason"]


def test_store_order_enqueues_only_for_the_claiming_execution(repository: OrderRepository) -> None:
    repository.create(make_order(), NOW)
    tasks = WorkflowTasks(repository, clock=lambda: NOW)
    event = {"order": make_order().to_payload(), "validation": {"valid": True, "reason": None}, "execution_id": "e1"}
    assert tasks.store_order(event) == {"enqueue": True}
    assert tasks.store_order(event) == {"enqueue": True}, "its own retry"
    assert tasks.store_order({**event, "execution_id": "e2"}) == {"enqueue": False}


def test_store_order_never_enqueues_a_rejection(repository: OrderRepository) -> None:
    repository.create(make_order(), NOW)
    tasks = WorkflowTasks(repository, clock=lambda: NOW)
    event = {"order": make_order().to_payload(), "validation": {"valid": False, "reason": "R"}, "execution_id": "e1"}
    assert tasks.store_order(event) == {"enqueue": False}
    item = repository.get("order-1")
    assert item is not None
    assert (item["status"], item["reason"]) == ("REJECTED", "R")


def test_a_workflow_failing_on_a_persistent_error_dead_letters_the_order(repository: OrderRepository) -> None:
    repository.create(make_order(), NOW)
    tasks = WorkflowTasks(repository, clock=lambda: NOW)
    event = {"order": make_order().to_payload(), "error": {"Error": "KeyError", "Cause": "a bug"}}
    assert tasks.record_workflow_failure(event) == {"outcome": "RECORDED"}
    assert tasks.record_workflow_failure(event) == {"outcome": "ALREADY_RECORDED"}
    failure = repository.get_failure("order-1")
    assert failure is not None
    assert (failure["source"], failure["last_error"]) == ("workflow", "KeyError: a bug")


@pytest.mark.parametrize("error", ["TransientError", "Lambda.TooManyRequestsException", "States.Timeout"])
def test_a_workflow_failing_on_a_transient_error_leaves_the_order_for_the_reconciler(
    repository: OrderRepository, error: str
) -> None:
    """Invariant 7: throttling or a timeout that outlasts the workflow's retries never dead-letters."""
    repository.create(make_order(), NOW)
    tasks = WorkflowTasks(repository, clock=lambda: NOW)
    event = {"order": make_order().to_payload(), "error": {"Error": error, "Cause": "throttled"}}
    assert tasks.record_workflow_failure(event) == {"outcome": "LEFT_FOR_RECONCILER"}
    assert repository.get_failure("order-1") is None
    item = repository.get("order-1")
    assert item is not None
    assert item["status"] == "ACCEPTED"


@pytest.mark.unit
def test_the_transient_errors_are_those_the_workflow_retries_first() -> None:
    """Each Task's retriers before its catch-all one name the errors a retry can fix."""
    retried = {
        error
        for state in json.loads(ASL_PATH.read_text())["States"].values()
        if state.get("Resource") != "arn:aws:states:::lambda:invoke"
        or state["Parameters"]["FunctionName"] != "${record_workflow_failure_arn}"
        for retrier in state.get("Retry", [])
        if "States.ALL" not in retrier["ErrorEquals"]
        for error in retrier["ErrorEquals"]
    }
    assert retried == TRANSIENT_WORKFLOW_ERRORS


# Each Lambda task of the ASL, by its function placeholder: the model of the Payload it sends,
# and the model whose fields its ResultSelector reads back from `$.Payload`.
TASK_MODELS: dict[str, tuple[type[BaseModel], type[BaseModel] | None]] = {
    "${validate_order_arn}": (ValidateOrderInput, Validation),
    "${store_order_arn}": (StoreOrderInput, StoreOrderOutput),
    "${record_workflow_failure_arn}": (RecordWorkflowFailureInput, None),
}


def asl_mismatches(states: dict[str, Any]) -> list[str]:
    """Where the state machine and the tasks' models disagree on a field."""
    found: list[str] = []
    tasks = {n: s for n, s in states.items() if s.get("Resource") == "arn:aws:states:::lambda:invoke"}
    assert {s["Parameters"]["FunctionName"] for s in tasks.values()} == set(TASK_MODELS)
    for name, state in tasks.items():
        event_model, result_model = TASK_MODELS[state["Parameters"]["FunctionName"]]
        sent = {key.removesuffix(".$") for key in state["Parameters"]["Payload"]}
        required = {field for field, info in event_model.model_fields.items() if info.is_required()}
        if not required <= sent <= set(event_model.model_fields):
            found.append(
                f"{name} sends {sorted(sent)}; {event_model.__name__} takes {sorted(event_model.model_fields)}"
            )
        read = {path.removeprefix("$.Payload.") for path in state.get("ResultSelector", {}).values()}
        produced = set(result_model.model_fields) if result_model else set()
        if not read <= produced:
            found.append(f"{name} reads {sorted(read)} from a result with {sorted(produced)}")
    return found


@pytest.mark.unit
def test_each_task_takes_what_the_state_machine_sends_and_returns_what_it_reads() -> None:
    assert asl_mismatches(json.loads(ASL_PATH.read_text())["States"]) == []


def _rename_execution_id(states: dict[str, Any]) -> None:
    payload = states["StoreOrder"]["Parameters"]["Payload"]
    payload["execution.$"] = payload.pop("execution_id.$")


def _send_an_extra_field(states: dict[str, Any]) -> None:
    states["ValidateOrder"]["Parameters"]["Payload"]["stage.$"] = "$.stage"


def _read_a_result_nobody_returns(states: dict[str, Any]) -> None:
    states["StoreOrder"]["ResultSelector"]["queue.$"] = "$.Payload.queue"


@pytest.mark.unit
@pytest.mark.parametrize("change", [_rename_execution_id, _send_an_extra_field, _read_a_result_nobody_returns])
def test_a_mismatch_fails(change: Callable[[dict[str, Any]], None]) -> None:
    states = json.loads(ASL_PATH.read_text())["States"]
    change(states)
    assert asl_mismatches(states), "the check missed the change"


@pytest.mark.unit
def test_a_malformed_event_fails_the_task_by_its_model() -> None:
    with pytest.raises(ValidationError):
        validate_order({"order": make_order().to_payload(), "extra": 1}, BusinessRules.from_env({}))
