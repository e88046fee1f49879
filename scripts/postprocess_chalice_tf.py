"""Turns `chalice package --pkg-format terraform` output into a Terraform module for infra/.

Chalice 1.34 emits Terraform for Terraform < 1.4 and hashicorp/aws < 5, an unused
`null_data_source`, `aws_api_gateway_deployment.stage_name`/`stage_description` (deprecated in
aws 5, removed in 6) and an output on the deployment's `invoke_url` (removed in 6). Chalice refuses
`--merge-template` for Terraform, so this script:

- edits `chalice.tf.json` only where Terraform cannot: drops the `null_data_source` (and with it
  the hashicorp/null requirement), replaces the version pins (Terraform >= 1.10, hashicorp/aws
  >= 5.100, < 7.0) and drops the `EndpointURL` output (the stage's URL is the API stage's, in
  infra/modules/api_gateway); titles the generated OpenAPI body after the stage's prefix; when asked (the
  default), marks every API operation but the CORS preflights (OPTIONS) as requiring an API key
  in it, exactly as Chalice does for `api_key_required=True`;
- writes `chalice_override.tf.json`, a Terraform override file (`null` drops an argument):
  no `stage_name`/`stage_description` on the deployment (a `triggers` hash redeploys instead),
  the stage's prefix as the REST API's name (Chalice names it after the app in every stage),
  `ReportBatchItemFailures` and a maximum concurrency (`var.event_source_maximum_concurrency`) on
  every SQS event source mapping, the stage's prefix on every schedule's EventBridge rule name,
  and each function's logging config and the SQS consumers' tracing mode (`lambda_logging`);
- writes `dofs_extras.tf.json`: the module's input variables (every `${var.X}` that
  `.chalice/config.json` puts in the package, and the switches it adds), and outputs naming the
  functions (and their packaged timeouts) for the root module, the REST API's name, deployment
  and stage name (infra/modules/api_gateway makes the stage, its settings and the usage plan from
  them), and the public SSM parameter of the Powertools layer the functions carry: the packaged
  runtime and architecture, and the release requirements/build.in pins.

Idempotent: running it twice gives the same files.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from dofs_config.stage import (  # noqa: E402
    CHALICE_DEFAULT_ARCHITECTURE,
    POWERTOOLS_LAYER,
    POWERTOOLS_PACKAGE,
    pinned_version,
    powertools_layer_parameter,
)

TERRAFORM_BLOCK = {
    "required_version": ">= 1.10",
    "required_providers": {"aws": {"source": "hashicorp/aws", "version": ">= 5.100, < 7.0"}},
}
MAIN_FILE = "chalice.tf.json"
OVERRIDE_FILE = "chalice_override.tf.json"
EXTRAS_FILE = "dofs_extras.tf.json"

# Inputs that `.chalice/config.json` and app.py put into the package as `${var.X}` literals.
KNOWN_VARIABLES = {
    "order_queue_arn": "ARN of order_queue, consumed by fulfill_order.",
    "order_dlq_arn": "ARN of order_dlq, consumed by handle_dead_letter.",
    "state_machine_arn": "ARN of the order workflow, started by the API and the reconciler (STATE_MACHINE_ARN).",
    "order_queue_url": "URL of order_queue, where the reconciler queues orders again (ORDER_QUEUE_URL).",
    "stuck_order_threshold_seconds": "Seconds an order may stay non-terminal before the reconciler moves it on.",
    "max_receive_count": "order_queue's maxReceiveCount: the fulfillment attempts an order gets (MAX_RECEIVE_COUNT).",
    "powertools_layer_arn": "ARN of the Powertools layer version every function carries (the value of the public "
    "SSM parameter the powertools_layer_parameter output names).",
}
ROLE_VARIABLE = re.compile(r"^(?P<handler>[a-z_]+)_role_arn$")
VARIABLE_REFERENCE = re.compile(r"\$\{var\.([A-Za-z0-9_]+)\}")

API_KEY_SECURITY_NAME = "api_key"
# The API can be left out (enable_api_gateway = false): the offline emulator cannot import it.
API_COUNT = "${var.enable_api_gateway ? 1 : 0}"


def variable_description(name: str) -> str:
    if name in KNOWN_VARIABLES:
        return KNOWN_VARIABLES[name]
    match = ROLE_VARIABLE.match(name)
    if match:
        return f"ARN of the IAM role of the {match['handler']} function (infra/modules/iam)."
    raise SystemExit(
        f"{MAIN_FILE} uses var.{name}, which {Path(__file__).name} does not know: add it to KNOWN_VARIABLES"
    )


def powertools_parameter(functions: dict[str, Any]) -> str:
    """The Powertools layer's SSM parameter for the packaged functions: the runtime Chalice
    packaged (the Python that ran it), their architecture and the pinned Powertools release."""
    platforms = {
        (function.get("architectures", [CHALICE_DEFAULT_ARCHITECTURE])[0], function["runtime"])
        for function in functions.values()
    }
    if len(platforms) != 1:
        raise SystemExit(f"the functions carry one Powertools layer, but run on several platforms: {sorted(platforms)}")
    [(architecture, runtime)] = platforms
    return powertools_layer_parameter(architecture, runtime, pinned_version(POWERTOOLS_PACKAGE))


# A browser's CORS preflight (OPTIONS) carries no x-api-key: API Gateway must answer it without one.
KEYED_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head"})


def require_api_key(swagger: dict[str, Any]) -> dict[str, Any]:
    """What Chalice writes for routes declared with `api_key_required=True`, on every method but OPTIONS."""
    swagger.setdefault("securityDefinitions", {})[API_KEY_SECURITY_NAME] = {
        "type": "apiKey",
        "name": "x-api-key",
        "in": "header",
    }
    for path in swagger.get("paths", {}).values():
        for method, operation in path.items():
            if method in KEYED_METHODS:
                operation["security"] = [{API_KEY_SECURITY_NAME: []}]
    return swagger


def api_addresses(resources: dict[str, Any]) -> list[str]:
    """The API Gateway resources (and the permission letting API Gateway invoke the handler)."""
    return [
        f"{kind}.{name}"
        for kind, blocks in resources.items()
        for name, body in blocks.items()
        if kind.startswith("aws_api_gateway_")
        or (kind == "aws_lambda_permission" and body.get("principal") == "apigateway.amazonaws.com")
    ]


def index_references(resources: dict[str, Any], addresses: list[str]) -> dict[str, Any]:
    """`${aws_x.y.attr}` -> `${aws_x.y[0].attr}` for resources that get a count."""
    if not addresses:
        return resources
    pattern = re.compile(r"(?<![\w.])(" + "|".join(re.escape(address) for address in addresses) + r")\.(?=[a-z_])")
    return json.loads(pattern.sub(r"\1[0].", json.dumps(resources)))  # type: ignore[no-any-return]


def rewrite_main(main: dict[str, Any], prefix: str, *, api_key: bool) -> dict[str, Any]:
    main["resource"] = index_references(main["resource"], api_addresses(main["resource"]))
    data = main.get("data", {})
    data.pop("null_data_source", None)
    main["terraform"] = TERRAFORM_BLOCK
    # The deployment's invoke_url is gone in hashicorp/aws 6; the stage's URL is the API stage's.
    main.get("output", {}).pop("EndpointURL", None)
    if "chalice_api_swagger" in main.get("locals", {}):
        swagger = json.loads(main["locals"]["chalice_api_swagger"])
        # The body's title is the API's name too (the `name` argument overrides it): the same one.
        swagger["info"]["title"] = prefix
        main["locals"]["chalice_api_swagger"] = json.dumps(require_api_key(swagger) if api_key else swagger)
    return main


def override(main: dict[str, Any], prefix: str) -> dict[str, Any]:
    resources = main["resource"]
    result: dict[str, Any] = {"resource": {}}
    for address in api_addresses(resources):
        kind, name = address.split(".")
        result["resource"].setdefault(kind, {})[name] = {"count": API_COUNT}
    for name in resources.get("aws_api_gateway_deployment", {}):
        result["resource"]["aws_api_gateway_deployment"][name].update(
            {
                "stage_name": None,
                "stage_description": None,
                "triggers": {"redeployment": "${sha1(local.chalice_api_swagger)}"},
            }
        )
    for name in resources.get("aws_api_gateway_rest_api", {}):
        result["resource"]["aws_api_gateway_rest_api"][name].update(
            {
                # Chalice names every stage's API after the app: the stage's prefix keeps the API
                # metrics (ApiName, Stage dimensions) of stages in one account apart.
                "name": prefix,
                # Replace an API by creating the new one first, as Chalice already does for deployments.
                "lifecycle": {"create_before_destroy": True},
            }
        )
    if "aws_api_gateway_rest_api" in resources:
        result["output"] = {"RestAPIId": {"value": "${one(aws_api_gateway_rest_api.rest_api[*].id)}"}}
    mappings = resources.get("aws_lambda_event_source_mapping", {})
    # Every handler returns {"batchItemFailures": [...]}: one bad message never retries its neighbours.
    # A concurrency cap makes Lambda poll less instead of throttling invocations: a throttled
    # invocation returns its messages to the queue and so spends receive counts of healthy orders.
    result["resource"]["aws_lambda_event_source_mapping"] = {
        name: {
            "function_response_types": ["ReportBatchItemFailures"],
            "scaling_config": {"maximum_concurrency": "${var.event_source_maximum_concurrency}"},
        }
        for name in mappings
    }
    result["resource"]["aws_lambda_function"] = lambda_logging(resources)
    # Chalice names a schedule's rule after the handler alone ("reconcile_orders-event"): two
    # stages in one account would share it. The stage's prefix keeps it theirs, as every name is.
    rules = resources.get("aws_cloudwatch_event_rule", {})
    if rules:
        result["resource"]["aws_cloudwatch_event_rule"] = {name: {"name": f"{prefix}-{name}"} for name in rules}
    return result


# The functions' log format and levels, the stage's settings (`lambda_log_format`,
# `lambda_system_log_level` in .chalice/config.json): JSON with the system level WARN drops
# START/END/REPORT, which nothing reads. The levels apply to the JSON format only (AWS refuses them
# with Text). Chalice 1.34 cannot set logging_config itself. And the SQS consumers' tracing mode
# (`xray_sqs_consumer_mode`): PassThrough traces a message only when the order's trace (sampled at
# the API) reached it, instead of Lambda's own 1 a second and 5 % of the rest.
LAMBDA_VARIABLES = {
    "lambda_log_format": ("Text", "The functions' log format: Text or JSON."),
    "lambda_system_log_level": ("INFO", "JSON only: Lambda's own lines kept (DEBUG, INFO, WARN)."),
    "lambda_application_log_level": ("INFO", "JSON only: the functions' lines kept (the stage's log level)."),
    "sqs_consumer_tracing_mode": ("Active", "X-Ray mode of the SQS-triggered functions: Active or PassThrough."),
}
FUNCTION_REFERENCE = re.compile(r"aws_lambda_function\.(\w+)\.")


def lambda_logging(resources: dict[str, Any]) -> dict[str, Any]:
    json_only = '${var.lambda_log_format == "JSON" ? var.%s : null}'
    config = {
        "log_format": "${var.lambda_log_format}",
        "system_log_level": json_only % "lambda_system_log_level",
        "application_log_level": json_only % "lambda_application_log_level",
    }
    consumers = set(FUNCTION_REFERENCE.findall(json.dumps(resources.get("aws_lambda_event_source_mapping", {}))))
    tracing = {"mode": '${var.enable_xray ? var.sqs_consumer_tracing_mode : "PassThrough"}'}
    return {
        name: {"logging_config": dict(config)} | ({"tracing_config": dict(tracing)} if name in consumers else {})
        for name in resources.get("aws_lambda_function", {})
    }


def extras(main: dict[str, Any], stage_name: str) -> dict[str, Any]:
    used = sorted(set(VARIABLE_REFERENCE.findall(json.dumps(main))))
    variables: dict[str, Any] = {name: {"type": "string", "description": variable_description(name)} for name in used}
    variables.update(
        {
            "enable_api_gateway": {
                "type": "bool",
                "default": True,
                "description": "Create the REST API and its deployment (off for the offline emulator).",
            },
            "enable_xray": {
                "type": "bool",
                "default": True,
                "description": "Whether the stage traces with X-Ray (the SQS consumers' tracing mode follows it).",
            },
            "event_source_maximum_concurrency": {
                "type": "number",
                "description": "Most concurrent invocations each SQS event source mapping makes (2 to 1000).",
                "validation": {
                    "condition": "${var.event_source_maximum_concurrency >= 2"
                    " && var.event_source_maximum_concurrency <= 1000}",
                    "error_message": "event_source_maximum_concurrency must be between 2 and 1000 (Lambda's limits).",
                },
            },
        }
        | {
            name: {"type": "string", "default": default, "description": description}
            for name, (default, description) in LAMBDA_VARIABLES.items()
        }
    )
    functions = main["resource"]["aws_lambda_function"]
    outputs: dict[str, Any] = {
        "function_names": {
            "description": "Handler name to deployed function name.",
            "value": {name: f"${{aws_lambda_function.{name}.function_name}}" for name in functions},
        },
        # Literals copied from the package, not read from the functions: the queues check their
        # visibility timeouts against them before any function exists.
        "function_timeouts": {
            "description": "Handler name to the function's timeout in seconds, as packaged.",
            "value": {name: int(function["timeout"]) for name, function in functions.items()},
        },
        "function_arns": {
            "description": "Handler name to function ARN.",
            "value": {name: f"${{aws_lambda_function.{name}.arn}}" for name in functions},
        },
        # One output per function as well: the state machine reads the ARNs of its three functions
        # without depending on the API handler, which depends on the state machine.
        **{
            f"{name}_function_arn": {
                "description": f"ARN of the {name} function.",
                "value": f"${{aws_lambda_function.{name}.arn}}",
            }
            for name in functions
        },
        "event_source_mapping_uuids": {
            "description": "Event source mapping name to its UUID.",
            "value": {
                name: f"${{aws_lambda_event_source_mapping.{name}.uuid}}"
                for name in main["resource"].get("aws_lambda_event_source_mapping", {})
            },
        },
    }
    if any(POWERTOOLS_LAYER in function.get("layers", []) for function in functions.values()):
        # A literal: the stage root reads the parameter and passes its value back as powertools_layer_arn.
        outputs["powertools_layer_parameter"] = {
            "description": "Public SSM parameter whose value is the ARN of the functions' Powertools layer.",
            "value": powertools_parameter(functions),
        }
    if "aws_api_gateway_rest_api" in main["resource"]:
        api = "aws_api_gateway_rest_api.rest_api"
        outputs.update(
            {
                "api_name": {"description": "Name of the REST API.", "value": f"${{one({api}[*].name)}}"},
                "api_deployment_id": {
                    "description": "Id of the API's deployment, which the API stage points at.",
                    "value": "${one(aws_api_gateway_deployment.rest_api[*].id)}",
                },
                # A literal, as Chalice names it: infra/modules/api_gateway makes the stage.
                "api_stage_name": {
                    "description": "Name of the API stage (null without the API).",
                    "value": f"${{var.enable_api_gateway ? {json.dumps(stage_name)} : null}}",
                },
            }
        )
    return {"variable": variables, "output": outputs}


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")


def postprocess(package_dir: Path, *, api_key: bool = True) -> None:
    main_path = package_dir / MAIN_FILE
    main = json.loads(main_path.read_text())
    tags = next(iter(main["resource"]["aws_lambda_function"].values()))["tags"]["aws-chalice"]
    fields = dict(part.split("=", 1) for part in tags.split(":"))
    prefix = f"{fields['app']}-{fields['stage']}"
    stage_name = main["resource"].get("aws_api_gateway_deployment", {}).get("rest_api", {}).get("stage_name", "api")
    write_json(main_path, rewrite_main(main, prefix, api_key=api_key))
    write_json(package_dir / OVERRIDE_FILE, override(main, prefix))
    write_json(package_dir / EXTRAS_FILE, extras(main, stage_name))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("package_dir", type=Path, help="directory chalice package wrote chalice.tf.json into")
    parser.add_argument("--no-api-key", action="store_true", help="leave the API open (no x-api-key required)")
    args = parser.parse_args(argv)
    postprocess(args.package_dir, api_key=not args.no_api_key)
    return 0


if __name__ == "__main__":
    sys.exit(main())
