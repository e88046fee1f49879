"""The dead-letter metric as CloudWatch will see it, and as the monitoring alarm watches it, under
an identity of each stage's own; the Lambda context and the order on every log line."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from app import validate_order
from chalicelib import observability
from chalicelib.observability import DEAD_LETTERED_METRIC, SERVICE, count_dead_lettered
from dofs_local.emulated.lambda_bridge import LambdaContext
from dofs_local.stage import PROJECT_DIR, deployable_stages, load_stage
from tests.conftest import make_order
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


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The JSON lines the functions log while the test runs."""
    stream = io.StringIO()
    handlers = [h for h in logging.getLogger(SERVICE).handlers if isinstance(h, logging.StreamHandler)]
    saved = [h.setStream(stream) for h in handlers]
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    for handler, original in zip(handlers, saved, strict=True):
        handler.setStream(original)


def test_every_line_of_an_invocation_carries_its_lambda_context_and_order(
    log_lines: Callable[[], list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(observability, "_cold_start", [True])
    for _ in range(2):
        validate_order({"order": make_order("ctx-1").to_payload()}, LambdaContext("dofs-local-validate_order"))
    validate_order({"order": make_order("ctx-2").to_payload()}, None)  # a plain call: no context
    first, second, plain = log_lines()
    for line in (first, second):
        assert line["function_name"] == "dofs-local-validate_order"
        assert (line["order_id"], line["operation"]) == ("ctx-1", "validate_order")
        assert not {"location", "function_arn", "function_memory_size"} & line.keys(), "bytes no one reads"
    assert (first["cold_start"], second["cold_start"]) == (True, False)
    assert first["function_request_id"] != second["function_request_id"]
    assert "function_name" not in plain, "nothing is left over from the previous invocation"
    assert plain["order_id"] == "ctx-2"
