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

from cloudsplaining.scan.policy_document import PolicyDocument
from parliament import analyze_policy_string  # type: ignore[import-untyped]

# (address, sid, finding) -> why it stays. Addresses drop the for_each key: "[...]" matches any.
ALLOWED: dict[tuple[str, str, str], str] = {}


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


def _statement_findings(document: dict[str, Any], statement: dict[str, Any]) -> Iterator[str]:
    for finding in analyze_policy_string(json.dumps(_single(document, statement))).findings:
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
        if (normalised(finding[0]), finding[1], finding[2]) not in ALLOWED
    ]
