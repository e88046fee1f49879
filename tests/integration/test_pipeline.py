"""The whole pipeline on the local stack, driven only over HTTP and the AWS endpoint."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from typing import Any

import pytest

from dofs_local.scenarios.demo import run_demo
from dofs_local.scenarios.invariants import Snapshot, violations
from tests.integration.conftest import RunningStack, StackFactory, order

pytestmark = pytest.mark.emulator


@pytest.fixture(scope="module")
def always_succeeds(start_stack: StackFactory) -> RunningStack:
    return start_stack(1.0)


def test_happy_path_reaches_fulfilled(always_succeeds: RunningStack) -> None:
    status, body, headers = always_succeeds.post(order("happy-1"))
    assert (status, body, headers["Location"]) == (202, {"order_id": "happy-1", "status": "ACCEPTED"}, "order/happy-1")
    assert always_succeeds.get("happy-1")[0] == 200, "found at once"
    fulfilled = always_succeeds.wait_terminal("happy-1")
    assert (fulfilled["status"], fulfilled["attempts"], fulfilled["total"]) == ("FULFILLED", 1, "25.00")
    lines = always_succeeds.log_lines("happy-1")
    assert {"create_order", "validate_order", "store_order", "fulfill_order"} <= {line["operation"] for line in lines}
    # Each as a Lambda function logs it: its stage's service, its own invocation's context.
    service = always_succeeds.stack.stage.environment["POWERTOOLS_SERVICE_NAME"]
    assert {line["service"] for line in lines} == {service}
    assert all({"cold_start", "function_name", "function_request_id"} <= line.keys() for line in lines), lines
    assert len({line["function_request_id"] for line in lines}) >= 4


def test_business_rule_breach_ends_rejected(always_succeeds: RunningStack) -> None:
    assert (
        always_succeeds.post(
            order("reject-1", currency="GBP", items=[{"sku": "A", "quantity": 10_000, "unit_price": "5.01"}])
        )[0]
        == 202
    )
    rejected = always_succeeds.wait_terminal("reject-1")
    assert rejected["status"] == "REJECTED"
    assert rejected["reason"].startswith("ORDER_TOTAL_EXCEEDED")


def test_duplicate_and_concurrent_posts_fulfill_once(always_succeeds: RunningStack) -> None:
    answers: list[tuple[int, dict[str, Any], dict[str, str]]] = []
    lock = threading.Lock()

    def send() -> None:
        answer = always_succeeds.post(order("dup-1"))
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {status for status, _, _ in answers} == {202}
    assert {body["order_id"] for _, body, _ in answers} == {"dup-1"}
    always_succeeds.wait_terminal("dup-1")
    assert always_succeeds.post(order("dup-1"))[1] == {"order_id": "dup-1", "status": "FULFILLED"}, "a late retry"
    assert always_succeeds.post(order("dup-1", customer_id="other"))[0] == 409
    fulfillments = [line for line in always_succeeds.log_lines("dup-1") if line.get("operation") == "fulfill_order"]
    assert [line["message"] for line in fulfillments] == ["order fulfilled"], "one message, one fulfillment"


def test_a_crashing_record_is_retried_alone(always_succeeds: RunningStack) -> None:
    stage = always_succeeds.stack.stage
    for order_id in ("batch-a", "batch-c"):
        assert always_succeeds.post(order(order_id))[0] == 202
        always_succeeds.wait_terminal(order_id)
    dynamodb = always_succeeds.client("dynamodb")
    # An order whose history is not a list: every write to it fails, so its handler raises.
    dynamodb.put_item(
        TableName=stage.orders_table,
        Item={"order_id": {"S": "batch-b"}, "status": {"S": "PENDING"}, "history": {"S": "corrupt"}},
    )
    for order_id in ("batch-a", "batch-c"):  # back to PENDING so that fulfillment runs again for them
        dynamodb.update_item(
            TableName=stage.orders_table,
            Key={"order_id": {"S": order_id}},
            UpdateExpression="SET #s = :p, attempts = :zero",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":p": {"S": "PENDING"}, ":zero": {"N": "0"}},
        )
    always_succeeds.client("sqs").send_message_batch(
        QueueUrl=always_succeeds.stack.resources.order_queue_url,  # type: ignore[union-attr]
        Entries=[{"Id": o, "MessageBody": json.dumps({"order_id": o})} for o in ("batch-a", "batch-b", "batch-c")],
    )
    for order_id in ("batch-a", "batch-c"):
        done = always_succeeds.wait_terminal(order_id)
        assert (done["status"], done["attempts"]) == ("FULFILLED", 1), "neighbours succeed at their first receive"
    max_receive = stage.max_receive_count

    def crashes(operation: str) -> list[dict[str, Any]]:
        return [line for line in always_succeeds.log_lines("batch-b") if line.get("operation") == operation]

    assert _wait_for(lambda: len(crashes("fulfill_order")) >= max_receive), "retried on every receive"
    assert len(crashes("fulfill_order")) == max_receive, "then SQS moved it to the DLQ"
    assert _wait_for(lambda: crashes("handle_dead_letter")), "where it stays, logged, rather than being lost"
    assert all(line["level"] == "ERROR" for line in crashes("fulfill_order") + crashes("handle_dead_letter"))
    item = dynamodb.get_item(TableName=stage.orders_table, Key={"order_id": {"S": "batch-b"}})["Item"]
    assert item["status"] == {"S": "PENDING"}


def test_every_attempt_failing_dead_letters_once(start_stack: StackFactory) -> None:
    never = start_stack(0.0)
    assert never.post(order("dlq-1"))[0] == 202
    dead = never.wait_terminal("dlq-1", timeout=90)
    assert (dead["status"], dead["attempts"]) == ("DEAD_LETTERED", never.stack.stage.max_receive_count)
    records = never.failed_orders()
    assert [r["order_id"]["S"] for r in records] == ["dlq-1"]
    assert json.loads(records[0]["original_message"]["S"]) == {"order_id": "dlq-1"}
    assert records[0]["attempts"]["N"] == str(never.stack.stage.max_receive_count)


def test_two_hundred_mixed_orders_all_terminal_with_invariants(start_stack: StackFactory) -> None:
    mixed = start_stack(0.7)
    result = run_demo(mixed.stack, orders=200, seed=3, timeout=240, progress=lambda line: None)
    assert result.problems == []
    accepted = {p.order_id for p in result.posts if p.status_code == 202}
    snapshot = Snapshot.read(
        mixed.client("dynamodb"), mixed.stack.stage.orders_table, mixed.stack.stage.failed_orders_table
    )
    assert len(accepted) == 200
    assert violations(snapshot, accepted) == []
    outcomes = Counter(snapshot.statuses(accepted).values())
    assert set(outcomes) <= {"FULFILLED", "REJECTED", "DEAD_LETTERED"}
    assert outcomes["FULFILLED"] > outcomes["DEAD_LETTERED"]


def _wait_for(probe: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.2)
    return probe()
