"""The orders table's `by-status` index is the same in Terraform, in the local stack and in the code
that queries it (chalicelib/repository.py)."""

from __future__ import annotations

from typing import Any

import boto3

from chalicelib.repository import ORDERS_BY_STATUS_INDEX
from dofs_local.emulated.provisioning import Resources
from dofs_local.stage import Stage
from scripts.tfmodel import load_module
from tests.infra.conftest import STAGE_ROOT


def _terraform_indexes() -> list[dict[str, Any]]:
    dynamodb = load_module(STAGE_ROOT).modules["dynamodb"]
    indexes: list[dict[str, Any]] = dynamodb["global_secondary_indexes"]["orders"]
    return indexes


def _local_indexes(stage: Stage) -> list[dict[str, Any]]:
    table = boto3.client("dynamodb").describe_table(TableName=stage.orders_table)["Table"]
    return [
        {
            "name": index["IndexName"],
            "hash_key": next(k["AttributeName"] for k in index["KeySchema"] if k["KeyType"] == "HASH"),
            "range_key": next(k["AttributeName"] for k in index["KeySchema"] if k["KeyType"] == "RANGE"),
            "projection_type": index["Projection"]["ProjectionType"],
        }
        for index in table["GlobalSecondaryIndexes"]
    ]


def test_terraform_and_the_local_stack_create_the_index_the_code_queries(resources: Resources, stage: Stage) -> None:
    expected = [
        {
            "name": ORDERS_BY_STATUS_INDEX,
            "hash_key": "status",
            "range_key": "updated_at",
            "projection_type": "KEYS_ONLY",
        }
    ]
    assert _terraform_indexes() == expected
    assert _local_indexes(stage) == expected
