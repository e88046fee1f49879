"""The tables' sparse, sharded indexes are the same in Terraform, in the local stack and in the
code that writes and queries them (chalicelib/repository.py)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from chalicelib.repository import (
    DEAD_LETTER_SHARD,
    FAILED_DEAD_LETTERED_INDEX,
    OPEN_SHARD,
    OPEN_SINCE,
    ORDERS_OPEN_INDEX,
)
from dofs_config.stage import Stage
from dofs_local.emulated.provisioning import Resources
from scripts.tfmodel import load_module
from tests.infra.conftest import STAGE_ROOT

pytestmark = pytest.mark.aws

EXPECTED = {
    "orders": [
        {"name": ORDERS_OPEN_INDEX, "hash_key": OPEN_SHARD, "range_key": OPEN_SINCE, "projection_type": "KEYS_ONLY"}
    ],
    "failed_orders": [
        {
            "name": FAILED_DEAD_LETTERED_INDEX,
            "hash_key": DEAD_LETTER_SHARD,
            "range_key": "dead_lettered_at",
            "projection_type": "KEYS_ONLY",
        }
    ],
}


def _terraform_indexes() -> dict[str, list[dict[str, Any]]]:
    dynamodb = load_module(STAGE_ROOT).modules["dynamodb"]
    indexes: dict[str, list[dict[str, Any]]] = dynamodb["global_secondary_indexes"]
    return indexes


def _local_indexes(table_name: str) -> list[dict[str, Any]]:
    table = boto3.client("dynamodb").describe_table(TableName=table_name)["Table"]
    return [
        {
            "name": index["IndexName"],
            "hash_key": next(k["AttributeName"] for k in index["KeySchema"] if k["KeyType"] == "HASH"),
            "range_key": next(k["AttributeName"] for k in index["KeySchema"] if k["KeyType"] == "RANGE"),
            "projection_type": index["Projection"]["ProjectionType"],
        }
        for index in table["GlobalSecondaryIndexes"]
    ]


def test_terraform_and_the_local_stack_create_the_indexes_the_code_queries(resources: Resources, stage: Stage) -> None:
    assert _terraform_indexes() == EXPECTED
    assert _local_indexes(stage.orders_table) == EXPECTED["orders"]
    assert _local_indexes(stage.failed_orders_table) == EXPECTED["failed_orders"]
