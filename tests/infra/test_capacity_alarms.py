"""The alarms on the limits that bite first (infra/modules/monitoring), evaluated by Terraform
itself (`terraform console` on the module), with each stage's inputs as infra/stage wires them:
the order queue's age against the stuck-order threshold, DynamoDB throttling of every table and
index, Lambda throttles of every function, and the API's 4XX share (429 included)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from dofs_config.stage import load_stage
from scripts.capacity import queue_age_alarm_seconds
from scripts.tfmodel import load_module
from tests.infra.conftest import INFRA_DIR, STAGE_ROOT, STAGES, Terraform

pytestmark = pytest.mark.terraform

MONITORING = INFRA_DIR / "modules" / "monitoring"
TABLES = {"orders": "orders", "failed_orders": "failed_orders"}
INDEX = {"table_name": "orders", "index_name": "open-orders"}


def stage_inputs(stage: str) -> dict[str, Any]:
    """What infra/stage gives the module for this stage (names shortened: the alarms' thresholds
    and metrics are what is checked here)."""
    settings = load_stage(stage)
    return {
        "prefix": settings.prefix,
        "region": settings.region,
        "function_names": {handler: settings.function_name(handler) for handler in ("api_handler", "fulfill_order")},
        "state_machine_arn": settings.state_machine_arn(),
        "order_dlq_name": settings.order_dlq_name,
        "order_queue_name": settings.order_queue_name,
        "order_queue_max_age_seconds": queue_age_alarm_seconds(settings.stuck_order_threshold_seconds),
        "dynamodb_tables": TABLES,
        "dynamodb_indexes": {"orders-open-orders": INDEX},
        "metrics_namespace": "DOFS",
        "metrics_service": settings.prefix,
        "api_name": settings.prefix,
    }


@pytest.fixture(scope="module")
def alarms(terraform: Terraform, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Each deployable stage's alarms table (local.alarms), as Terraform evaluates it."""
    root = tmp_path_factory.mktemp("monitoring") / "monitoring"
    shutil.copytree(MONITORING, root, ignore=shutil.ignore_patterns(".terraform*"))
    terraform.init(root)
    tables: dict[str, dict[str, Any]] = {}
    for stage in STAGES:
        (root / "stage.tfvars.json").write_text(json.dumps(stage_inputs(stage)))
        tables[stage] = json.loads(json.loads(_console(terraform, root, "jsonencode(local.alarms)")))
    return tables


def _console(terraform: Terraform, root: Path, expression: str) -> str:
    result = subprocess.run(  # noqa: S603 - the fixed terraform binary
        [terraform.binary, "console", "-var-file=stage.tfvars.json", "-no-color"],
        cwd=root,
        env=terraform.env,
        input=expression + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout.strip()


@pytest.mark.parametrize("stage", STAGES)
def test_the_order_queue_age_alarm_fires_well_before_the_stuck_threshold(
    alarms: dict[str, dict[str, Any]], stage: str
) -> None:
    settings = load_stage(stage)
    alarm = alarms[stage]["order-queue-age"]
    assert (alarm["namespace"], alarm["metric_name"], alarm["statistic"]) == (
        "AWS/SQS",
        "ApproximateAgeOfOldestMessage",
        "Maximum",
    )
    assert alarm["dimensions"] == {"QueueName": settings.order_queue_name}
    assert 0 < alarm["threshold"] <= settings.stuck_order_threshold_seconds / 2


@pytest.mark.parametrize("stage", STAGES)
def test_every_table_and_index_alarms_on_throttled_reads_and_writes(
    alarms: dict[str, dict[str, Any]], stage: str
) -> None:
    for kind in ("Read", "Write"):
        for key, table in TABLES.items():
            alarm = alarms[stage][f"{key}-{kind.lower()}-throttles"]
            assert (alarm["namespace"], alarm["metric_name"], alarm["threshold"]) == (
                "AWS/DynamoDB",
                f"{kind}ThrottleEvents",
                0,
            )
            assert alarm["dimensions"] == {"TableName": table}
        index = alarms[stage][f"orders-open-orders-{kind.lower()}-throttles"]
        assert index["dimensions"] == {"TableName": "orders", "GlobalSecondaryIndexName": "open-orders"}


@pytest.mark.parametrize("stage", STAGES)
def test_lambda_throttles_and_the_apis_4xx_share_alarm(alarms: dict[str, dict[str, Any]], stage: str) -> None:
    table = alarms[stage]
    for handler in ("api_handler", "fulfill_order"):
        assert table[f"{handler}-throttles"]["metric_name"] == "Throttles"
    api = table["api-4xx-rate"]
    # 429 has no metric of its own: it is counted in 4XXError, whose Average is the 4xx share.
    assert (api["metric_name"], api["statistic"]) == ("4XXError", "Average")
    assert 0 < api["threshold"] < 1
    assert api["dimensions"] == {"ApiName": load_stage(stage).prefix, "Stage": "api"}


def test_the_stage_wires_the_thresholds_from_its_settings() -> None:
    """infra/stage passes the module what stage_inputs() above assumes: the queue age from the
    stage's stuck-order threshold (scripts/capacity.py's queue_age_alarm_seconds), and every
    table and index of modules/dynamodb."""
    call = load_module(STAGE_ROOT).modules["monitoring"]
    assert call["order_queue_max_age_seconds"] == "${floor(local.settings.stuck_order_threshold_seconds / 3)}"
    assert queue_age_alarm_seconds(900) == 900 // 3
    assert call["order_queue_name"] == "${module.sqs.queue_name}"
    assert call["dynamodb_tables"] == "${module.dynamodb.table_names}"
    assert "module.dynamodb.index_arns" in call["dynamodb_indexes"]
