"""The optional web application firewall (infra/modules/waf) and its wiring in the stage root."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.api import MAX_BODY_BYTES
from scripts.tfmodel import load_module
from tests.infra.conftest import INFRA_DIR, PROJECT_DIR

pytestmark = pytest.mark.unit

WAF = load_module(INFRA_DIR / "modules" / "waf")
STAGE = load_module(INFRA_DIR / "stage")
# AWS WAF's managed common rule set blocks request bodies over this (SizeRestrictions_BODY).
COMMON_RULE_SET_BODY_LIMIT = 8 * 1024


def web_acl() -> dict[str, Any]:
    acl: dict[str, Any] = WAF.resources["aws_wafv2_web_acl"]["api"]
    return acl


def rules() -> dict[str, dict[str, Any]]:
    return {rule["name"]: rule for rule in web_acl()["rule"]}


def managed_group(name: str) -> dict[str, Any]:
    [statement] = rules()[name]["statement"]
    [group] = statement["managed_rule_group_statement"]
    assert (group["vendor_name"], group["name"]) == ("AWS", name)
    return group  # type: ignore[no-any-return]


def test_the_web_acl_is_regional_and_allows_what_no_rule_blocks() -> None:
    assert web_acl()["scope"] == "REGIONAL"
    assert web_acl()["default_action"] == [{"allow": [{}]}]


def test_it_runs_aws_managed_rules_and_counts_the_body_size_rule_the_api_outgrows() -> None:
    common = managed_group("AWSManagedRulesCommonRuleSet")
    assert "rule_action_override" not in managed_group("AWSManagedRulesKnownBadInputsRuleSet")
    # A valid order may be up to 256 KiB: blocking bodies over 8 KB would refuse valid requests.
    assert MAX_BODY_BYTES > COMMON_RULE_SET_BODY_LIMIT
    assert common["rule_action_override"] == [{"name": "SizeRestrictions_BODY", "action_to_use": [{"count": [{}]}]}]


def test_a_rate_based_rule_blocks_one_client_ip_over_the_setting() -> None:
    rule = rules()["rate-per-client-ip"]
    [statement] = rule["statement"][0]["rate_based_statement"]
    assert rule["action"] == [{"block": [{}]}]
    assert statement["aggregate_key_type"] == "IP"
    assert statement["limit"] == "${var.rate_limit_per_5_minutes}"
    priorities = [rule["priority"] for rule in rules().values()]
    assert len(set(priorities)) == len(priorities) == 3


def test_it_is_associated_with_the_stage_and_logs_what_it_blocks() -> None:
    assert WAF.resources["aws_wafv2_web_acl_association"]["api"]["resource_arn"] == "${var.resource_arn}"
    assert WAF.resources["aws_cloudwatch_log_group"]["waf"]["name"].startswith("aws-waf-logs-")


def test_the_stage_creates_it_only_when_its_settings_turn_it_on() -> None:
    waf = STAGE.modules["waf"]
    assert waf["count"] == "${try(local.settings.waf.enabled, false) && var.enable_api_gateway ? 1 : 0}"
    assert waf["resource_arn"] == "${module.api_gateway[0].stage_arn}"  # the stage the API Gateway module makes
    assert "local.settings.waf.rate_limit_per_5_minutes" in waf["rate_limit_per_5_minutes"]


def test_every_stage_that_sets_the_waf_names_only_its_known_settings() -> None:
    stages = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())["stages"]
    for name, stage in stages.items():
        waf = stage.get("dofs", {}).get("waf", {})
        assert set(waf) <= {"enabled", "rate_limit_per_5_minutes"}, name
        assert isinstance(waf.get("enabled", False), bool), name
