"""Creates a stage's tables, queues and state machine on an AWS endpoint (moto here).

Same names and settings as infra/ creates on AWS: both read them from `.chalice/config.json`.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.repository import (
    DEAD_LETTER_SHARD,
    FAILED_DEAD_LETTERED_INDEX,
    OPEN_SHARD,
    OPEN_SINCE,
    ORDERS_OPEN_INDEX,
)
from dofs_config.stage import LOCAL_ACCOUNT_ID, PROJECT_DIR, Stage, packaged_runtime
from dofs_ops import keys

ASL_PATH = PROJECT_DIR / "stepfunctions" / "order_workflow.asl.json"


@dataclass(frozen=True)
class Resources:
    order_queue_url: str
    order_dlq_url: str
    order_queue_arn: str
    order_dlq_arn: str
    state_machine_arn: str
    usage_plan_id: str  # the stage's usage plan, which clients' API keys join (dofs_ops keys)


def provision(stage: Stage, session: Any) -> Resources:
    dynamodb = session.client("dynamodb", region_name=stage.region)
    _create_table(dynamodb, stage.orders_table, (ORDERS_OPEN_INDEX, OPEN_SHARD, OPEN_SINCE))
    _create_table(
        dynamodb, stage.failed_orders_table, (FAILED_DEAD_LETTERED_INDEX, DEAD_LETTER_SHARD, "dead_lettered_at")
    )

    sqs = session.client("sqs", region_name=stage.region)
    dlq_url = sqs.create_queue(
        QueueName=stage.order_dlq_name,
        Attributes={"MessageRetentionPeriod": str(stage.dlq_retention_seconds), "SqsManagedSseEnabled": "true"},
    )["QueueUrl"]
    dlq_arn = _queue_arn(stage, stage.order_dlq_name)
    queue_url = sqs.create_queue(
        QueueName=stage.order_queue_name,
        Attributes={
            "VisibilityTimeout": str(stage.queue_visibility_timeout_seconds),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": stage.max_receive_count}),
            "SqsManagedSseEnabled": "true",
        },
    )["QueueUrl"]

    role_arn = _service_role(stage, session, f"{stage.prefix}-state-machine", "states.amazonaws.com")
    stepfunctions = session.client("stepfunctions", region_name=stage.region)
    state_machine_arn = stepfunctions.create_state_machine(
        name=stage.state_machine_name,
        definition=render_state_machine(stage, queue_url),
        roleArn=role_arn,
        type=stage.workflow_type,
    )["stateMachineArn"]
    # Named as infra/modules/api_gateway names it, so `dofs_ops keys` finds it here too; the local
    # stack serves the API itself, so the plan has no API stage and no throttle.
    usage_plan_id: str = session.client("apigateway", region_name=stage.region).create_usage_plan(
        name=keys.usage_plan_name(stage), tags=keys.stage_tags(stage)
    )["id"]
    return Resources(
        queue_url, dlq_url, _queue_arn(stage, stage.order_queue_name), dlq_arn, state_machine_arn, usage_plan_id
    )


def create_functions(stage: Stage, session: Any, environments: Mapping[str, Mapping[str, str]]) -> None:
    """The app's functions in the emulated Lambda, each with its variables (`environments`, by
    handler name), so an operator reads and changes a function's configuration as on AWS
    (`aws lambda get-function-configuration` / `update-function-configuration`). Their code runs
    in this process (lambda_bridge.py), which applies a changed configuration."""
    role_arn = _service_role(stage, session, f"{stage.prefix}-functions", "lambda.amazonaws.com")
    lambda_client = session.client("lambda", region_name=stage.region)
    for handler, environment in environments.items():
        lambda_client.create_function(
            FunctionName=stage.function_name(handler),
            Role=role_arn,
            Runtime=packaged_runtime(),  # what `chalice package` names, as on AWS
            Handler=f"app.{handler}",
            Code={"ZipFile": _IN_PROCESS_CODE},
            Timeout=stage.function_timeout_seconds(handler),
            MemorySize=stage.lambda_memory_mb,
            Environment={"Variables": dict(environment)},
        )


def _service_role(stage: Stage, session: Any, name: str, service: str) -> str:
    """A role the service may assume, with no policy (the local stack enforces no IAM); its ARN."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }
    iam = session.client("iam", region_name=stage.region)
    return str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])


def _placeholder_package() -> bytes:
    """What the emulated functions hold as code: a note; the bridge runs the app's own code."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as package:
        package.writestr("README.txt", "The local stack runs this function's code in-process (lambda_bridge.py).\n")
    return buffer.getvalue()


_IN_PROCESS_CODE = _placeholder_package()


def _create_table(dynamodb: Any, name: str, index: tuple[str, str, str]) -> None:
    """A table keyed by order_id with its one sparse, sharded index (name, hash key, range key),
    keys only, as infra/stage creates it."""
    index_name, shard_key, range_key = index
    dynamodb.create_table(
        TableName=name,
        AttributeDefinitions=[
            {"AttributeName": attribute, "AttributeType": "S"} for attribute in ("order_id", shard_key, range_key)
        ],
        KeySchema=[{"AttributeName": "order_id", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": index_name,
                "KeySchema": [
                    {"AttributeName": shard_key, "KeyType": "HASH"},
                    {"AttributeName": range_key, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
        SSESpecification={"Enabled": True},
    )


def _queue_arn(stage: Stage, name: str) -> str:
    return f"arn:aws:sqs:{stage.region}:{LOCAL_ACCOUNT_ID}:{name}"


def render_state_machine(stage: Stage, order_queue_url: str) -> str:
    """Fills the ASL placeholders the way Terraform's templatefile() does."""
    values = {
        "validate_order_arn": stage.function_arn("validate_order"),
        "store_order_arn": stage.function_arn("store_order"),
        "record_workflow_failure_arn": stage.function_arn("record_workflow_failure"),
        "order_queue_url": order_queue_url,
    }
    text = ASL_PATH.read_text()
    for key, value in values.items():
        text = text.replace("${" + key + "}", value)
    if "${" in text:
        raise ValueError(f"{ASL_PATH.name} has a placeholder the local stack does not fill")
    return text
