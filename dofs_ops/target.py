"""Where the CLI operates: a stage's resources, on AWS or behind an emulator's endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import boto3
from botocore.config import Config

from chalicelib.repository import DynamoOrderRepository
from dofs_config.stage import Stage

# Fail fast when an endpoint is down: botocore's defaults wait a minute per connection attempt.
_CLIENT_CONFIG = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"})
# The local stack accepts any credentials; AWS uses the usual chain (profile, role, environment).
_EMULATOR_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}


@dataclass(frozen=True)
class Target:
    stage: Stage
    region: str
    endpoint_url: str | None  # None: AWS itself

    @property
    def is_emulated(self) -> bool:
        return self.endpoint_url is not None

    def describe(self) -> str:
        return f"stage {self.stage.name} at {self.endpoint_url or f'AWS {self.region}'}"

    @cached_property
    def _session(self) -> boto3.Session:
        credentials = _EMULATOR_CREDENTIALS if self.is_emulated else {}
        return boto3.Session(region_name=self.region, **credentials)

    def client(self, service: str) -> Any:
        return self._session.client(service, endpoint_url=self.endpoint_url, config=_CLIENT_CONFIG)

    @cached_property
    def repository(self) -> DynamoOrderRepository:
        stage = self.stage
        return DynamoOrderRepository(
            self.client("dynamodb"),
            stage.orders_table,
            stage.failed_orders_table,
            stage.open_orders_index_shards,
            retention=stage.retention,
        )

    def order_queue_url(self) -> str:
        url: str = self.client("sqs").get_queue_url(QueueName=self.stage.order_queue_name)["QueueUrl"]
        return url

    def state_machine_arn(self) -> str | None:
        """Found by name: on AWS the account id is not known here."""
        for page in self.client("stepfunctions").get_paginator("list_state_machines").paginate():
            for machine in page["stateMachines"]:
                if machine["name"] == self.stage.state_machine_name:
                    arn: str = machine["stateMachineArn"]
                    return arn
        return None

    @property
    def workflow_log_group(self) -> str:
        """The state machine's log group, as infra/modules/stepfunctions names it."""
        return f"/aws/vendedlogs/states/{self.stage.state_machine_name}"

    def function_log_groups(self) -> list[str]:
        """Each function's log group. A deployed stage's config lists every function (each has
        its role there); Chalice names the API handler {app}-{stage}, the others
        {app}-{stage}-{handler} (infra/stage/main.tf)."""
        return [
            f"/aws/lambda/{self.stage.prefix if handler == 'api_handler' else self.stage.function_name(handler)}"
            for handler in sorted(self.stage.function_environments)
        ]
