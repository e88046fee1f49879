"""The operator roles (infra/modules/operator) allow exactly what `dofs_ops` calls, and hold.

The calls are derived from the CLI itself, the way tests/infra/test_iam.py derives the function
roles from their code, but by running it: each command runs against the local stack with every
botocore call recorded, and each call becomes an IAM action on a named resource. `show` runs its
AWS path (execution events and function lines from CloudWatch Logs), which is what the role is
for. The read commands' calls must equal the read-only role's table, all commands' calls the
operator role's.

Then moto's IAM enforcement is switched on and the CLI runs with the credentials sts:AssumeRole
gives for each role, rendered for the local stage: the read-only role lists and shows but is
refused redrive and keys; the operator role redrives and manages client keys.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import botocore.client
import pytest

from dofs_ops import target as ops_target
from dofs_ops.__main__ import main
from scripts.tfmodel import load_module
from tests.infra.conftest import INFRA_DIR
from tests.infra.test_pipeline_roles import patch_moto_iam, set_enforcement
from tests.integration.conftest import RunningStack, StackFactory
from tests.integration.test_operations import dead_lettered

pytestmark = pytest.mark.emulator

Permission = tuple[str, str]  # (resource, action), e.g. ("orders", "dynamodb:GetItem")

# The module's variables -> the resources they name.
VARIABLES = {
    "orders_table_arn": "orders",
    "failed_orders_table_arn": "failed_orders",
    "index_arns": "indexes",
    "order_queue_arn": "order_queue",
    "log_group_arns": "log_groups",
}
TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
READ_ROLE, OPERATOR_ROLE = "operator-readonly", "operator"
ACCOUNT = "123456789012"  # moto's default account


def declared() -> dict[str, set[Permission]]:
    """Each role's (resource, action) pairs, read from the module's tables."""
    module = load_module(INFRA_DIR / "modules" / "operator")

    def permissions(table: str) -> set[Permission]:
        found: set[Permission] = set()
        for statement in module.locals[table]:
            actions = re.findall(r'"([a-z0-9]+:[A-Za-z]+)"', json.dumps(statement["actions"]))
            named = set(re.findall(r"var\.(\w+)", str(statement["resources"]))) - {"usage_plan_id"}
            resources = {VARIABLES[name] for name in named}
            if "local.apigateway" in str(statement["resources"]):
                resources.add("api_keys")
            found |= {(resource, action) for resource in resources for action in actions}
        return found

    read = permissions("read")
    return {READ_ROLE: read, OPERATOR_ROLE: read | permissions("redrive") | permissions("keys")}


def test_declared_table_is_read() -> None:
    """A guard against the parsing silently finding nothing."""
    roles = declared()
    assert ("orders", "dynamodb:GetItem") in roles[READ_ROLE]
    assert ("order_queue", "sqs:SendMessage") in roles[OPERATOR_ROLE]
    assert ("order_queue", "sqs:SendMessage") not in roles[READ_ROLE]


class Recorder:
    """Every AWS call a command makes, as (resource, IAM action)."""

    def __init__(self, stack: RunningStack) -> None:
        stage = stack.stack.stage
        self._tables = {stage.orders_table: "orders", stage.failed_orders_table: "failed_orders"}
        self._queue = stage.order_queue_name
        self.calls: set[Permission] = set()

    def record(self, client: Any, operation: str, params: dict[str, Any]) -> None:
        service = client.meta.service_model.service_name
        if service == "dynamodb":
            self._dynamodb(operation, params)
        elif service == "sqs":
            url_or_name = params.get("QueueUrl") or params.get("QueueName", "")
            assert url_or_name.rsplit("/", 1)[-1] == self._queue, f"sqs call on {url_or_name}"
            self.calls.add(("order_queue", f"sqs:{operation}"))
        elif service == "logs":
            self.calls.add(("log_groups", f"logs:{operation}"))
        elif service == "apigateway":
            method = client.meta.service_model.operation_model(operation).http["method"]
            self.calls.add(("api_keys", f"apigateway:{method}"))
            if params.get("tags"):  # tags given at creation: API Gateway authorizes them as TagResource (PUT /tags/…)
                self.calls.add(("api_keys", "apigateway:PUT"))
        else:
            self.calls.add((service, operation))  # a service the role does not cover: fails the comparison

    def _dynamodb(self, operation: str, params: dict[str, Any]) -> None:
        if operation == "TransactWriteItems":
            for item in params["TransactItems"]:
                [(kind, body)] = item.items()
                self.calls.add((self._tables[body["TableName"]], f"dynamodb:{TRANSACT_ACTIONS[kind]}"))
        elif operation == "BatchGetItem":
            self.calls |= {(self._tables[table], "dynamodb:BatchGetItem") for table in params["RequestItems"]}
        elif "IndexName" in params:
            self.calls.add(("indexes", f"dynamodb:{operation}"))
        else:
            self.calls.add((self._tables[params["TableName"]], f"dynamodb:{operation}"))


@contextmanager
def recording(stack: RunningStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    recorder = Recorder(stack)
    make_api_call = botocore.client.BaseClient._make_api_call

    cli_thread = threading.get_ident()  # the stack's pollers and functions call AWS on threads of their own

    def record(client: Any, operation: str, params: dict[str, Any]) -> Any:
        if threading.get_ident() == cli_thread:
            recorder.record(client, operation, params)
        return make_api_call(client, operation, params)

    with monkeypatch.context() as patch:
        patch.setattr(botocore.client.BaseClient, "_make_api_call", record)
        as_on_aws(patch, {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"})  # pragma: allowlist secret
        yield recorder


def as_on_aws(patch: pytest.MonkeyPatch, credentials: dict[str, str]) -> None:
    """The CLI takes its AWS paths (show reads the execution's events and the functions' lines
    from CloudWatch Logs), with credentials from the environment, as an operator's are."""
    patch.setattr(ops_target.Target, "is_emulated", property(lambda self: False))
    for name, value in credentials.items():
        patch.setenv(name, value)


@pytest.fixture(scope="module")
def stack(start_stack: StackFactory) -> RunningStack:
    return start_stack(0.0)


def cli(stack: RunningStack, *args: str) -> int:
    return main(["--endpoint-url", stack.endpoint, "--json", *args])


READ_COMMANDS = (("list", "--status", "PENDING"), ("list", "--status", "DEAD_LETTERED"), ("show", "{order}"))
WRITE_COMMANDS = (
    ("redrive", "{order}"),
    ("keys", "create", "rolecheck"),
    ("keys", "create", "rolecheck", "--replace"),
    ("keys", "list"),
    ("keys", "revoke", "rolecheck"),
)


def test_each_role_allows_exactly_the_calls_its_commands_make(
    stack: RunningStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    dead_lettered(stack, "role-derive")
    made: dict[str, set[Permission]] = {}
    for role, commands in ((READ_ROLE, READ_COMMANDS), (OPERATOR_ROLE, READ_COMMANDS + WRITE_COMMANDS)):
        with recording(stack, monkeypatch) as recorder:
            for command in commands:
                assert cli(stack, *(arg.format(order="role-derive") for arg in command)) == 0, command
        made[role] = recorder.calls
    capsys.readouterr()
    roles = declared()
    for role, calls in made.items():
        assert roles[role] - calls == set(), f"{role} is allowed calls dofs_ops never makes"
        assert calls - roles[role] == set(), f"dofs_ops makes calls {role} does not allow"


def _arns(stack: RunningStack) -> dict[str, list[str]]:
    stage = stack.stack.stage
    table = f"arn:aws:dynamodb:{stage.region}:{ACCOUNT}:table"
    return {
        "orders": [f"{table}/{stage.orders_table}"],
        "failed_orders": [f"{table}/{stage.failed_orders_table}"],
        "indexes": [f"{table}/{stage.orders_table}/index/*", f"{table}/{stage.failed_orders_table}/index/*"],
        "order_queue": [f"arn:aws:sqs:{stage.region}:{ACCOUNT}:{stage.order_queue_name}"],
        "log_groups": [f"arn:aws:logs:{stage.region}:{ACCOUNT}:log-group:*"],
        "api_keys": [f"arn:aws:apigateway:{stage.region}::/*"],
    }


def _assume(stack: RunningStack, role: str, permissions: set[Permission]) -> dict[str, str]:
    """The role created in the emulator with its table rendered for the local stage, assumed."""
    arns = _arns(stack)
    iam = stack.client("iam")
    name = f"{stack.stack.stage.prefix}-{role}"
    trust = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
    policy = {"Version": "2012-10-17", "Statement": [trust]}
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(policy))["Role"]["Arn"]
    statements = [
        {"Effect": "Allow", "Action": action, "Resource": arns[resource]} for resource, action in sorted(permissions)
    ]
    iam.put_role_policy(
        RoleName=name, PolicyName=name, PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements})
    )
    credentials = stack.client("sts").assume_role(RoleArn=arn, RoleSessionName=role)["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
    }


def authorise_transactions_per_item(monkeypatch: pytest.MonkeyPatch) -> None:
    """IAM has no dynamodb:TransactWriteItems action: AWS authorises each item's own action
    (PutItem, UpdateItem, ...). moto checks the call's name; this checks the items' instead."""
    from moto.iam.access_control import IAMRequestBase

    check = IAMRequestBase.check_action_permitted

    def check_each_item(self: IAMRequestBase, resource: str) -> None:
        if self._action != "dynamodb:TransactWriteItems":
            check(self, resource)
            return
        for item in json.loads(self._body)["TransactItems"]:
            [kind] = item
            self._action = f"dynamodb:{TRANSACT_ACTIONS[kind]}"
            check(self, resource)

    monkeypatch.setattr(IAMRequestBase, "check_action_permitted", check_each_item)


def test_the_read_only_role_lists_and_shows_and_is_refused_redrive_and_keys(
    stack: RunningStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    dead_lettered(stack, "role-enforced")
    roles = declared()
    credentials = {role: _assume(stack, role, roles[role]) for role in roles}
    patch_moto_iam(monkeypatch)
    authorise_transactions_per_item(monkeypatch)
    outcomes: dict[tuple[str, str], tuple[int, str]] = {}  # (role, "command order") -> (status, stderr)
    for role in (READ_ROLE, OPERATOR_ROLE):
        as_on_aws(monkeypatch, credentials[role])
        for command_args in READ_COMMANDS + WRITE_COMMANDS:
            args = [arg.format(order="role-enforced") for arg in command_args]
            set_enforcement(on=True)
            try:
                status = cli(stack, *args)
            finally:
                set_enforcement(on=False)
            outcomes[(role, " ".join(args))] = (status, capsys.readouterr().err)
    for (role, command), (status, err) in outcomes.items():
        if role == READ_ROLE and command.split()[0] in {"redrive", "keys"}:
            assert status == 2, (role, command, err)
            assert "AccessDenied" in err, (role, command, err)
        else:
            assert status == 0, (role, command, err)
    # The operator's redrive really happened: the order is PENDING again (or already past it).
    _, order = stack.get("role-enforced")
    assert [entry.get("by") for entry in order["history"]].count("operator") == 1
