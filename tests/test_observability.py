"""The dead-letter metric as CloudWatch will see it, and as the monitoring alarm watches it."""

from __future__ import annotations

import json
import re

import pytest

from chalicelib.observability import DEAD_LETTERED_METRIC, METRICS_NAMESPACE, count_dead_lettered
from dofs_local.stage import PROJECT_DIR


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
