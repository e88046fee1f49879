"""The capacity model (scripts/capacity.py): every stage carries the rate it declares, prod at least
1,000 orders/s, and putting back any setting that held prod below that fails the check."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dofs_config.stage import CONFIG_PATH, PROJECT_DIR, read_config
from scripts.capacity import (
    DEFAULT_INDEX_SHARDS,
    MEMORY_STEP_MB,
    QUOTAS,
    SECONDS_PER_DAY,
    capacity,
    fulfillment_attempts_per_order,
    fulfillment_batch_size,
    load_settings,
    memory_floor,
)

pytestmark = pytest.mark.unit

STAGES = sorted(read_config()["stages"])
VERDICT = re.compile(r"^prod capacity: ([\d,]+) orders/s sustained \(binding: (.+)\)$")

Edit = Callable[[dict[str, Any]], None]


def edited_config(tmp_path: Path, stage: str, edit: Edit) -> Path:
    config = json.loads(CONFIG_PATH.read_text())
    edit(config["stages"][stage])
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not on PATH")
def test_make_capacity_ends_with_prods_sustained_capacity_of_at_least_1000() -> None:
    """`make capacity STAGE=prod`: every hop, then exactly one verdict line, last (this
    interpreter's environment, the .venv's installation taken as done)."""
    out = subprocess.run(  # noqa: S603 - make with fixed arguments
        [
            str(shutil.which("make")),
            "--no-print-directory",
            "-s",
            "-o",
            ".venv/.installed",
            "capacity",
            "STAGE=prod",
            f"BIN={Path(sys.executable).parent}",
        ],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "MAKEFLAGS": ""},
    ).stdout.splitlines()
    verdict = VERDICT.match(out[-1])
    assert verdict is not None, out[-1]
    assert int(verdict.group(1).replace(",", "")) >= 1000
    assert sum(VERDICT.match(line) is not None for line in out) == 1
    for hop in ("API stage throttle", "usage plan daily quota", "Lambda account concurrency", "StartExecution"):
        assert any(hop in line for line in out), hop
    assert "drain:" in "\n".join(out), "the burst's drain time is shown"


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_carries_its_declared_rate_and_burst(stage: str) -> None:
    result = capacity(stage)
    assert result.settings.required_orders_per_second > 0
    assert result.problems() == []
    assert result.sustained >= result.settings.required_orders_per_second


def test_the_check_command_passes_for_the_stages_as_configured() -> None:
    from scripts.capacity import main

    assert main(["check"]) == 0


def _memory_128(stage: dict[str, Any]) -> None:
    for function in stage["lambda_functions"].values():
        function["lambda_memory_size"] = 128


# Each setting as it was before prod was sized, and the hop it breaks.
OLD_SETTINGS: dict[str, tuple[Edit, str]] = {
    "daily quota 10,000": (lambda s: s["dofs"].update(api_client_quota_per_day=10_000), "usage plan daily quota"),
    "fulfillment concurrency 20": (
        lambda s: s["dofs"].update(event_source_maximum_concurrency=20),
        "fulfill_order event source mapping",
    ),
    "memory 128 MB": (_memory_128, "fulfill_order event source mapping"),
    "status-keyed index (one shard)": (
        lambda s: s["environment_variables"].update(OPEN_ORDERS_INDEX_SHARDS="1"),
        "open-orders index partitions",
    ),
    "API throttle 200": (lambda s: s["dofs"].update(api_throttling_rate_limit=200), "API stage throttle"),
}


@pytest.mark.parametrize("name", OLD_SETTINGS)
def test_putting_an_old_setting_back_fails_the_check(tmp_path: Path, name: str) -> None:
    edit, hop = OLD_SETTINGS[name]
    result = capacity("prod", edited_config(tmp_path, "prod", edit))
    assert result.sustained < 1000
    assert result.binding.name.startswith(hop)
    assert any(problem.startswith(hop) for problem in result.problems())


def test_an_api_throttle_at_the_sustained_rate_refuses_the_burst(tmp_path: Path) -> None:
    """2,000 rps carries 1,000 orders/s (and their GETs), but a minute at 3x gets 429s."""

    def edit(stage: dict[str, Any]) -> None:
        stage["dofs"].update(api_throttling_rate_limit=2000, api_client_rate_limit=2000)

    result = capacity("prod", edited_config(tmp_path, "prod", edit))
    assert result.sustained >= 1000
    assert any("429" in problem for problem in result.problems())


def test_a_slow_drain_past_the_stuck_threshold_fails(tmp_path: Path) -> None:
    """Fulfillment just above the rate: the burst's backlog outlives the stuck threshold."""

    def edit(stage: dict[str, Any]) -> None:
        stage["dofs"].update(event_source_maximum_concurrency=32)

    result = capacity("prod", edited_config(tmp_path, "prod", edit))
    assert result.sustained >= 1000
    assert any("stuck threshold" in problem for problem in result.problems())


def test_a_stage_must_declare_its_rate(tmp_path: Path) -> None:
    path = edited_config(tmp_path, "dev", lambda s: s["dofs"].pop("required_orders_per_second"))
    with pytest.raises(ValueError, match="required_orders_per_second"):
        load_settings("dev", path)


def test_a_daily_quota_caps_the_rate_over_a_day(tmp_path: Path) -> None:
    # Two requests an order (a POST and a GET): a quota of 2 x 86,400 a day is one order a second.
    path = edited_config(tmp_path, "prod", lambda s: s["dofs"].update(api_client_quota_per_day=2 * SECONDS_PER_DAY))
    hop = next(hop for hop in capacity("prod", path).hops if hop.name.startswith("usage plan daily quota"))
    assert hop.ceiling == pytest.approx(1.0)


def test_fulfillment_attempts_follow_the_success_rate_and_receive_count() -> None:
    assert fulfillment_attempts_per_order(1.0, 3) == 1.0
    assert fulfillment_attempts_per_order(0.7, 3) == pytest.approx(1 + 0.3 + 0.09)
    assert fulfillment_attempts_per_order(0.0, 3) == 3.0


def test_the_batch_size_is_the_one_app_py_packages() -> None:
    import app

    assert fulfillment_batch_size() == app.FULFILLMENT_BATCH_SIZE


def test_every_quota_names_its_source() -> None:
    assert all(quota.source.startswith("https://docs.aws.amazon.com/") for quota in QUOTAS.values())


def test_a_workflow_function_whose_cold_start_outlasts_its_task_timeout_fails(tmp_path: Path) -> None:
    """At 128 MB (a fourteenth of a vCPU) store_order's cold start takes longer than its Task's 10 s."""

    def edit(stage: dict[str, Any]) -> None:
        stage["lambda_functions"]["store_order"]["lambda_memory_size"] = 128

    problems = capacity("prod", edited_config(tmp_path, "prod", edit)).problems()
    assert any(problem.startswith("workflow task StoreOrder") for problem in problems), problems


def test_the_api_handlers_cold_start_stays_within_the_stages_budget(tmp_path: Path) -> None:
    def edit(stage: dict[str, Any]) -> None:
        stage["lambda_functions"]["api_handler"]["lambda_memory_size"] = 256

    problems = capacity("prod", edited_config(tmp_path, "prod", edit)).problems()
    assert any(problem.startswith("api_handler: a cold start") for problem in problems), problems


@pytest.mark.parametrize("function", ["api_handler", "fulfill_order", "store_order"])
def test_prods_memory_is_at_or_above_its_floor_and_below_the_floor_fails(tmp_path: Path, function: str) -> None:
    settings = load_settings("prod")
    floor = memory_floor(settings, function)
    assert settings.stage.memory_mb(function) >= floor

    def edit(stage: dict[str, Any]) -> None:
        stage["lambda_functions"][function]["lambda_memory_size"] = floor - MEMORY_STEP_MB

    assert capacity("prod", edited_config(tmp_path, "prod", edit)).problems()


def test_the_models_index_default_is_the_apps() -> None:
    from chalicelib.settings import DEFAULT_OPEN_ORDERS_INDEX_SHARDS

    assert DEFAULT_INDEX_SHARDS == DEFAULT_OPEN_ORDERS_INDEX_SHARDS
