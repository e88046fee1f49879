"""The cost model (dofs_local/measurement/cost.py) on fixed counters: every line priced, each
stage's settings read from .chalice/config.json, volume, order mix and success rate in the bill,
and nothing that varies from run to run."""

from __future__ import annotations

import dataclasses
import json
import math
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from dofs_config.stage import Stage, load_stage, read_config
from dofs_local.measurement import cost
from dofs_local.measurement.bench import profile_from_json, profile_json
from dofs_local.measurement.cost import (
    LEVERS,
    VOLUMES,
    Bill,
    CostSettings,
    ExecutionEvent,
    FunctionUsage,
    Measured,
    OrderMix,
    OrderPath,
    Production,
    bill,
    floor_of,
    function_usage,
    get_bill,
    headline,
    lever_savings,
    modelled_duration_s,
    order_units,
    stage_bills,
    traced_per_s,
)
from dofs_local.measurement.items import ItemSizes, dynamodb_item_bytes, measure_item_sizes
from dofs_local.measurement.metering import Invocation, Meter, MeteredLogStream
from dofs_local.measurement.pricing import LATENCY_S, round_up

pytestmark = pytest.mark.aws

PRODUCTION = Production(batch_size=10, batching_window_s=1.0)
# What items.measure_item_sizes gives on the app's repository (test_item_sizes_... checks it).
SIZES = ItemSizes(
    accepted=364,
    per_line=42,
    verdict=213,
    failed_attempt=105,
    later_failed_attempt=54,
    fulfilled=65,
    dead_lettered=28,
    failure_record=410,
)
# A profile `make bench` measured and wrote (profile.json): the prod target is checked on it.
PROFILE = Path(__file__).parent / "data" / "cost_profile.json"
TEN_MILLION = 10_000_000
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
    """One INFO line of 400 bytes and one ERROR line of 300 per unit, and `debug_lines` DEBUG lines of 500."""
    return FunctionUsage(
        batched=batched,
        units_per_order=1.0,
        cpu_s_per_unit=cpu_s,
        calls_per_unit=calls,
        wall_s_per_unit=0.05,
        log_lines_per_unit={"INFO": 1.0, "ERROR": 1.0, "DEBUG": float(debug_lines)},
        log_bytes_per_unit={"INFO": 400.0, "ERROR": 300.0, "DEBUG": 500.0 * debug_lines},
    )


def measured(**overrides: Any) -> Measured:
    values: dict[str, Any] = {
        "orders": 1000,
        "api_requests_per_order": 1.0,
        "api_response_bytes": 120.0,
        "service_calls_per_order": {"sqs.SendMessage": 1.0, "lambda.Invoke": 2.0},
        "functions": {
            "api_handler": usage(0.004, {"dynamodb.PutItem": 1, "stepfunctions.StartExecution": 1}, debug_lines=10),
            "validate_order": usage(0.0005, {}),
            "store_order": usage(0.002, {"dynamodb.UpdateItem": 1}),
            "fulfill_order": usage(0.002, {"dynamodb.UpdateItem": 1}, batched=True),
            "handle_dead_letter": usage(0.003, {"dynamodb.GetItem": 1, "dynamodb.TransactWriteItems": 1}, batched=True),
        },
        "workflow_functions": frozenset({"validate_order", "store_order"}),
        "executions": (HISTORY,),
        "executions_per_order": 1.0,
        "log_compression_ratio": 0.2,
        "peak_memory_mb": {"api_handler": 90.0},
        "reconciler": usage(0.01, {"dynamodb.Query": 3}),
    }
    values.update(overrides)
    return Measured(**values)


def dev(**overrides: Any) -> Stage:
    settings: dict[str, Any] = {"xray_sampling_rate": 0.05, "log_retention_days": 30}
    return dataclasses.replace(load_stage("dev"), **(settings | overrides))


def settings(stage: Stage, **overrides: Any) -> CostSettings:
    return dataclasses.replace(CostSettings.of(stage), **overrides)


def priced(
    stage: Stage | None = None,
    volume: float = TEN_MILLION,
    measured_: Measured | None = None,
    mix: OrderMix | None = None,
    **overrides: Any,
) -> Bill:
    stage = stage or dev()
    return bill(measured_ or measured(), stage, settings(stage, **overrides), PRODUCTION, SIZES, volume, mix)


ONE_LINE = OrderMix(p=1.0)  # every order one line: every write under 1 KB


def usd(lines: Bill, start: str) -> float:
    """The line whose item starts with `start` (items carry their figures after the name)."""
    matching = [line.usd_per_million_orders for line in lines.lines if line.item.startswith(start)]
    assert len(matching) == 1, (start, [line.item for line in lines.lines])
    return matching[0]


def items(lines: Bill) -> list[str]:
    return [line.item for line in lines.lines]


def test_request_priced_lines_per_million_orders() -> None:
    lines = priced()
    assert usd(lines, "REST requests") == pytest.approx(3.50)
    assert usd(lines, "SendMessage") == pytest.approx(0.40)
    assert usd(lines, "validate_order requests") == pytest.approx(0.20)
    assert usd(lines, "EXPRESS requests") == pytest.approx(1.00)


def test_the_success_rate_sets_receives_and_dead_letters() -> None:
    path = OrderPath(0.7, 3)
    assert path.receives == pytest.approx(1 + 0.3 + 0.09)
    assert path.dead_letters == pytest.approx(0.3**3)
    always = priced(success_rate=1.0, mix=ONE_LINE)
    usually = priced(success_rate=0.7, mix=ONE_LINE)
    # 1.39 receives a batch each, more writes, reads of failed attempts, dead letters
    assert usd(usually, "fulfill_order requests") > usd(always, "fulfill_order requests")
    assert usd(usually, "UpdateItem WRU") - usd(always, "UpdateItem WRU") >= 0.39 * 0.625
    assert usd(usually, "TransactWriteItems WRU") == pytest.approx(0.027 * 2 * 2 * 0.625)
    assert "TransactWriteItems WRU (dead letters)" not in items(always)
    assert usd(usually, "GetItem RRU") == pytest.approx((0.3 + 0.09 + 0.027 + 0.027) * 0.125)


def test_write_units_follow_each_write_item_size() -> None:
    path = OrderPath(1.0, 3)
    one = order_units(SIZES, ONE_LINE, path)
    assert (one.put_wru, one.update_wru) == (1, 2)
    hundred = order_units(SIZES, OrderMix(min_lines=100), path)  # every order 100 lines: about 4.6 KB
    accepted = SIZES.order(100)
    assert hundred.put_wru == pytest.approx(math.ceil(accepted / 1024))
    assert hundred.update_wru == pytest.approx(
        math.ceil((accepted + SIZES.verdict) / 1024) + math.ceil((accepted + SIZES.verdict + SIZES.fulfilled) / 1024)
    )
    assert hundred.put_wru == 5
    mixed = order_units(SIZES, OrderMix(), path)
    assert one.put_wru < mixed.put_wru < hundred.put_wru  # the mix's large orders cost more units


def test_failed_attempts_grow_the_item_by_their_history() -> None:
    path = OrderPath(0.0, 3)  # every attempt fails: three failed attempts, a dead letter
    units = order_units(SIZES, ONE_LINE, path)
    final = SIZES.order(1) + SIZES.verdict + SIZES.failed_attempt + 2 * SIZES.later_failed_attempt
    assert units.final_bytes == pytest.approx(final + SIZES.dead_lettered)


def test_item_sizes_are_measured_on_the_apps_repository() -> None:
    """A change to what the app stores (an attribute, the history's entries) changes these."""
    assert measure_item_sizes() == SIZES


def test_the_order_mix_is_a_truncated_geometric_with_mean_3() -> None:
    mix = OrderMix()
    assert sum(w for _, w in mix.weights) == pytest.approx(1.0)
    assert mix.mean == pytest.approx(3.0, abs=0.01)
    assert max(n for n, _ in mix.weights) == 100
    assert "geometric" in mix.describe()


def test_the_open_orders_index_costs_two_writes_an_order() -> None:
    assert usd(priced(), "open-orders index WRU") == pytest.approx(2 * 0.625)
    by_status = priced(sparse_index=False, success_rate=1.0)
    assert usd(by_status, "open-orders index WRU") == pytest.approx((1 + 2 * 2) * 0.625)


def test_batches_grow_with_volume_up_to_the_batch_size() -> None:
    per_s = 1_000_000 / cost.SECONDS_PER_MONTH
    assert PRODUCTION.batch(per_s) == pytest.approx(1 + per_s / 5)  # about one message at 0.4/s
    assert PRODUCTION.batch(40.0) == pytest.approx(9.0)
    assert PRODUCTION.batch(400.0) == 10
    small, large = priced(volume=1e6, success_rate=1.0), priced(volume=1e8, success_rate=1.0)
    assert usd(small, "ReceiveMessage") > 5 * usd(large, "ReceiveMessage")
    assert usd(small, "fulfill_order requests") > 5 * usd(large, "fulfill_order requests")


def test_x_ray_reservoirs_trace_most_requests_at_low_volume() -> None:
    assert traced_per_s(0.4, 1, 0.05) == pytest.approx(1 - math.exp(-0.4) + 0.05 * (0.4 - 1 + math.exp(-0.4)))
    assert traced_per_s(1000.0, 1, 0.05) == pytest.approx(1 + 0.05 * 999)
    assert traced_per_s(1000.0, 0, 0.05) == pytest.approx(50.0)
    assert traced_per_s(3.0, 2, 0.0) == pytest.approx(2 - 2 * math.exp(-3) - 3 * math.exp(-3))  # E[min(N, 2)]
    stage = dev(xray=True, xray_sampling_rate=0.05)
    low = usd(priced(stage, volume=1e6, xray_reservoir_per_s=1), "traces")
    high = usd(priced(stage, volume=1e8, xray_reservoir_per_s=1), "traces")
    assert low > 5 * high
    assert usd(priced(stage, volume=1e6, xray_reservoir_per_s=0, sqs_consumer_tracing="PassThrough"), "traces") == (
        pytest.approx(0.05 * (1 + OrderPath(0.7, 3).receives + OrderPath(0.7, 3).dead_letters) * 5.0)
    )
    assert not [line for line in priced(dev(xray=False)).lines if line.service == "X-Ray"]


def test_fixed_monthly_amounts_are_spread_over_the_volume() -> None:
    stage = load_stage("prod")
    one, ten = priced(stage, volume=1e6), priced(stage, volume=1e7)
    assert usd(one, "dashboard") == pytest.approx(3.0)
    assert usd(ten, "dashboard") == pytest.approx(0.3)
    alarms = cost.STAGE_ALARMS + cost.ALARMS_PER_FUNCTION * len(read_config()["stages"]["prod"]["lambda_functions"])
    assert usd(one, f"{alarms} alarms") == pytest.approx(alarms * 0.10)
    # two queues' five pollers, one empty 20 s long poll after another; a run every 5 minutes
    assert usd(one, "idle long polls") == pytest.approx(2 * 5 * 30 * 86400 / 20 * 0.40 / 1e6)
    assert usd(one, "reconcile_orders requests") == pytest.approx(30 * 24 * 12 * 0.20 / 1e6)
    assert not [line for line in priced(load_stage("local")).lines if "alarms" in line.item]


def test_storage_and_pitr_follow_the_retention() -> None:
    short = priced(order_retention_days=30, success_rate=1.0)
    long = priced(order_retention_days=90, success_rate=1.0)
    kept = order_units(SIZES, OrderMix(), OrderPath(1.0, 3)).fulfilled_bytes
    assert usd(long, "storage") == pytest.approx(kept * 3 / 1e9 * 0.25 * 1e6)
    assert usd(long, "storage") == pytest.approx(3 * usd(short, "storage"))
    assert usd(long, "point-in-time recovery") == pytest.approx(usd(long, "storage") * 0.20 / 0.25)
    assert "point-in-time recovery" not in items(priced(point_in_time_recovery=False))


def test_lambda_duration_is_stretched_cpu_plus_published_latency_rounded_to_1_ms() -> None:
    api = measured().functions["api_handler"]
    latency = LATENCY_S["dynamodb.PutItem"].value + LATENCY_S["stepfunctions.StartExecution"].value
    assert modelled_duration_s(api, 1769, 1) == pytest.approx(round_up(0.004 + latency, 0.001))
    assert modelled_duration_s(api, 128, 1) == pytest.approx(round_up(0.004 * 1769 / 128 + latency, 0.001))


def test_memory_per_function_comes_from_the_stage() -> None:
    small = dev(function_memory_mb={"api_handler": 128})
    assert small.memory_mb("api_handler") == 128
    assert usd(priced(small), "api_handler GB-s (128 MB") < usd(priced(dev()), "api_handler GB-s")


def test_execution_logs_follow_the_stage_level_without_execution_data() -> None:
    both = measured(executions=(HISTORY, FAILED_HISTORY))
    everything = usd(priced(dev(workflow_log_level="ALL"), measured_=both), "execution logs")
    errors = usd(priced(dev(workflow_log_level="ERROR"), measured_=both), "execution logs")
    assert everything > errors > 0
    assert not [item for item in items(priced(dev(workflow_log_level="OFF"))) if item.startswith("execution logs")]
    events, size = cost.execution_log_events(measured(), dev(workflow_log_level="ALL"))
    assert events == len(HISTORY)
    assert size / events > 200  # the execution ARN alone is about 150 bytes
    assert size < len(HISTORY) * 400  # no input, output or parameters: include_execution_data is off


def test_function_and_platform_logs_follow_the_stage_levels_and_format() -> None:
    info = priced(dev(environment={**dev().environment, "POWERTOOLS_LOG_LEVEL": "INFO"}))
    debug = priced(dev(environment={**dev().environment, "POWERTOOLS_LOG_LEVEL": "DEBUG"}))
    warning = priced(dev(environment={**dev().environment, "POWERTOOLS_LOG_LEVEL": "WARNING"}))
    assert usd(debug, "function logs") > usd(info, "function logs") > usd(warning, "function logs") > 0
    assert usd(priced(lambda_log_format="Text"), "Lambda START/END/REPORT") > 0
    assert usd(priced(lambda_log_format="JSON", lambda_system_log_level="INFO"), "Lambda START/END/REPORT") > 0
    silent = priced(lambda_log_format="JSON", lambda_system_log_level="WARN")
    assert not [item for item in items(silent) if item.startswith("Lambda START")]


def test_waf_is_priced_only_where_the_stage_enables_it() -> None:
    assert not [line for line in priced().lines if line.service == "WAF"]
    guarded = priced(volume=1e6, waf_rules=3)
    waf = {line.item: line.usd_per_million_orders for line in guarded.lines if line.service == "WAF"}
    assert waf == {"requests": pytest.approx(0.60), "web ACL (fixed)": pytest.approx(5.0), "3 rules (fixed)": 3.0}


def test_a_get_is_priced_per_million_gets() -> None:
    stage = dev()
    gets = get_bill(measured(), stage, settings(stage), SIZES)
    assert {line.item for line in gets.lines} >= {"REST requests", "api_handler requests", "GetItem RRU"}
    assert 3.50 + 0.20 + 0.125 < gets.total < 6.0


def test_every_line_counts_in_the_total() -> None:
    lines = priced(dev(xray=True))
    for expected in ("API access logs", "Lambda START/END/REPORT", "traces", "execution logs", "storage"):
        assert any(item.startswith(expected) for item in items(lines)), expected
    assert lines.total == pytest.approx(sum(line.quantity_per_order * line.unit_price * 1e6 for line in lines.lines))


def test_the_floor_removes_every_avoidable_line() -> None:
    stage = load_stage("prod")
    floor_stage, floor_settings = floor_of(stage, CostSettings.of(stage))
    floor = bill(measured(), floor_stage, floor_settings, PRODUCTION, SIZES, TEN_MILLION)
    assert not [line for line in floor.lines if line.service in {"X-Ray", "WAF"}]
    assert not [item for item in items(floor) if item.startswith(("API access logs", "Lambda START", "dashboard"))]
    assert all("(128 MB" in item for item in items(floor) if "GB-s (" in item and "EXPRESS" not in item)
    assert usd(floor, "function logs (ERROR)") > 0  # errors stay
    assert floor.total < priced(stage).total


def test_access_log_bytes_come_from_the_terraform_format(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    before = cost.access_log_line_bytes(measured())
    longer = tmp_path / "format.json"
    fields = json.loads(cost.ACCESS_LOG_FORMAT_FILE.read_text())
    longer.write_text(json.dumps({**fields, "extra": "x" * 100}))
    monkeypatch.setattr(cost, "ACCESS_LOG_FORMAT_FILE", longer)
    assert cost.access_log_line_bytes(measured()) == before + len(',"extra":""') + 100


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
    functions = {**measured().functions}
    assert priced(measured_=measured(functions={**functions, "store_order": first})).total == (
        priced(measured_=measured(functions={**functions, "store_order": again})).total
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
    stage["environment_variables"] |= {"ORDER_RETENTION_DAYS": "7", "FAILED_ORDER_RETENTION_DAYS": "14"}
    stage["dofs"] |= {
        "xray_sampling_reservoir_per_second": 2,
        "lambda_log_format": "JSON",
        "lambda_system_log_level": "WARN",
        "xray_sqs_consumer_mode": "PassThrough",
        "waf": {"enabled": True, "rules": 4},
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    loaded = CostSettings.of(load_stage("dev", path), json.loads(path.read_text()))
    assert (loaded.order_retention_days, loaded.failed_order_retention_days) == (7, 14)
    assert (loaded.xray_reservoir_per_s, loaded.sqs_consumer_tracing, loaded.waf_rules) == (2, "PassThrough", 4)
    assert not loaded.platform_logs
    assert loaded.success_rate == float(stage["environment_variables"]["FULFILLMENT_SUCCESS_RATE"])


def test_the_headline_is_the_form_the_check_reads() -> None:
    assert headline("prod", 10_000_000, 11.234, 9.5) == "cost prod 10M/month: $11.23 per million orders (floor $9.50)"


def test_a_profile_survives_its_file() -> None:
    original = measured(executions=(FAILED_HISTORY,))  # no execution data: the profile keeps none
    assert profile_from_json(json.loads(json.dumps(profile_json(original), default=str))) == original


# The levers prod pulls: undoing one fails here, and prod stays within 1.25 x its floor (the
# issue's $11.50 is below the floor this model prices: notes/cost.md).
PROD_TARGET_FLOOR_RATIO = 1.25


def test_prod_pulls_every_lever() -> None:
    prod = load_stage("prod")
    settings_ = CostSettings.of(prod)
    assert prod.workflow_log_level == "ERROR"
    assert (settings_.lambda_log_format, settings_.lambda_system_log_level) == ("JSON", "WARN")
    assert not settings_.platform_logs
    assert settings_.xray_reservoir_per_s == 0
    assert settings_.sqs_consumer_tracing == "PassThrough"
    assert prod.log_level == "INFO"  # every operation logs its line (kept: not a lever)
    savings = lever_savings(measured(), prod, PRODUCTION, SIZES, TEN_MILLION)
    assert set(savings) == {lever.name for lever in LEVERS}
    assert all(saving > 0 for saving in savings.values()), savings


def test_prod_at_10_million_a_month_is_within_its_target_on_the_measured_profile() -> None:
    profile = profile_from_json(json.loads(PROFILE.read_text()))
    bills = stage_bills(profile, load_stage("prod"), PRODUCTION, SIZES)
    total, floor = bills[TEN_MILLION]
    assert total.total <= PROD_TARGET_FLOOR_RATIO * floor.total, (total.total, floor.total)
    assert bills[VOLUMES[0]][0].total > total.total > bills[VOLUMES[2]][0].total


def test_postprocess_sets_json_logs_and_pass_through_tracing_on_every_function() -> None:
    from scripts import postprocess_chalice_tf

    resources = {
        "aws_lambda_function": {"api_handler": {}, "fulfill_order": {}},
        "aws_lambda_event_source_mapping": {
            "fulfill_order-sqs-event-source": {"function_name": "${aws_lambda_function.fulfill_order.arn}"}
        },
    }
    overrides = postprocess_chalice_tf.lambda_logging(resources)
    assert overrides["api_handler"]["logging_config"]["log_format"] == "${var.lambda_log_format}"
    assert "tracing_config" not in overrides["api_handler"]
    assert overrides["fulfill_order"]["tracing_config"]["mode"].startswith("${var.enable_xray ?")
    stage_tf = (Path(__file__).parents[1] / "infra" / "stage" / "main.tf").read_text()
    for variable in postprocess_chalice_tf.LAMBDA_VARIABLES:
        assert f"{variable} " in stage_tf or f"{variable}=" in stage_tf, variable
