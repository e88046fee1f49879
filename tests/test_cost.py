"""The cost model (dofs_local/measurement/cost.py) on fixed counters: every line priced, each
stage's settings read from .chalice/config.json, and nothing that varies from run to run."""

from __future__ import annotations

import dataclasses
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from dofs_local.measurement import cost
from dofs_local.measurement.cost import (
    ExecutionEvent,
    FunctionUsage,
    Measured,
    Production,
    bill,
    dynamodb_item_bytes,
    function_usage,
    modelled_duration_s,
    totals,
)
from dofs_local.measurement.metering import Invocation, Meter, MeteredLogStream
from dofs_local.measurement.pricing import LATENCY_S, PRICES_USD, Line, round_up
from dofs_local.stage import Stage, load_stage, read_config

pytestmark = pytest.mark.unit

PRODUCTION = Production(batch_size=10, batching_window_s=1.0)
HISTORY = (
    ExecutionEvent("ExecutionStarted", {"roleArn": "arn:aws:iam::123456789012:role/x", "input": "{...}"}),
    ExecutionEvent("TaskStateEntered", {"name": "ValidateOrder", "input": "{...}"}),
    ExecutionEvent("TaskScheduled", {"resource": "invoke", "resourceType": "lambda", "parameters": "{...}"}),
    ExecutionEvent("TaskSucceeded", {"resource": "invoke", "output": "{...}"}),
    ExecutionEvent("TaskStateExited", {"name": "ValidateOrder", "output": "{...}"}),
    ExecutionEvent("ExecutionSucceeded", {"output": "{...}"}),
)
FAILED_HISTORY = (
    ExecutionEvent("ExecutionStarted", {}),
    ExecutionEvent("TaskFailed", {"error": "Boom"}),
    ExecutionEvent("ExecutionFailed", {"error": "Boom"}),
)


def usage(cpu_s: float, calls: dict[str, float], batched: bool = False, debug_lines: int = 0) -> FunctionUsage:
    """One INFO line of 400 bytes per unit, and `debug_lines` DEBUG lines of 500."""
    return FunctionUsage(
        batched=batched,
        units_per_order=1.0,
        cpu_s_per_unit=cpu_s,
        calls_per_unit=calls,
        wall_s_per_unit=0.05,
        log_lines_per_unit={"INFO": 1.0, "DEBUG": float(debug_lines)},
        log_bytes_per_unit={"INFO": 400.0, "DEBUG": 500.0 * debug_lines},
    )


def measured(**overrides: Any) -> Measured:
    values: dict[str, Any] = {
        "orders": 1000,
        "api_requests_per_order": 1.0,
        "api_response_bytes": 120.0,
        "service_calls_per_order": {
            "sqs.SendMessage": 1.0,
            "sqs.ReceiveMessage": 0.6,  # local batches of 1.7: the model uses production's 10
            "sqs.DeleteMessageBatch": 0.6,
            "lambda.Invoke": 2.0,
        },
        "functions": {
            "api_handler": usage(0.004, {"dynamodb.PutItem": 1, "stepfunctions.StartExecution": 1}, debug_lines=10),
            "validate_order": usage(0.0005, {}),
            "store_order": usage(0.002, {"dynamodb.UpdateItem": 1}),
            "fulfill_order": usage(0.002, {"dynamodb.UpdateItem": 1}, batched=True),
        },
        "workflow_functions": frozenset({"validate_order", "store_order"}),
        "executions": (HISTORY,),
        "executions_per_order": 1.0,
        "order_item_bytes": 900.0,
        "log_compression_ratio": 0.2,
        "peak_memory_mb": {"api_handler": 90.0},
    }
    values.update(overrides)
    return Measured(**values)


def dev(**overrides: Any) -> Stage:
    """The dev stage's settings (its API rate fills every batch), with overrides."""
    settings: dict[str, Any] = {"xray_sampling_rate": 0.05, "api_throttling_rate_limit": 50.0, "log_retention_days": 30}
    return dataclasses.replace(load_stage("dev"), **(settings | overrides))


def usd(lines: dict[str, list[Line]], kind: str, start: str) -> float:
    """The line whose item starts with `start` (items carry their figures after the name)."""
    matching = [line.usd_per_million_orders for line in lines[kind] if line.item.startswith(start)]
    assert len(matching) == 1, (start, [line.item for line in lines[kind]])
    return matching[0]


def total(measured_: Measured, stage: Stage) -> float:
    return totals(bill(measured_, stage, PRODUCTION))["EXPRESS"]


def test_request_priced_lines_per_million_orders() -> None:
    lines = bill(measured(), dev(), PRODUCTION)
    assert usd(lines, "shared", "REST requests") == pytest.approx(3.50)
    assert usd(lines, "shared", "PutItem WRU") == pytest.approx(0.625)
    assert usd(lines, "shared", "UpdateItem WRU") == pytest.approx(1.25)
    assert usd(lines, "shared", "SendMessage") == pytest.approx(0.40)
    assert usd(lines, "shared", "validate_order requests") == pytest.approx(0.20)
    assert usd(lines, "EXPRESS", "EXPRESS requests") == pytest.approx(1.00)


def test_the_open_orders_index_costs_two_writes_per_order_and_none_per_update() -> None:
    lines = bill(measured(), dev(), PRODUCTION)
    assert usd(lines, "shared", "open-orders index WRU") == pytest.approx(2 * 0.625)
    assert [line.item for line in lines["shared"] if "index" in line.item] == ["open-orders index WRU (put and delete)"]


def test_items_over_1_kb_cost_more_write_units() -> None:
    lines = bill(measured(order_item_bytes=1500.0), dev(), PRODUCTION)
    assert usd(lines, "shared", "PutItem WRU") == pytest.approx(2 * 0.625)


def test_sqs_poller_requests_come_from_the_production_batch_not_the_local_one() -> None:
    lines = bill(measured(), dev(), PRODUCTION)
    assert usd(lines, "shared", "ReceiveMessage") == pytest.approx(0.40 / 10)
    assert usd(lines, "shared", "fulfill_order requests") == pytest.approx(0.20 / 10)


def test_lambda_duration_is_stretched_cpu_plus_published_latency_rounded_to_1_ms() -> None:
    api = measured().functions["api_handler"]
    latency = LATENCY_S["dynamodb.PutItem"].value + LATENCY_S["stepfunctions.StartExecution"].value
    assert modelled_duration_s(api, 1769, 1) == pytest.approx(round_up(0.004 + latency, 0.001))
    assert modelled_duration_s(api, 128, 1) == pytest.approx(round_up(0.004 * 1769 / 128 + latency, 0.001))
    # a batch of 10 waits for 10 calls
    fulfill = measured().functions["fulfill_order"]
    assert modelled_duration_s(fulfill, 1769, 10) == pytest.approx(
        round_up(10 * (0.002 + LATENCY_S["dynamodb.UpdateItem"].value), 0.001)
    )


def test_memory_per_function_comes_from_the_stage() -> None:
    small = dev(function_memory_mb={"api_handler": 128})
    assert small.memory_mb("api_handler") == 128
    assert small.memory_mb("store_order") == load_stage("dev").lambda_memory_mb
    assert usd(bill(measured(), small, PRODUCTION), "shared", "api_handler GB-s (128 MB") < usd(
        bill(measured(), dev(), PRODUCTION), "shared", "api_handler GB-s"
    )


def test_execution_logs_follow_the_stage_level_without_execution_data() -> None:
    everything = bill(measured(executions=(HISTORY, FAILED_HISTORY)), dev(workflow_log_level="ALL"), PRODUCTION)
    errors = bill(measured(executions=(HISTORY, FAILED_HISTORY)), dev(workflow_log_level="ERROR"), PRODUCTION)
    off = bill(measured(executions=(HISTORY, FAILED_HISTORY)), dev(workflow_log_level="OFF"), PRODUCTION)
    all_line = next(line for line in everything["EXPRESS"] if line.item.startswith("execution logs"))
    error_line = next(line for line in errors["EXPRESS"] if line.item.startswith("execution logs"))
    assert all_line.usd_per_million_orders > error_line.usd_per_million_orders > 0
    assert not [line for line in off["EXPRESS"] if line.item.startswith("execution logs") and line.quantity_per_order]
    events, size = cost.execution_log_events(measured(), dev(workflow_log_level="ALL"))
    assert events == len(HISTORY)
    assert size / events > 200  # the execution ARN alone is about 150 bytes
    assert size < len(HISTORY) * 400  # no input, output or parameters: include_execution_data is off


def test_function_logs_follow_the_stage_level() -> None:
    info = bill(measured(), dev(environment={"POWERTOOLS_LOG_LEVEL": "INFO"}), PRODUCTION)
    debug = bill(measured(), dev(environment={"POWERTOOLS_LOG_LEVEL": "DEBUG"}), PRODUCTION)
    assert usd(debug, "shared", "function logs") > usd(info, "shared", "function logs") > 0


def test_every_line_counts_in_the_total() -> None:
    """Each priced line removed changes the total by exactly its amount."""
    lines = bill(measured(), dev(), PRODUCTION)
    whole = totals(lines)["EXPRESS"]
    items = [line.item for line in lines["shared"] + lines["EXPRESS"]]
    for expected in ("API access logs", "Lambda START/END/REPORT", "traces recorded", "execution logs"):
        assert any(item.startswith(expected) for item in items), expected
    for kind in ("shared", "EXPRESS"):
        for line in lines[kind]:
            fewer = {**lines, kind: [other for other in lines[kind] if other is not line]}
            assert totals(fewer)["EXPRESS"] == pytest.approx(whole - line.usd_per_million_orders)


def test_x_ray_is_priced_at_the_stage_sampling_where_the_stage_traces() -> None:
    traced = bill(measured(), dev(xray=True, xray_sampling_rate=0.2), PRODUCTION)
    untraced = bill(measured(), dev(xray=False), PRODUCTION)
    xray = usd(traced, "shared", "traces recorded")
    # a fifth of the API requests, and Lambda's own 5 % of the fulfillment batches
    assert xray == pytest.approx((0.2 * 1 + 0.05 * 0.1) * PRICES_USD["xray_per_trace_recorded"] * 1e6)
    assert not [line for line in untraced["shared"] if line.service == "X-Ray"]


def test_log_storage_follows_the_stage_retention_compressed() -> None:
    month = usd(bill(measured(), dev(log_retention_days=30), PRODUCTION), "shared", "function logs")
    year = usd(bill(measured(), dev(log_retention_days=365), PRODUCTION), "shared", "function logs")
    gb = (1600 + 4 * 26) / 1e9
    assert year - month == pytest.approx(gb * 0.03 * 0.2 * (365 - 30) / 30 * 1e6)


def test_batches_fill_at_the_stage_rate() -> None:
    assert PRODUCTION.batch(dev(api_throttling_rate_limit=50.0)) == 10  # 5 pollers x 10 a second
    assert PRODUCTION.batch(dev(api_throttling_rate_limit=20.0)) == 4
    assert PRODUCTION.batch(dev(api_throttling_rate_limit=1.0)) == 1
    assert PRODUCTION.batch(dev(api_throttling_rate_limit=None)) == 10


def test_access_log_bytes_come_from_the_terraform_format(monkeypatch: pytest.MonkeyPatch) -> None:
    from scripts import postprocess_chalice_tf

    before = cost.access_log_line_bytes(measured())
    monkeypatch.setattr(
        postprocess_chalice_tf, "ACCESS_LOG_FORMAT", postprocess_chalice_tf.ACCESS_LOG_FORMAT + "x" * 100
    )
    assert cost.access_log_line_bytes(measured()) == before + 100


def test_floor_is_the_per_request_lines_only() -> None:
    lines = bill(measured(), dev(), PRODUCTION)
    result = totals(lines)
    assert all("GB-s" not in line.item and line.service not in {"CloudWatch Logs", "X-Ray"} for line in lines["floor"])
    # API 3.50 + EXPRESS 1.00 + Lambda 3.1 x 0.20 + SQS 1.2 x 0.40 + DynamoDB (3 + 2 index) x 0.625
    assert result["floor"] == pytest.approx(3.50 + 1.00 + 0.62 + 0.48 + 5 * 0.625)
    assert result["floor"] < result["EXPRESS"] < result["STANDARD"]


def test_the_model_is_the_same_on_the_same_counters_and_robust_to_an_outlier() -> None:
    """Two seeded runs give one total; a cold invocation (clients built, 80 ms) moves the median
    CPU not at all, where a mean would move by its share."""
    rng = random.Random(14)

    def runs(outlier: bool) -> list[Invocation]:
        update = Counter({"dynamodb.UpdateItem": 1})
        made = [Invocation(0.01, rng.uniform(0.0019, 0.0021), (), Counter(update)) for _ in range(99)]
        made.append(Invocation(0.2, 0.08 if outlier else 0.002, (), Counter(update)))
        return made

    rng.seed(14)
    first = function_usage(runs(outlier=False), 100)
    rng.seed(14)
    again = function_usage(runs(outlier=False), 100)
    rng.seed(14)
    cold = function_usage(runs(outlier=True), 100)
    assert first == again
    assert total(measured(functions={"store_order": first}), dev()) == total(
        measured(functions={"store_order": again}), dev()
    )
    assert cold.cpu_s_per_unit == pytest.approx(first.cpu_s_per_unit, rel=0.02)


def test_batched_work_is_per_delivery_and_each_message_counts_once() -> None:
    """Five batches of two, one message of them delivered twice (the local stage's short
    visibility timeout): ten deliveries, nine messages."""
    ids = [("m1", "m2"), ("m3", "m4"), ("m5", "m6"), ("m7", "m8"), ("m9", "m1")]
    invocations = [
        Invocation(0.1, 0.004, batch, Counter({"dynamodb.UpdateItem": 2}), Counter({"INFO": 2}), Counter({"INFO": 600}))
        for batch in ids
    ]
    fulfill = function_usage(invocations, orders=9)
    assert fulfill.batched
    assert fulfill.cpu_s_per_unit == pytest.approx(0.002)
    assert fulfill.units_per_order == pytest.approx(1.0)
    assert fulfill.calls_per_unit == {"dynamodb.UpdateItem": pytest.approx(1.0)}
    assert (fulfill.log_lines_per_unit, fulfill.log_bytes_per_unit) == ({"INFO": 1.0}, {"INFO": 300.0})


def test_log_lines_count_for_the_invocation_that_wrote_them() -> None:
    meter = Meter()
    stream = MeteredLogStream(meter)
    invocation = Invocation(0.0, 0.0)
    stream.write('{"level":"INFO","message":"outside any handler"}\n')
    meter._local.invocation = invocation
    stream.write('{"level":"INFO","message":"order stored"}\n')
    stream.write('{"level":"DEBUG","message":"x"}\n')
    meter._local.invocation = None
    assert invocation.log_lines == Counter({"INFO": 1, "DEBUG": 1})
    assert invocation.log_bytes["INFO"] == len('{"level":"INFO","message":"order stored"}\n')


def test_dynamodb_item_size_follows_the_documented_rules() -> None:
    item = {
        "order_id": {"S": "abc"},  # 8 + 3
        "total": {"N": "12.50"},  # 5 + (4 digits / 2 + 1)
        "ok": {"BOOL": True},  # 2 + 1
        "items": {"L": [{"S": "ab"}, {"M": {"q": {"N": "1"}}}]},  # 5 + 3 + (1 + 2) + (1 + 3 + 1 + 1 + 2)
    }
    assert dynamodb_item_bytes(item) == 11 + 8 + 3 + 5 + 3 + 3 + 8


@pytest.mark.parametrize(("value", "step", "expected"), [(0.0101, 0.001, 0.011), (0.3, 0.1, 0.3), (0.31, 0.1, 0.4)])
def test_round_up(value: float, step: float, expected: float) -> None:
    assert round_up(value, step) == pytest.approx(expected)


def test_a_stage_cost_settings_come_from_its_config(tmp_path: Path) -> None:
    config = read_config()
    stage = config["stages"]["dev"]
    stage["lambda_functions"]["store_order"]["lambda_memory_size"] = 512
    stage["dofs"] |= {"workflow_log_level": "FATAL", "xray_sampling_rate": 0.25, "log_retention_days": 7}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    loaded = load_stage("dev", path)
    assert (loaded.memory_mb("store_order"), loaded.memory_mb("api_handler")) == (512, stage["lambda_memory_size"])
    assert (loaded.workflow_log_level, loaded.xray_sampling_rate, loaded.log_retention_days) == ("FATAL", 0.25, 7)
    assert loaded.api_throttling_rate_limit == stage["dofs"]["api_throttling_rate_limit"]
