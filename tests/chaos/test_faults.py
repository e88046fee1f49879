"""The fault injector's pieces, one at a time, against moto in-process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from chalicelib.errors import TransientError
from chalicelib.repository import DynamoOrderRepository
from dofs_config.stage import Stage, load_stage
from dofs_local.emulated import faults, lambda_bridge
from dofs_local.emulated.faults import FaultKind, FaultSettings, InjectedCrash
from tests.conftest import make_order

pytestmark = pytest.mark.aws

NOW = "2026-11-25T10:00:00.000Z"
ASL = Path(__file__).resolve().parents[2] / "stepfunctions" / "order_workflow.asl.json"


def test_faults_are_off_by_default() -> None:
    assert not FaultSettings().enabled
    assert FaultSettings.from_env({}) == FaultSettings()
    assert faults.activate(FaultSettings()) is None
    assert faults.active() is None


def test_settings_parse_each_kind_and_all() -> None:
    assert FaultSettings.parse("all=0.05", seed=3) == FaultSettings.every_fault(0.05, seed=3)
    settings = FaultSettings.parse("all=0.1, throttle=0.5")
    assert settings.throttle == 0.5
    assert settings.lambda_timeout == 0.1
    assert FaultSettings.from_env({"DOFS_FAULTS": "lambda_timeout=1", "DOFS_FAULT_SEED": "9"}) == FaultSettings(
        lambda_timeout=1.0, seed=9
    )
    assert "throttle=0.5" in settings.describe()


@pytest.mark.parametrize("text", ["throttle", "typo=0.1", "throttle=2", "throttle=-0.1", "throttle=x"])
def test_bad_settings_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        FaultSettings.parse(text)


def fresh_repository(stage: Stage) -> DynamoOrderRepository:
    return DynamoOrderRepository(boto3.client("dynamodb"), stage.orders_table, stage.failed_orders_table)


def test_throttling_reaches_the_app_as_a_transient_error(inject: Any, stage: Stage) -> None:
    injector = inject(throttle=1.0)
    repository = fresh_repository(stage)
    with pytest.raises(TransientError, match="ProvisionedThroughputExceeded"):
        repository.get("order-1")
    assert injector.injected[FaultKind.THROTTLE] == 1


def test_a_crash_before_the_write_leaves_nothing(inject: Any, stage: Stage) -> None:
    inject(crash_before_write=1.0)
    with pytest.raises(InjectedCrash):
        fresh_repository(stage).create(make_order("crash-1"), NOW)
    faults.deactivate()
    assert fresh_repository(stage).get("crash-1") is None


def test_a_crash_after_the_write_leaves_the_work_done(inject: Any, stage: Stage) -> None:
    inject(crash_after_write=1.0)
    with pytest.raises(InjectedCrash):
        fresh_repository(stage).create(make_order("crash-2"), NOW)
    faults.deactivate()
    item = fresh_repository(stage).get("crash-2")
    assert item is not None
    assert item["status"] == "ACCEPTED"


def test_committed_fulfillments_are_counted_once_each(inject: Any, stage: Stage) -> None:
    from chalicelib.rules import Verdict

    injector = inject(duplicate_delivery=1.0)  # on, but no DynamoDB fault: the writes go through
    repository = fresh_repository(stage)
    repository.create(make_order("ful-1"), NOW)
    assert repository.record_verdict("ful-1", "exec-1", Verdict(True, None), NOW)
    assert repository.mark_fulfilled("ful-1", 1, NOW)
    assert not repository.mark_fulfilled("ful-1", 2, NOW)  # a duplicate: refused, not counted
    assert dict(injector.fulfillment_writes) == {"ful-1": 1}


def test_hooks_stop_when_deactivated(inject: Any, stage: Stage) -> None:
    inject(throttle=1.0)
    repository = fresh_repository(stage)  # its client carries the hooks...
    faults.deactivate()
    assert repository.get("order-1") is None  # ...which do nothing once the injector is gone


def test_a_timed_out_invocation_ran_but_reports_lambdas_timeout(inject: Any) -> None:
    injector = inject(lambda_timeout=1.0)
    calls: list[Any] = []

    def handler(event: Any, context: Any) -> dict[str, Any]:
        calls.append(event)
        return {"ok": True}

    result, error = lambda_bridge.call_function(handler, "dofs-local-store_order", {"order": {"order_id": "t-1"}})
    assert calls == [{"order": {"order_id": "t-1"}}]
    assert result is None
    timeout = load_stage("local").function_timeout_seconds("store_order")
    assert error == {"errorType": "Sandbox.Timedout", "errorMessage": f"Task timed out after {timeout:.2f} seconds"}
    assert injector.invocations["dofs-local-store_order"] == 1


def test_the_workflow_retries_every_injected_failure() -> None:
    """Each fault's error name, as the state machine sees it, is in the step's Retry list."""
    states = json.loads(ASL.read_text())["States"]
    for name in ("ValidateOrder", "StoreOrder"):
        retried = {error for rule in states[name]["Retry"] for error in rule["ErrorEquals"]}
        assert {"Sandbox.Timedout", "TransientError"} <= retried, name
    assert "SQS.SdkClientException" in {e for rule in states["EnqueueOrder"]["Retry"] for e in rule["ErrorEquals"]}
    assert states["RecordWorkflowFailure"]["Retry"][0]["ErrorEquals"] == ["States.ALL"]
