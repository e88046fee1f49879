"""Defect 1 reproduced: the dev stage as it was before the fix fails `terraform apply` on the
emulator with AWS's create-time checks, at the first function created before its role's policy.

Before the fix the API handler's policy read the workflow's ARN from the resource, so the roles'
policies waited for the workflow, which waits for the functions; and the functions read only
the roles' ARNs, so nothing made them wait for the policies. Both are put back in a copy here.
Runs on its own emulator (this module's), stopping at the first refusal, so it costs seconds.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.infra.conftest import Terraform, make_workspace
from tests.infra.test_apply import apply_without_refusals, emulated_stage, moto_endpoint

pytestmark = pytest.mark.terraform

__all__ = ["moto_endpoint"]  # the emulator fixture, used by this module as by test_apply.py

# The iam module's input, however `terraform fmt` aligns it.
FIXED_POLICY_INPUT = re.compile(r"(state_machine_arn\s+=\s+)local\.state_machine_arn")
OLD_POLICY_INPUT = r"\1module.stepfunctions.arn"
POLICY_WAIT = "depends_on = [aws_iam_role_policy.function]"


def reintroduce_defect_1(root: Path) -> None:
    stage = root / "infra" / "stage" / "main.tf"
    wired, count = FIXED_POLICY_INPUT.subn(OLD_POLICY_INPUT, stage.read_text())
    assert count == 1
    stage.write_text(wired)
    outputs = root / "infra" / "modules" / "iam" / "outputs.tf"
    assert POLICY_WAIT in outputs.read_text()
    outputs.write_text(outputs.read_text().replace(POLICY_WAIT, ""))


def test_functions_created_before_their_policies_are_refused(
    terraform: Terraform, packaged_app: Path, moto_endpoint: str, tmp_path: Path
) -> None:
    root = make_workspace(tmp_path, packaged_app)
    reintroduce_defect_1(root)
    tf, workdir = emulated_stage(terraform, root, moto_endpoint)
    with pytest.raises(AssertionError, match=r"CreateFunction dofs-dev-\w+: InvalidParameterValueException") as refused:
        apply_without_refusals((tf, workdir))
    assert "The provided execution role does not have permissions to call PutTraceSegments on XRAY" in str(
        refused.value
    )
