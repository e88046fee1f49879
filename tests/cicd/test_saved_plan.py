"""scripts/saved_plan.py: the Plan build's saved plan goes to the stage's state prefix, and the
Deploy build takes it back only as saved (in-process moto S3)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from scripts import saved_plan
from scripts.saved_plan import PlanRef, SavedPlanError

pytestmark = pytest.mark.aws

BUCKET = "dofs-tfstate-123456789012-us-east-1"
PLAN = b"a saved plan, with the state it was made from"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    path = tmp_path / "tfplan-dev"
    path.write_bytes(PLAN)
    return path


def test_the_plan_is_kept_under_the_stage_s_state_prefix_by_its_digest(s3: Any, plan: Path) -> None:
    ref = saved_plan.put(s3, BUCKET, "dev", plan)
    digest = hashlib.sha256(PLAN).hexdigest()
    assert ref == PlanRef("dev", BUCKET, f"dofs/dev/plans/{digest}.tfplan", digest)
    # The state's key is dofs/dev/terraform.tfstate (infra/stages/dev.s3.tfbackend): same prefix.
    assert s3.get_object(Bucket=BUCKET, Key=ref.key)["Body"].read() == PLAN
    assert saved_plan.put(s3, BUCKET, "dev", plan) == ref  # a retried build finds it there


def test_deploy_gets_the_plan_back_as_saved(s3: Any, plan: Path, tmp_path: Path) -> None:
    ref = saved_plan.put(s3, BUCKET, "dev", plan)
    fetched = tmp_path / "deploy" / "tfplan-dev"
    saved_plan.get(s3, ref, BUCKET, "dev", fetched)
    assert fetched.read_bytes() == PLAN


def test_a_plan_whose_digest_differs_is_refused_and_not_written(s3: Any, plan: Path, tmp_path: Path) -> None:
    ref = saved_plan.put(s3, BUCKET, "dev", plan)
    s3.put_object(Bucket=BUCKET, Key=ref.key, Body=b"another plan")
    deploy = tmp_path / "deploy"
    with pytest.raises(SavedPlanError, match="SHA-256"):
        saved_plan.get(s3, ref, BUCKET, "dev", deploy / "tfplan-dev")
    assert not deploy.exists() or not list(deploy.iterdir())


@pytest.mark.parametrize(
    "change",
    [{"stage": "prod"}, {"bucket": "another-bucket"}, {"key": "dofs/prod/plans/x.tfplan"}, {"sha256": "0" * 64}],
)
def test_a_reference_to_another_stage_s_or_place_s_plan_is_refused(
    s3: Any, plan: Path, tmp_path: Path, change: dict[str, str]
) -> None:
    ref = saved_plan.put(s3, BUCKET, "dev", plan)
    other = PlanRef(**{**ref.__dict__, **change})
    with pytest.raises(SavedPlanError):
        saved_plan.get(s3, other, BUCKET, "dev", tmp_path / "deploy" / "tfplan-dev")


def test_main_moves_the_plan_out_of_the_work_tree_and_back(
    s3: Any, plan: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STATE_BUCKET", BUCKET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    ref_path = tmp_path / "tfplan-dev.json"
    assert saved_plan.main(["put", "--stage", "dev", "--plan", str(plan), "--ref", str(ref_path)]) == 0
    assert not plan.exists(), "the plan must not stay where the artifact would take it"
    assert json.loads(ref_path.read_text())["sha256"] == hashlib.sha256(PLAN).hexdigest()
    assert saved_plan.main(["get", "--stage", "dev", "--plan", str(plan), "--ref", str(ref_path)]) == 0
    assert plan.read_bytes() == PLAN
    ref_path.write_text("{}")
    assert saved_plan.main(["get", "--stage", "dev", "--plan", str(plan), "--ref", str(ref_path)]) == 1
    assert "not a saved plan's reference" in capsys.readouterr().err
