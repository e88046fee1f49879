"""What the Lambda package holds: the app and its own dependencies, never the dev tools, and not
Powertools either, which the AWS-managed layer attached to every function provides."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from dofs_local.stage import load_stage, read_config
from scripts.tfmodel import load_module
from tests.infra.conftest import STAGE


def test_the_lambda_package_leaves_out_the_dev_tools(packaged_app: Path) -> None:
    with zipfile.ZipFile(packaged_app / "deployment.zip") as package:
        top_level = {name.split("/")[0] for name in package.namelist()}
    assert {"app.py", "chalicelib"} <= top_level
    assert not top_level & {"dofs_ops", "dofs_local", "tests", "scripts"}


# The AWS-managed Powertools layer: account 017000801446 publishes one per region, Python version
# and architecture (docs.aws.amazon.com/powertools/python/latest/#lambda-layer).
POWERTOOLS_LAYER = re.compile(
    r"^arn:aws:lambda:(?P<region>[a-z0-9-]+):017000801446:layer:"
    r"AWSLambdaPowertoolsPythonV3-python(?P<python>3\d+)-(?P<arch>x86_64|arm64):(?P<version>\d+)$"
)


PACKAGE_BUDGET_BYTES = 10 * 1024 * 1024


def test_powertools_comes_from_its_layer_not_from_the_package(packaged_app: Path) -> None:
    """Powertools and the X-Ray SDK its Tracer needs (with botocore) would add megabytes to every
    function; the layer brings them."""
    with zipfile.ZipFile(packaged_app / "deployment.zip") as package:
        top_level = {name.split("/")[0] for name in package.namelist()}
        unpacked_size = sum(entry.file_size for entry in package.infolist())
    assert {"pydantic", "pydantic_settings"} <= top_level, "the app's own dependencies are packaged"
    assert not top_level & {"aws_lambda_powertools", "aws_xray_sdk", "botocore", "boto3"}
    # Unpacked, the package was 11.3 MiB with Powertools in it (8.0 MiB without): a budget between.
    assert unpacked_size < PACKAGE_BUDGET_BYTES


def test_every_function_gets_the_powertools_layer_of_its_region_and_runtime(packaged_app: Path) -> None:
    stage = load_stage(STAGE)
    functions = load_module(packaged_app).resources["aws_lambda_function"]
    assert functions
    for name, function in functions.items():
        [layer] = function["layers"]
        match = POWERTOOLS_LAYER.fullmatch(layer)
        assert match, f"{name}: {layer} is not a Powertools v3 layer"
        assert match["region"] == stage.region, name
        assert f"python{match['python'][0]}.{match['python'][1:]}" == function["runtime"], name
        assert match["arch"] == function.get("architectures", ["x86_64"])[0], name


def test_every_deployed_stage_attaches_the_powertools_layer_of_its_region() -> None:
    """The package leaves Powertools out: a stage without the layer would fail every cold start."""
    deployed = [name for name in read_config()["stages"] if name != "local"]
    assert {"dev", "prod"} <= set(deployed)
    for name in deployed:
        stage = load_stage(name)
        [layer] = stage.layers
        match = POWERTOOLS_LAYER.fullmatch(layer)
        assert match, f"{name}: {layer} is not a Powertools v3 layer"
        assert match["region"] == stage.region, name
