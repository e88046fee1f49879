"""What the Lambda package holds: the app and its own dependencies, never the dev tools, and not
Powertools either, which the AWS-managed layer attached to every function provides."""

from __future__ import annotations

import importlib.util
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest

from dofs_config.stage import (
    POWERTOOLS_LAYER,
    POWERTOOLS_PACKAGE,
    load_stage,
    pinned_version,
    powertools_layer_parameter,
    read_config,
)
from scripts.package_bytecode import add_bytecode
from scripts.tfmodel import load_module
from tests.infra.conftest import STAGE

pytestmark = pytest.mark.terraform


def test_the_lambda_package_leaves_out_the_dev_tools(packaged_app: Path) -> None:
    with zipfile.ZipFile(packaged_app / "deployment.zip") as package:
        top_level = {name.split("/")[0] for name in package.namelist()}
    assert {"app.py", "chalicelib"} <= top_level
    assert not top_level & {"dofs_ops", "dofs_local", "tests", "scripts"}


# Unpacked, the package is 10.3 MiB, 2.8 MiB of it bytecode; Powertools in it would add 3.3 MiB.
PACKAGE_BUDGET_BYTES = 12 * 1024 * 1024


def test_powertools_comes_from_its_layer_not_from_the_package(packaged_app: Path) -> None:
    """Powertools and the X-Ray SDK its Tracer needs (with botocore) would add megabytes to every
    function; the layer brings them."""
    with zipfile.ZipFile(packaged_app / "deployment.zip") as package:
        top_level = {name.split("/")[0] for name in package.namelist()}
        unpacked_size = sum(entry.file_size for entry in package.infolist())
    assert {"pydantic", "pydantic_core"} <= top_level, "the app's own dependencies are packaged"
    assert not top_level & {"aws_lambda_powertools", "aws_xray_sdk", "botocore", "boto3"}
    assert unpacked_size < PACKAGE_BUDGET_BYTES


def test_every_module_ships_its_bytecode_for_the_packaged_runtime(packaged_app: Path) -> None:
    """Lambda's task root is read-only: a module without its bytecode is compiled at every cold
    start. Each `.py` has a checked-hash `.pyc` of the runtime's Python, made from that source."""
    [runtime] = {
        function["runtime"] for function in load_module(packaged_app).resources["aws_lambda_function"].values()
    }
    tag = f"cpython-{runtime.removeprefix('python').replace('.', '')}"
    with zipfile.ZipFile(packaged_app / "deployment.zip") as package:
        names = set(package.namelist())
        sources = sorted(name for name in names if name.endswith(".py"))
        assert {"app.py", "pydantic/main.py"} <= set(sources)
        for source in sources:
            folder, _, module = source.rpartition("/")
            cached = f"{folder}/__pycache__/{module[:-3]}.{tag}.pyc".lstrip("/")
            assert cached in names, f"{source} has no {cached}"
            header = package.read(cached)[:16]
            assert header[:4] == importlib.util.MAGIC_NUMBER, f"{cached}: not this Python's bytecode"
            assert int.from_bytes(header[4:8], "little") == 0b11, f"{cached}: not checked-hash"
            assert header[8:16] == importlib.util.source_hash(package.read(source)), f"{cached}: another source's"
        strays = {name for name in names if name.endswith(".pyc") and f".{tag}." not in name}
        assert not strays, "no other interpreter's bytecode (a developer's __pycache__)"


def test_bytecode_for_another_python_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "deployment.zip"
    with zipfile.ZipFile(archive, "w") as package:
        package.writestr("app.py", "x = 1\n")
    with pytest.raises(SystemExit, match=r"the package is for python2\.7"):
        add_bytecode(archive, "python2.7")


def test_every_function_gets_the_powertools_layer_of_the_pinned_release(packaged_app: Path) -> None:
    """The functions carry the layer infra/stage reads from Powertools' parameter, and the package
    names the parameter of the release requirements/build.in pins, for the runtime and architecture
    Chalice packaged: what AWS runs is what the tests ran."""
    module = load_module(packaged_app)
    functions = module.resources["aws_lambda_function"]
    assert functions
    for name, function in functions.items():
        assert function["layers"] == [POWERTOOLS_LAYER], name
        assert function["architectures"] == [load_stage(STAGE).architecture], name
    [runtime] = {function["runtime"] for function in functions.values()}
    parameter = powertools_layer_parameter(load_stage(STAGE).architecture, runtime, version(POWERTOOLS_PACKAGE))
    assert module.outputs["powertools_layer_parameter"]["value"] == parameter


def test_every_deployed_stage_attaches_the_powertools_layer() -> None:
    """The package leaves Powertools out: a stage without the layer would fail every cold start.
    No stage names a layer version or region of its own: the parameter does."""
    deployed = [name for name in read_config()["stages"] if name != "local"]
    assert {"dev", "prod"} <= set(deployed)
    for name in deployed:
        assert load_stage(name).layers == (POWERTOOLS_LAYER,), name


def test_the_pin_is_read_from_the_requirements(tmp_path: Path) -> None:
    requirements = tmp_path / "build.in"
    requirements.write_text("aws-lambda-powertools-extra==9.9.9\naws-lambda-powertools==3.1.0\nboto3==1.0.0\n")
    assert pinned_version(POWERTOOLS_PACKAGE, requirements) == "3.1.0"
    requirements.write_text("aws-lambda-powertools>=3.1.0\n")
    with pytest.raises(ValueError, match="must pin aws-lambda-powertools exactly once"):
        pinned_version(POWERTOOLS_PACKAGE, requirements)


def test_the_installed_powertools_is_the_pinned_one() -> None:
    assert version(POWERTOOLS_PACKAGE) == pinned_version(POWERTOOLS_PACKAGE)
