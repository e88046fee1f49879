"""The reconciler's settings: validated at its cold start, and a threshold that never mistakes an
order still in the pipeline's hands for a stuck one."""

from __future__ import annotations

import pytest

from chalicelib.settings import ReconcilerSettings, SettingsError
from dofs_config.stage import load_stage, read_config
from scripts import timing

pytestmark = pytest.mark.unit

ENVIRONMENT = {
    "ORDERS_TABLE": "orders",
    "FAILED_ORDERS_TABLE": "failed",
    "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:w",
    "ORDER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/q",
    "STUCK_ORDER_THRESHOLD_SECONDS": "900",
    "MAX_RECEIVE_COUNT": "3",
}


def test_the_settings_are_read_from_the_environment() -> None:
    settings = ReconcilerSettings.from_env(ENVIRONMENT)
    assert (settings.stuck_order_threshold_seconds, settings.max_receive_count) == (900, 3)


@pytest.mark.parametrize(
    ("variable", "value"),
    [("STUCK_ORDER_THRESHOLD_SECONDS", None), ("STUCK_ORDER_THRESHOLD_SECONDS", "0"), ("ORDER_QUEUE_URL", None)],
)
def test_a_missing_or_bad_setting_is_named(variable: str, value: str | None) -> None:
    environment = {name: text for name, text in ENVIRONMENT.items() if name != variable}
    if value is not None:
        environment[variable] = value
    with pytest.raises(SettingsError, match=variable):
        ReconcilerSettings.from_env(environment)


@pytest.mark.parametrize("stage_name", sorted(read_config()["stages"]))
def test_the_threshold_outlasts_a_message_in_flight(stage_name: str) -> None:
    """An order queued, or failed and waiting for its next receive, is touched again within every
    receive's visibility timeout: only a lost message leaves it untouched past the threshold."""
    stage = load_stage(stage_name)
    in_flight = timing.queue_worst_case_seconds(stage.max_receive_count, stage.queue_visibility_timeout_seconds)
    assert stage.stuck_order_threshold_seconds > in_flight


def test_on_aws_the_threshold_outlasts_the_workflow_too() -> None:
    """On AWS a restart is only for an execution that cannot still be running (EXPRESS's worst case)."""
    stage = load_stage("dev")
    assert stage.stuck_order_threshold_seconds > timing.workflow_worst_case(timing.load_asl()).seconds
