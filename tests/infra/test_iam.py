"""Every AWS call the code makes is allowed by its function's role, and nothing more.

The calls are derived from the source with `ast`: each handler in app.py is traced to the
class methods it runs (ENTRY_POINTS, the one declared table), those methods' calls on their
repository and workflow are followed transitively into `DynamoOrderRepository` and
`StepFunctionsWorkflow`, and the boto3 calls found there (`self._orders.put_item`,
`transact_write_items` items naming a table, `start_execution`) become IAM actions on named
resources. SQS consumption comes from app.py's `on_sqs_message` decorators (the event source
mapping polls with the function's role). The result must equal the `permissions` table of
infra/modules/iam exactly.
"""

from __future__ import annotations

import ast
import re
from typing import Any

import pytest

from scripts.tfmodel import load_module
from tests.infra.conftest import INFRA_DIR, PROJECT_DIR

pytestmark = pytest.mark.unit

Permission = tuple[str, str]  # (resource, action), e.g. ("orders", "dynamodb:PutItem")

# Handler -> (file, class, methods) it runs: the one hand-written table (see runtime.py/app.py).
ENTRY_POINTS: dict[str, list[tuple[str, str, list[str]]]] = {
    "api_handler": [("chalicelib/api.py", "OrderApi", ["create_order", "get_order"])],
    "validate_order": [],  # workflow_tasks.validate_order: pure business rules, no AWS call
    "store_order": [("chalicelib/workflow_tasks.py", "WorkflowTasks", ["store_order"])],
    "record_workflow_failure": [("chalicelib/workflow_tasks.py", "WorkflowTasks", ["record_workflow_failure"])],
    "fulfill_order": [("chalicelib/fulfillment.py", "Fulfillment", ["handle_batch"])],
    "handle_dead_letter": [("chalicelib/dead_letter.py", "DeadLetterHandler", ["handle_batch"])],
    "reconcile_orders": [("chalicelib/reconciler.py", "Reconciler", ["run"])],
}
# Attributes of the collaborators, and which class implements them on AWS.
COLLABORATORS = {
    "_repository": ("chalicelib/repository.py", "DynamoOrderRepository"),
    "_workflow": ("chalicelib/workflow.py", "StepFunctionsWorkflow"),
    "_queue": ("chalicelib/reconciler.py", "SqsOrderQueue"),
    "_retries": ("chalicelib/sqs_batch.py", "SqsRetryQueue"),
}
# boto3 handles inside those classes -> the resource they address.
HANDLES = {"_orders": "orders", "_failed": "failed_orders"}
CLIENT_CALLS = {
    "start_execution": ("state_machine", "states:StartExecution"),
    "send_message": ("order_queue", "sqs:SendMessage"),
}
# Client calls whose queue depends on the method making them: fulfillment's copies go back to
# order_queue, a copy whose attempts are used up to order_dlq; the redrive policy is order_queue's.
METHOD_CLIENT_CALLS = {
    ("SqsRetryQueue", "later", "send_message"): ("order_queue", "sqs:SendMessage"),
    ("SqsRetryQueue", "dead_letter", "send_message"): ("order_dlq", "sqs:SendMessage"),
    ("SqsRetryQueue", "_policy", "get_queue_attributes"): ("order_queue", "sqs:GetQueueAttributes"),
}
# Calls on a table handle that address its index instead (the orders table's open-orders index).
INDEX_CALLS = {("orders", "query"): "orders_open_index"}
TRANSACT_ITEMS = {"Put": "dynamodb:PutItem", "Update": "dynamodb:UpdateItem", "Delete": "dynamodb:DeleteItem"}
SQS_CONSUME = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
QUEUE_CONSTANTS = {"ORDER_QUEUE_ARN": "order_queue", "ORDER_DLQ_ARN": "order_dlq"}
# Terraform expressions in the iam module's table -> resource names used above.
TF_RESOURCES = {
    "local.orders": "orders",
    "local.orders_index": "orders_open_index",
    "local.failed_orders": "failed_orders",
    "var.state_machine_arn": "state_machine",
    "var.order_queue_arn": "order_queue",
    "var.order_dlq_arn": "order_dlq",
}


def _classes(path: str) -> dict[str, dict[str, ast.FunctionDef]]:
    tree = ast.parse((PROJECT_DIR / path).read_text())
    return {
        node.name: {item.name: item for item in node.body if isinstance(item, ast.FunctionDef)}
        for node in tree.body
        if isinstance(node, ast.ClassDef)
    }


def _snake(name: str) -> str:
    return "dynamodb:" + "".join(part.capitalize() for part in name.split("_"))


def _self_attribute_call(call: ast.Call) -> tuple[str | None, str] | None:
    """`self.m(...)` -> (None, m); `self.attr.m(...)` -> (attr, m)."""
    func = call.func
    if not isinstance(func, ast.Attribute):
        return None
    if isinstance(func.value, ast.Name) and func.value.id == "self":
        return None, func.attr
    value = func.value
    if isinstance(value, ast.Attribute) and isinstance(value.value, ast.Name) and value.value.id == "self":
        return value.attr, func.attr
    return None


def _transact_permissions(call: ast.Call) -> set[Permission]:
    found: set[Permission] = set()
    for node in ast.walk(call):
        if not isinstance(node, ast.Dict):
            continue
        for key, value in zip(node.keys, node.values, strict=True):
            if isinstance(key, ast.Constant) and key.value in TRANSACT_ITEMS and isinstance(value, ast.Dict):
                for inner_key, inner_value in zip(value.keys, value.values, strict=True):
                    if (
                        isinstance(inner_key, ast.Constant)
                        and inner_key.value == "TableName"
                        and isinstance(inner_value, ast.Attribute)
                        and isinstance(inner_value.value, ast.Attribute)
                        and inner_value.value.attr in HANDLES
                    ):
                        found.add((HANDLES[inner_value.value.attr], TRANSACT_ITEMS[key.value]))
    return found


def _calls(path: str, cls: str, methods: list[str], seen: set[tuple[str, str, str]]) -> set[Permission]:
    """The AWS permissions these methods need, following self., repository and workflow calls."""
    classes = _classes(path)
    found: set[Permission] = set()
    for method in methods:
        if (path, cls, method) in seen or method not in classes[cls]:
            continue
        seen.add((path, cls, method))
        for node in ast.walk(classes[cls][method]):
            # A method passed on as a callback (process_batch(event, self.fulfill)) runs too.
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "self"
                and node.attr in classes[cls]
            ):
                found |= _calls(path, cls, [node.attr], seen)
            if not isinstance(node, ast.Call):
                continue
            target = _self_attribute_call(node)
            if target is None:
                continue
            attribute, name = target
            if attribute is None:
                found |= _calls(path, cls, [name], seen)
            elif attribute in COLLABORATORS:
                other_path, other_cls = COLLABORATORS[attribute]
                found |= _calls(other_path, other_cls, [name], seen)
            elif attribute in HANDLES:
                table = HANDLES[attribute]
                found.add((INDEX_CALLS.get((table, name), table), _snake(name)))
            elif attribute == "_client" and name == "transact_write_items":
                found |= _transact_permissions(node)
            elif attribute == "_client" and (cls, method, name) in METHOD_CLIENT_CALLS:
                found.add(METHOD_CLIENT_CALLS[(cls, method, name)])
            elif attribute == "_client" and name in CLIENT_CALLS:
                found.add(CLIENT_CALLS[name])
    return found


def _sqs_consumers() -> dict[str, set[Permission]]:
    tree = ast.parse((PROJECT_DIR / "app.py").read_text())
    consumers: dict[str, set[Permission]] = {}
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            if not (isinstance(decorator, ast.Call) and getattr(decorator.func, "attr", "") == "on_sqs_message"):
                continue
            keywords = {keyword.arg: keyword.value for keyword in decorator.keywords}
            queue = keywords["queue_arn"]
            name = keywords.get("name")
            handler = str(name.value) if isinstance(name, ast.Constant) else node.name
            assert isinstance(queue, ast.Name), "queue_arn should name a module constant"
            consumers[handler] = {(QUEUE_CONSTANTS[queue.id], action) for action in SQS_CONSUME}
    return consumers


def derived_permissions() -> dict[str, set[Permission]]:
    consumers = _sqs_consumers()
    return {
        handler: set().union(*(_calls(path, cls, methods, set()) for path, cls, methods in entries))
        | consumers.get(handler, set())
        for handler, entries in ENTRY_POINTS.items()
    }


def _expressions(value: Any) -> list[str]:
    if isinstance(value, list):
        return [item for element in value for item in _expressions(element)]
    assert isinstance(value, str)
    return [item.strip() for item in re.sub(r"^\$\{\[?|\]?\}$", "", value).split(",") if item.strip()]


def declared_permissions() -> dict[str, set[Permission]]:
    module = load_module(INFRA_DIR / "modules" / "iam")
    consume = [item.strip('"') for item in _expressions(module.locals["sqs_consume"])]
    table: dict[str, set[Permission]] = {}
    for handler, statements in module.locals["permissions"].items():
        table[handler] = set()
        for statement in statements:
            actions: list[str] = []
            for action in _expressions(statement["actions"]):
                actions.extend(consume if action == "local.sqs_consume" else [action.strip('"')])
            for resource in _expressions(statement["resources"]):
                table[handler] |= {(TF_RESOURCES[resource], action) for action in actions}
    return table


FUNCTION_DECORATORS = {"lambda_function", "on_sqs_message", "schedule"}


def test_handlers_are_the_apps_functions() -> None:
    tree = ast.parse((PROJECT_DIR / "app.py").read_text())
    names = {"api_handler"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") in FUNCTION_DECORATORS:
            names |= {keyword.value.value for keyword in node.keywords if keyword.arg == "name"}  # type: ignore[attr-defined]
    assert names == set(ENTRY_POINTS)


def test_derivation_sees_the_calls() -> None:
    """A guard against the derivation silently finding nothing."""
    derived = derived_permissions()
    assert ("orders", "dynamodb:PutItem") in derived["api_handler"]
    assert ("state_machine", "states:StartExecution") in derived["api_handler"]
    assert ("failed_orders", "dynamodb:UpdateItem") in derived["handle_dead_letter"]
    assert ("order_dlq", "sqs:SendMessage") in derived["fulfill_order"]


def test_every_call_is_allowed_and_nothing_more() -> None:
    derived = derived_permissions()
    declared = declared_permissions()
    assert set(declared) == set(derived)
    for handler in derived:
        assert declared[handler] - derived[handler] == set(), f"{handler} is allowed calls it never makes"
        assert derived[handler] - declared[handler] == set(), f"{handler} makes calls its role does not allow"


def test_no_wildcards_outside_xray_and_log_delivery() -> None:
    """`"*"` resources only where AWS requires them: X-Ray and log delivery (iam, stepfunctions)
    and key policies, where "*" means the key itself (monitoring)."""
    for path in sorted((INFRA_DIR / "modules").rglob("*.tf")):
        text = path.read_text()
        if path.parent.name == "monitoring":  # AWS's default key policy: the account root administers its key
            text = text.replace('actions   = ["kms:*"]', "", 1)
        assert not re.search(r'"[a-z0-9-]+:\*"', text), f"{path.name} grants a service-wide action"
        assert '"*"]' not in text.replace(" ", "") or path.parent.name in {"iam", "stepfunctions", "monitoring"}
