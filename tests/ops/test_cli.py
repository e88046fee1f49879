"""The operations CLI's arguments and error paths: one line, a status, nothing changed, no
traceback. None of these needs the local stack (tests/integration/test_operations.py does)."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from dofs_ops import __main__ as cli
from dofs_ops.render import table, to_json


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        status = cli.main(list(args))
    except SystemExit as exit_:  # argparse's errors
        status = int(exit_.code or 0)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.unit
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "not an id"], "argument order_id: 'not an id' is not an order id"),
        (["show", "x" * 65], "is not an order id"),
        (["list"], "the following arguments are required: --status"),
        (["list", "--status", "LOST"], "'LOST' is not a status; one of ACCEPTED, REJECTED, PENDING"),
        (["list", "--status", "PENDING", "--since", "yesterday"], "'yesterday' is not a time"),
        (["list", "--status", "PENDING", "--page-size", "0"], "'0' is not a page size from 1 to 1000"),
        (["redrive"], "give ORDER_ID... or --all --status DEAD_LETTERED, not both nor neither"),
        (["redrive", "a", "--all", "--status", "DEAD_LETTERED"], "not both nor neither"),
        (["redrive", "--all"], "--status DEAD_LETTERED is required"),
        (["redrive", "--all", "--status", "FAILED"], "--status DEAD_LETTERED is required"),
        (["redrive", "a", "--since", "2h"], "--status and --since go with --all"),
        (["--endpoint-url", "ftp://x", "list", "--status", "PENDING"], "'ftp://x' is not an http(s) URL"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_a_bad_argument_is_named_and_exits_2(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    status, out, err = run(capsys, *args)
    assert status == 2
    assert message in err
    assert out == ""
    assert "Traceback" not in err


@pytest.mark.unit
def test_an_unknown_stage_lists_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--stage", "qa", "show", "a") == (
        2,
        "",
        "error: unknown stage 'qa'; known stages: dev, local, prod\n",
    )


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # closed again: nothing listens there


@pytest.mark.aws
@pytest.mark.parametrize(
    "args",
    [
        ["show", "a"],
        ["list", "--status", "DEAD_LETTERED"],
        ["redrive", "a"],
        ["redrive", "--all", "--status", "DEAD_LETTERED"],
    ],
)
def test_an_unreachable_endpoint_is_one_line_and_exits_2(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    status, out, err = run(capsys, "--endpoint-url", endpoint, *args)
    assert status == 2
    assert out == ""
    assert err == f"error: cannot reach {endpoint}/ (stage local at {endpoint}): is it running?\n"


@pytest.mark.unit
def test_the_target_options_go_before_or_after_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    before = run(capsys, "--stage", "qa", "show", "a")
    after = run(capsys, "show", "a", "--stage", "qa")
    assert before == after
    assert after[0] == 2


@pytest.mark.unit
def test_the_local_stage_defaults_to_the_emulator_on_aws_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PORT", "4999")
    parser, _ = cli._parser()
    target = cli._target(parser.parse_args(["show", "a"]))
    assert (target.stage.name, target.endpoint_url, target.region) == ("local", "http://127.0.0.1:4999", "us-east-1")
    deployed = cli._target(parser.parse_args(["--stage", "dev", "--region", "eu-west-1", "show", "a"]))
    assert (deployed.endpoint_url, deployed.region) == (None, "eu-west-1")
    assert deployed.workflow_log_group == "/aws/vendedlogs/states/dofs-dev-order-workflow"
    assert deployed.function_log_groups() == [
        "/aws/lambda/dofs-dev",  # Chalice's name for the API handler
        "/aws/lambda/dofs-dev-fulfill_order",
        "/aws/lambda/dofs-dev-handle_dead_letter",
        "/aws/lambda/dofs-dev-reconcile_orders",
        "/aws/lambda/dofs-dev-record_workflow_failure",
        "/aws/lambda/dofs-dev-store_order",
        "/aws/lambda/dofs-dev-validate_order",
    ]


@pytest.mark.unit
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2h", "2026-11-25T08:00:00.000Z"),
        ("30m", "2026-11-25T09:30:00.000Z"),
        ("7d", "2026-11-18T10:00:00.000Z"),
        ("2026-11-25T09:15:00Z", "2026-11-25T09:15:00.000Z"),
        ("2026-11-25T10:15:00+01:00", "2026-11-25T09:15:00.000Z"),
        ("2026-11-25T09:15", "2026-11-25T09:15:00.000Z"),  # no zone: UTC
    ],
)
def test_since_is_stored_time_format(text: str, expected: str) -> None:
    assert cli.since(text, now=datetime(2026, 11, 25, 10, 0, tzinfo=UTC)) == expected


@pytest.mark.unit
def test_json_output_of_dynamodb_numbers() -> None:
    assert to_json({"attempts": Decimal(3), "total": Decimal("25.50")}) == '{\n  "attempts": 3,\n  "total": "25.50"\n}'


@pytest.mark.unit
def test_a_table_lines_up_its_columns() -> None:
    assert table(["order", "status"], [["a", "PENDING"], ["long-id", None]]) == (
        "order    status\na        PENDING\nlong-id"
    )
