"""infra/cicd, read with python-hcl2 and evaluated by `terraform console`: the pipeline promotes
one commit through the stages in the documented order, each Deploy consumes its own Plan's
artifact, only later stages wait for an approval, and the settings the issue asks for are there."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from dofs_config.stage import load_stage
from tests.cicd import hcl
from tests.cicd.test_terraform import TERRAFORM, initialized_copy, terraform

pytestmark = pytest.mark.terraform

STAGES = ["dev", "prod"]  # infra/cicd's default, the promotion
# Source, Test, then every stage's Plan, Approval (after the first), Deploy, Smoke: issue 13's order.
DOCUMENTED_ORDER = [
    "Source", "Test",
    "Plan-dev", "Deploy-dev", "Smoke-dev",
    "Plan-prod", "Approval-prod", "Deploy-prod", "Smoke-prod",
]  # fmt: skip
KIND_OF_STEP = {"Test": "test", "Plan": "plan", "Deploy": "deploy", "Smoke": "smoke"}
README = hcl.CICD_DIR / "README.md"
PIPELINE_DOC = hcl.ROOT / "docs" / "PIPELINE.md"
CONSOLE_VARIABLES = ("-var", "source_provider=CodeCommit", "-var", "codecommit_repository_name=dofs")
# The steps' fields that are known before apply (configurations name the topic and the account).
STEP_FIELDS = (
    "{ name = step.name, category = step.category, provider = step.provider, build = step.build, "
    'inputs = step.inputs, outputs = step.outputs, primary = lookup(step.configuration, "PrimarySource", null) }'
)


def evaluate_steps(workdir: Path, env: dict[str, str], *variables: str) -> list[dict[str, Any]]:
    """local.pipeline_steps, as Terraform evaluates it: Source is static, the rest one dynamic block."""
    expression = f"jsonencode([for step in local.pipeline_steps : {STEP_FIELDS}])"
    result = terraform(workdir, env, "console", *CONSOLE_VARIABLES, *variables, input=expression)
    assert result.returncode == 0, result.stdout + result.stderr
    steps: list[dict[str, Any]] = json.loads(json.loads(result.stdout.strip()))
    return steps


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A copy of infra/cicd initialised with local state (console needs an initialised backend)."""
    if TERRAFORM is None:
        pytest.skip("terraform is not on PATH: the pipeline's evaluated stages are not checked")
    return initialized_copy(tmp_path_factory.mktemp("cicd-console"), local_backend=True)


@pytest.fixture(scope="module")
def steps(console: tuple[Path, dict[str, str]]) -> list[dict[str, Any]]:
    return evaluate_steps(*console)


def step(steps: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(found for found in steps if found["name"] == name)


def stage(name: str) -> hcl.Stage:
    return next(found for found in hcl.pipeline_stages() if found.name == name)


def artifacts(action: dict[str, Any], key: str) -> list[str]:
    return [hcl.resolve(name) for name in action.get(key, [])]


def test_stages_come_in_the_documented_order(steps: list[dict[str, Any]]) -> None:
    assert [hcl.unquote(name) for name in hcl.variables()["stages"]["default"]] == STAGES
    assert ["Source", *(found["name"] for found in steps)] == DOCUMENTED_ORDER
    # Source is the one static stage; every other stage comes from local.pipeline_steps.
    assert [(found.name, found.dynamic) for found in hcl.pipeline_stages()] == [
        ("Source", False), ("${stage.value.name}", True),
    ]  # fmt: skip
    assert stage("${stage.value.name}").for_each == "${local.pipeline_steps}"


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


def test_only_later_stages_wait_for_a_manual_approval_and_a_variable_turns_it_off(
    console: tuple[Path, dict[str, str]], steps: list[dict[str, Any]]
) -> None:
    assert hcl.variables()["require_manual_approval"]["default"] is True
    approvals = [found for found in steps if found["category"] == "Approval"]
    assert [(found["name"], found["provider"]) for found in approvals] == [("Approval-prod", "Manual")]
    names = [found["name"] for found in steps]
    assert names.index("Plan-prod") < names.index("Approval-prod") < names.index("Deploy-prod")
    without = evaluate_steps(*console, "-var", "require_manual_approval=false")
    assert [found["name"] for found in without] == [name for name in names if name != "Approval-prod"]


def test_build_steps_run_their_stage_s_codebuild_project(steps: list[dict[str, Any]]) -> None:
    (action,) = stage("${stage.value.name}").actions
    assert "aws_codebuild_project.build[stage.value.build].name" in action["configuration"]
    kinds = hcl.locals_()["build_kinds"]
    for found in steps:
        kind = KIND_OF_STEP.get(found["name"].split("-")[0])
        if kind is None:
            assert found["build"] is None
            continue
        assert found["provider"] == "CodeBuild"
        if kind == "test":
            assert found["build"] == "test"
        else:
            assert kind in kinds
            assert found["build"] == f"{found['name'].split('-', 1)[1]}-{kind}"


@pytest.mark.parametrize("stage_name", STAGES)
def test_deploy_consumes_its_own_plan_s_output_artifact(steps: list[dict[str, Any]], stage_name: str) -> None:
    plan = step(steps, f"Plan-{stage_name}")
    assert plan["inputs"] == ["SourceOutput"]  # every stage is planned from the one commit
    assert plan["outputs"] == [f"PlanOutput_{stage_name}"]
    deploy = step(steps, f"Deploy-{stage_name}")
    # Its only (so primary) input: Deploy builds from the plan artifact, not from the source.
    assert deploy["inputs"] == plan["outputs"]
    assert deploy["primary"] is None


@pytest.mark.parametrize("stage_name", STAGES)
def test_smoke_consumes_its_stage_s_deploy_outputs_and_the_source(steps: list[dict[str, Any]], stage_name: str) -> None:
    deploy = step(steps, f"Deploy-{stage_name}")
    assert deploy["outputs"] == [f"DeployOutput_{stage_name}"]
    smoke = step(steps, f"Smoke-{stage_name}")
    assert smoke["inputs"] == ["SourceOutput", *deploy["outputs"]]
    assert smoke["primary"] == "SourceOutput"


def test_every_input_artifact_is_produced_by_an_earlier_stage(steps: list[dict[str, Any]]) -> None:
    produced = {"SourceOutput"}
    for found in steps:
        missing = set(found["inputs"]) - produced
        assert not missing, f"stage {found['name']} reads {missing} before any stage makes it"
        produced.update(found["outputs"])


def test_the_check_of_the_artifact_flow_can_fail(steps: list[dict[str, Any]]) -> None:
    """Deploy-prod fed dev's plan, or prod planned from dev's work tree: both are caught."""
    crossed = [dict(found, inputs=["PlanOutput_dev"]) if found["name"] == "Deploy-prod" else found for found in steps]
    with pytest.raises(AssertionError):
        test_deploy_consumes_its_own_plan_s_output_artifact(crossed, "prod")
    early = [dict(found, inputs=["PlanOutput_prod"]) if found["name"] == "Deploy-dev" else found for found in steps]
    with pytest.raises(AssertionError, match="reads"):
        test_every_input_artifact_is_produced_by_an_earlier_stage(early)


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
    assert project["for_each"] == "${local.builds}"


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
    """A deploy role manages {app}-{stage}*; this stack's names start {app}-cicd, and no stage is
    called cicd (nor local, the emulator's)."""
    local = hcl.locals_()
    assert hcl.unquote(local["prefix"]) == "${var.app_name}-cicd"
    assert local["stage_prefixes"] == '${{for stage in var.stages : stage => "${var.app_name}-${stage}"}}'
    (validation,) = hcl.variables()["stages"]["validation"]
    assert '!contains(var.stages, "cicd")' in validation["condition"]
    assert '!contains(var.stages, "local")' in validation["condition"]
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


def test_a_stage_outside_the_pipeline_s_region_is_refused(console: tuple[Path, dict[str, str]]) -> None:
    """The pipeline's roles, state bucket and builds are in its region: a stage elsewhere is named."""
    workdir, env = console

    def console_errors(region: str) -> str:
        result = terraform(workdir, env, "console", "-no-color", *CONSOLE_VARIABLES, "-var", f"region={region}",
                           input="var.region")  # fmt: skip
        return " ".join(word for word in result.stderr.split() if word != "│")  # one line, no box

    listed = ", ".join(f"{name} in {load_stage(name).region}" for name in STAGES)
    other = "eu-west-1"
    assert f"must be in the pipeline's region ({other}); .chalice/config.json puts {listed}." in console_errors(other)
    assert console_errors(load_stage(STAGES[0]).region) == ""
