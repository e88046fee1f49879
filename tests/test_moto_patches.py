"""Fails if a moto upgrade moves what dofs_local/emulated/moto_patches.py patches."""

from __future__ import annotations

import datetime
import inspect
import json
import re
import threading
import time
from importlib.metadata import version
from typing import Any
from urllib.parse import urlsplit

import boto3
import jsonpath_ng.ext.parser as jsonpath_ext_parser
import moto.backends
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
from moto.stepfunctions.parser.asl.component.state.exec import execute_state
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_sqs
from moto.stepfunctions.parser.asl.utils import json_path
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

from dofs_config.stage import (
    LOCAL_ACCOUNT_ID,
    POWERTOOLS_PACKAGE,
    POWERTOOLS_PUBLISHER_ACCOUNT,
    load_stage,
    packaged_runtime,
    powertools_layer_name,
    powertools_layer_parameter,
)
from dofs_local.emulated import lambda_bridge, moto_patches
from dofs_local.emulated.moto_patches import PATCHES, MotoPatch
from dofs_local.measurement.moto_patch_savings import SPEED_PATCHES

pytestmark = pytest.mark.aws


def _label(patch: MotoPatch) -> str:
    return f"{getattr(patch.owner, '__name__', patch.owner)}.{patch.attribute}"


@pytest.mark.parametrize("patch", PATCHES, ids=_label)
def test_each_patch_was_written_for_the_installed_moto(patch: MotoPatch) -> None:
    """An upgrade fails here until someone re-reads the patch against the new moto and bumps it."""
    assert version("moto") == patch.written_for_moto, f"re-check {_label(patch)} against moto {version('moto')}"


@pytest.mark.parametrize("patch", PATCHES, ids=_label)
def test_what_each_patch_replaces_is_still_there(patch: MotoPatch) -> None:
    target = moto_patches.replaced(patch.owner, patch.attribute)
    assert callable(target), f"{_label(patch)} is gone"
    parameters = tuple(inspect.signature(target).parameters)
    assert parameters[: len(patch.parameters)] == patch.parameters, f"{_label(patch)} now takes {parameters}"


def test_the_check_reads_what_was_replaced_not_the_replacement() -> None:
    moto_patches.apply_all()
    assert getattr(execute_state, "Thread") is moto_patches.PooledThread  # noqa: B009 - typed as threading.Thread
    assert moto_patches.replaced(execute_state, "Thread") is threading.Thread
    assert moto_patches.replaced(SQSBackend, "receive_messages") is None


def test_the_check_catches_a_moved_target() -> None:
    moved = MotoPatch(SQSBackend, "receive_message", ("self", "queue_url"))
    with pytest.raises(AssertionError, match="now takes"):
        test_what_each_patch_replaces_is_still_there(moved)
    with pytest.raises(AssertionError, match="is gone"):
        test_what_each_patch_replaces_is_still_there(MotoPatch(SQSBackend, "receive_messages", ("self",)))
    with pytest.raises(AssertionError, match="re-check"):
        test_each_patch_was_written_for_the_installed_moto(MotoPatch(SQSBackend, "receive_message", (), "5.0.0"))


def test_every_speed_patch_is_applied_and_measured() -> None:
    """The savings measurement leaves out each speed patch by its name in `apply_all`."""
    applied = inspect.getsource(moto_patches.apply_all)
    speed = applied[applied.index("# Speed") :]
    assert sorted(SPEED_PATCHES) == sorted(re.findall(r"^    (\w+)\(\)", speed, re.MULTILINE))


def test_a_read_returns_a_copy_that_a_later_write_cannot_change() -> None:
    """moto serialises what GetItem returns after the call; a write in another thread changing
    the stored item meanwhile broke it. The read hands out a snapshot taken under the lock."""
    moto_patches.apply_all()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.put_item(TableName="t", Item={"k": {"S": "a"}, "n": {"N": "1"}})
        backend = moto.backends.get_backend("dynamodb")["123456789012"]["us-east-1"]
        read = backend.get_item("t", {"k": {"S": "a"}})
        assert read is not None
        client.update_item(
            TableName="t",
            Key={"k": {"S": "a"}},
            UpdateExpression="SET m = :m",
            ExpressionAttributeValues={":m": {"N": "2"}},
        )
        assert "m" not in read.attrs


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

    # An action added later (the Terraform apply test adds two Step Functions calls) is found.
    Responses.validate_definition = lambda self: None  # type: ignore[attr-defined]
    assert names_of(Responses) == ["send_message", "validate_definition"]
    assert listed == [Responses, Responses]


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


# -- in-process dispatch: the stack's own calls skip HTTP, other endpoints are left alone ---------

# Nothing listens here: a call that answers did not go over the network.
NO_SERVER = "http://127.0.0.1:9"


def _in_process_client(service: str) -> Any:
    session = boto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")
    session.events.register("before-send", moto_patches.InProcessDispatch(NO_SERVER))
    return session.client(service, endpoint_url=NO_SERVER)


def test_in_process_calls_are_answered_by_moto_s_backends() -> None:
    sqs = _in_process_client("sqs")
    queue_url = sqs.create_queue(QueueName="dofs-in-process")["QueueUrl"]
    try:
        sqs.send_message(QueueUrl=queue_url, MessageBody="hello")
        received = sqs.receive_message(QueueUrl=queue_url, AttributeNames=["All"])["Messages"]
        assert [m["Body"] for m in received] == ["hello"]
        assert received[0]["Attributes"]["ApproximateReceiveCount"] == "1"
        queue = sqs_backends[LOCAL_ACCOUNT_ID]["us-east-1"].get_queue("dofs-in-process")
        assert len(queue._messages) == 1  # the backend that the emulator's HTTP server also serves
    finally:
        sqs.delete_queue(QueueUrl=queue_url)


def test_in_process_errors_are_aws_errors() -> None:
    dynamodb = _in_process_client("dynamodb")
    with pytest.raises(ClientError) as raised:
        dynamodb.get_item(TableName="dofs-no-such-table", Key={"id": {"S": "1"}})
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_calls_to_another_endpoint_are_left_alone() -> None:
    dispatch = moto_patches.InProcessDispatch(NO_SERVER)
    request = AWSPreparedRequest("POST", "http://127.0.0.1:4566/", {}, b"", stream_output=False)
    assert dispatch(request) is None


def test_the_interpreter_calls_this_server_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    moto_patches.apply_all()
    monkeypatch.setenv("MOTO_PORT", str(urlsplit(NO_SERVER).port))
    interpreter_sqs = state_task_service_sqs.boto_client_for("us-east-1", "sqs")  # type: ignore[attr-defined]
    assert interpreter_sqs.meta.endpoint_url == NO_SERVER.replace("127.0.0.1", "localhost")
    queue_url = interpreter_sqs.create_queue(QueueName="dofs-interpreter")["QueueUrl"]
    try:
        interpreter_sqs.send_message(QueueUrl=queue_url, MessageBody="from the workflow")
        assert interpreter_sqs.receive_message(QueueUrl=queue_url)["Messages"][0]["Body"] == "from the workflow"
    finally:
        interpreter_sqs.delete_queue(QueueUrl=queue_url)


POWERTOOLS_RUNTIME = packaged_runtime()


def published_powertools_layer(release: str = version(POWERTOOLS_PACKAGE)) -> str:
    """The layer ARN the emulator's Powertools parameter gives for dev's architecture."""
    moto_patches.apply_all()
    name = powertools_layer_parameter(load_stage("dev").architecture, POWERTOOLS_RUNTIME, release)
    return str(boto3.client("ssm").get_parameter(Name=name)["Parameter"]["Value"])


@pytest.mark.usefixtures("aws")
def test_powertools_publishes_its_installed_release_s_layer_and_no_other() -> None:
    """AWS answers Powertools' public parameter of a release with that release's layer in the
    caller's region; moto has none of them, and a release never published is not found."""
    stage = load_stage("dev")
    layer = powertools_layer_name(stage.architecture, POWERTOOLS_RUNTIME, version(POWERTOOLS_PACKAGE))
    assert published_powertools_layer().startswith(
        f"arn:aws:lambda:{boto3.client('ssm').meta.region_name}:{POWERTOOLS_PUBLISHER_ACCOUNT}:layer:{layer}:"
    )
    with pytest.raises(ClientError, match="ParameterNotFound"):
        published_powertools_layer("0.0.1")


@pytest.mark.usefixtures("aws")
def test_a_function_may_use_a_public_layer_and_no_unknown_other() -> None:
    lambda_ = boto3.client("lambda")
    powertools = published_powertools_layer()
    trust = {
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    }
    role = boto3.client("iam").create_role(RoleName="function", AssumeRolePolicyDocument=json.dumps(trust))
    function = {
        "Runtime": "python3.11",
        "Role": role["Role"]["Arn"],
        "Handler": "app.handler",
        "Code": {"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
    }
    lambda_.create_function(FunctionName="with-powertools", Layers=[powertools], **function)
    assert [
        layer["Arn"] for layer in lambda_.get_function(FunctionName="with-powertools")["Configuration"]["Layers"]
    ] == [powertools]
    unknown = "arn:aws:lambda:us-east-1:999999999999:layer:nobody:1"
    with pytest.raises(lambda_.exceptions.ClientError, match=r"UnknownLayerVersion|ResourceNotFound|not found"):
        lambda_.create_function(FunctionName="with-unknown", Layers=[unknown], **function)


@mock_aws
def test_a_dynamodb_read_waits_for_a_write_in_progress() -> None:
    """moto's GetItem iterated a table while another thread's write changed it ("dictionary
    changed size during iteration"): reads take the backend lock that writes hold."""
    moto_patches.apply_all()
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    dynamodb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    read = threading.Thread(target=lambda: dynamodb.get_item(TableName="t", Key={"k": {"S": "a"}}))
    with moto_patches._backend_lock:  # a write in progress in another thread
        read.start()
        read.join(timeout=1.0)
        waited = read.is_alive()
    read.join(timeout=10)
    assert waited
    assert not read.is_alive()


# -- the interpreter's threads: reused workers, timeouts still enforced ----------------------------

TRUST_STATES = {
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}]
}


def _one_task_machine(function_name: str, timeout_seconds: int) -> str:
    """A state machine of one Lambda Task with this TimeoutSeconds (no retries), its ARN."""
    role = boto3.client("iam").create_role(RoleName="workflow", AssumeRolePolicyDocument=json.dumps(TRUST_STATES))
    definition = {
        "StartAt": "Work",
        "States": {
            "Work": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": function_name, "Payload.$": "$"},
                "TimeoutSeconds": timeout_seconds,
                "End": True,
            }
        },
    }
    created = boto3.client("stepfunctions").create_state_machine(
        name="one-task", definition=json.dumps(definition), roleArn=role["Role"]["Arn"]
    )
    return str(created["stateMachineArn"])


def _finished(execution_arn: str) -> dict[str, Any]:
    stepfunctions = boto3.client("stepfunctions")
    for _ in range(600):  # the execution runs in the interpreter's own threads
        described = stepfunctions.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return dict(described)
        time.sleep(0.05)
    raise AssertionError(f"{execution_arn} still running")


@pytest.fixture
def in_process_function() -> Any:
    yield lambda_bridge.install
    lambda_bridge.uninstall()


@pytest.mark.usefixtures("aws")
def test_a_task_state_still_times_out(in_process_function: Any) -> None:
    """The state's worker is still running when TimeoutSeconds (1 s) is up: States.Timeout."""
    moto_patches.apply_all()
    release = threading.Event()
    in_process_function({"dofs-stuck": lambda event, context: release.wait(30)})
    machine = _one_task_machine("dofs-stuck", timeout_seconds=1)
    try:
        execution = boto3.client("stepfunctions").start_execution(stateMachineArn=machine, input="{}")
        finished = _finished(execution["executionArn"])
    finally:
        release.set()
    assert (finished["status"], finished.get("error")) == ("FAILED", "States.Timeout")


@pytest.mark.usefixtures("aws")
def test_task_states_run_on_reused_workers(in_process_function: Any) -> None:
    """moto started a new thread per execution, per program and per Task state: nine for three
    executions of one Task. Run one after another, they reuse the workers of the first."""
    moto_patches.apply_all()
    ran_on: list[str] = []
    in_process_function({"dofs-where": lambda event, context: ran_on.append(threading.current_thread().name)})
    machine = _one_task_machine("dofs-where", timeout_seconds=10)
    stepfunctions = boto3.client("stepfunctions")
    workers_before = moto_patches._workflow_workers.started
    for n in range(3):
        execution = stepfunctions.start_execution(stateMachineArn=machine, name=f"run-{n}", input="{}")
        assert _finished(execution["executionArn"])["status"] == "SUCCEEDED"
    assert len(ran_on) == 3
    assert all(name.startswith("sfn-worker-") for name in ran_on), ran_on
    assert moto_patches._workflow_workers.started - workers_before < 3 * 3


def test_a_pooled_thread_joins_with_a_timeout_as_a_thread_does() -> None:
    release = threading.Event()
    worker = moto_patches.PooledThread(target=release.wait, args=(30,), daemon=True)
    assert not worker.is_alive()
    worker.start()
    worker.join(timeout=0.01)  # what moto does with a TimeoutSeconds: the work goes on
    assert worker.is_alive()
    release.set()
    worker.join()
    assert not worker.is_alive()


def test_a_busy_worker_never_holds_up_another_task() -> None:
    """A state that overran its timeout keeps its worker; the next task gets another one."""
    stuck, release = threading.Event(), threading.Event()

    def overrun() -> None:
        stuck.set()
        release.wait(30)

    first = moto_patches.PooledThread(target=overrun)
    first.start()
    assert stuck.wait(10)
    second = moto_patches.PooledThread(target=lambda: None)
    second.start()
    second.join(timeout=10)
    ran_meanwhile = not second.is_alive()
    release.set()
    assert ran_meanwhile
