"""The emulator's create-time checks (dofs_local/emulated/create_time_checks.py): each refuses, with AWS's
error, the resource whose role lacks what it guards, and accepts it once the role has it."""

from __future__ import annotations

import inspect
import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.iam.access_control import IAMPolicy
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

from dofs_local.emulated import create_time_checks
from tests.conftest import aws_client

pytestmark = pytest.mark.aws

LAMBDA_TRUST = {"Service": "lambda.amazonaws.com"}
STATES_TRUST = {"Service": "states.amazonaws.com"}
DEFINITION = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})


def test_patched_methods_keep_what_the_checks_read() -> None:
    """Fails if a moto upgrade renames a patched method or the parameters a check takes."""
    for owner, name, check in create_time_checks.PATCHES:
        original = inspect.unwrap(getattr(owner, name))
        parameters = set(inspect.signature(original).parameters)
        taken = {p.name for p in inspect.signature(check).parameters.values() if p.kind is p.KEYWORD_ONLY}
        assert taken <= parameters, (owner.__name__, name, taken - parameters)
    # The emulator executes state machines with the parser backend, which must still reach the
    # patched base methods.
    for name in ("create_state_machine", "update_state_machine"):
        assert f"super().{name}(" in inspect.getsource(getattr(StepFunctionsParserBackend, name))


def test_moto_keeps_the_role_and_policy_attributes_the_checks_read(aws: dict[str, Any]) -> None:
    arn = make_role(aws["iam"], "fn", LAMBDA_TRUST, XRAY)
    role = create_time_checks._role(arn)
    assert role is not None
    assert set(role.policies) == {"grant"}
    assert role.managed_policies == {}
    assert role.permissions_boundary_arn is None
    assert "Statement" in IAMPolicy('{"Statement": []}')._policy_json


def test_install_is_idempotent() -> None:
    create_time_checks.install()
    wrapped = [getattr(owner, name) for owner, name, _ in create_time_checks.PATCHES]
    create_time_checks.install()
    assert [getattr(owner, name) for owner, name, _ in create_time_checks.PATCHES] == wrapped
    assert create_time_checks.installed()


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    create_time_checks.install()
    create_time_checks.clear_violations()
    with mock_aws():
        yield {service: aws_client(service) for service in ("iam", "lambda", "sqs", "stepfunctions", "logs")}
    create_time_checks.clear_violations()


def make_role(iam: Any, name: str, principal: dict[str, str], *actions_on: tuple[list[str], str]) -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}],
    }
    arn: str = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    if actions_on:
        allow(iam, name, *actions_on)
    return arn


def allow(iam: Any, role: str, *actions_on: tuple[list[str], str], policy: str = "grant") -> None:
    statements = [{"Effect": "Allow", "Action": actions, "Resource": resource} for actions, resource in actions_on]
    iam.put_role_policy(
        RoleName=role, PolicyName=policy, PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements})
    )


def create_function(client: Any, name: str, role: str, *, tracing: str = "Active") -> Any:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("app.py", "def handler(event, context):\n    return event\n")
    return client.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": archive.getvalue()},
        TracingConfig={"Mode": tracing},
    )


def error_of(call: Any, *args: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as raised:
        call(*args, **kwargs)
    return raised.value.response["Error"]["Code"], raised.value.response["Error"]["Message"]


XRAY = (["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "*")


def test_active_tracing_needs_xray_permissions(aws: dict[str, Any]) -> None:
    role = make_role(aws["iam"], "fn", LAMBDA_TRUST)
    assert error_of(create_function, aws["lambda"], "traced", role) == (
        "InvalidParameterValueException",
        "The provided execution role does not have permissions to call PutTraceSegments on XRAY",
    )
    allow(aws["iam"], "fn", (["xray:PutTraceSegments"], "*"))
    assert error_of(create_function, aws["lambda"], "traced", role)[1].endswith("call PutTelemetryRecords on XRAY")
    create_function(aws["lambda"], "untraced", role, tracing="PassThrough")  # no X-Ray, no check
    allow(aws["iam"], "fn", XRAY)
    create_function(aws["lambda"], "traced", role)
    assert [v.operation for v in create_time_checks.violations()] == ["CreateFunction", "CreateFunction"]


def test_an_explicit_deny_or_the_permissions_boundary_withholds_xray(aws: dict[str, Any]) -> None:
    iam = aws["iam"]
    role = make_role(iam, "fn", LAMBDA_TRUST, XRAY)
    iam.put_role_policy(
        RoleName="fn",
        PolicyName="deny",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "Action": "xray:PutTraceSegments", "Resource": "*"}]}),
    )  # fmt: skip
    assert error_of(create_function, aws["lambda"], "denied", role)[0] == "InvalidParameterValueException"
    iam.delete_role_policy(RoleName="fn", PolicyName="deny")
    boundary = iam.create_policy(
        PolicyName="boundary",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]}),
    )["Policy"]["Arn"]  # fmt: skip
    iam.put_role_permissions_boundary(RoleName="fn", PermissionsBoundary=boundary)
    assert error_of(create_function, aws["lambda"], "bounded", role)[0] == "InvalidParameterValueException"


def test_a_statement_with_a_condition_is_left_out(aws: dict[str, Any]) -> None:
    """The emulator lacks the request context AWS evaluates conditions with."""
    iam = aws["iam"]
    role = make_role(iam, "fn", LAMBDA_TRUST)
    conditional = {"Effect": "Allow", "Action": XRAY[0], "Resource": "*",
                   "Condition": {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}}  # fmt: skip
    iam.put_role_policy(
        RoleName="fn",
        PolicyName="conditional",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [conditional]}),
    )
    assert error_of(create_function, aws["lambda"], "traced", role)[0] == "InvalidParameterValueException"


def test_an_attached_managed_policy_counts(aws: dict[str, Any]) -> None:
    iam = aws["iam"]
    role = make_role(iam, "fn", LAMBDA_TRUST)
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": XRAY[0], "Resource": "*"}]}
    policy = iam.create_policy(PolicyName="xray", PolicyDocument=json.dumps(document))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="fn", PolicyArn=policy)
    create_function(aws["lambda"], "traced", role)


def test_a_function_role_must_trust_lambda(aws: dict[str, Any]) -> None:
    role = make_role(aws["iam"], "wrong-service", STATES_TRUST, XRAY)
    assert error_of(create_function, aws["lambda"], "f", role, tracing="PassThrough") == (
        "InvalidParameterValueException",
        "The role defined for the function cannot be assumed by Lambda.",
    )


def test_update_function_configuration_is_checked(aws: dict[str, Any]) -> None:
    role = make_role(aws["iam"], "fn", LAMBDA_TRUST)
    create_function(aws["lambda"], "f", role, tracing="PassThrough")
    code, message = error_of(
        aws["lambda"].update_function_configuration, FunctionName="f", TracingConfig={"Mode": "Active"}
    )
    assert (code, message.split(" to call ")[1]) == ("InvalidParameterValueException", "PutTraceSegments on XRAY")


def test_an_sqs_event_source_needs_the_consume_permissions_on_that_queue(aws: dict[str, Any]) -> None:
    sqs, iam = aws["sqs"], aws["iam"]
    url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    queue = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    role = make_role(iam, "consumer", LAMBDA_TRUST)
    create_function(aws["lambda"], "consumer", role, tracing="PassThrough")

    def map_queue() -> Any:
        return aws["lambda"].create_event_source_mapping(EventSourceArn=queue, FunctionName="consumer", BatchSize=10)

    assert error_of(map_queue) == (
        "InvalidParameterValueException",
        "The provided execution role does not have permissions to call ReceiveMessage on SQS",
    )
    allow(iam, "consumer", (["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"], f"{queue}-other"))
    assert error_of(map_queue)[1].endswith("call ReceiveMessage on SQS")  # another queue's grant does not count
    allow(iam, "consumer", (["sqs:ReceiveMessage", "sqs:DeleteMessage"], queue))
    assert error_of(map_queue)[1].endswith("call GetQueueAttributes on SQS")
    allow(iam, "consumer", (["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"], queue))
    assert map_queue()["EventSourceArn"] == queue


LOGGING = {"level": "ALL", "includeExecutionData": False}


def logging_to(logs: Any) -> dict[str, Any]:
    logs.create_log_group(logGroupName="/aws/vendedlogs/states/wf")
    group = logs.describe_log_groups(logGroupNamePrefix="/aws/vendedlogs/states/wf")["logGroups"][0]["arn"]
    return {**LOGGING, "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": group}}]}


def test_a_logging_state_machine_needs_log_delivery_permissions(aws: dict[str, Any]) -> None:
    role = make_role(aws["iam"], "wf", STATES_TRUST)
    logging = logging_to(aws["logs"])

    def create() -> Any:
        return aws["stepfunctions"].create_state_machine(
            name="wf", definition=DEFINITION, roleArn=role, loggingConfiguration=logging
        )

    assert error_of(create) == (
        "AccessDeniedException",
        "The state machine IAM Role is not authorized to access the Log Destination",
    )
    delivery = list(create_time_checks.LOG_DELIVERY_ACTIONS)
    allow(aws["iam"], "wf", (delivery[:-1], "*"))  # one short: DescribeLogGroups
    assert error_of(create)[0] == "AccessDeniedException"
    allow(aws["iam"], "wf", (delivery, "*"))
    create()


def test_a_traced_state_machine_needs_xray_permissions(aws: dict[str, Any]) -> None:
    role = make_role(aws["iam"], "wf", STATES_TRUST)

    def create() -> Any:
        return aws["stepfunctions"].create_state_machine(
            name="wf", definition=DEFINITION, roleArn=role, tracingConfiguration={"enabled": True}
        )

    assert error_of(create)[0] == "AccessDeniedException"
    allow(aws["iam"], "wf", XRAY)
    create()


def test_a_state_machine_role_must_trust_step_functions(aws: dict[str, Any]) -> None:
    role = make_role(aws["iam"], "lambda-only", LAMBDA_TRUST)
    code, message = error_of(aws["stepfunctions"].create_state_machine, name="wf", definition=DEFINITION, roleArn=role)
    assert code == "AccessDeniedException"
    assert message.startswith("Neither the global service principal states.amazonaws.com")


def test_update_state_machine_is_checked(aws: dict[str, Any]) -> None:
    role = make_role(aws["iam"], "wf", STATES_TRUST)
    arn = aws["stepfunctions"].create_state_machine(name="wf", definition=DEFINITION, roleArn=role)["stateMachineArn"]
    code, _ = error_of(
        aws["stepfunctions"].update_state_machine, stateMachineArn=arn, loggingConfiguration=logging_to(aws["logs"])
    )
    assert code == "AccessDeniedException"
