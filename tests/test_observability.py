"""The dead-letter metric as CloudWatch will see it, and as the monitoring alarm watches it, under
an identity of each stage's own; the Lambda context and the order on every log line."""

from __future__ import annotations

import json
import re

import aws_lambda_powertools.logging.logger as powertools_logger
import pytest

from app import validate_order
from chalicelib.observability import DEAD_LETTERED_METRIC, count_dead_lettered, logger, order_context
from dofs_config.stage import PROJECT_DIR, deployable_stages, load_stage
from dofs_local.emulated.lambda_bridge import LambdaContext
from tests.conftest import make_order
from tests.log_lines import LogLines, log_lines_fixture  # noqa: F401 - the log_lines fixture
from tests.metric_identity import counted_identity

pytestmark = pytest.mark.aws

# What a deployed stage's functions run with (.chalice/config.json): their metrics on.
DEV_ENVIRONMENT = load_stage("dev").environment


def emitted(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert len(lines) == 1
    return json.loads(lines[0])  # type: ignore[no-any-return]


def test_one_emf_line_per_dead_lettered_order_with_the_alarms_dimensions(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in DEV_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    count_dead_lettered(source="workflow")
    line = emitted(capsys)
    directive = line["_aws"]["CloudWatchMetrics"][0]  # type: ignore[index]
    assert directive["Namespace"] == DEV_ENVIRONMENT["POWERTOOLS_METRICS_NAMESPACE"]
    assert directive["Metrics"] == [{"Name": DEAD_LETTERED_METRIC, "Unit": "Count"}]
    assert directive["Dimensions"] == [["service"]]
    assert line["service"] == DEV_ENVIRONMENT["POWERTOOLS_SERVICE_NAME"]
    assert (line[DEAD_LETTERED_METRIC], line["source"]) == ([1.0], "workflow")
    alarms = (PROJECT_DIR / "infra" / "modules" / "monitoring" / "main.tf").read_text()
    assert re.search(r"metric_name\s*=\s*var\.dead_lettered_metric\s*\n\s*dimensions\s*=\s*\{ service = ", alarms)


def test_each_deployed_stage_counts_under_an_identity_of_its_own(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stages may share an account (docs/CONTRACT.md): a metric that one stage's functions emit
    under the other's namespace and dimensions would fire the other's alarms (dev's dead letters
    paging prod's on-call) and mix up their dashboards. Each stage's identity is its own settings'."""
    stages = deployable_stages()
    assert len(stages) > 1
    identities = {stage: counted_identity(load_stage(stage).environment, monkeypatch, capsys) for stage in stages}
    for stage, identity in identities.items():
        environment = load_stage(stage).environment
        service = environment["POWERTOOLS_SERVICE_NAME"]
        assert identity == (environment["POWERTOOLS_METRICS_NAMESPACE"], frozenset({("service", service)})), stage
    assert len(set(identities.values())) == len(identities), f"stages share a metric identity: {identities}"


def test_the_local_stage_silences_it_and_keeps_nothing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in DEV_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    count_dead_lettered(source="fulfillment")
    count_dead_lettered(source="fulfillment")
    assert '"_aws"' not in capsys.readouterr().out
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED")
    count_dead_lettered(source="workflow")
    assert emitted(capsys)[DEAD_LETTERED_METRIC] == [1.0], "silenced counts do not pile up"


def test_every_line_of_an_invocation_carries_its_lambda_context_and_order(
    log_lines: LogLines, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(powertools_logger, "is_cold_start", True)  # as in a new Lambda environment
    for order_id in ("ctx-1", "ctx-2"):
        validate_order({"order": make_order(order_id).to_payload()}, LambdaContext("dofs-dev-validate_order"))
    first, second = log_lines()
    for line, order_id in ((first, "ctx-1"), (second, "ctx-2")):
        assert line["function_name"] == "dofs-dev-validate_order"
        assert (line["order_id"], line["operation"]) == (order_id, "validate_order")
        assert not {"location", "function_arn", "function_memory_size"} & line.keys(), "bytes no one reads"
    assert (first["cold_start"], second["cold_start"]) == (True, False)
    assert first["function_request_id"] != second["function_request_id"]


def test_the_order_keys_end_with_their_block(log_lines: LogLines) -> None:
    with order_context("ctx-4", "store_order"):
        logger.info("inside")
    logger.info("after")
    inside, after = log_lines()
    assert (inside["order_id"], inside["operation"]) == ("ctx-4", "store_order")
    assert not {"order_id", "operation"} & after.keys()
