"""`make bootstrap|plan|deploy|destroy STAGE=dev`: checks the prerequisites, then runs Terraform.

    python scripts/infra.py check --stage dev      # what is missing, nothing run
    python scripts/infra.py bootstrap              # state bucket (once per account and region)
    python scripts/infra.py plan --stage dev       # writes build/tfplan-dev
    python scripts/infra.py deploy --stage dev     # applies (asks unless AUTO_APPROVE=1)
    python scripts/infra.py destroy --stage dev    # destroys (asks unless AUTO_APPROVE=1)

The state bucket is STATE_BUCKET when set, otherwise infra/bootstrap's name for it:
dofs-tfstate-{account id}-{region}. Terraform variables come from the environment
(TF_VAR_alarm_email=...) or TF_ARGS ("-var alarm_email=ops@example.com").
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

from dofs_local.stage import UnknownStageError, load_stage  # noqa: E402

INFRA_DIR = PROJECT_DIR / "infra"
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


def check(stage: str | None, *, need_package: bool) -> tuple[Checks, str]:
    region = stage_region(stage or "dev")
    checks = Checks()
    check_terraform(checks)
    check_credentials(checks, region)
    if stage is not None:
        if not (INFRA_DIR / "stages" / stage).is_dir():
            checks.fail(f"infra/stages/{stage} does not exist: copy infra/stages/dev (see infra/README.md)")
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


def init_stage(stage: str, bucket: str) -> Path:
    stage_dir = INFRA_DIR / "stages" / stage
    terraform(
        stage_dir,
        "init",
        "-input=false",
        "-reconfigure",
        "-backend-config=backend.s3.tfbackend",
        f"-backend-config=bucket={bucket}",
    )
    return stage_dir


def extra_args() -> list[str]:
    return shlex.split(os.environ.get("TF_ARGS", ""))


def approve_args() -> list[str]:
    return ["-auto-approve"] if os.environ.get("AUTO_APPROVE") == "1" else []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Terraform for a DOFS stage, after checking prerequisites.")
    parser.add_argument("command", choices=["check", "bootstrap", "plan", "deploy", "destroy"])
    parser.add_argument("--stage", default="dev")
    args = parser.parse_args(argv)

    if args.command == "bootstrap":
        checks, region = check(None, need_package=False)
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
    if args.command == "plan":
        plan_file = PROJECT_DIR / "build" / f"tfplan-{args.stage}"
        terraform(stage_dir, "plan", "-input=false", f"-out={plan_file}", *extra_args())
    elif args.command == "deploy":
        terraform(stage_dir, "apply", "-input=false", *approve_args(), *extra_args())
        terraform(stage_dir, "output")
    else:
        terraform(stage_dir, "destroy", "-input=false", *approve_args(), *extra_args())
    return 0


if __name__ == "__main__":
    sys.exit(main())
