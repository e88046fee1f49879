"""The reconciler's metric as CloudWatch will see it, and as the monitoring alarm watches it."""

from __future__ import annotations

import json
import re

import pytest

from chalicelib.observability import STUCK_ORDERS_METRIC, count_stuck_orders
from dofs_config.stage import PROJECT_DIR, load_stage
from scripts.tfmodel import load_module

pytestmark = pytest.mark.unit


def test_one_emf_line_per_run_with_the_alarms_metric_and_dimensions(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    environment = load_stage("dev").environment
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    count_stuck_orders(3)
    [line] = [json.loads(text) for text in capsys.readouterr().out.splitlines() if text.startswith('{"_aws"')]
    directive = line["_aws"]["CloudWatchMetrics"][0]
    assert (directive["Namespace"], directive["Dimensions"]) == (
        environment["POWERTOOLS_METRICS_NAMESPACE"],
        [["service"]],
    )
    assert line["service"] == environment["POWERTOOLS_SERVICE_NAME"]
    assert line[STUCK_ORDERS_METRIC] == [3.0]

    monitoring = load_module(PROJECT_DIR / "infra" / "modules" / "monitoring")
    assert monitoring.variables["stuck_orders_metric"]["default"] == STUCK_ORDERS_METRIC
    alarms = (PROJECT_DIR / "infra" / "modules" / "monitoring" / "main.tf").read_text()
    assert re.search(r"metric_name\s*=\s*var\.stuck_orders_metric\s*\n\s*dimensions\s*=\s*\{ service = ", alarms)
