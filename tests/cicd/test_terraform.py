"""`terraform init -backend=false`, `validate` and `fmt -check` on infra/cicd.

No provider can be downloaded in the offline test run: the provider comes from a filesystem
mirror (DOFS_TF_PLUGIN_MIRROR, else the places tests/infra looks: /opt/tf-plugins on the
project's machines). Where there is none the test is skipped with the reason, unless
DOFS_TF_ONLINE_INIT=1 lets `terraform init` download hashicorp/aws as usual (GitHub Actions).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cicd import hcl
from tests.infra.conftest import MIRROR_CANDIDATES, ONLINE_INIT, terraform_environment

pytestmark = pytest.mark.terraform

TERRAFORM = shutil.which("terraform")


def _cli_config(tmp: Path) -> dict[str, str]:
    """terraform's environment, as the infrastructure proof makes it (the mirror, or the registry
    where DOFS_TF_ONLINE_INIT=1); the test is skipped, saying why, where neither may be used."""
    env = terraform_environment(tmp)
    if env is None:
        pytest.skip(
            "no filesystem mirror of hashicorp/aws (DOFS_TF_PLUGIN_MIRROR, "
            + ", ".join(MIRROR_CANDIDATES)
            + f") and {ONLINE_INIT} is not 1: the offline checks never download providers"
        )
    return env


def initialized_copy(tmp: Path, *init_args: str, local_backend: bool = False) -> tuple[Path, dict[str, str]]:
    """A copy of infra/cicd, so that no .terraform directory or lock file is left in the working
    tree, initialised (with local state when `local_backend`), and the environment to run it."""
    env = _cli_config(tmp)
    workdir = hcl.copy_cicd(tmp)
    if local_backend:
        (workdir / "zz_local_backend_override.tf").write_text('terraform {\n  backend "local" {}\n}\n')
    result = terraform(workdir, env, "init", *init_args, "-input=false", "-no-color")
    assert result.returncode == 0, result.stdout + result.stderr
    return workdir, env


@pytest.fixture(scope="module")
def initialized(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    if TERRAFORM is None:
        pytest.skip("terraform is not on PATH: terraform init/validate/fmt checks skipped")
    return initialized_copy(tmp_path_factory.mktemp("cicd-terraform"), "-backend=false")


def terraform(
    workdir: Path, env: dict[str, str], *args: str, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    assert TERRAFORM is not None
    return subprocess.run(  # noqa: S603 - fixed arguments
        [TERRAFORM, f"-chdir={workdir}", *args],
        env=env, input=input, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_validate(initialized: tuple[Path, dict[str, str]]) -> None:
    workdir, env = initialized
    result = terraform(workdir, env, "validate", "-no-color")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success! The configuration is valid" in result.stdout


def test_fmt(initialized: tuple[Path, dict[str, str]]) -> None:
    workdir, env = initialized
    result = terraform(workdir, env, "fmt", "-check", "-diff", "-recursive", "-no-color")
    assert result.returncode == 0, f"run `terraform fmt infra/cicd`:\n{result.stdout}{result.stderr}"
