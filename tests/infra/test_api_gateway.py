"""infra/modules/api_gateway: the API stage, its settings and the usage plan, and no API key in
any Terraform.

The module is applied against moto's server. The stage root's apply (test_apply.py) leaves the
whole API out (`enable_api_gateway=false`: moto imports only OpenAPI 3 bodies, and Chalice writes
Swagger 2.0), so here a small REST API made without a body (one MOCK method) stands in for
Chalice's, and the module is applied on it twice: with the dev stage's settings as
`.chalice/config.json` has them, and with a daily quota."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dofs_config.stage import load_stage, read_config
from dofs_local.emulated.emulator import Emulator
from dofs_ops.target import Target
from scripts.tfmodel import load_module
from tests.infra.conftest import INFRA_DIR, PROJECT_DIR, Terraform, terraform_dirs

pytestmark = pytest.mark.terraform

MODULE_DIR = INFRA_DIR / "modules" / "api_gateway"
REGION = "us-east-1"
QUOTA = 250_000
SETTINGS = read_config()["stages"]["dev"]["dofs"]


def test_no_terraform_makes_an_api_key_or_outputs_one(packaged_app: Path) -> None:
    """Keys are per client, made by `dofs_ops keys`: none in any configuration, state or output."""
    for directory in [*terraform_dirs(), packaged_app]:
        module = load_module(directory)
        assert "aws_api_gateway_api_key" not in module.resources, directory
        assert "aws_api_gateway_usage_plan_key" not in module.resources, directory
        for name, output in module.outputs.items():
            text = json.dumps(output)
            assert "api_key" not in name, f"{directory}: output {name}"
            assert "aws_api_gateway_api_key" not in text, f"{directory}: output {name}"
            assert not output.get("sensitive"), f"{directory}: output {name} is sensitive"


def test_the_stage_passes_its_own_settings_to_the_module() -> None:
    call = load_module(INFRA_DIR / "stage").modules["api_gateway"]
    settings = {
        "throttling_rate_limit": "api_throttling_rate_limit",
        "throttling_burst_limit": "api_throttling_burst_limit",
        "client_rate_limit": "api_client_rate_limit",
        "client_burst_limit": "api_client_burst_limit",
        "client_quota_per_day": "api_client_quota_per_day",
    }
    for argument, setting in settings.items():
        assert call[argument] == f"${{local.settings.{setting}}}", argument


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_every_deployed_stage_sets_the_api_settings(stage: str) -> None:
    dofs = read_config()["stages"][stage]["dofs"]
    for name in ("api_throttling_rate_limit", "api_throttling_burst_limit", "api_client_rate_limit"):
        assert dofs[name] > 0, name
    assert dofs["api_client_burst_limit"] >= 1
    assert "api_client_quota_per_day" in dofs  # null: no quota, said out loud
    assert dofs["api_client_rate_limit"] <= dofs["api_throttling_rate_limit"]


def _root(endpoint: str) -> str:
    """A REST API with one MOCK method and a deployment, and the module twice on it."""
    module = MODULE_DIR.as_posix()
    common = """
  rest_api_id               = aws_api_gateway_rest_api.api.id
  deployment_id             = aws_api_gateway_deployment.api.id
  throttling_rate_limit     = local.settings.api_throttling_rate_limit
  throttling_burst_limit    = local.settings.api_throttling_burst_limit
  client_rate_limit         = local.settings.api_client_rate_limit
  client_burst_limit        = local.settings.api_client_burst_limit
  access_log_retention_days = local.settings.log_retention_days
  enable_xray               = true
  tags                      = { Project = "dofs", Stage = "dev" }
"""
    endpoints = "\n".join(f'    {service} = "{endpoint}"' for service in ("apigateway", "logs", "sts", "iam"))
    return f"""
terraform {{
  required_providers {{
    aws = {{ source = "hashicorp/aws" }}
  }}
}}

provider "aws" {{
  region                      = "{REGION}"
  access_key                  = "local"
  secret_key                  = "local" # pragma: allowlist secret - the emulator takes any
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  endpoints {{
{endpoints}
  }}
}}

locals {{
  settings = jsondecode(file("{(PROJECT_DIR / ".chalice" / "config.json").as_posix()}")).stages.dev.dofs
}}

resource "aws_api_gateway_rest_api" "api" {{
  name = "dofs-dev"
}}

resource "aws_api_gateway_method" "get" {{
  rest_api_id      = aws_api_gateway_rest_api.api.id
  resource_id      = aws_api_gateway_rest_api.api.root_resource_id
  http_method      = "GET"
  authorization    = "NONE"
  api_key_required = true
}}

resource "aws_api_gateway_integration" "get" {{
  rest_api_id = aws_api_gateway_rest_api.api.id
  resource_id = aws_api_gateway_rest_api.api.root_resource_id
  http_method = aws_api_gateway_method.get.http_method
  type        = "MOCK"
}}

resource "aws_api_gateway_deployment" "api" {{
  rest_api_id = aws_api_gateway_rest_api.api.id
  depends_on  = [aws_api_gateway_integration.get]
}}

module "dev" {{
  source               = "{module}"
  prefix               = "dofs-dev"
  stage_name           = "api"
  client_quota_per_day = local.settings.api_client_quota_per_day
{common}}}

module "quota" {{
  source               = "{module}"
  prefix               = "dofs-quota"
  stage_name           = "quota"
  client_quota_per_day = {QUOTA}
{common}}}

output "dev" {{
  value = module.dev
}}

output "quota" {{
  value = module.quota
}}
"""


@pytest.fixture(scope="module")
def applied(terraform: Terraform, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, Any]]]:
    """The module applied against moto: an API Gateway client of the emulator, and the outputs."""
    emulator = Emulator("127.0.0.1", 0)
    emulator.start()
    try:
        root = tmp_path_factory.mktemp("api-gateway")
        (root / "main.tf").write_text(_root(emulator.endpoint))
        terraform.init(root)
        terraform.run(root, "apply", "-auto-approve", "-no-color", "-input=false", timeout=240)
        outputs = json.loads(terraform.run(root, "output", "-json").stdout)
        dev = load_stage("dev")
        apigateway = Target(stage=dev, region=dev.region, endpoint_url=emulator.endpoint).client("apigateway")
        yield apigateway, {name: output["value"] for name, output in outputs.items()}
    finally:
        emulator.stop()


def _plan(apigateway: Any, name: str) -> dict[str, Any]:
    [plan] = [plan for plan in apigateway.get_usage_plans()["items"] if plan["name"] == name]
    return plan  # type: ignore[no-any-return]


def test_the_usage_plan_throttles_each_client_as_the_stage_settings_say(applied: tuple[Any, dict[str, Any]]) -> None:
    apigateway, outputs = applied
    plan = _plan(apigateway, "dofs-dev-usage-plan")
    assert plan["id"] == outputs["dev"]["usage_plan_id"]
    assert plan["throttle"] == {
        "rateLimit": SETTINGS["api_client_rate_limit"],
        "burstLimit": SETTINGS["api_client_burst_limit"],
    }
    assert SETTINGS["api_client_quota_per_day"] is None
    assert "quota" not in plan or not plan["quota"], "no quota setting: no quota"
    assert plan["apiStages"] == [{"apiId": apigateway.get_rest_apis()["items"][0]["id"], "stage": "api"}]
    assert plan["tags"] == {"Project": "dofs", "Stage": "dev"}


def test_a_quota_setting_becomes_the_plans_daily_quota(applied: tuple[Any, dict[str, Any]]) -> None:
    apigateway, _ = applied
    quota = _plan(apigateway, "dofs-quota-usage-plan")["quota"]
    assert (quota["limit"], quota["period"]) == (QUOTA, "DAY")


def test_the_stage_logs_each_request_as_one_json_line_and_is_traced(applied: tuple[Any, dict[str, Any]]) -> None:
    apigateway, outputs = applied
    api_id = apigateway.get_rest_apis()["items"][0]["id"]
    stage = apigateway.get_stage(restApiId=api_id, stageName="api")
    assert stage["tracingEnabled"] is True
    log_format = stage["accessLogSettings"]["format"]
    assert json.loads(log_format) == json.loads((MODULE_DIR / "access_log_format.json").read_text())
    assert "\n" not in log_format
    assert stage["accessLogSettings"]["destinationArn"].endswith(":log-group:/aws/apigateway/dofs-dev/access")
    assert outputs["dev"]["access_log_group_name"] == "/aws/apigateway/dofs-dev/access"
    assert re.fullmatch(rf"https://{api_id}\.execute-api\.{REGION}\.amazonaws\.com/api", outputs["dev"]["invoke_url"])


def test_every_method_is_throttled_at_the_stage_rate(applied: tuple[Any, dict[str, Any]]) -> None:
    apigateway, _ = applied
    api_id = apigateway.get_rest_apis()["items"][0]["id"]
    settings = apigateway.get_stage(restApiId=api_id, stageName="api")["methodSettings"]["*/*"]
    assert settings["throttlingRateLimit"] == SETTINGS["api_throttling_rate_limit"]
    assert settings["throttlingBurstLimit"] == SETTINGS["api_throttling_burst_limit"]
    assert settings["metricsEnabled"] is True
    assert settings["loggingLevel"] == "ERROR"
