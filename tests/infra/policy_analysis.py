"""Every IAM policy the project writes, as Terraform renders it, analysed (issue 10).

The documents come from `terraform show -json` (every `aws_iam_policy_document` data source of
a root module and its child modules), never from copies. Each statement is checked with
parliament (malformed actions, actions whose resource type does not match the Resource) and,
for identity policies, with cloudsplaining (privilege escalation, permissions management or
writes on unrestricted resources, credentials exposure, service wildcards). A finding must be
listed in ALLOWED with its reason, which repeats the comment next to the statement in the .tf.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from dofs_config.stage import deployable_stages

STAGES = deployable_stages()  # infra/cicd's stages (its default): each has its build and stage policies

# (address, sid, finding) -> why it stays. An address names one document, or drops the for_each
# key: "[...]" matches any.
READ_WILDCARD = (
    'a read-only wildcard (Describe*/Get*/List*): the account-level calls it also names need Resource "*", so '
    "this scoped statement does not grant them; only the stage's resources are read"
)
# The stage policies of a stage (iam_roles.tf: builds["stage-<stage>-<name>"]).
STAGE = 'cicd:data.aws_iam_policy_document.builds["stage-{}-{}"]'


def stage_policy(stage: str, name: str) -> str:
    return STAGE.format(stage, name)


# The first stage's, which the scoping check's mutations change.
STAGE_READ, WRITE_DATA, WRITE_ROLES, WRITE_CONTROL = (
    stage_policy(STAGES[0], name) for name in ("read", "write-data", "write-roles", "write-control")
)


def _stage_allowances(stage: str) -> dict[tuple[str, str, str], str]:
    read, write_data, write_roles, write_control = (
        stage_policy(stage, name) for name in ("read", "write-data", "write-roles", "write-control")
    )
    return {
        # Read-only wildcards of the Plan and Deploy roles (iam_roles.tf, stage_statements.read).
        **{
            (read, sid, "parliament RESOURCE_MISMATCH"): READ_WILDCARD
            for sid in ("Functions", "StateMachines", "Tables", "Topics")
        },
        (read, "PowertoolsLayerParameter", "parliament RESOURCE_MISMATCH"): (
            "Powertools' public parameter: an AWS public parameter's ARN has no account "
            "(arn:aws:ssm:<region>::parameter/aws/service/...), which parliament's arn:*:ssm:*:*:parameter/* misses"
        ),
        (write_control, "TopicKey", "parliament RESOURCE_MISMATCH"): (
            "kms:CreateAlias/DeleteAlias/UpdateAlias need permission on the key and on the alias: one statement per "
            "resource type (TopicKey on the stage-tagged key, TopicKeyAlias on alias/{app}-{stage}-*)"
        ),
        (write_control, "TopicKeyAlias", "parliament RESOURCE_MISMATCH"): (
            "the alias half of CreateAlias/DeleteAlias/UpdateAlias; the key half is TopicKey"
        ),
        (write_control, "Topics", "parliament RESOURCE_MISMATCH"): (
            "sns:Unsubscribe/SetSubscriptionAttributes act on subscription ARNs, which are the topic's ARN plus an id: "
            "the topic pattern {app}-{stage}-* matches them"
        ),
        (write_data, "EventSourceMappings", "parliament RESOURCE_STAR"): (
            "event source mapping ids are random: the lambda:FunctionArn condition limits the calls to the stage's "
            "functions"
        ),
        (write_control, "CreateTopicKey", "parliament RESOURCE_STAR"): (
            'kms:CreateKey, and kms:TagResource for tag-on-create, have no key ARN yet: AWS requires "*"; the '
            "aws:RequestTag condition requires the stage's tags"
        ),
        (write_roles, "BoundedRoles", "parliament MISMATCHED_TYPE_BUT_USABLE"): (
            "StringEquals on iam:PermissionsBoundary, as in AWS's own examples; the ARN compares as a string"
        ),
        **{
            (document, "*", f"cloudsplaining privilege escalation {path}"): (
                "the Deploy role writes the stage's roles and functions: only roles named {app}-{stage}* and only with "
                "the stage boundary (BoundedRoles), which caps them at what the functions and workflow do; "
                "DeleteRolePermissionsBoundary and changes to the boundary policy are denied"
            )
            for document in (write_data, write_roles)
            for path in (
                "PutRolePolicy",
                "UpdateRolePolicyToAssumeIt",
                "PutRolePolicyThenUpdateAssumeRolePolicy",
                "EditExistingLambdaFunctionWithRole",
                "UpdateLambdaFunctionAndAddPermission",
            )
        },
    }


ALLOWED: dict[tuple[str, str, str], str] = {
    **{allowance: why for stage in STAGES for allowance, why in _stage_allowances(stage).items()},
    # The pipeline's KMS key policy (infra/cicd/artifacts.tf), as before issue 10.
    ("cicd:data.aws_iam_policy_document.kms", "BuildLogs", "parliament UNKNOWN_CONDITION_FOR_ACTION"): (
        "CloudWatch Logs' encryption context key, as AWS documents it for log group encryption; parliament's data "
        "lacks it for these actions"
    ),
    ("cicd:data.aws_iam_policy_document.kms", "BuildLogs", "parliament MISMATCHED_TYPE"): (
        "ArnLike on kms:EncryptionContext:aws:logs:arn is AWS's documented form for log group encryption"
    ),
}


def policy_documents(show: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """address -> document, of every aws_iam_policy_document in `terraform show -json` output."""
    found: dict[str, dict[str, Any]] = {}

    def walk(module: dict[str, Any]) -> None:
        for resource in module.get("resources", []):
            if resource["mode"] == "data" and resource["type"] == "aws_iam_policy_document":
                found[resource["address"]] = json.loads(resource["values"]["json"])
        for child in module.get("child_modules", []):
            walk(child)

    walk(show.get("values", {}).get("root_module", {}))
    return found


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements = document["Statement"]
    return [statements] if isinstance(statements, dict) else list(statements)


def _single(document: dict[str, Any], statement: dict[str, Any]) -> dict[str, Any]:
    return {"Version": document.get("Version", "2012-10-17"), "Statement": [statement]}


# In a trust, key or bucket policy (a statement with a Principal), the resource is the policy's
# own: no Resource (trust) or "*" (key policy: this key) is what AWS expects there.
RESOURCE_POLICY_ISSUES = {"MALFORMED", "RESOURCE_STAR"}


def _statement_findings(document: dict[str, Any], statement: dict[str, Any]) -> Iterator[str]:
    # Imported where used: parliament reads its IAM definitions at import (about 1 s), which every
    # test process collecting this file would pay, not only the one that analyses policies.
    from cloudsplaining.scan.policy_document import PolicyDocument
    from parliament import analyze_policy_string  # type: ignore[import-untyped]

    for finding in analyze_policy_string(json.dumps(_single(document, statement))).findings:
        if "Principal" in statement and finding.issue in RESOURCE_POLICY_ISSUES:
            continue
        detail = finding.detail if isinstance(finding.detail, str) else json.dumps(finding.detail, sort_keys=True)
        yield f"parliament {finding.issue} {detail}".strip()
    if "Principal" in statement or "NotPrincipal" in statement or statement.get("Effect") == "Deny":
        return  # resource and trust policies: cloudsplaining reads identity policies only
    analysed = PolicyDocument(_single(document, statement))
    checks = {
        "permissions management without constraints": analysed.permissions_management_without_constraints,
        "write without constraints": analysed.write_actions_without_constraints,
        "credentials exposure": analysed.credentials_exposure,
        "service wildcard": analysed.service_wildcard,
    }
    for name, actions in checks.items():
        if actions:
            yield f"cloudsplaining {name} {sorted(actions)}"


def findings(address: str, document: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(address, sid, finding) of every finding in one document."""
    from cloudsplaining.scan.policy_document import PolicyDocument

    found = [
        (address, str(statement.get("Sid", f"#{index}")), finding)
        for index, statement in enumerate(_statements(document))
        for finding in _statement_findings(document, statement)
    ]
    if not any("Principal" in statement for statement in _statements(document)):
        # cloudsplaining looks for escalation on "*" only; a role that may rewrite *some* roles'
        # policies escalates too (issue 10, defect 3), so resources and conditions are widened.
        widened = [
            {key: value for key, value in statement.items() if key != "Condition"} | {"Resource": "*"}
            for statement in _statements(document)
            if statement.get("Effect", "Allow") == "Allow"
        ]
        for escalation in PolicyDocument({"Version": "2012-10-17", "Statement": widened}).allows_privilege_escalation:
            found.append((address, "*", f"cloudsplaining privilege escalation {escalation['type']}"))
    return found


def normalised(address: str) -> str:
    """module.iam.data.x["api_handler"] -> module.iam.data.x[...]: one allowance for every key."""
    head, bracket, _ = address.partition("[")
    rest = address[address.index("]") + 1 :] if bracket else ""
    return f"{head}[...]{normalised(rest)}" if bracket else head


def unexplained(documents: dict[str, dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [
        finding
        for address, document in sorted(documents.items())
        for finding in findings(address, document)
        if not _allowed(finding)
    ]


def _allowed(finding: tuple[str, str, str]) -> bool:
    """An allowance names the finding's kind (e.g. "parliament RESOURCE_MISMATCH"), not its detail."""
    address, sid, text = finding
    return any(
        allowed_address in (address, normalised(address)) and sid == allowed_sid and text.startswith(kind)
        for allowed_address, allowed_sid, kind in ALLOWED
    )
