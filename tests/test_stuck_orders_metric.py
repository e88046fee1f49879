"""The reconciler's metric as CloudWatch will see it, and as the monitoring alarm watches it."""

from __future__ import annotations

import json
import re

import pytest

from chalicelib.observability import METRICS_NAMESPACE, STUCK_ORDERS_METRIC, count_stuck_orders
from dofs_local.stage import PROJECT_DIR
from scripts.tfmodel import load_module


def test_one_emf_line_per_run_with_the_alarms_metric_and_dimensions(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    count_stuck_orders(3)
    [line] = [json.loads(text) for text in capsys.readouterr().out.splitlines() if text.startswith('{"_aws"')]
    directive = line["_aws"]["CloudWatchMetrics"][0]
    assert (directive["Namespace"], directive["Dimensions"]) == (METRICS_NAMESPACE, [["service"]])
    assert line[STUCK_ORDERS_METRIC] == [3.0]

    monitoring = load_module(PROJECT_DIR / "infra" / "modules" / "monitoring")
    assert monitoring.variables["stuck_orders_metric"]["default"] == STUCK_ORDERS_METRIC
    alarms = (PROJECT_DIR / "infra" / "modules" / "monitoring" / "main.tf").read_text()
    assert re.search(r"metric_name\s*=\s*var\.stuck_orders_metric\s*\n\s*dimensions\s*=\s*\{ service = ", alarms)
