"""Builds the handlers' dependencies once per Lambda container (or local process).

On Lambda, app.py calls `prepare()` at import, in the init phase, for its own function only: its
clients and settings are built before the first event, not inside the first invocation's time
(a client costs about half a second of CPU, seconds at 128 MB, against 10 s workflow task
timeouts). Elsewhere they are built on first use. Imports happen here too: a container imports
only what its own function needs (validate_order never loads boto3). Whoever changes the
environment after that calls `reset()`.

Every client carries `client_config()`: botocore's standard retry mode with few attempts and
short timeouts, so a throttled or hung call gives up within seconds (the legacy default retried
a throttled DynamoDB call up to 10 times, about 25 s, inside a 30 s function) and the caller's
own retry (the queue, the state machine, the API client) takes over.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any, Final

from chalicelib.settings import ApiSettings, BusinessRules, DeadLetterSettings, ReconcilerSettings, Settings

if TYPE_CHECKING:
    from botocore.config import Config

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
def dead_letter_settings() -> DeadLetterSettings:
    return DeadLetterSettings.from_env()


# Each call: at most 3 tries (2 retries, standard mode's jittered backoff of up to 1 s then 2 s),
# each connecting within 1 s and answering within 2 s. Worst case about 12 s (a hung endpoint);
# a throttled call (answered at once) gives up after about 3 s of backoff.
MAX_ATTEMPTS: Final = 3
CONNECT_TIMEOUT_SECONDS: Final = 1.0
READ_TIMEOUT_SECONDS: Final = 2.0


def client_config() -> Config:
    from botocore.config import Config

    return Config(
        retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
    )


def worst_case_call_seconds() -> float:
    """The longest one call can take: every try timing out, and the longest backoff between them
    (standard mode: up to 2**i seconds before try i + 1)."""
    tries = MAX_ATTEMPTS * (CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS)
    return tries + sum(2.0**i for i in range(MAX_ATTEMPTS - 1))


@cache
def _client(service: str) -> Any:
    import boto3

    return boto3.client(service, config=client_config())


@cache
def repository() -> DynamoOrderRepository:
    from chalicelib.repository import DynamoOrderRepository, Retention

    config = settings()
    retention = Retention(config.order_retention_days, config.failed_order_retention_days)
    return DynamoOrderRepository(
        _client("dynamodb"),
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
    from chalicelib.sqs_batch import SqsRetryQueue

    return Fulfillment(
        repository(), settings().fulfillment_success_rate, random.random, retries=SqsRetryQueue(_client("sqs"))
    )


@cache
def dead_letter_handler() -> DeadLetterHandler:
    from chalicelib.dead_letter import DeadLetterHandler

    config = dead_letter_settings()  # validated first: a missing variable fails here, named
    return DeadLetterHandler(repository(), max_receive_count=config.max_receive_count)


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


# What each function needs, by its name in app.py: built in its container's init phase.
_PREPARED_BY_FUNCTION: Final[dict[str, Callable[[], object]]] = {
    "validate_order": business_rules,
    "store_order": workflow_tasks,
    "record_workflow_failure": workflow_tasks,
    "fulfill_order": fulfillment,
    "handle_dead_letter": dead_letter_handler,
    "reconcile_orders": reconciler,
}


def prepare(lambda_function_name: str | None, app_name: str) -> None:
    """Builds what the Lambda function of this name (AWS_LAMBDA_FUNCTION_NAME) needs: Chalice names
    them `{app}-{stage}-{function}`, the API's `{app}-{stage}`. Nothing outside Lambda (None) or
    for a name not the app's. A bad setting fails here, in the init phase, with its variable named."""
    if not lambda_function_name or not lambda_function_name.startswith(f"{app_name}-"):
        return
    for function, build in _PREPARED_BY_FUNCTION.items():
        if lambda_function_name.endswith(f"-{function}"):
            build()
            return
    order_api()


def reset() -> None:
    for factory in (
        business_rules,
        settings,
        api_settings,
        reconciler_settings,
        dead_letter_settings,
        _client,
        repository,
        order_api,
        workflow_tasks,
        fulfillment,
        dead_letter_handler,
        reconciler,
    ):
        factory.cache_clear()
