"""Fails if a moto upgrade moves what dofs_local/emulated/moto_patches.py patches."""

from __future__ import annotations

import datetime
import inspect
import os
import time
from collections.abc import Iterator
from importlib.metadata import version
from typing import Any

import boto3
import jsonpath_ng.ext.parser as jsonpath_ext_parser
import moto.core.responses
import moto.core.utils as moto_utils
import moto.sqs.models
import pytest
from botocore.awsrequest import AWSPreparedRequest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.parsing.ast_nodes import ExpressionAttributeValue  # type: ignore[attr-defined]
from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]
from moto.dynamodb.parsing.tokens import ExpressionTokenizer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.sqs.models import Message, SQSBackend, sqs_backends
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_sqs
from moto.stepfunctions.parser.asl.utils import json_path
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

from dofs_local.emulated import moto_patches
from dofs_local.emulated.emulator import Emulator
from dofs_local.emulated.moto_patches import PATCHES, MotoPatch
from dofs_local.stage import LOCAL_ACCOUNT_ID


def _label(patch: MotoPatch) -> str:
    return f"{getattr(patch.owner, '__name__', patch.owner)}.{patch.attribute}"


@pytest.mark.parametrize("patch", PATCHES, ids=_label)
def test_each_patch_was_written_for_the_installed_moto(patch: MotoPatch) -> None:
    """An upgrade fails here until someone re-reads the patch against the new moto and bumps it."""
    assert version("moto") == patch.written_for_moto, f"re-check {_label(patch)} against moto {version('moto')}"


@pytest.mark.parametrize("patch", PATCHES, ids=_label)
def test_what_each_patch_replaces_is_still_there(patch: MotoPatch) -> None:
    target = getattr(patch.owner, patch.attribute, None)
    assert callable(target), f"{_label(patch)} is gone"
    parameters = tuple(inspect.signature(target).parameters)
    assert parameters[: len(patch.parameters)] == patch.parameters, f"{_label(patch)} now takes {parameters}"


def test_the_check_catches_a_moved_target() -> None:
    moved = MotoPatch(SQSBackend, "receive_message", ("self", "queue_url"))
    with pytest.raises(AssertionError, match="now takes"):
        test_what_each_patch_replaces_is_still_there(moved)
    with pytest.raises(AssertionError, match="is gone"):
        test_what_each_patch_replaces_is_still_there(MotoPatch(SQSBackend, "receive_messages", ("self",)))
    with pytest.raises(AssertionError, match="re-check"):
        test_each_patch_was_written_for_the_installed_moto(MotoPatch(SQSBackend, "receive_message", (), "5.0.0"))


def test_patches_apply_once_and_cache() -> None:
    moto_patches.apply_all()
    moto_patches.apply_all()
    assert getattr(ExecutionWorker._get_evaluation_entrypoint, "__dofs_cached__", False)
    assert getattr(SQSBackend.receive_message, "__dofs_atomic__", False)
    assert getattr(DynamoDBBackend.update_item, "__dofs_atomic__", False)
    assert not getattr(DynamoDBBackend.update_item.__wrapped__, "__dofs_atomic__", False), "wrapped twice"  # type: ignore[attr-defined]
    assert getattr(DomainDispatcherApplication.get_backend_for_host, "__dofs_memoised__", False)
    for module in (lambda_eval_utils, state_task_service_sqs):
        client_for = module.boto_client_for
        assert getattr(client_for, "__dofs_cached__", False)
    first = lambda_eval_utils.boto_client_for("us-east-1", "lambda")  # type: ignore[attr-defined]
    assert lambda_eval_utils.boto_client_for("us-east-1", "lambda") is first  # type: ignore[attr-defined]


# -- the CPU patches: each keeps moto's answers and does the work once ----------------------------


def test_a_json_path_is_compiled_once_and_still_extracts(monkeypatch: pytest.MonkeyPatch) -> None:
    moto_patches.apply_all()
    compiled: list[str] = []
    parser_class = jsonpath_ext_parser.ExtendedJsonPathParser

    class CountingParser(parser_class):  # type: ignore[misc, valid-type]
        def parse(self, string: str, lexer: Any = None) -> Any:
            compiled.append(string)
            return super().parse(string, lexer)

    monkeypatch.setattr(jsonpath_ext_parser, "ExtendedJsonPathParser", CountingParser)
    path = "$.dofs_compile_once.items[1]"
    assert json_path.extract_json(path, {"dofs_compile_once": {"items": ["a", "b"]}}) == "b"
    assert json_path.extract_json(path, {"dofs_compile_once": {"items": ["c", "d"]}}) == "d"
    assert compiled == [path]


def test_an_update_expression_is_parsed_once_and_still_applied(monkeypatch: pytest.MonkeyPatch) -> None:
    moto_patches.apply_all()
    tokenized: list[str] = []
    make_list = ExpressionTokenizer.make_list

    def counting(expression: str) -> Any:
        tokenized.append(expression)
        return make_list(expression)

    monkeypatch.setattr(ExpressionTokenizer, "make_list", staticmethod(counting))
    expression = "SET dofs_parse_once = :value"
    first = UpdateExpressionParser.make(expression)
    assert UpdateExpressionParser.make(expression) is first
    assert tokenized == [expression]
    assert [clause.get_value_name() for clause in first.find_clauses([ExpressionAttributeValue])] == [":value"]


def test_a_response_class_s_methods_are_listed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    moto_patches.apply_all()
    listed: list[Any] = []
    getmembers = inspect.getmembers

    def counting(target: Any, predicate: Any = None) -> Any:
        listed.append(target)
        return getmembers(target, predicate)

    monkeypatch.setattr(inspect, "getmembers", counting)

    class Responses:
        def send_message(self) -> None: ...

    names_of = moto.core.responses.method_names_from_class  # type: ignore[attr-defined]
    assert names_of(Responses) == ["send_message"]
    assert names_of(Responses) == ["send_message"]
    assert listed == [Responses]


def test_sqs_reads_the_same_clock_without_datetimes() -> None:
    moto_patches.apply_all()
    assert moto.sqs.models.unix_time is moto_patches.unix_time  # type: ignore[attr-defined]
    assert abs(moto_patches.unix_time() - moto_utils.unix_time()) < 1.0
    moment = datetime.datetime(2026, 11, 25, 18, 0, 0, 250_000)
    assert moto_patches.unix_time(moment) == moto_utils.unix_time(moment)
    assert moto_patches.unix_time_millis(moment) == moto_utils.unix_time_millis(moment)


@mock_aws
def test_the_retention_check_reads_the_queue_s_retention_period() -> None:
    moto_patches.apply_all()
    sqs = boto3.client("sqs", region_name="us-east-1")
    sqs.create_queue(QueueName="dofs-retention", Attributes={"MessageRetentionPeriod": "60"})
    backend = sqs_backends[LOCAL_ACCOUNT_ID]["us-east-1"]
    message = Message("id", "body")
    message.sent_timestamp = int((time.time() - 30) * 1000)  # type: ignore[assignment]
    assert backend.is_message_valid_based_on_retention_period("dofs-retention", message)
    message.sent_timestamp = int((time.time() - 61) * 1000)  # type: ignore[assignment]
    assert not backend.is_message_valid_based_on_retention_period("dofs-retention", message)


# -- in-process dispatch: the stack's own calls skip HTTP, everyone else still uses it ------------


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    saved_port = os.environ.get("MOTO_PORT")
    server = Emulator("127.0.0.1", 0)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        if saved_port is None:
            os.environ.pop("MOTO_PORT", None)
        else:
            os.environ["MOTO_PORT"] = saved_port


@pytest.fixture
def http_requests(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the requests the emulator's HTTP server answers."""
    seen: list[str] = []
    served = DomainDispatcherApplication.__call__

    def counting(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
        seen.append(environ.get("PATH_INFO", ""))
        return served(self, environ, start_response)

    monkeypatch.setattr(DomainDispatcherApplication, "__call__", counting)
    return seen


def _session(emulator: Emulator, in_process: bool) -> boto3.Session:
    session = boto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")
    if in_process:
        session.events.register("before-send", moto_patches.InProcessDispatch(emulator.endpoint))
    return session


def test_in_process_calls_skip_http_and_share_the_server_s_state(emulator: Emulator, http_requests: list[str]) -> None:
    fast = _session(emulator, in_process=True).client("sqs", endpoint_url=emulator.endpoint)
    queue_url = fast.create_queue(QueueName="dofs-in-process")["QueueUrl"]
    fast.send_message(QueueUrl=queue_url, MessageBody="hello")
    assert http_requests == []
    over_http = _session(emulator, in_process=False).client("sqs", endpoint_url=emulator.endpoint)
    received = over_http.receive_message(QueueUrl=queue_url, AttributeNames=["All"])["Messages"]
    assert [m["Body"] for m in received] == ["hello"]
    assert received[0]["Attributes"]["ApproximateReceiveCount"] == "1"
    assert http_requests, "the plain client (as the AWS CLI) went over HTTP"


def test_in_process_errors_are_aws_errors(emulator: Emulator) -> None:
    dynamodb = _session(emulator, in_process=True).client("dynamodb", endpoint_url=emulator.endpoint)
    with pytest.raises(ClientError) as raised:
        dynamodb.get_item(TableName="dofs-no-such-table", Key={"id": {"S": "1"}})
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_calls_to_another_endpoint_are_left_alone(emulator: Emulator) -> None:
    dispatch = moto_patches.InProcessDispatch("http://127.0.0.1:1")
    request = AWSPreparedRequest("POST", f"{emulator.endpoint}/", {}, b"", stream_output=False)
    assert dispatch(request) is None


def test_the_interpreter_calls_this_server_in_process(emulator: Emulator, http_requests: list[str]) -> None:
    moto_patches.apply_all()
    over_http = _session(emulator, in_process=False).client("sqs", endpoint_url=emulator.endpoint)
    queue_url = over_http.create_queue(QueueName="dofs-interpreter")["QueueUrl"]
    http_requests.clear()
    interpreter_sqs = state_task_service_sqs.boto_client_for("us-east-1", "sqs")  # type: ignore[attr-defined]
    interpreter_sqs.send_message(QueueUrl=queue_url, MessageBody="from the workflow")
    assert http_requests == []
    assert over_http.receive_message(QueueUrl=queue_url)["Messages"][0]["Body"] == "from the workflow"
