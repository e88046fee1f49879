"""A stage may live in any region: its state bucket is made (`make bootstrap STAGE=...`) and its
state initialised (`make plan|deploy`, and the pipeline's Deploy build) in the stage's own region,
`dofs.region` in .chalice/config.json, the one place it is written."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from dofs_config.stage import CONFIG_PATH, deployable_stages, load_stage
from scripts import infra

pytestmark = pytest.mark.aws

OTHER_REGION = "eu-west-1"
STAGE_ELSEWHERE = "prod"


@pytest.fixture
def prod_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """.chalice/config.json with prod in another region than dev."""
    config = json.loads(CONFIG_PATH.read_text())
    assert config["stages"][STAGE_ELSEWHERE]["dofs"]["region"] != OTHER_REGION
    config["stages"][STAGE_ELSEWHERE]["dofs"]["region"] = OTHER_REGION
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    monkeypatch.setattr(infra, "load_stage", functools.partial(load_stage, config_path=path))


@pytest.fixture
def terraform_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A terraform on PATH that records its arguments, a line a call, and an AWS account (moto)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "terraform-calls"
    fake = bin_dir / "terraform"
    fake.write_text(f'#!/bin/sh\necho "$*" >> {calls}\necho \'{{"terraform_version": "1.11.4"}}\'\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("STATE_BUCKET", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")  # pragma: allowlist secret - moto's
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    with mock_aws():
        yield calls


@pytest.mark.usefixtures("prod_elsewhere")
def test_bootstrap_makes_the_bucket_in_the_stage_s_region(terraform_calls: Path) -> None:
    assert infra.main(["bootstrap", "--stage", STAGE_ELSEWHERE]) == 0
    applies = [line for line in terraform_calls.read_text().splitlines() if line.startswith("apply")]
    assert applies == [f"apply -var=region={OTHER_REGION}"]


@pytest.mark.usefixtures("prod_elsewhere")
def test_the_state_is_initialised_in_the_stage_s_region(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the pipeline's Deploy build passes to `terraform init` (make/cicd.mk), as `make plan`
    does; with STATE_BUCKET given, as the pipeline gives it, no credentials are needed."""
    monkeypatch.setenv("STATE_BUCKET", "the-state-bucket")
    assert infra.main(["backend", "--stage", STAGE_ELSEWHERE]) == 0
    assert capsys.readouterr().out.split() == [
        f"-backend-config=../stages/{STAGE_ELSEWHERE}.s3.tfbackend",
        "-backend-config=bucket=the-state-bucket",
        f"-backend-config=region={OTHER_REGION}",
    ]


@pytest.mark.usefixtures("prod_elsewhere")
def test_bootstrap_s_bucket_name_is_the_one_plan_reads(
    terraform_calls: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert infra.main(["backend", "--stage", STAGE_ELSEWHERE]) == 0
    account = boto3.client("sts", region_name=OTHER_REGION).get_caller_identity()["Account"]
    assert f"-backend-config=bucket=dofs-tfstate-{account}-{OTHER_REGION}" in capsys.readouterr().out.split()


@pytest.mark.parametrize("stage", deployable_stages())
def test_no_backend_file_repeats_the_stage_s_region(stage: str) -> None:
    """The region comes from the stage's settings only: a copy in the backend file could disagree."""
    settings = [line.split("=")[0].strip() for line in infra.backend_config(stage).read_text().splitlines()]
    assert "region" not in settings
    assert f"-backend-config=region={load_stage(stage).region}" in infra.backend_arguments(stage, "bucket")
