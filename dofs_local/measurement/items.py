"""The orders item's size after each write of its life, measured by running the app's own
repository (chalicelib/repository.py) against an in-process DynamoDB (moto): an order's item
grows with every transition (its history), so each write's units depend on how far along it is."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import boto3

from chalicelib.models import Order, OrderItem
from chalicelib.repository import DynamoOrderRepository, FailureRecord, Retention
from chalicelib.rules import Verdict

# Fixed-length stand-ins for what AWS fills in: a UUID order id, a millisecond timestamp, the
# execution ARN that $$.Execution.Id gives (arn:aws:states:region:account:express:machine:name:uuid).
_ORDER_ID = "00000000-0000-0000-0000-000000000000"
_NOW = "2026-11-25T18:33:42.123Z"
_EXECUTION_ID = (
    f"arn:aws:states:us-east-1:123456789012:express:dofs-prod-order-workflow:{_ORDER_ID}-000000000000:{_ORDER_ID}"
)
_MESSAGE_ID = _ORDER_ID


@dataclass(frozen=True)
class ItemSizes:
    """Bytes, as DynamoDB counts them (names and values, no per-item overhead)."""

    accepted: int  # an accepted order's item without its lines
    per_line: int  # each order line ({"sku": "SKU-00001", "quantity": 2, "unit_price": 19.99})
    verdict: int  # what recording PENDING adds
    failed_attempt: int  # what the first failed fulfillment attempt adds (attempts, last_error, history)
    later_failed_attempt: int  # what each later one adds (its history entry)
    fulfilled: int  # what FULFILLED adds
    dead_lettered: int  # what DEAD_LETTERED adds
    failure_record: int  # the order's failed_orders record

    def order(self, lines: int) -> int:
        return self.accepted + lines * self.per_line


def dynamodb_item_bytes(item: Mapping[str, Any]) -> int:
    """An item's size as DynamoDB bills it, from its low-level form ({"S": ...}, {"N": ...}):
    attribute names plus values; numbers about 1 byte per 2 digits plus 1; lists and maps 3
    bytes plus 1 per element. docs.aws.amazon.com/amazondynamodb/latest/developerguide/
    CapacityUnitCalculations.html"""
    return sum(len(name.encode()) + _value_bytes(value) for name, value in item.items())


def _value_bytes(value: Mapping[str, Any]) -> int:
    (kind, content), *_ = value.items()
    if kind == "S":
        return len(str(content).encode())
    if kind == "N":
        return math.ceil(len(str(content).lstrip("-").replace(".", "")) / 2) + 1
    if kind in {"BOOL", "NULL"}:
        return 1
    if kind == "L":
        return 3 + sum(1 + _value_bytes(element) for element in content)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + _value_bytes(element) for name, element in content.items())
    return len(json.dumps(content).encode())  # sets and binaries: not in this table's items


def _order(lines: int) -> Order:
    items = [OrderItem(sku=f"SKU-{n:05d}", quantity=2, unit_price=Decimal("19.99")) for n in range(lines)]
    return Order(order_id=_ORDER_ID, customer_id="customer-000001", items=items, currency="USD")


def _size(client: Any, table: str) -> int:
    item: dict[str, Any] = client.get_item(TableName=table, Key={"order_id": {"S": _ORDER_ID}}, ConsistentRead=True)[
        "Item"
    ]
    return dynamodb_item_bytes(item)


def _life(lines: int, failures: int, dead_letter: bool) -> list[int]:
    """The order item's size after each write: accepted, verdict, `failures` failed attempts,
    then fulfilled or (with dead_letter) dead-lettered; last, the failed_orders record's size."""
    from moto import mock_aws  # a test dependency: imported only when measuring

    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        for name in ("orders", "failed_orders"):
            client.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": "order_id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "order_id", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        # A deployed stage's retention: terminal items carry their expiry (its size is the same for any days).
        repository = DynamoOrderRepository(client, "orders", "failed_orders", retention=Retention(90, 365))
        repository.create(_order(lines), _NOW)
        sizes = [_size(client, "orders")]
        repository.record_verdict(_ORDER_ID, _EXECUTION_ID, Verdict(True, None), _NOW)
        sizes.append(_size(client, "orders"))
        for attempt in range(1, failures + 1):
            repository.record_failed_attempt(
                _ORDER_ID, attempt, f"simulated fulfillment failure on attempt {attempt}", _NOW
            )
            sizes.append(_size(client, "orders"))
        if dead_letter:
            record = FailureRecord(
                order_id=_ORDER_ID,
                source="fulfillment",
                original_message=f'{{"order_id": "{_ORDER_ID}"}}',
                attempts=failures,
                last_error=f"simulated fulfillment failure on attempt {failures}",
                queued_at=_NOW,
                dead_lettered_at=_NOW,
                message_id=_MESSAGE_ID,
                redrive_round=0,
            )
            repository.dead_letter(record, _NOW)
            sizes.extend([_size(client, "orders"), _size(client, "failed_orders")])
        else:
            repository.mark_fulfilled(_ORDER_ID, failures + 1, _NOW)
            sizes.append(_size(client, "orders"))
        return sizes


def measure_item_sizes() -> ItemSizes:
    one = _life(1, 0, dead_letter=False)
    two = _life(2, 0, dead_letter=False)
    dead = _life(1, 2, dead_letter=True)
    return ItemSizes(
        accepted=one[0] - (two[0] - one[0]),
        per_line=two[0] - one[0],
        verdict=one[1] - one[0],
        failed_attempt=dead[2] - dead[1],
        later_failed_attempt=dead[3] - dead[2],
        fulfilled=one[2] - one[1],
        dead_lettered=dead[4] - dead[3],
        failure_record=dead[5],
    )
