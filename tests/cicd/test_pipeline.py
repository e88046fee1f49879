"""infra/cicd, read with python-hcl2: the pipeline's stages come in the documented order, Deploy
consumes the Plan stage's artifact, and the settings the issue asks for are there."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.cicd import hcl

DOCUMENTED_ORDER = ["Source", "Test", "Plan", "Approval", "Deploy", "Smoke"]
BUILD_OF_STAGE = {"Test": "test", "Plan": "plan", "Deploy": "deploy", "Smoke": "smoke"}
README = hcl.CICD_DIR / "README.md"
PIPELINE_DOC = hcl.ROOT / "docs" / "PIPELINE.md"


def stage(name: str) -> hcl.Stage:
    return next(found for found in hcl.pipeline_stages() if found.name == name)


def only_action(name: str) -> dict[str, Any]:
    (action,) = stage(name).actions
    return action


def artifacts(action: dict[str, Any], key: str) -> list[str]:
    return [hcl.resolve(name) for name in action.get(key, [])]


def test_stages_come_in_the_documented_order() -> None:
    assert [found.name for found in hcl.pipeline_stages()] == DOCUMENTED_ORDER


def test_the_documented_order_is_the_one_in_docs() -> None:
    text = PIPELINE_DOC.read_text()
    positions = [text.find(f"| {name} |") for name in DOCUMENTED_ORDER]
    assert -1 not in positions, f"docs/PIPELINE.md has no stage table row for each of {DOCUMENTED_ORDER}"
    assert positions == sorted(positions)


def test_pipeline_is_v2_with_a_kms_encrypted_artifact_store() -> None:
    pipeline = hcl.resources("aws_codepipeline")["this"]
    assert hcl.unquote(pipeline["pipeline_type"]) == "V2"
    (store,) = pipeline["artifact_store"]
    assert hcl.unquote(store["type"]) == "S3"
    (key,) = store["encryption_key"]
    assert hcl.unquote(key["type"]) == "KMS"
    assert key["id"] == "${aws_kms_key.cicd.arn}"


def test_source_is_github_through_a_connection_or_codecommit() -> None:
    providers = {hcl.unquote(action["provider"]): action for action in stage("Source").actions}
    assert set(providers) == {"CodeStarSourceConnection", "CodeCommit"}
    assert providers["CodeStarSourceConnection"]["configuration"]["ConnectionArn"] == "${local.connection_arn}"
    dynamic = stage("Source").body["dynamic"]
    conditions = sorted(block['"action"']["for_each"] for block in dynamic)
    assert conditions == ["${local.use_github ? [1] : []}", "${local.use_github ? [] : [1]}"]
    outputs = {name for action in providers.values() for name in artifacts(action, "output_artifacts")}
    assert outputs == {"SourceOutput"}


def test_approval_is_manual_on_by_default_and_a_variable_turns_it_off() -> None:
    approval = stage("Approval")
    assert approval.dynamic
    assert approval.for_each == "${var.require_manual_approval ? [1] : []}"
    assert hcl.variables()["require_manual_approval"]["default"] is True
    (action,) = approval.actions
    assert hcl.unquote(action["category"]) == "Approval"
    assert hcl.unquote(action["provider"]) == "Manual"
    assert all(not found.dynamic for found in hcl.pipeline_stages() if found.name != "Approval")


@pytest.mark.parametrize(("stage_name", "build"), BUILD_OF_STAGE.items())
def test_build_stages_run_their_codebuild_project(stage_name: str, build: str) -> None:
    action = only_action(stage_name)
    assert hcl.unquote(action["provider"]) == "CodeBuild"
    assert action["configuration"]["ProjectName"] == f'${{aws_codebuild_project.build["{build}"].name}}'
    assert build in hcl.locals_()["builds"]


def test_deploy_consumes_the_plan_stages_output_artifact() -> None:
    plan_outputs = artifacts(only_action("Plan"), "output_artifacts")
    assert plan_outputs == ["PlanOutput"]
    deploy = only_action("Deploy")
    # Its only (so primary) input: Deploy builds from the plan artifact, not from the source.
    assert artifacts(deploy, "input_artifacts") == plan_outputs
    assert "PrimarySource" not in deploy["configuration"]


def test_smoke_consumes_the_deploy_outputs_and_the_source() -> None:
    deploy_outputs = artifacts(only_action("Deploy"), "output_artifacts")
    assert deploy_outputs == ["DeployOutput"]
    smoke = only_action("Smoke")
    assert artifacts(smoke, "input_artifacts") == ["SourceOutput", *deploy_outputs]
    assert hcl.resolve(smoke["configuration"]["PrimarySource"]) == "SourceOutput"


def test_every_input_artifact_is_produced_by_an_earlier_stage() -> None:
    produced: set[str] = set()
    for found in hcl.pipeline_stages():
        for action in found.actions:
            missing = set(artifacts(action, "input_artifacts")) - produced
            assert not missing, f"stage {found.name} reads {missing} before any stage makes it"
        for action in found.actions:
            produced.update(artifacts(action, "output_artifacts"))


def test_artifact_bucket_is_versioned_kms_encrypted_and_private() -> None:
    (versioning,) = hcl.resources("aws_s3_bucket_versioning")["artifacts"]["versioning_configuration"]
    assert hcl.unquote(versioning["status"]) == "Enabled"
    (rule,) = hcl.resources("aws_s3_bucket_server_side_encryption_configuration")["artifacts"]["rule"]
    (default,) = rule["apply_server_side_encryption_by_default"]
    assert hcl.unquote(default["sse_algorithm"]) == "aws:kms"
    assert default["kms_master_key_id"] == "${aws_kms_key.cicd.arn}"
    block = hcl.resources("aws_s3_bucket_public_access_block")["artifacts"]
    for setting in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"):
        assert block[setting] is True
    assert hcl.resources("aws_kms_key")["cicd"]["enable_key_rotation"] is True


def test_build_logs_go_to_cloudwatch_with_retention() -> None:
    group = hcl.resources("aws_cloudwatch_log_group")["build"]
    assert group["retention_in_days"] == "${var.log_retention_days}"
    (project,) = hcl.resources("aws_codebuild_project").values()
    (logs,) = project["logs_config"]
    (cloudwatch,) = logs["cloudwatch_logs"]
    assert hcl.unquote(cloudwatch["status"]) == "ENABLED"
    assert cloudwatch["group_name"] == "${aws_cloudwatch_log_group.build[each.key].name}"


def test_pipeline_failures_are_sent_to_the_topic() -> None:
    rule = hcl.resources("aws_cloudwatch_event_rule")["pipeline_failed"]
    pattern = rule["event_pattern"]
    assert "CodePipeline Pipeline Execution State Change" in pattern
    assert "FAILED" in pattern
    target = hcl.resources("aws_cloudwatch_event_target")["pipeline_failed"]
    assert target["arn"] == "${local.topic_arn}"


def test_each_build_has_its_own_role() -> None:
    (project,) = hcl.resources("aws_codebuild_project").values()
    assert project["service_role"] == "${aws_iam_role.codebuild[each.key].arn}"
    assert hcl.resources("aws_iam_role")["codebuild"]["for_each"] == "${local.builds}"


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    found = list(document.get("statement", []))
    for dynamic in document.get("dynamic", []):
        for block in dynamic.values():
            found.extend(block["content"])
    return found


def test_no_policy_grants_a_whole_service_or_all_actions() -> None:
    """Only the KMS key's own policy gives the account kms:* (the standard key administration)."""
    for block in hcl.all_blocks("data"):
        for dtype, named in block.items():
            if hcl.unquote(dtype) != "aws_iam_policy_document":
                continue
            for name, document in named.items():
                for statement in _statements(document):
                    if hcl.unquote(statement.get("effect", "Allow")) == "Deny":
                        continue  # e.g. the bucket policy's deny of s3:* over plain HTTP
                    for action in statement["actions"]:
                        action = hcl.unquote(action)
                        if (hcl.unquote(name), hcl.unquote(statement.get("sid"))) == ("kms", "AccountAdministers"):
                            continue
                        assert action != "*", f"{name}: action *"
                        assert not action.endswith(":*"), f"{name}: {action} grants a whole service"


def test_the_pipeline_and_build_roles_cannot_be_changed_by_the_deploy_role() -> None:
    """The deploy role manages {app}-{stage}*; this stack's names start {app}-cicd-{stage}."""
    local = hcl.locals_()
    assert hcl.unquote(local["prefix"]) == "${var.app_name}-cicd-${var.stage}"
    assert hcl.unquote(local["stage_prefix"]) == "${var.app_name}-${var.stage}"
    roles = hcl.resources("aws_iam_role")
    assert hcl.unquote(roles["codebuild"]["name"]) == "${local.prefix}-${each.key}"
    assert hcl.unquote(roles["codepipeline"]["name"]) == "${local.prefix}-pipeline"


def test_variables_are_typed_and_described_and_outputs_described() -> None:
    for name, variable in hcl.variables().items():
        assert "type" in variable, f"variable {name} has no type"
        assert hcl.unquote(variable.get("description", "")), f"variable {name} has no description"
    for name, output in hcl.outputs().items():
        assert hcl.unquote(output.get("description", "")), f"output {name} has no description"


def test_readme_tables_list_every_input_and_output() -> None:
    text = README.read_text()
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", text, flags=re.MULTILINE))
    assert set(hcl.variables()) | set(hcl.outputs()) == documented


def test_versions_are_pinned_as_the_project_requires() -> None:
    (terraform,) = [block for path in hcl.tf_files() for block in hcl.load(path).get("terraform", [])]
    assert hcl.unquote(terraform["required_version"]) == ">= 1.10"
    (providers,) = terraform["required_providers"]
    assert hcl.unquote(providers["aws"]["version"]) == ">= 5.100, < 7.0"
