"""Fails if a moto upgrade changes what the in-process Lambda bridge relies on; each emulated
invocation keeps its own log keys and cold start."""

from __future__ import annotations

import json
import threading
from typing import Any

import boto3
import pytest

from chalicelib.observability import lambda_log_context, logger, order_context
from dofs_local.emulated import lambda_bridge
from dofs_local.emulated.provisioning import Resources
from tests.log_lines import LogLines, log_lines_fixture  # noqa: F401 - the log_lines fixture

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


def test_concurrent_invocations_keep_their_own_log_keys(bridge: Any, log_lines: LogLines) -> None:
    """Lambda runs one invocation per process; here they share one, and the app's standard
    `append_keys` must still put each invocation's order on its own lines only."""
    both_inside = threading.Barrier(2, timeout=10)

    def handle(event: Any, context: Any) -> Any:
        with order_context(event["order_id"], "test"):
            both_inside.wait()  # each has appended its keys before either logs
            logger.info("inside")

    bridge.install({})
    logger.info("before")
    invoke = lambda_log_context(handle)
    threads = [
        threading.Thread(target=lambda_bridge.call_function, args=(invoke, f"dofs-local-f{i}", {"order_id": f"o-{i}"}))
        for i in (1, 2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    logger.info("after")
    before, *inside, after = log_lines()
    assert {(line["order_id"], line["function_name"]) for line in inside} == {
        ("o-1", "dofs-local-f1"),
        ("o-2", "dofs-local-f2"),
    }
    assert after.keys() == before.keys(), "nothing outlives its invocation"


def test_each_function_has_its_own_cold_start(bridge: Any, log_lines: LogLines) -> None:
    bridge.install({})
    invoke = lambda_log_context(lambda event, context: logger.info("invoked"))
    for name in ("dofs-local-a", "dofs-local-a", "dofs-local-b"):
        lambda_bridge.call_function(invoke, name, {})
    assert [(line["function_name"], line["cold_start"]) for line in log_lines()] == [
        ("dofs-local-a", True),
        ("dofs-local-a", False),
        ("dofs-local-b", True),
    ]
