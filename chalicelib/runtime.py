"""Builds the handlers' dependencies lazily, once per Lambda container (or local process).

Imports happen here too, on first use: a container imports only what its own function needs
(validate_order never loads boto3), which keeps cold starts short. Tests and the local stack
call `reset()` after changing the environment.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from chalicelib.settings import ApiSettings, BusinessRules, ReconcilerSettings, Settings

if TYPE_CHECKING:
    from chalicelib.api import OrderApi
    from chalicelib.dead_letter import DeadLetterHandler
    from chalicelib.fulfillment import Fulfillment
    from chalicelib.reconciler import Reconciler
    from chalicelib.repository import DynamoOrderRepository
    from chalicelib.workflow_tasks import WorkflowTasks


@cache
def business_rules() -> BusinessRules:
    return BusinessRules.from_env()


@cache
def settings() -> Settings:
    return Settings.from_env()


@cache
def api_settings() -> ApiSettings:
    return ApiSettings.from_env()


@cache
def reconciler_settings() -> ReconcilerSettings:
    return ReconcilerSettings.from_env()


@cache
def _client(service: str) -> Any:
    import boto3

    return boto3.client(service)


@cache
def repository() -> DynamoOrderRepository:
    import boto3

    from chalicelib.repository import DynamoOrderRepository, Retention

    config = settings()
    retention = Retention(config.order_retention_days, config.failed_order_retention_days)
    return DynamoOrderRepository(
        boto3.resource("dynamodb"),
        config.orders_table,
        config.failed_orders_table,
        config.open_orders_index_shards,
        retention=retention,
    )


@cache
def order_api() -> OrderApi:
    from chalicelib.api import OrderApi
    from chalicelib.workflow import StepFunctionsWorkflow

    arn = api_settings().state_machine_arn  # validated first: a missing ARN fails here, named
    return OrderApi(repository(), StepFunctionsWorkflow(_client("stepfunctions"), arn))


@cache
def workflow_tasks() -> WorkflowTasks:
    from chalicelib.workflow_tasks import WorkflowTasks

    return WorkflowTasks(repository())


@cache
def fulfillment() -> Fulfillment:
    import random

    from chalicelib.fulfillment import Fulfillment

    return Fulfillment(repository(), settings().fulfillment_success_rate, random.random)


@cache
def dead_letter_handler() -> DeadLetterHandler:
    from chalicelib.dead_letter import DeadLetterHandler

    return DeadLetterHandler(repository())


@cache
def reconciler() -> Reconciler:
    from chalicelib.reconciler import Reconciler, SqsOrderQueue
    from chalicelib.workflow import StepFunctionsWorkflow

    config = reconciler_settings()  # validated first: a missing variable fails here, named
    return Reconciler(
        repository(),
        StepFunctionsWorkflow(_client("stepfunctions"), config.state_machine_arn),
        SqsOrderQueue(_client("sqs"), config.order_queue_url),
        config.stuck_order_threshold_seconds,
        config.max_receive_count,
    )


def reset() -> None:
    for factory in (
        business_rules,
        settings,
        api_settings,
        reconciler_settings,
        _client,
        repository,
        order_api,
        workflow_tasks,
        fulfillment,
        dead_letter_handler,
        reconciler,
    ):
        factory.cache_clear()
