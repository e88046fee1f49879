"""The policy analysis can fail: a newly introduced bad statement is reported (the analysis of
the project's real, rendered policies runs in test_pipeline_roles.py, on the applied stacks)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra import policy_analysis

pytestmark = pytest.mark.unit

QUEUE = "arn:aws:sqs:us-east-1:123456789012:dofs-dev-order_queue"
SCOPED = {"Sid": "Scoped", "Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": [QUEUE]}


def document(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [SCOPED, *statements]}


def test_a_scoped_statement_has_no_finding() -> None:
    assert policy_analysis.unexplained({"stage:data.aws_iam_policy_document.x": document()}) == []


@pytest.mark.parametrize(
    ("statement", "finding"),
    [
        ({"Sid": "Typo", "Effect": "Allow", "Action": ["s3:GetObjects"], "Resource": ["arn:aws:s3:::b/*"]},
         "parliament UNKNOWN_ACTION"),
        ({"Sid": "Mismatch", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::b"]},
         "parliament RESOURCE_MISMATCH"),
        ({"Sid": "AnyRole", "Effect": "Allow", "Action": ["iam:PassRole"], "Resource": ["*"]},
         "cloudsplaining permissions management without constraints"),
        ({"Sid": "AnyTable", "Effect": "Allow", "Action": ["dynamodb:DeleteTable"], "Resource": ["*"]},
         "cloudsplaining write without constraints"),
        ({"Sid": "Whole", "Effect": "Allow", "Action": ["sqs:*"], "Resource": [QUEUE]},
         "cloudsplaining service wildcard"),
        ({"Sid": "Admin", "Effect": "Allow", "Action": ["iam:PassRole", "lambda:CreateFunction",
          "lambda:InvokeFunction"], "Resource": ["arn:aws:iam::1:role/r", "arn:aws:lambda:us-east-1:1:function:f"]},
         "cloudsplaining privilege escalation"),
    ],
)  # fmt: skip
def test_a_new_bad_statement_is_reported(statement: dict[str, Any], finding: str) -> None:
    found = policy_analysis.unexplained({"stage:data.aws_iam_policy_document.x": document(statement)})
    assert any(text.startswith(finding) for _, _, text in found), found


def test_every_allowance_gives_its_reason() -> None:
    for key, reason in policy_analysis.ALLOWED.items():
        assert len(reason) > 20, key


def test_policy_documents_are_read_from_every_module_of_terraform_show() -> None:
    def data(address: str) -> dict[str, Any]:
        values = {"json": '{"Statement": []}'}
        return {"address": address, "mode": "data", "type": "aws_iam_policy_document", "values": values}

    show = {"values": {"root_module": {"resources": [data("data.aws_iam_policy_document.a")],
            "child_modules": [{"resources": [data("module.m.data.aws_iam_policy_document.b")]}]}}}  # fmt: skip
    assert set(policy_analysis.policy_documents(show)) == {
        "data.aws_iam_policy_document.a",
        "module.m.data.aws_iam_policy_document.b",
    }
