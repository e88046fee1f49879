"""Fails if a moto upgrade moves what dofs_local/emulator.py adjusts."""

from __future__ import annotations

import inspect

from moto.dynamodb.models import DynamoDBBackend
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.sqs.models import SQSBackend
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_sqs
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

from dofs_local import emulator


def test_patched_functions_keep_their_signatures() -> None:
    assert list(inspect.signature(DomainDispatcherApplication.get_backend_for_host).parameters) == ["self", "host"]
    assert list(inspect.signature(ExecutionWorker._get_evaluation_entrypoint).parameters) == ["self"]
    receive = inspect.signature(SQSBackend.receive_message).parameters
    assert list(receive)[:5] == ["self", "queue_name", "count", "wait_seconds_timeout", "visibility_timeout"]
    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        assert callable(getattr(DynamoDBBackend, name))


def test_patches_apply_once_and_cache() -> None:
    emulator.make_backends_atomic()
    emulator.memoise_backend_routing()
    emulator.reuse_workflow_clients()
    emulator.reuse_workflow_clients()
    emulator.parse_definitions_once()
    assert getattr(ExecutionWorker._get_evaluation_entrypoint, "__dofs_cached__", False)
    assert getattr(SQSBackend.receive_message, "__dofs_atomic__", False)
    assert getattr(DynamoDBBackend.update_item, "__dofs_atomic__", False)
    assert getattr(DomainDispatcherApplication.get_backend_for_host, "__dofs_memoised__", False)
    for module in (lambda_eval_utils, state_task_service_sqs):
        client_for = module.boto_client_for
        assert getattr(client_for, "__dofs_cached__", False)
    first = lambda_eval_utils.boto_client_for("us-east-1", "lambda")  # type: ignore[attr-defined]
    assert lambda_eval_utils.boto_client_for("us-east-1", "lambda") is first  # type: ignore[attr-defined]
