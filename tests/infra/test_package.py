"""What `make package` must produce (scripts/package_app.py + postprocess_chalice_tf.py), read
as Terraform reads it (override files merged): pure Python, runs everywhere."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dofs_config.stage import load_stage
from scripts.postprocess_chalice_tf import postprocess, require_api_key
from scripts.tfmodel import load_module, parse_file
from tests.infra.conftest import STAGE

pytestmark = pytest.mark.terraform

HANDLERS = {
    "api_handler",
    "validate_order",
    "store_order",
    "record_workflow_failure",
    "fulfill_order",
    "handle_dead_letter",
    "reconcile_orders",
}
# The functions that start the workflow: the API, and the reconciler restarting a lost execution.
STARTS_THE_WORKFLOW = {"api_handler", "reconcile_orders"}


def _main(packaged_app: Path) -> dict[str, Any]:
    return parse_file(packaged_app / "chalice.tf.json")


def test_version_pins_and_no_null_provider(packaged_app: Path) -> None:
    main = _main(packaged_app)
    assert main["terraform"] == {
        "required_version": ">= 1.10",
        "required_providers": {"aws": {"source": "hashicorp/aws", "version": ">= 5.100, < 7.0"}},
    }
    assert "null_data_source" not in main.get("data", {})
    assert "null_" not in json.dumps(main)


def test_deployment_has_no_deprecated_arguments_and_redeploys_on_change(packaged_app: Path) -> None:
    module = load_module(packaged_app)
    deployment = module.resources["aws_api_gateway_deployment"]["rest_api"]
    assert "stage_name" not in deployment
    assert "stage_description" not in deployment
    assert deployment["triggers"] == {"redeployment": "${sha1(local.chalice_api_swagger)}"}
    assert "invoke_url" not in json.dumps([module.resources, module.outputs])


def test_the_package_carries_the_api_and_its_deployment_and_nothing_of_the_stage(packaged_app: Path) -> None:
    """The stage, its settings, access log and usage plan are infra/modules/api_gateway's; no
    API key is made anywhere in Terraform (each client's is made by dofs_ops keys)."""
    module = load_module(packaged_app)
    api = module.resources["aws_api_gateway_rest_api"]["rest_api"]
    assert api["endpoint_configuration"] == {"types": ["REGIONAL"]}
    assert {kind for kind in module.resources if kind.startswith("aws_api_gateway_")} == {
        "aws_api_gateway_rest_api",
        "aws_api_gateway_deployment",
    }
    assert "aws_cloudwatch_log_group" not in module.resources
    assert module.outputs["api_deployment_id"]["value"] == "${one(aws_api_gateway_deployment.rest_api[*].id)}"
    assert module.outputs["api_stage_name"]["value"] == '${var.enable_api_gateway ? "api" : null}'
    assert not {name for name in module.outputs if "key" in name}
    assert not {name for name in module.variables if name.startswith(("api_throttling", "api_key", "access_log"))}


def test_every_operation_but_the_preflights_requires_an_api_key(packaged_app: Path) -> None:
    swagger = json.loads(load_module(packaged_app).locals["chalice_api_swagger"])
    assert swagger["securityDefinitions"]["api_key"] == {"type": "apiKey", "name": "x-api-key", "in": "header"}
    operations = [(method, operation) for path in swagger["paths"].values() for method, operation in path.items()]
    assert {method for method, _ in operations} == {"get", "post", "options"}
    for method, operation in operations:
        if method == "options":
            assert "security" not in operation, "a browser's preflight carries no x-api-key"
        else:
            assert operation["security"] == [{"api_key": []}]


def test_api_gateway_answers_preflights_from_the_stages_origin(packaged_app: Path) -> None:
    """dev allows one origin (.chalice/config.json): API Gateway's mock integration answers it."""
    allowed = load_stage(STAGE).cors_allowed_origins
    assert allowed
    swagger = json.loads(load_module(packaged_app).locals["chalice_api_swagger"])
    for path, methods in swagger["paths"].items():
        preflight = methods["options"]["x-amazon-apigateway-integration"]
        assert preflight["type"] == "mock", path
        headers = preflight["responses"]["default"]["responseParameters"]
        assert headers["method.response.header.Access-Control-Allow-Origin"] == f"'{allowed[0]}'", path
        allowed_methods = headers["method.response.header.Access-Control-Allow-Methods"].strip("'").split(",")
        assert set(allowed_methods) == {method.upper() for method in methods}, path


def test_the_api_key_is_never_required_of_a_preflight() -> None:
    """The post-processing on its own, against an OpenAPI body with a preflight, as Chalice writes one."""
    swagger = require_api_key(
        {"paths": {"/order": {"post": {}, "options": {"x-amazon-apigateway-integration": {"type": "mock"}}}}}
    )
    assert swagger["paths"]["/order"]["post"]["security"] == [{"api_key": []}]
    assert "security" not in swagger["paths"]["/order"]["options"]


def test_sqs_mappings_report_batch_item_failures(packaged_app: Path) -> None:
    mappings = load_module(packaged_app).resources["aws_lambda_event_source_mapping"]
    assert {mapping["event_source_arn"] for mapping in mappings.values()} == {
        "${var.order_queue_arn}",
        "${var.order_dlq_arn}",
    }
    for mapping in mappings.values():
        assert mapping["function_response_types"] == ["ReportBatchItemFailures"]
        assert mapping["batch_size"] == 10


def test_functions_use_the_roles_given_and_only_the_workflow_starters_see_the_state_machine(packaged_app: Path) -> None:
    module = load_module(packaged_app)
    functions = module.resources["aws_lambda_function"]
    assert set(functions) == HANDLERS
    assert "aws_iam_role" not in module.resources  # Chalice's catch-all role is not created
    for handler, function in functions.items():
        assert function["role"] == f"${{var.{handler}_role_arn}}"
        variables = function["environment"]["variables"]
        assert ("STATE_MACHINE_ARN" in variables) == (handler in STARTS_THE_WORKFLOW)
        # The SQS consumers follow the order's trace where the stage says so (sqs_consumer_tracing_mode).
        consumer = handler in {"fulfill_order", "handle_dead_letter"}
        mode = '${var.enable_xray ? var.sqs_consumer_tracing_mode : "PassThrough"}' if consumer else "Active"
        assert function["tracing_config"] == {"mode": mode}
        assert function["logging_config"]["log_format"] == "${var.lambda_log_format}"
    assert {f"{handler}_role_arn" for handler in HANDLERS} <= set(module.variables)
    assert {f"{handler}_function_arn" for handler in HANDLERS} <= set(module.outputs)


def test_stage_root_names_the_functions_as_chalice_does(packaged_app: Path) -> None:
    """infra/stage computes the function names (log groups, roles) before the package exists."""
    functions = load_module(packaged_app).resources["aws_lambda_function"]
    names = {handler: function["function_name"] for handler, function in functions.items()}
    assert names == {handler: "dofs-dev" if handler == "api_handler" else f"dofs-dev-{handler}" for handler in HANDLERS}


def test_postprocessing_twice_changes_nothing(packaged_app: Path, tmp_path: Path) -> None:
    for path in packaged_app.glob("*.tf.json"):
        (tmp_path / path.name).write_text(path.read_text())
    before = {path.name: path.read_text() for path in tmp_path.iterdir()}
    postprocess(tmp_path)
    assert {path.name: path.read_text() for path in tmp_path.iterdir()} == before


def test_the_reconciler_runs_on_the_apps_schedule(packaged_app: Path) -> None:
    from app import RECONCILE_EVERY_MINUTES

    module = load_module(packaged_app)
    [rule] = module.resources["aws_cloudwatch_event_rule"].values()
    assert rule["schedule_expression"] == f"rate({RECONCILE_EVERY_MINUTES} minutes)"
    assert rule["name"] == "dofs-dev-reconcile_orders-event", "the stage's prefix: stages can share an account"
    [target] = module.resources["aws_cloudwatch_event_target"].values()
    assert target["arn"] == "${aws_lambda_function.reconcile_orders.arn}"


def test_each_stage_names_its_rest_api_after_its_prefix(packaged_apps: dict[str, Path]) -> None:
    """API Gateway's metrics (and so the 5xx alarm and the dashboard) know an API by its name and
    stage name, and every stage's API stage is "api": Chalice names each stage's API after the
    app, so one stage's 5xx errors would fire the other's alarm. The name and the OpenAPI body's
    title (which the name overrides) are the stage's prefix."""
    names = {}
    for stage, package in packaged_apps.items():
        module = load_module(package)
        api = module.resources["aws_api_gateway_rest_api"]["rest_api"]
        title = json.loads(module.locals["chalice_api_swagger"])["info"]["title"]
        assert api["name"] == title == load_stage(stage).prefix, stage
        assert module.outputs["api_name"]["value"] == "${one(aws_api_gateway_rest_api.rest_api[*].name)}"
        names[stage] = api["name"]
    assert len(set(names.values())) == len(names) > 1, names
