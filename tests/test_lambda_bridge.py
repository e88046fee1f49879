"""Fails if a moto upgrade changes what the in-process Lambda bridge relies on."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from dofs_local.emulated import lambda_bridge
from dofs_local.emulated.provisioning import Resources

pytestmark = pytest.mark.aws


@pytest.fixture
def bridge(resources: Resources) -> Any:
    yield lambda_bridge
    lambda_bridge.uninstall()


def test_invoke_through_moto_runs_the_function_in_process(bridge: Any) -> None:
    seen: list[Any] = []

    def echo(event: Any, context: Any) -> Any:
        seen.append((event, context.function_name))
        return {"echo": event["value"]}

    bridge.install({"dofs-local-echo": echo})
    response = boto3.client("lambda").invoke(
        FunctionName="arn:aws:lambda:us-east-1:123456789012:function:dofs-local-echo", Payload=json.dumps({"value": 3})
    )
    assert json.loads(response["Payload"].read()) == {"echo": 3}
    assert "FunctionError" not in response
    assert seen == [({"value": 3}, "dofs-local-echo")]


def test_an_exception_is_reported_as_lambda_reports_it(bridge: Any) -> None:
    class TransientError(Exception):
        pass

    def fail(event: Any, context: Any) -> Any:
        raise TransientError("slow down")

    bridge.install({"dofs-local-fail": fail})
    response = boto3.client("lambda").invoke(FunctionName="dofs-local-fail", Payload=b"{}")
    assert response["FunctionError"] == "Unhandled"
    payload = json.loads(response["Payload"].read())
    assert (payload["errorType"], payload["errorMessage"]) == ("TransientError", "slow down")


def test_uninstall_restores_moto(bridge: Any) -> None:
    bridge.install({"dofs-local-x": lambda event, context: None})
    bridge.uninstall()
    with pytest.raises(boto3.client("lambda").exceptions.ResourceNotFoundException):
        boto3.client("lambda").invoke(FunctionName="dofs-local-x", Payload=b"{}")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("dofs-local-x", "dofs-local-x"),
        ("dofs-local-x:live", "dofs-local-x"),
        ("arn:aws:lambda:us-east-1:123456789012:function:dofs-local-x", "dofs-local-x"),
        ("arn:aws:lambda:us-east-1:123456789012:function:dofs-local-x:7", "dofs-local-x"),
    ],
)
def test_function_names_and_arns_resolve(name: str, expected: str) -> None:
    assert lambda_bridge.function_name_of(name) == expected
