"""What AWS checks when it creates a function, an event source mapping or a state machine.

moto creates these whatever the role may do; AWS refuses them at create time, checking the
role's policies as they exist at that moment. These patches make the emulator refuse them too,
with the error AWS gives, so an apply whose resources are created before their roles can do
their work fails offline as it fails on AWS (see docs/TESTING.md, "Create-time checks"):

- CreateFunction / UpdateFunctionConfiguration: the role must be assumable by
  lambda.amazonaws.com; with TracingConfig Active it must allow xray:PutTraceSegments and
  xray:PutTelemetryRecords.
- CreateEventSourceMapping from an SQS queue: the function's role must allow
  sqs:ReceiveMessage, sqs:DeleteMessage and sqs:GetQueueAttributes on the queue.
- CreateStateMachine / UpdateStateMachine: the role must be assumable by states.amazonaws.com;
  with logging it must allow the CloudWatch Logs log-delivery calls, with tracing the X-Ray ones.

A role's permissions are its inline and attached policies, evaluated statement by statement by
moto's IAM policy evaluator (explicit Deny wins, then any Allow; statements with a Condition are
left out), within its permissions boundary if it has one.
Every refusal is also kept in `violations()`: the Terraform provider retries these errors for
minutes (it takes them for IAM propagation), so the apply test stops at the first one instead.

Written for moto 5.2.5 (`WRITTEN_FOR_MOTO`): tests/test_create_time_checks.py fails if an
upgrade moves a patched method or changes its parameters.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from moto.awslambda.exceptions import InvalidParameterValueException
from moto.awslambda.models import LambdaBackend
from moto.core.exceptions import AWSError
from moto.iam.access_control import IAMPolicy, IAMPolicyStatement, PermissionResult
from moto.iam.exceptions import NotFoundException as IAMNotFoundException
from moto.iam.models import Role, iam_backends
from moto.stepfunctions.models import StepFunctionBackend

WRITTEN_FOR_MOTO = "5.2.5"

XRAY_WRITE_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")
SQS_CONSUME_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
# What Step Functions needs to set up CloudWatch Logs delivery; AWS requires them on "*".
LOG_DELIVERY_ACTIONS = (
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
)
LAMBDA_PRINCIPAL = "lambda.amazonaws.com"
STATES_PRINCIPAL = "states.amazonaws.com"
_INSTALLED_MARK = "__dofs_create_time_check__"


class StepFunctionsAccessDenied(AWSError):
    TYPE = "AccessDeniedException"


@dataclass(frozen=True)
class Violation:
    operation: str  # the AWS call refused, e.g. CreateFunction
    resource: str  # the function, mapping source or state machine it would have created
    error: str  # the error code and message AWS answers with

    def __str__(self) -> str:
        return f"{self.operation} {self.resource}: {self.error}"


_violations: list[Violation] = []
_violations_lock = threading.Lock()


def violations() -> list[Violation]:
    """Every refusal since the last `clear_violations()`, in order."""
    with _violations_lock:
        return list(_violations)


def clear_violations() -> None:
    with _violations_lock:
        _violations.clear()


def _refuse(operation: str, resource: str, error: InvalidParameterValueException | AWSError) -> None:
    with _violations_lock:
        _violations.append(Violation(operation, resource, f"{error.error_type}: {error.message}"))
    raise error


def _role(role_arn: str | None) -> Role | None:
    """The role, or None where moto itself answers (a malformed or unknown role)."""
    account = re.match(r"arn:aws[\w-]*:iam::(\d{12}):role/", role_arn or "")
    if role_arn is None or account is None:
        return None
    try:
        return iam_backends[account.group(1)]["aws"].get_role_by_arn(role_arn)
    except IAMNotFoundException:
        return None


def _statements(document: str | dict[str, Any]) -> list[dict[str, Any]]:
    statements = (json.loads(document) if isinstance(document, str) else document)["Statement"]
    return statements if isinstance(statements, list) else [statements]


def _documents(role: Role) -> list[list[dict[str, Any]]]:
    inline = [_statements(document) for document in role.policies.values()]
    attached = [_statements(IAMPolicy(policy)._policy_json) for policy in role.managed_policies.values()]
    return inline + attached


def _permitted(documents: Iterable[list[dict[str, Any]]], action: str, resource: str) -> bool:
    """moto's evaluator, statement by statement. A statement with a Condition is left out: AWS
    checks these calls with a context the emulator does not have, and moto would evaluate the
    condition against an empty one (an Allow with a condition then counts as a Deny)."""
    results = [
        IAMPolicyStatement(statement).is_action_permitted(action, resource)
        for statements in documents
        for statement in statements
        if "Condition" not in statement
    ]
    return PermissionResult.DENIED not in results and PermissionResult.PERMITTED in results


def role_allows(role: Role, action: str, resource: str = "*") -> bool:
    """Whether the role's policies allow the call, within its permissions boundary."""
    if not _permitted(_documents(role), action, resource):
        return False
    if role.permissions_boundary_arn is None:
        return True
    account = role.arn.split(":")[4]
    boundary = iam_backends[account]["aws"].get_policy(role.permissions_boundary_arn)
    return _permitted([_statements(IAMPolicy(boundary)._policy_json)], action, resource)


def trusts_service(role: Role, service: str) -> bool:
    """Whether the trust policy lets the service principal call sts:AssumeRole.

    moto's evaluator checks only AWS principals, so the Service principal is matched here."""
    document = role.assume_role_policy_document
    statements = (json.loads(document) if isinstance(document, str) else document)["Statement"]
    allowed = False
    for statement in statements if isinstance(statements, list) else [statements]:
        actions = statement.get("Action", [])
        if not any(re.fullmatch(a.replace("*", ".*"), "sts:AssumeRole") for a in _as_list(actions)):
            continue
        services = _as_list(statement.get("Principal", {}).get("Service", []))
        if service in services or statement.get("Principal") == "*":
            if statement.get("Effect") == "Deny":
                return False
            allowed = True
    return allowed


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _missing(role: Role, actions: Iterable[str], resource: str = "*") -> str | None:
    """The first action the role may not call, without its service prefix (as AWS names it)."""
    for action in actions:
        if not role_allows(role, action, resource):
            return action.split(":", 1)[1]
    return None


def check_function(operation: str, name: str, role_arn: str | None, tracing_config: dict[str, Any] | None) -> None:
    role = _role(role_arn)
    if role is None:
        return
    if not trusts_service(role, LAMBDA_PRINCIPAL):
        _refuse(
            operation,
            name,
            InvalidParameterValueException("The role defined for the function cannot be assumed by Lambda."),
        )
    if (tracing_config or {}).get("Mode") == "Active":
        missing = _missing(role, XRAY_WRITE_ACTIONS)
        if missing:
            message = f"The provided execution role does not have permissions to call {missing} on XRAY"
            _refuse(operation, name, InvalidParameterValueException(message))


def check_sqs_event_source(function_name: str, role_arn: str, queue_arn: str) -> None:
    role = _role(role_arn)
    if role is None or not queue_arn.startswith("arn:aws:sqs:"):
        return
    missing = _missing(role, SQS_CONSUME_ACTIONS, queue_arn)
    if missing:
        message = f"The provided execution role does not have permissions to call {missing} on SQS"
        _refuse("CreateEventSourceMapping", f"{queue_arn} -> {function_name}", InvalidParameterValueException(message))


def check_state_machine(
    operation: str,
    name: str,
    role_arn: str | None,
    logging_configuration: dict[str, Any] | None,
    tracing_configuration: dict[str, Any] | None,
) -> None:
    role = _role(role_arn)
    if role is None:
        return
    if not trusts_service(role, STATES_PRINCIPAL):
        message = (
            "Neither the global service principal states.amazonaws.com, "
            "nor the regional one is authorized to assume the provided role."
        )
        _refuse(operation, name, StepFunctionsAccessDenied(message))
    logging = logging_configuration or {}
    if logging.get("destinations") and logging.get("level", "OFF") != "OFF" and _missing(role, LOG_DELIVERY_ACTIONS):
        _refuse(
            operation,
            name,
            StepFunctionsAccessDenied("The state machine IAM Role is not authorized to access the Log Destination"),
        )
    if (tracing_configuration or {}).get("enabled") and _missing(role, XRAY_WRITE_ACTIONS):
        _refuse(
            operation,
            name,
            StepFunctionsAccessDenied("The state machine IAM Role is not authorized to send traces to X-Ray"),
        )


# --- the patches (moto 5.2.5) ------------------------------------------------------------------


def _checked(method: Callable[..., Any], check: Callable[..., None]) -> Callable[..., Any]:
    signature = inspect.signature(method)

    @functools.wraps(method)
    def checked(self: Any, *args: Any, **kwargs: Any) -> Any:
        arguments = signature.bind(self, *args, **kwargs).arguments
        check(self, **{name: value for name, value in arguments.items() if name != "self"})
        return method(self, *args, **kwargs)

    setattr(checked, _INSTALLED_MARK, True)
    return checked


def _check_create_function(backend: LambdaBackend, *, spec: dict[str, Any]) -> None:
    check_function("CreateFunction", spec.get("FunctionName", ""), spec.get("Role"), spec.get("TracingConfig"))


def _check_update_function_configuration(
    backend: LambdaBackend, *, function_name: str, qualifier: str | None, body: dict[str, Any]
) -> None:
    function = backend.get_function(function_name, qualifier)
    role = body.get("Role") or function.role
    tracing = body.get("TracingConfig") or function.tracing_config
    check_function("UpdateFunctionConfiguration", function.function_name, role, tracing)


def _check_create_event_source_mapping(backend: LambdaBackend, *, spec: dict[str, Any]) -> None:
    if not spec.get("FunctionName") or not spec.get("EventSourceArn"):
        return  # moto answers the missing parameter
    function = backend.get_function(spec["FunctionName"])
    check_sqs_event_source(function.function_name, function.role, spec["EventSourceArn"])


def _check_create_state_machine(
    backend: StepFunctionBackend,
    *,
    name: str,
    roleArn: str,  # moto's parameter names
    loggingConfiguration: dict[str, Any] | None = None,
    tracingConfiguration: dict[str, Any] | None = None,
    **_: Any,
) -> None:
    check_state_machine("CreateStateMachine", name, roleArn, loggingConfiguration, tracingConfiguration)


def _check_update_state_machine(
    backend: StepFunctionBackend,
    *,
    arn: str,
    role_arn: str | None = None,
    logging_configuration: dict[str, Any] | None = None,
    tracing_configuration: dict[str, Any] | None = None,
    **_: Any,
) -> None:
    machine = backend.describe_state_machine(arn)
    check_state_machine(
        "UpdateStateMachine",
        machine.name,
        role_arn or machine.roleArn,
        logging_configuration or machine.loggingConfiguration,
        tracing_configuration or machine.tracingConfiguration,
    )


# (class, method, check): each check takes the method's parameters by the names moto 5.2.5 gives them.
PATCHES: tuple[tuple[type, str, Callable[..., None]], ...] = (
    # moto 5.2.5: create_function(spec) gets the request body (FunctionName, Role, TracingConfig).
    (LambdaBackend, "create_function", _check_create_function),
    # moto 5.2.5: update_function_configuration(function_name, qualifier, body).
    (LambdaBackend, "update_function_configuration", _check_update_function_configuration),
    # moto 5.2.5: create_event_source_mapping(spec), spec = the body (FunctionName, EventSourceArn).
    (LambdaBackend, "create_event_source_mapping", _check_create_event_source_mapping),
    # moto 5.2.5: the base class's create_state_machine (the parser backend calls it via super()).
    (StepFunctionBackend, "create_state_machine", _check_create_state_machine),
    # moto 5.2.5: update_state_machine(arn, ..., role_arn, logging_configuration, tracing_configuration).
    (StepFunctionBackend, "update_state_machine", _check_update_state_machine),
)


def install() -> None:
    """Switches the checks on for every backend in this process (in-process mocks and the server)."""
    for owner, name, check in PATCHES:
        method = getattr(owner, name)
        if not getattr(method, _INSTALLED_MARK, False):
            setattr(owner, name, _checked(method, check))


def installed() -> bool:
    return all(getattr(getattr(owner, name), _INSTALLED_MARK, False) for owner, name, _ in PATCHES)
