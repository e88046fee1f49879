"""The operations CLI against the local stack, over its AWS endpoint (docs/CONTRACT.md section 7):
an order dead-lettered at success rate 0, shown, redriven (failing again: one record, updated),
then, fulfill_order's configuration switched to rate 1 as on AWS, redriven by concurrent
operators and fulfilled once."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from chalicelib.redrive import Redriver
from chalicelib.repository import DynamoOrderRepository, RedriveOutcome
from dofs_config.stage import packaged_runtime
from dofs_ops.__main__ import main
from tests.integration.conftest import RunningStack, StackFactory, order

pytestmark = pytest.mark.emulator


@pytest.fixture(scope="module")
def stack(start_stack: StackFactory) -> RunningStack:
    return start_stack(0.0)


@contextmanager
def success_rate_one(stack: RunningStack) -> Iterator[None]:
    """The cause fixed as an operator fixes it on AWS: fulfill_order's configuration updated
    (`aws lambda update-function-configuration --environment ...`); its next invocations run
    with the new variables. Put back afterwards."""
    lambda_client = stack.client("lambda")
    name = stack.stack.stage.function_name("fulfill_order")
    before = lambda_client.get_function_configuration(FunctionName=name)["Environment"]
    assert before["Variables"]["FULFILLMENT_SUCCESS_RATE"] == "0.0"
    fixed = {**before["Variables"], "FULFILLMENT_SUCCESS_RATE": "1"}
    lambda_client.update_function_configuration(FunctionName=name, Environment={"Variables": fixed})
    try:
        yield
    finally:
        lambda_client.update_function_configuration(FunctionName=name, Environment=before)


def ops(stack: RunningStack, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    """The CLI's exit status, its JSON output and its stderr (progress, errors)."""
    status = main(["--endpoint-url", stack.endpoint, "--json", *args])
    captured = capsys.readouterr()
    return status, json.loads(captured.out) if captured.out.strip() else None, captured.err


def dead_lettered(stack: RunningStack, order_id: str) -> dict[str, Any]:
    assert stack.post(order(order_id))[0] == 202
    dead = stack.wait_terminal(order_id)
    assert dead["status"] == "DEAD_LETTERED"
    return dead


def wait_for(stack: RunningStack, order_id: str, terminal_entries: int) -> dict[str, Any]:
    """Waits past the redriven round's PENDING/FAILED states for its terminal one."""
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        _, current = stack.get(order_id)
        terminal = [entry for entry in current.get("history", []) if entry["status"] in {"DEAD_LETTERED", "FULFILLED"}]
        if current["status"] in {"DEAD_LETTERED", "FULFILLED"} and len(terminal) == terminal_entries:
            return current
        time.sleep(0.1)
    raise AssertionError(f"{order_id} did not reach its next terminal state: {current}")


def failure_records(stack: RunningStack, order_id: str) -> list[dict[str, Any]]:
    return [item for item in stack.failed_orders() if item["order_id"]["S"] == order_id]


def test_show_tells_the_whole_story_as_json(
    stack: RunningStack, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    dead_lettered(stack, "ops-show")
    log_file = tmp_path / "console.log"
    log_file.write_text("a console line that is not JSON\n" + stack._logs.getvalue())
    status, story, _ = ops(stack, capsys, "show", "ops-show", "--log-file", str(log_file))
    assert status == 0
    assert set(story) == {"order", "failure", "executions", "logs", "notes"}
    assert story["order"]["status"] == "DEAD_LETTERED"
    assert [entry["status"] for entry in story["order"]["history"]] == [
        "ACCEPTED",
        "PENDING",
        "FAILED",
        "FAILED",
        "FAILED",
        "DEAD_LETTERED",
    ]
    assert (story["failure"]["attempts"], story["failure"]["dead_letter_count"]) == (3, 1)
    [execution] = story["executions"]
    assert execution["status"] == "SUCCEEDED"
    assert execution["arn"].split(":")[-1].startswith("ops-show-")
    assert {"ExecutionStarted", "ExecutionSucceeded"} <= {event["type"] for event in execution["events"]}
    operations = [line["operation"] for line in story["logs"]]
    assert operations.count("fulfill_order") == 3
    assert "handle_dead_letter" in operations
    assert {line["order_id"] for line in story["logs"]} == {"ops-show"}
    assert story["notes"] == []


def test_a_redriven_order_that_fails_again_updates_its_one_record(
    stack: RunningStack, capsys: pytest.CaptureFixture[str]
) -> None:
    dead_lettered(stack, "ops-again")
    status, result, _ = ops(stack, capsys, "redrive", "ops-again")
    assert (status, result) == (
        0,
        {"counts": {"REDRIVEN": 1}, "results": [{"order_id": "ops-again", "outcome": "REDRIVEN"}]},
    )
    again = wait_for(stack, "ops-again", terminal_entries=2)
    statuses = [(entry["status"], entry.get("by")) for entry in again["history"]]
    assert statuses[5:] == [
        ("DEAD_LETTERED", None),
        ("PENDING", "operator"),
        ("FAILED", None),
        ("FAILED", None),
        ("FAILED", None),
        ("DEAD_LETTERED", None),
    ]
    [record] = failure_records(stack, "ops-again")
    assert record["dead_letter_count"] == {"N": "2"}
    assert record["attempts"] == {"N": "6"}
    assert json.loads(record["original_message"]["S"]) == {"order_id": "ops-again", "redrive": 1, "attempts_before": 3}
    assert [entry.get("attempt") for entry in again["history"] if entry["status"] == "FAILED"] == [1, 2, 3, 4, 5, 6]
    assert record["dead_lettered_at"]["S"] > record["first_dead_lettered_at"]["S"]
    assert len(record["redrives"]["L"]) == 1


def test_concurrent_redrives_queue_the_order_once_and_it_is_fulfilled_once(stack: RunningStack) -> None:
    dead_lettered(stack, "ops-fixed")
    dynamodb = stack.client("dynamodb")
    repository = DynamoOrderRepository(dynamodb, stack.stack.stage.orders_table, stack.stack.stage.failed_orders_table)
    queue_url = stack.client("sqs").get_queue_url(QueueName=stack.stack.stage.order_queue_name)["QueueUrl"]
    operators = 6
    start = threading.Barrier(operators)
    outcomes: list[RedriveOutcome] = []

    def operator() -> None:
        redriver = Redriver(repository, stack.client("sqs"), queue_url)
        start.wait()
        outcomes.append(redriver.redrive("ops-fixed"))

    with success_rate_one(stack):
        threads = [threading.Thread(target=operator) for _ in range(operators)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        fulfilled = wait_for(stack, "ops-fixed", terminal_entries=2)
    assert sorted(outcomes) == sorted([RedriveOutcome.REDRIVEN] + [RedriveOutcome.ALREADY_REDRIVEN] * (operators - 1))
    # Attempts count on across rounds: three in the first, the fourth fulfilled it.
    assert (fulfilled["status"], fulfilled["attempts"]) == ("FULFILLED", 4)
    assert [(entry["status"], entry.get("by")) for entry in fulfilled["history"]][5:] == [
        ("DEAD_LETTERED", None),
        ("PENDING", "operator"),
        ("FULFILLED", None),
    ]
    # One message queued: fulfilled once, by a message of the redrive's round.
    fulfilled_lines = [line for line in stack.log_lines("ops-fixed") if line.get("message") == "order fulfilled"]
    assert len(fulfilled_lines) == 1
    # A FULFILLED order keeps the record of the round that failed, with its redrive.
    [record] = failure_records(stack, "ops-fixed")
    assert len(record["redrives"]["L"]) == 1
    assert json.loads(record["original_message"]["S"]) == {"order_id": "ops-fixed"}


def test_list_pages_through_the_index(stack: RunningStack, capsys: pytest.CaptureFixture[str]) -> None:
    dead_lettered(stack, "ops-list")
    status, listed, progress = ops(stack, capsys, "list", "--status", "DEAD_LETTERED", "--page-size", "1")
    assert status == 0
    assert set(listed) == {"status", "since", "count", "orders"}
    assert "ops-list" in [entry["order_id"] for entry in listed["orders"]]
    assert listed["count"] == len(listed["orders"])
    assert f"{listed['count']} orders read" in progress


def test_redrive_all_dead_lettered_since_a_time(stack: RunningStack, capsys: pytest.CaptureFixture[str]) -> None:
    _, listed, _ = ops(stack, capsys, "list", "--status", "DEAD_LETTERED")
    latest = max(entry["updated_at"] for entry in listed["orders"])
    status, result, _ = ops(stack, capsys, "redrive", "--all", "--status", "DEAD_LETTERED", "--since", latest)
    assert status == 0
    assert [entry["order_id"] for entry in result["results"]] == [
        entry["order_id"] for entry in listed["orders"] if entry["updated_at"] >= latest
    ]
    assert result["counts"] == {"REDRIVEN": len(result["results"])}


def test_an_unknown_order_changes_nothing(stack: RunningStack, capsys: pytest.CaptureFixture[str]) -> None:
    dead_lettered(stack, "ops-known")
    assert main(["--endpoint-url", stack.endpoint, "redrive", "ops-known", "ops-unknown"]) == 1
    captured = capsys.readouterr()
    assert captured.err.strip() == (
        f"error: no order ops-unknown in dofs-local-orders (stage local at {stack.endpoint}); nothing changed"
    )
    assert "Traceback" not in captured.err
    _, still = stack.get("ops-known")
    assert still["status"] == "DEAD_LETTERED"
    assert main(["--endpoint-url", stack.endpoint, "show", "ops-unknown"]) == 1


def test_the_emulated_functions_report_the_runtime_chalice_packages_for(stack: RunningStack) -> None:
    """What `aws lambda get-function-configuration` shows locally is what a package built here
    would deploy (the Python running it, as Chalice maps it)."""
    lambda_client = stack.client("lambda")
    for handler in ("fulfill_order", "handle_dead_letter"):
        name = stack.stack.stage.function_name(handler)
        assert lambda_client.get_function_configuration(FunctionName=name)["Runtime"] == packaged_runtime()
