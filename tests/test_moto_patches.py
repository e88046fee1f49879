"""Fails if a moto upgrade moves what dofs_local/emulated/moto_patches.py patches."""

from __future__ import annotations

import inspect
import json
from importlib.metadata import version

import boto3
import pytest
from moto.dynamodb.models import DynamoDBBackend
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.sqs.models import SQSBackend
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_sqs
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

from dofs_local.emulated import moto_patches
from dofs_local.emulated.moto_patches import PATCHES, MotoPatch
from dofs_local.stage import load_stage


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


@pytest.mark.usefixtures("aws")
def test_a_function_may_use_a_public_layer_and_no_unknown_other() -> None:
    lambda_ = boto3.client("lambda")
    [powertools] = load_stage("dev").layers
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
