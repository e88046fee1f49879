"""`dofs_ops keys create|list|revoke` against moto's API Gateway (API keys and usage plans),
through the CLI as an operator runs it: the dev stage's usage plan as infra/modules/api_gateway
names it, the emulator's endpoint."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from dofs_config.stage import load_stage
from dofs_local.emulated.emulator import Emulator
from dofs_ops import keys
from dofs_ops.target import Target
from tests.ops.test_cli import run

pytestmark = pytest.mark.aws

STAGE = load_stage("dev")
PLAN = f"{STAGE.prefix}-usage-plan"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    emulator = Emulator("127.0.0.1", 0)
    emulator.start()
    try:
        yield emulator.endpoint
    finally:
        emulator.stop()


def _apigateway(endpoint: str) -> Any:
    return Target(stage=STAGE, region=STAGE.region, endpoint_url=endpoint).client("apigateway")


@pytest.fixture
def plan(endpoint: str) -> Iterator[str]:
    """The stage's usage plan, as Terraform makes it; every key and plan removed afterwards."""
    apigateway = _apigateway(endpoint)
    plan_id: str = apigateway.create_usage_plan(
        name=PLAN, throttle={"rateLimit": 25.0, "burstLimit": 50}, tags={"Project": "dofs", "Stage": "dev"}
    )["id"]
    yield plan_id
    for key in apigateway.get_api_keys()["items"]:
        apigateway.delete_api_key(apiKey=key["id"])
    for other in apigateway.get_usage_plans()["items"]:
        apigateway.delete_usage_plan(usagePlanId=other["id"])


def keys_cli(capsys: pytest.CaptureFixture[str], endpoint: str, *args: str) -> tuple[int, str, str]:
    return run(capsys, "--stage", "dev", "--endpoint-url", endpoint, "keys", *args)


def _plan_key_ids(endpoint: str, plan_id: str) -> set[str]:
    return {key["id"] for key in _apigateway(endpoint).get_usage_plan_keys(usagePlanId=plan_id)["items"]}


def test_create_prints_the_value_once_and_attaches_the_key_to_the_stages_plan(
    capsys: pytest.CaptureFixture[str], endpoint: str, plan: str
) -> None:
    status, out, err = keys_cli(capsys, endpoint, "create", "acme")
    assert status == 0, err
    value = out.strip()
    apigateway = _apigateway(endpoint)
    [key] = apigateway.get_api_keys(includeValues=True)["items"]
    assert key["name"] == "dofs-dev-acme"
    assert key["value"] == value
    assert key["enabled"]
    assert key["tags"] == {"Project": "dofs", "Stage": "dev", "Client": "acme"}
    assert _plan_key_ids(endpoint, plan) == {key["id"]}
    assert key["id"] in err
    assert value not in err

    status, out, err = keys_cli(capsys, endpoint, "list")
    assert status == 0, err
    assert "acme" in out
    assert key["id"] in out
    assert "yes" in out
    assert value not in out


def test_json_create_carries_the_value_and_json_list_never_does(
    capsys: pytest.CaptureFixture[str], endpoint: str, plan: str
) -> None:
    status, out, _ = keys_cli(capsys, endpoint, "create", "acme", "--json")
    assert status == 0
    created = json.loads(out)
    assert set(created) == {"client", "key_id", "value", "usage_plan_id"}
    assert created["usage_plan_id"] == plan
    assert created["client"] == "acme"
    status, out, _ = keys_cli(capsys, endpoint, "list", "--json")
    assert status == 0
    [listed] = json.loads(out)
    assert listed["client"] == "acme"
    assert listed["key_id"] == created["key_id"]
    assert listed["enabled"] is True
    assert "value" not in listed
    assert created["value"] not in out


def test_creating_a_clients_key_again_is_refused_without_its_value(
    capsys: pytest.CaptureFixture[str], endpoint: str, plan: str
) -> None:
    _, first, _ = keys_cli(capsys, endpoint, "create", "acme")
    status, out, err = keys_cli(capsys, endpoint, "create", "acme")
    assert status == 2
    assert out == ""
    assert "client acme already has API key" in err
    assert first.strip() not in err
    assert len(_apigateway(endpoint).get_api_keys()["items"]) == 1


def test_replace_rotates_the_clients_key(capsys: pytest.CaptureFixture[str], endpoint: str, plan: str) -> None:
    _, first, _ = keys_cli(capsys, endpoint, "create", "acme", "--json")
    status, second, _ = keys_cli(capsys, endpoint, "create", "acme", "--replace", "--json")
    assert status == 0
    old, new = json.loads(first), json.loads(second)
    assert new["value"] != old["value"]
    assert [key["id"] for key in _apigateway(endpoint).get_api_keys()["items"]] == [new["key_id"]]


def test_revoke_deletes_one_clients_key_and_leaves_the_others(
    capsys: pytest.CaptureFixture[str], endpoint: str, plan: str
) -> None:
    _, acme, _ = keys_cli(capsys, endpoint, "create", "acme", "--json")
    _, other, _ = keys_cli(capsys, endpoint, "create", "other", "--json")
    status, out, err = keys_cli(capsys, endpoint, "revoke", "acme")
    assert status == 0, err
    assert json.loads(acme)["key_id"] in out
    remaining = _apigateway(endpoint).get_api_keys()["items"]
    assert [key["id"] for key in remaining] == [json.loads(other)["key_id"]]
    _, listed, _ = keys_cli(capsys, endpoint, "list", "--json")
    assert [key["client"] for key in json.loads(listed)] == ["other"]

    status, out, err = keys_cli(capsys, endpoint, "revoke", "acme")
    assert (status, out) == (1, "")
    assert "client acme has no API key" in err


def test_a_stage_without_its_usage_plan_is_named_and_nothing_is_made(
    capsys: pytest.CaptureFixture[str], endpoint: str
) -> None:
    status, out, err = keys_cli(capsys, endpoint, "create", "acme")
    assert (status, out) == (2, "")
    assert f"no usage plan named {PLAN}" in err
    assert _apigateway(endpoint).get_api_keys()["items"] == []


@pytest.mark.parametrize("name", ["a-b", "", "x" * 65, "dé"])
def test_a_bad_client_name_is_refused(capsys: pytest.CaptureFixture[str], name: str) -> None:
    status, out, err = run(capsys, "keys", "create", name)
    assert (status, out) == (2, "")
    assert "is not a client name" in err


def test_of_two_creates_at_once_one_key_stays(endpoint: str, plan: str) -> None:
    """The race: another operator's key appears between this create's check and its attach."""
    target = Target(stage=STAGE, region=STAGE.region, endpoint_url=endpoint)
    first = keys.create(target, "acme")
    original = keys._keys_named
    calls: Iterator[list[dict[str, Any]] | None] = iter(
        [[], None]
    )  # the check finds nothing; the recheck reads the emulator

    def racing(target: Target, name: str) -> list[dict[str, Any]]:
        found = next(calls)
        return original(target, name) if found is None else found

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(keys, "_keys_named", racing)
        with pytest.raises(keys.ClientExistsError, match="at the same time"):
            keys.create(target, "acme")
    assert [key["id"] for key in _apigateway(endpoint).get_api_keys()["items"]] == [first.key_id]
