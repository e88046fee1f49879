"""The dead-letter metric as CloudWatch will see it, and as the monitoring alarm watches it; the
Lambda context and the order on every log line."""

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
from chalicelib.observability import DEAD_LETTERED_METRIC, METRICS_NAMESPACE, SERVICE, count_dead_lettered
from dofs_local.emulated.lambda_bridge import LambdaContext
from dofs_local.stage import PROJECT_DIR
from tests.conftest import make_order


def emitted(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert len(lines) == 1
    return json.loads(lines[0])  # type: ignore[no-any-return]


def test_one_emf_line_per_dead_lettered_order_with_the_alarms_dimensions(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    count_dead_lettered(source="workflow")
    line = emitted(capsys)
    directive = line["_aws"]["CloudWatchMetrics"][0]  # type: ignore[index]
    assert directive["Namespace"] == METRICS_NAMESPACE
    assert directive["Metrics"] == [{"Name": DEAD_LETTERED_METRIC, "Unit": "Count"}]
    assert directive["Dimensions"] == [["service"]]
    assert (line[DEAD_LETTERED_METRIC], line["source"]) == ([1.0], "workflow")
    alarms = (PROJECT_DIR / "infra" / "modules" / "monitoring" / "main.tf").read_text()
    assert re.search(r"metric_name\s*=\s*var\.dead_lettered_metric\s*\n\s*dimensions\s*=\s*\{ service = ", alarms)


def test_the_local_stage_silences_it_and_keeps_nothing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
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
