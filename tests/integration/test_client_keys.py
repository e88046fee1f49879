"""Per-client API keys over HTTP against the local stack, which checks x-api-key as API Gateway
does: a key of the stage's usage plan is let through, and revoking one client's key (with the
ops CLI, against the emulator) refuses that client at once while another's still gets 202."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from dofs_local import __main__ as local_cli
from dofs_local.emulated.pipeline import LocalPipeline, PipelineOptions
from dofs_ops import __main__ as cli
from dofs_ops.target import Target
from tests.conftest import order_body

pytestmark = pytest.mark.emulator

GIVEN_KEY = "the-key-given-at-start-0001"  # pragma: allowlist secret - a stand-in value, 20+ characters


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalPipeline]:
    options = PipelineOptions(api_port=0, aws_port=0, quiet_http=True, require_api_key=GIVEN_KEY, success_rate=1.0)
    with LocalPipeline(options) as running:
        yield running


def post(stack: LocalPipeline, key: str | None, order_id: str) -> int:
    headers = {"Content-Type": "application/json"} | ({"x-api-key": key} if key is not None else {})
    request = urllib.request.Request(  # noqa: S310 - loopback http
        f"{stack.api_url}/order",
        data=json.dumps(order_body(order_id=order_id)).encode(),
        headers=headers,
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def keys(stack: LocalPipeline, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, str]:
    status = cli.main(["--endpoint-url", stack.aws_endpoint, "--json", "keys", *args])
    out = capsys.readouterr().out
    assert status == 0
    parsed: dict[str, str] = json.loads(out)
    return parsed


def test_only_keys_of_the_usage_plan_are_let_through(stack: LocalPipeline) -> None:
    assert post(stack, None, "no-key") == 403
    assert post(stack, "not-a-key-of-the-plan-at-all", "wrong-key") == 403
    assert post(stack, GIVEN_KEY, "given-key") == 202


def test_revoking_one_client_refuses_it_and_leaves_the_other(
    stack: LocalPipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    acme = keys(stack, capsys, "create", "acme")["value"]
    globex = keys(stack, capsys, "create", "globex")["value"]
    assert post(stack, acme, "acme-1") == 202
    assert post(stack, globex, "globex-1") == 202

    keys(stack, capsys, "revoke", "acme")
    assert post(stack, acme, "acme-2") == 403
    assert post(stack, globex, "globex-2") == 202
    assert post(stack, GIVEN_KEY, "given-2") == 202


def test_a_disabled_key_is_refused(stack: LocalPipeline, capsys: pytest.CaptureFixture[str]) -> None:
    created = keys(stack, capsys, "create", "initech")
    assert post(stack, created["value"], "initech-1") == 202
    apigateway = Target(stage=stack.stage, region=stack.stage.region, endpoint_url=stack.aws_endpoint).client(
        "apigateway"
    )
    apigateway.update_api_key(
        apiKey=created["key_id"], patchOperations=[{"op": "replace", "path": "/enabled", "value": "false"}]
    )
    assert post(stack, created["value"], "initech-2") == 403


@pytest.mark.parametrize(
    ("args", "required"),
    [([], None), (["--require-api-key"], ""), (["--require-api-key", GIVEN_KEY], GIVEN_KEY)],
)
def test_serve_requires_keys_only_when_told(
    monkeypatch: pytest.MonkeyPatch, args: list[str], required: str | None
) -> None:
    monkeypatch.delenv("DOFS_REQUIRE_API_KEY", raising=False)
    assert local_cli._parser().parse_args(["serve", *args]).require_api_key == required


def test_a_given_key_shorter_than_api_gateway_allows_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DOFS_REQUIRE_API_KEY", raising=False)
    with pytest.raises(SystemExit) as exit_:
        local_cli._parser().parse_args(["serve", "--require-api-key", "too-short"])
    assert exit_.value.code == 2
    assert "an API key is at least 20 characters" in capsys.readouterr().err
