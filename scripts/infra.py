"""`make bootstrap|plan|deploy|destroy STAGE=<stage>`: checks the prerequisites, then runs Terraform.

    python scripts/infra.py stage --stage prod     # refuses an unknown stage, naming the known ones
    python scripts/infra.py check --stage dev      # what is missing, nothing run
    python scripts/infra.py bootstrap --stage dev  # state bucket in the stage's region (once per account and region)
    python scripts/infra.py backend --stage dev    # the stage's `terraform init -backend-config` arguments
    python scripts/infra.py plan --stage dev       # writes build/tfplan-dev
    python scripts/infra.py deploy --stage dev     # applies (asks unless AUTO_APPROVE=1)
    python scripts/infra.py destroy --stage dev    # destroys (asks unless AUTO_APPROVE=1)

Every stage is the one root infra/stage with `-var stage=<stage>`, the stage's state backend
infra/stages/<stage>.s3.tfbackend, and its package build/package/<stage> copied to build/app (a
module's source is a fixed path). The state bucket is STATE_BUCKET when set, otherwise
infra/bootstrap's name for it: dofs-tfstate-{account id}-{region}, in the stage's region (its
`dofs.region`, which init passes to the backend too). The stage's settings are in
.chalice/config.json; other Terraform variables come from the environment (TF_VAR_...) or TF_ARGS.

Only the standard library is imported at the top, so `stage` runs before `make venv`.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from dofs_config.stage import UnknownStageError, load_stage, require_deployable_stage  # noqa: E402

INFRA_DIR = PROJECT_DIR / "infra"
STAGE_ROOT = INFRA_DIR / "stage"
# infra/stage's `module "app"` source: the package of the stage being planned.
APP_DIR = PROJECT_DIR / "build" / "app"
MIN_TERRAFORM = (1, 10)  # S3 backend use_lockfile
BUCKET_PREFIX = "dofs-tfstate"


@dataclass
class Checks:
    problems: list[str] = field(default_factory=list)
    account: str | None = None

    def fail(self, message: str) -> None:
        self.problems.append(message)


def stage_region(stage: str) -> str:
    try:
        return load_stage(stage).region
    except UnknownStageError as exc:
        raise SystemExit(str(exc)) from exc


def backend_config(stage: str) -> Path:
    return INFRA_DIR / "stages" / f"{stage}.s3.tfbackend"


def require_stage(stage: str) -> None:
    try:
        require_deployable_stage(stage)
    except UnknownStageError as exc:
        raise SystemExit(str(exc)) from exc


def check_terraform(checks: Checks) -> None:
    binary = shutil.which("terraform")
    if binary is None:
        checks.fail(
            "terraform is not on PATH: install Terraform >= 1.10 (https://developer.hashicorp.com/terraform/install)"
        )
        return
    output = subprocess.run(  # noqa: S603 - terraform found on PATH, fixed arguments
        [binary, "version", "-json"], capture_output=True, text=True, check=False
    ).stdout
    match = re.search(r'"terraform_version":\s*"(\d+)\.(\d+)', output)
    if match and (int(match[1]), int(match[2])) < MIN_TERRAFORM:
        needed = ".".join(map(str, MIN_TERRAFORM))
        checks.fail(f"terraform {match[1]}.{match[2]} is too old: Terraform >= {needed} is needed (S3 use_lockfile)")


def check_credentials(checks: Checks, region: str) -> None:
    try:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        checks.fail("boto3 is missing: run `make venv`")
        return
    try:
        identity = boto3.client(
            "sts", region_name=region, config=Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 2})
        ).get_caller_identity()
    except (BotoCoreError, ClientError) as exc:
        checks.fail(
            f"no usable AWS credentials ({exc}): set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
            "(aws configure, aws sso login) and check with `aws sts get-caller-identity`"
        )
        return
    checks.account = identity["Account"]


def state_bucket(checks: Checks, region: str) -> str | None:
    if os.environ.get("STATE_BUCKET"):
        return os.environ["STATE_BUCKET"]
    if checks.account is None:
        return None
    return f"{BUCKET_PREFIX}-{checks.account}-{region}"


def check(stage: str, *, need_package: bool) -> tuple[Checks, str]:
    region = stage_region(stage)
    checks = Checks()
    check_terraform(checks)
    check_credentials(checks, region)
    if not backend_config(stage).is_file():
        checks.fail(
            f"{backend_config(stage).relative_to(PROJECT_DIR)} does not exist: "
            "add the stage's state backend (see docs/CONFIGURATION.md, adding a stage)"
        )
    package = PROJECT_DIR / "build" / "package" / stage / "chalice.tf.json"
    if need_package and not package.exists():
        checks.fail(f"{package.relative_to(PROJECT_DIR)} is missing: run `make package STAGE={stage}`")
    return checks, region


def report(checks: Checks) -> None:
    if checks.problems:
        print("Missing prerequisites:", file=sys.stderr)
        for problem in checks.problems:
            print(f"  - {problem}", file=sys.stderr)
        raise SystemExit(2)


def terraform(cwd: Path, *args: str) -> None:
    command = ["terraform", *args]
    print(f"+ (cd {cwd.relative_to(PROJECT_DIR)} && {shlex.join(command)})", flush=True)
    result = subprocess.run(command, cwd=cwd, check=False)  # noqa: S603 - terraform checked on PATH
    if result.returncode != 0:
        raise SystemExit(result.returncode)


def select_package(stage: str) -> None:
    """Put the stage's package where infra/stage's `module "app"` reads it (its outputs refuse
    another stage's package)."""
    if APP_DIR.exists():
        shutil.rmtree(APP_DIR)
    shutil.copytree(PROJECT_DIR / "build" / "package" / stage, APP_DIR)


def backend_arguments(stage: str, bucket: str) -> list[str]:
    """infra/stage's `terraform init` arguments for the stage's state: its backend file, the
    bucket, and the bucket's region, the stage's own (bootstrap makes it there)."""
    return [
        f"-backend-config={os.path.relpath(backend_config(stage), STAGE_ROOT)}",
        f"-backend-config=bucket={bucket}",
        f"-backend-config=region={stage_region(stage)}",
    ]


def init_stage(stage: str, bucket: str) -> Path:
    select_package(stage)
    terraform(STAGE_ROOT, "init", "-input=false", "-reconfigure", *backend_arguments(stage, bucket))
    return STAGE_ROOT


def extra_args() -> list[str]:
    return shlex.split(os.environ.get("TF_ARGS", ""))


def approve_args() -> list[str]:
    return ["-auto-approve"] if os.environ.get("AUTO_APPROVE") == "1" else []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Terraform for a DOFS stage, after checking prerequisites.")
    parser.add_argument("command", choices=["stage", "check", "backend", "bootstrap", "plan", "deploy", "destroy"])
    parser.add_argument("--stage", default="dev")
    args = parser.parse_args(argv)

    require_stage(args.stage)
    if args.command == "stage":
        return 0

    if args.command == "backend":  # for the pipeline's `terraform init` of a saved plan (make/cicd.mk)
        region = stage_region(args.stage)
        checks = Checks()
        if not os.environ.get("STATE_BUCKET"):
            check_credentials(checks, region)
        report(checks)
        bucket = state_bucket(checks, region)
        assert bucket is not None  # set, or credentials were checked
        print(shlex.join(backend_arguments(args.stage, bucket)))
        return 0

    if args.command == "bootstrap":
        checks, region = check(args.stage, need_package=False)
        report(checks)
        bootstrap = INFRA_DIR / "bootstrap"
        terraform(bootstrap, "init", "-input=false")
        terraform(bootstrap, "apply", f"-var=region={region}", *approve_args(), *extra_args())
        return 0

    checks, region = check(args.stage, need_package=args.command != "check")
    bucket = state_bucket(checks, region)
    report(checks)
    assert bucket is not None  # credentials were checked
    print(f"stage {args.stage}: account {checks.account}, region {region}, state bucket {bucket}")
    if args.command == "check":
        return 0
    stage_dir = init_stage(args.stage, bucket)
    stage_var = f"-var=stage={args.stage}"
    if args.command == "plan":
        plan_file = PROJECT_DIR / "build" / f"tfplan-{args.stage}"
        terraform(stage_dir, "plan", "-input=false", f"-out={plan_file}", stage_var, *extra_args())
    elif args.command == "deploy":
        terraform(stage_dir, "apply", "-input=false", stage_var, *approve_args(), *extra_args())
        terraform(stage_dir, "output")
    elif args.command == "destroy":
        terraform(stage_dir, "destroy", "-input=false", stage_var, *approve_args(), *extra_args())
    return 0


if __name__ == "__main__":
    sys.exit(main())
