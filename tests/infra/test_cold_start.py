"""The cold-start probe (`make bench`, `make capacity-measure`) runs each function's init as Lambda
does: from the stage's package, with the function's own environment. It notices what Lambda would
pay: a module compiled from source at every cold start, the X-Ray SDK where a function traces."""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from dofs_config.stage import load_stage
from dofs_local.measurement.cold_start import (
    Init,
    PackagedFunction,
    lambda_environment,
    measure_inits,
    packaged_functions,
)

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


def _edited_copy(package: Path, destination: Path, edit: Callable[[str, bytes], bytes | None]) -> Path:
    """The package with each file of deployment.zip passed through `edit` (None: left out)."""
    shutil.copytree(package, destination)
    with (
        zipfile.ZipFile(package / "deployment.zip") as original,
        zipfile.ZipFile(destination / "deployment.zip", "w", zipfile.ZIP_DEFLATED) as copy,
    ):
        for entry in original.infolist():
            content = edit(entry.filename, original.read(entry))
            if content is not None:
                copy.writestr(entry, content)
    return destination


def _validate_order_init(package: Path) -> Init:
    return measure_inits(package, STAGE, runs=1, functions=("validate_order",))["validate_order"]


def test_a_package_without_bytecode_is_noticed(prod_package: Path, tmp_path: Path) -> None:
    stripped = _edited_copy(
        prod_package, tmp_path / "package", lambda name, data: None if name.endswith(".pyc") else data
    )
    assert {"app.py", "chalicelib/settings.py", "pydantic/main.py"} <= set(
        _validate_order_init(stripped).compiled_from_source
    )


def test_stale_bytecode_is_noticed(prod_package: Path, tmp_path: Path) -> None:
    """A source changed after its bytecode was made: Python compiles it again, at every cold start."""

    def edit(name: str, data: bytes) -> bytes:
        return data + b"\n# changed after packaging\n" if name == "chalicelib/settings.py" else data

    assert _validate_order_init(_edited_copy(prod_package, tmp_path / "package", edit)).compiled_from_source == (
        "chalicelib/settings.py",
    )


def test_a_dependency_the_package_lacks_fails_the_init_as_on_lambda(prod_package: Path, tmp_path: Path) -> None:
    """This interpreter has pydantic, but Lambda would not: the probe sees only the package, the
    runtime's boto3 and the Powertools layer."""
    lacking = _edited_copy(
        prod_package, tmp_path / "package", lambda name, data: None if name.startswith("pydantic/") else data
    )
    with pytest.raises(RuntimeError, match="No module named 'pydantic'"):
        _validate_order_init(lacking)


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
