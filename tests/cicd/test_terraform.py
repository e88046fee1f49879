"""`terraform init -backend=false`, `validate` and `fmt -check` on infra/cicd.

No provider can be downloaded in the offline test run: the provider comes from a filesystem
mirror (TF_PLUGIN_MIRROR, default /opt/tf-plugins, as on the project's machines). Where there is
none the test is skipped with the reason, unless TF_ONLINE_INIT=1 lets `terraform init`
download hashicorp/aws as usual (GitHub Actions does that).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cicd import hcl

MIRROR = Path(os.environ.get("TF_PLUGIN_MIRROR", "/opt/tf-plugins"))
ONLINE = os.environ.get("TF_ONLINE_INIT") == "1"
TERRAFORM = shutil.which("terraform")


def _cli_config(tmp: Path) -> dict[str, str]:
    """Environment for terraform: a CLI config pointing at the mirror, or the default registry."""
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1"}
    if (MIRROR / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
        config = tmp / "mirror.tfrc"
        config.write_text(
            "provider_installation {\n"
            "  filesystem_mirror {\n"
            f'    path    = "{MIRROR}"\n'
            '    include = ["registry.terraform.io/hashicorp/aws"]\n'
            "  }\n"
            "}\n"
        )
        env["TF_CLI_CONFIG_FILE"] = str(config)
    elif ONLINE:
        env.pop("TF_CLI_CONFIG_FILE", None)
    else:
        pytest.skip(
            f"no hashicorp/aws provider mirror at {MIRROR} and TF_ONLINE_INIT is not 1: terraform checks skipped"
        )
    return env


@pytest.fixture(scope="module")
def initialized(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    if TERRAFORM is None:
        pytest.skip("terraform is not on PATH: terraform init/validate/fmt checks skipped")
    tmp = tmp_path_factory.mktemp("cicd-terraform")
    env = _cli_config(tmp)
    # A copy, so that no .terraform directory or lock file is left in the working tree.
    workdir = tmp / "cicd"
    shutil.copytree(hcl.CICD_DIR, workdir, ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl"))
    result = terraform(workdir, env, "init", "-backend=false", "-input=false", "-no-color")
    assert result.returncode == 0, result.stdout + result.stderr
    return workdir, env


def terraform(workdir: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    assert TERRAFORM is not None
    return subprocess.run(  # noqa: S603 - fixed arguments
        [TERRAFORM, f"-chdir={workdir}", *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_validate(initialized: tuple[Path, dict[str, str]]) -> None:
    workdir, env = initialized
    result = terraform(workdir, env, "validate", "-no-color")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success! The configuration is valid" in result.stdout


def test_fmt(initialized: tuple[Path, dict[str, str]]) -> None:
    workdir, env = initialized
    result = terraform(workdir, env, "fmt", "-check", "-diff", "-recursive", "-no-color")
    assert result.returncode == 0, f"run `terraform fmt infra/cicd`:\n{result.stdout}{result.stderr}"
