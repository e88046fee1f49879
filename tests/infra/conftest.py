"""Fixtures of the offline infrastructure proof.

Terraform runs only in temporary copies of the project (infra/, the files infra/cicd reads,
.chalice/config.json among them, stepfunctions/ and a freshly packaged app in
build/package/<stage>, copied to build/app where infra/stage reads it), never in the working tree.
No provider is downloaded: a filesystem mirror of hashicorp/aws is used through a generated
CLI configuration (TF_CLI_CONFIG_FILE), and the tests that need Terraform skip, saying why,
where Terraform or the mirror is missing.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from dofs_config.stage import deployable_stages
from tests.cicd.hcl import copy_cicd_reads

PROJECT_DIR = Path(__file__).resolve().parents[2]
INFRA_DIR = PROJECT_DIR / "infra"
# The one root of every stage, and where it reads the stage's package (scripts/infra.py copies it).
STAGE_ROOT = INFRA_DIR / "stage"
APP_DIR = Path("build") / "app"
# The stage the single-stage checks use; STAGES are all of them (dev, prod, ...).
STAGE = "dev"
STAGES = deployable_stages()
# Where the machine image keeps the provider; DOFS_TF_PLUGIN_MIRROR overrides.
MIRROR_CANDIDATES = ("/opt/tf-plugins", "/usr/share/terraform/plugins", str(Path.home() / ".terraform.d" / "plugins"))
AWS_PROVIDER = "registry.terraform.io/hashicorp/aws"
# Never copied into the temporary workspaces: local Terraform state and plans. The committed
# lock files are copied: `init` then checks the mirror's provider against them (read-only).
COPY_IGNORE = shutil.ignore_patterns(".terraform", "*.tfstate*", "tfplan*")
LOCK_FILE = ".terraform.lock.hcl"


def terraform_dirs() -> list[Path]:
    """Every directory under infra/ holding .tf files (new ones, such as infra/cicd, included)."""
    return sorted({path.parent for path in INFRA_DIR.rglob("*.tf") if ".terraform" not in path.parts})


def provider_mirror() -> Path | None:
    candidates = [os.environ["DOFS_TF_PLUGIN_MIRROR"]] if os.environ.get("DOFS_TF_PLUGIN_MIRROR") else []
    for candidate in [*candidates, *MIRROR_CANDIDATES]:
        if list(Path(candidate).glob(f"{AWS_PROVIDER}/*/*/terraform-provider-aws_*")):
            return Path(candidate)
    return None


@dataclass(frozen=True)
class Terraform:
    binary: str
    env: dict[str, str]

    def run(self, cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(  # noqa: S603 - fixed terraform binary, arguments from the tests
            [self.binary, *args], cwd=cwd, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise AssertionError(
                f"terraform {' '.join(args)} failed in {cwd} ({result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
        return result

    def init(self, cwd: Path, *args: str) -> None:
        """`terraform init`; where a lock file is committed, it must already hold the provider
        installed (-lockfile=readonly fails on a version or checksum it lacks)."""
        lock = ["-lockfile=readonly"] if (cwd / LOCK_FILE).exists() else []
        self.run(cwd, "init", "-input=false", "-no-color", *lock, *args)


ONLINE_INIT = "DOFS_TF_ONLINE_INIT"


def terraform_environment(config_dir: Path) -> dict[str, str] | None:
    """terraform's environment: a CLI configuration installing hashicorp/aws from the mirror;
    where there is none and DOFS_TF_ONLINE_INIT=1 (GitHub Actions, the pipeline's Test build),
    the registry, each provider downloaded once (a plugin cache); otherwise None."""
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1"}
    env.pop("TF_DATA_DIR", None)
    mirror = provider_mirror()
    if mirror is not None:
        cli_config = config_dir / "terraform.rc"
        cli_config.write_text(
            "provider_installation {\n"
            f'  filesystem_mirror {{\n    path    = "{mirror}"\n    include = ["{AWS_PROVIDER}"]\n  }}\n'
            f'  direct {{\n    exclude = ["{AWS_PROVIDER}"]\n  }}\n'
            "}\n"
        )
        env["TF_CLI_CONFIG_FILE"] = str(cli_config)  # the environment may name a file that does not exist
        return env
    if os.environ.get(ONLINE_INIT) == "1":
        env.pop("TF_CLI_CONFIG_FILE", None)
        cache = config_dir / "plugin-cache"
        cache.mkdir(exist_ok=True)
        env["TF_PLUGIN_CACHE_DIR"] = str(cache)
        return env
    return None


@pytest.fixture(scope="session")
def terraform(tmp_path_factory: pytest.TempPathFactory) -> Terraform:
    binary = shutil.which("terraform")
    if binary is None:
        pytest.skip("terraform is not on PATH: install Terraform >= 1.10 to run the validate and apply checks")
    env = terraform_environment(tmp_path_factory.mktemp("terraform-cli"))
    if env is None:
        pytest.skip(
            "no filesystem mirror of hashicorp/aws found (looked in DOFS_TF_PLUGIN_MIRROR, "
            + ", ".join(MIRROR_CANDIDATES)
            + f") and {ONLINE_INIT} is not 1: the offline checks never download providers"
        )
    return Terraform(binary, env)


def package_app(out: Path, stage: str = STAGE) -> Path:
    subprocess.run(  # noqa: S603 - this interpreter running the project's own script
        [sys.executable, str(PROJECT_DIR / "scripts" / "package_app.py"), "--stage", stage, "--out", str(out)],
        check=True,
        capture_output=True,
        text=True,
    )
    return out


def shared_package(tmp_path_factory: pytest.TempPathFactory, worker_id: str, stage: str) -> Path:
    """`make package`'s output for the stage, built once per test run, read by every test process
    (pytest-xdist's workers share their base directory's parent). One process packages at a time:
    Chalice writes its deployment zip into the project (.chalice/deployments), where a second
    `chalice package` would find the first one's half-written zip and reuse it."""
    shared = tmp_path_factory.getbasetemp()
    shared = shared if worker_id == "master" else shared.parent
    out, built = shared / "package" / stage, shared / f"package-{stage}.built"
    with (shared / "package.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not built.exists():
            package_app(out, stage)
            built.touch()
    return out


@pytest.fixture(scope="session")
def packaged_app(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """`make package`'s output for the dev stage, built once per test run."""
    return shared_package(tmp_path_factory, worker_id, STAGE)


@pytest.fixture(scope="session")
def packaged_apps(tmp_path_factory: pytest.TempPathFactory, worker_id: str, packaged_app: Path) -> dict[str, Path]:
    """`make package`'s output for every stage, built once per test run."""
    others = {stage: shared_package(tmp_path_factory, worker_id, stage) for stage in STAGES if stage != STAGE}
    return {STAGE: packaged_app, **others}


def make_workspace(root: Path, package: Path, stage: str = STAGE) -> Path:
    """A copy of what the Terraform root modules read, laid out as in the repository, with the
    stage's package selected (build/app) as `make plan STAGE=<stage>` selects it."""
    shutil.copytree(INFRA_DIR, root / "infra", ignore=COPY_IGNORE)
    copy_cicd_reads(root)  # .chalice/config.json among them, which infra/stage reads too
    shutil.copytree(PROJECT_DIR / "stepfunctions", root / "stepfunctions")
    shutil.copytree(package, root / "build" / "package" / stage)
    shutil.copytree(package, root / APP_DIR)
    return root


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory, packaged_app: Path) -> Path:
    return make_workspace(tmp_path_factory.mktemp("workspace"), packaged_app)
