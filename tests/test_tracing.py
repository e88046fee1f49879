"""X-Ray through Powertools' Tracer: in Lambda every invocation is a subsegment and each order's
work one inside it, annotated with the order id; outside Lambda (tests, the local stack) it is off."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import aws_xray_sdk
import pytest
from aws_lambda_powertools import Tracer
from aws_xray_sdk.core import xray_recorder
from aws_xray_sdk.core.context import Context

from app import validate_order
from chalicelib import observability
from dofs_config.stage import PROJECT_DIR, load_stage
from dofs_local.emulated.lambda_bridge import LambdaContext
from tests.conftest import make_order

pytestmark = pytest.mark.aws


class KeptEmitter:
    """What the X-Ray SDK would send to the daemon over UDP, kept instead."""

    def __init__(self) -> None:
        self.entities: list[Any] = []

    def send_entity(self, entity: Any) -> None:
        self.entities.append(entity)

    def set_daemon_address(self, address: str | None) -> None:
        return None


@pytest.fixture
def traced_as_in_lambda(monkeypatch: pytest.MonkeyPatch) -> Iterator[KeptEmitter]:
    """Tracing on, as in Lambda, under a sampled segment (Lambda's own), sending nowhere."""
    # The tests build no tracer (observability builds one only where tracing is on): this one is
    # Lambda's, without patching botocore for the tests that follow. Built first: building it
    # configures the recorder.
    tracer = Tracer(disabled=False, auto_patch=False)
    monkeypatch.setattr(tracer, "disabled", False)
    monkeypatch.setattr(observability, "tracer", tracer)
    emitter = KeptEmitter()
    monkeypatch.setattr(xray_recorder, "_emitter", emitter)
    monkeypatch.setattr(xray_recorder, "_context", Context())
    # An enabled tracer streams each closed subsegment (threshold 0); the test reads the segment whole.
    monkeypatch.setattr(xray_recorder, "streaming_threshold", 30)
    aws_xray_sdk.global_sdk_config.set_sdk_enabled(True)
    try:
        xray_recorder.begin_segment("lambda", sampling=1)
        yield emitter
    finally:
        aws_xray_sdk.global_sdk_config.set_sdk_enabled(False)


def test_an_invocation_is_a_subsegment_and_the_order_is_annotated(traced_as_in_lambda: KeptEmitter) -> None:
    validate_order({"order": make_order("traced-1").to_payload()}, LambdaContext("dofs-dev-validate_order"))
    xray_recorder.end_segment()
    [segment] = traced_as_in_lambda.entities
    [invocation] = segment.subsegments
    assert invocation.name.startswith("## ")
    assert "ColdStart" in invocation.annotations
    [order_work] = invocation.subsegments
    assert order_work.name == "## validate_order"
    assert order_work.annotations == {"order_id": "traced-1"}
    assert "response" not in str(invocation.metadata), "responses (orders) stay out of traces"


def test_the_tests_never_trace_nor_pay_for_the_xray_sdk() -> None:
    """Where tracing is off no tracer is built, so the X-Ray SDK is never imported on its account."""
    assert observability.tracer is None
    probe = "import sys, app; print('aws_xray_sdk.core' in sys.modules)"
    env = {**os.environ, **load_stage("local").api_environment()}
    imported = subprocess.run(  # noqa: S603 - this interpreter, a fixed probe
        [sys.executable, "-c", probe], cwd=PROJECT_DIR, env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert imported == "False"


@pytest.mark.parametrize(
    ("stage", "function", "traced"),
    [
        ("dev", "store_order", True),
        ("prod", "fulfill_order", True),
        ("dev", "api_handler", False),
        ("prod", "api_handler", False),
        ("local", "store_order", False),
    ],
)
def test_deployed_stages_trace_every_function_but_the_api_handler_with_the_sdk(
    monkeypatch: pytest.MonkeyPatch, stage: str, function: str, traced: bool
) -> None:
    """Where the environment looks like Lambda's, the function's own variables decide. The local
    stack sets POWERTOOLS_TRACE_DISABLED, so it never tries to reach an X-Ray daemon. The API
    handler sets it on every stage: building the SDK's recorder would lengthen the cold start a
    client waits for, and Lambda's active tracing records its invocation without it."""
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED", raising=False)
    deployed = load_stage(stage)
    for name, value in {**deployed.environment, **deployed.function_environments.get(function, {})}.items():
        monkeypatch.setenv(name, value)
    assert bool(Tracer._is_tracer_disabled()) is not traced
