"""The cold-start probe (`make bench`, `make capacity-measure`) runs each function's init as Lambda
does: from the stage's package, with the function's own environment. It notices what Lambda would
pay: a module compiled from source at every cold start, the X-Ray SDK where a function traces."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from dofs_config.stage import load_stage
from dofs_local.measurement.cold_start import PackagedFunction, lambda_environment, measure_inits, packaged_functions

pytestmark = pytest.mark.terraform

STAGE = "prod"


@pytest.fixture(scope="module")
def prod_package(packaged_apps: dict[str, Path]) -> Path:
    return packaged_apps[STAGE]


def test_every_packaged_function_inits_from_bytecode_and_only_the_api_handler_skips_the_xray_sdk(
    prod_package: Path,
) -> None:
    inits = measure_inits(prod_package, STAGE, runs=1)
    assert set(inits) == set(packaged_functions(prod_package)) >= {"api_handler", "fulfill_order", "store_order"}
    assert {name: init.compiled_from_source for name, init in inits.items() if init.compiled_from_source} == {}
    assert all(init.wall_ms > 0 and init.cpu_ms > 0 and init.peak_memory_mb > 0 for init in inits.values())
    # The API handler answers clients: its init leaves the SDK out (Lambda's own tracing still
    # records it). The others trace their work, annotated with the order.
    assert {name for name, init in inits.items() if not init.xray_sdk_loaded} == {"api_handler"}


def test_a_package_without_bytecode_is_noticed(prod_package: Path, tmp_path: Path) -> None:
    stripped = tmp_path / "package"
    shutil.copytree(prod_package, stripped)
    with (
        zipfile.ZipFile(prod_package / "deployment.zip") as original,
        zipfile.ZipFile(stripped / "deployment.zip", "w", zipfile.ZIP_DEFLATED) as copy,
    ):
        for entry in original.infolist():
            if not entry.filename.endswith(".pyc"):
                copy.writestr(entry, original.read(entry))
    [validate] = [init for name, init in measure_inits(stripped, STAGE, runs=1).items() if name == "validate_order"]
    assert {"app", "chalicelib.settings", "pydantic.main"} <= set(validate.compiled_from_source)


def test_the_probe_fills_terraforms_inputs_and_refuses_one_it_does_not_know(tmp_path: Path) -> None:
    stage = load_stage(STAGE)
    function = PackagedFunction(
        "handle_dead_letter",
        "dofs-prod-handle_dead_letter",
        "app.handle_dead_letter",
        512,
        True,
        {"MAX_RECEIVE_COUNT": "${var.max_receive_count}"},
    )
    env = lambda_environment(function, stage, tmp_path / "task", tmp_path / "home")
    assert env["MAX_RECEIVE_COUNT"] == str(stage.max_receive_count)
    assert (env["AWS_LAMBDA_FUNCTION_NAME"], env["LAMBDA_TASK_ROOT"]) == (
        "dofs-prod-handle_dead_letter",
        str(tmp_path / "task"),
    )
    unknown = PackagedFunction("f", "dofs-prod-f", "app.f", 512, True, {"X": "${var.not_an_input}"})
    with pytest.raises(ValueError, match=r"no value for \$\{var.not_an_input\}"):
        lambda_environment(unknown, stage, tmp_path / "task", tmp_path / "home")
