"""scripts/dofs-ops hands the operations CLI's exit status to its caller (0, 1, 2), where
`make ops` can only answer make's 2 for any failure."""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from dofs_config.stage import PROJECT_DIR, load_stage

pytestmark = pytest.mark.aws

WRAPPER = PROJECT_DIR / "scripts" / "dofs-ops"
MAKE = shutil.which("make")
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """An emulator holding the local stage's orders table, and no order in it."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    # moto's backends are per process: start from none of another test's tables.
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=30).close()  # noqa: S310
    stage = load_stage("local")
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=url,
        region_name=stage.region,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    dynamodb.create_table(
        TableName=stage.orders_table,
        AttributeDefinitions=[{"AttributeName": "order_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "order_id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    yield url
    server.stop()


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - the project's own commands
        command, cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, **CREDENTIALS, "MAKEFLAGS": ""},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["--help"], 0, ""),
        (["show", "no-such-order"], 1, "error: no order no-such-order in dofs-local-orders"),
        (["show", "not an id"], 2, "is not an order id"),
    ],
)
def test_the_wrapper_exits_with_the_cli_s_status(
    endpoint: str, tmp_path: Path, args: list[str], status: int, message: str
) -> None:
    # From another directory, as a script calls it.
    result = run([str(WRAPPER), "--endpoint-url", endpoint, *args], cwd=tmp_path)
    assert result.returncode == status, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(MAKE is None, reason="make is not on PATH")
def test_make_ops_answers_2_for_the_same_unknown_order(endpoint: str) -> None:
    """Why the wrapper exists: make's status is 2 for any failing recipe."""
    assert MAKE is not None
    result = run([MAKE, "-s", "ops", f"ARGS=--endpoint-url {endpoint} show no-such-order"], cwd=PROJECT_DIR)
    assert result.returncode == 2
    assert "error: no order no-such-order" in result.stderr
