"""The pipeline's saved plan travels where the stage's state is, never in a build artifact.

    python scripts/saved_plan.py put --stage dev --plan build/tfplan-dev --ref build/tfplan-dev.json
    python scripts/saved_plan.py get --stage dev --ref build/tfplan-dev.json --plan build/tfplan-dev

`terraform plan -out` embeds the stage's prior state, so the plan is as secret as the state: only
the roles that read the state (the stage's Plan and Deploy builds) may read it. `put` (Plan)
uploads it to the state bucket (STATE_BUCKET, or infra/bootstrap's name for it) at
<the directory of the stage's state key>/plans/<SHA-256>.tfplan, written only where no object is,
then writes the reference (bucket, key, SHA-256, stage) to --ref and deletes the local plan, so
the build's artifact carries the reference only. `get` (Deploy) downloads the plan the reference
names and refuses it (exit 1, nothing written) unless its SHA-256 is the reference's.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import posixpath
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

import boto3  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

from scripts import infra  # noqa: E402

STATE_KEY = re.compile(r'^key\s*=\s*"([^"]+)"', re.MULTILINE)


class SavedPlanError(Exception):
    """The saved plan cannot be used: its reference or its content is not the stage's."""


@dataclass(frozen=True)
class PlanRef:
    """Where a stage's saved plan is, and its SHA-256 (hex)."""

    stage: str
    bucket: str
    key: str
    sha256: str

    @classmethod
    def load(cls, path: Path) -> PlanRef:
        try:
            data = json.loads(path.read_text())
            return cls(**{name: str(data[name]) for name in ("stage", "bucket", "key", "sha256")})
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SavedPlanError(f"{path} is not a saved plan's reference ({exc}): `make save-plan` writes it") from exc

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")


def plan_key(stage: str, digest: str) -> str:
    """<directory of the stage's state key>/plans/<digest>.tfplan: under the state's prefix, so
    the roles that may read the stage's state, and only they, may read it (infra/cicd)."""
    found = STATE_KEY.search(infra.backend_config(stage).read_text())
    if found is None:
        raise SavedPlanError(f"{infra.backend_config(stage)} names no state key")
    return f"{posixpath.dirname(found.group(1))}/plans/{digest}.tfplan"


def put(s3: Any, bucket: str, stage: str, plan: Path) -> PlanRef:
    """Upload the plan (content-addressed: a repeated upload of the same plan finds it there)."""
    body = plan.read_bytes()
    digest = hashlib.sha256(body).digest()
    ref = PlanRef(stage, bucket, plan_key(stage, digest.hex()), digest.hex())
    try:
        s3.put_object(
            Bucket=bucket, Key=ref.key, Body=body, IfNoneMatch="*",
            ChecksumSHA256=base64.b64encode(digest).decode(),  # S3 refuses a body that arrived altered
        )  # fmt: skip
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "PreconditionFailed":
            raise
        # The key is the content's digest: the object there is this plan, from an earlier try.
    return ref


def get(s3: Any, ref: PlanRef, bucket: str, stage: str, plan: Path) -> None:
    """Download the plan the reference names into plan, refused unless it is the stage's and its
    SHA-256 is the reference's."""
    if ref.stage != stage or ref.bucket != bucket or ref.key != plan_key(stage, ref.sha256):
        raise SavedPlanError(
            f"the reference names {ref.stage}'s plan s3://{ref.bucket}/{ref.key}, not a plan of {stage} "
            f"in s3://{bucket}/{plan_key(stage, ref.sha256)}"
        )
    body = s3.get_object(Bucket=bucket, Key=ref.key)["Body"].read()
    actual = hashlib.sha256(body).hexdigest()
    if actual != ref.sha256:
        raise SavedPlanError(
            f"refused s3://{bucket}/{ref.key}: its SHA-256 is {actual}, the Plan build saved {ref.sha256}"
        )
    plan.parent.mkdir(parents=True, exist_ok=True)
    partial = plan.with_name(plan.name + ".part")
    partial.write_bytes(body)
    partial.replace(plan)


def state_bucket(stage: str) -> str:
    """STATE_BUCKET (set in CodeBuild), or infra/bootstrap's name for it from the credentials."""
    if os.environ.get("STATE_BUCKET"):
        return os.environ["STATE_BUCKET"]
    checks = infra.Checks()
    region = infra.stage_region(stage)
    infra.check_credentials(checks, region)
    infra.report(checks)
    bucket = infra.state_bucket(checks, region)
    assert bucket is not None  # the credentials were checked
    return bucket


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Keep the pipeline's saved plan beside the stage's state.")
    parser.add_argument("command", choices=["put", "get"])
    parser.add_argument("--stage", required=True)
    parser.add_argument("--plan", type=Path, required=True, help="the plan file (terraform plan -out)")
    parser.add_argument("--ref", type=Path, required=True, help="the reference: written by put, read by get")
    args = parser.parse_args(argv)
    infra.require_stage(args.stage)
    bucket = state_bucket(args.stage)
    s3 = boto3.client("s3", region_name=infra.stage_region(args.stage))
    try:
        if args.command == "put":
            ref = put(s3, bucket, args.stage, args.plan)
            ref.save(args.ref)
            args.plan.unlink()
            print(f"saved plan s3://{bucket}/{ref.key} (sha256 {ref.sha256}); its reference is {args.ref}")
        else:
            ref = PlanRef.load(args.ref)
            get(s3, ref, bucket, args.stage, args.plan)
            print(f"{args.plan}: s3://{bucket}/{ref.key}, sha256 {ref.sha256} as the Plan build saved it")
    except SavedPlanError as exc:
        print(f"saved plan: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
