"""scripts/smoke.py against a fake DOFS API served on 127.0.0.1 (tests/cicd/fake_api.py)."""

from __future__ import annotations

import ast
import io
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dofs_config.stage import load_stage
from dofs_local.emulated.emulator import Emulator
from dofs_ops.target import Target
from scripts import smoke
from tests.cicd.fake_api import FakeApi, Reply, serve

pytestmark = pytest.mark.aws

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "smoke.py"
FAST = ["--interval", "0.01", "--timeout", "5"]


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = smoke.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_success_posts_a_valid_unique_order_and_polls_to_fulfilled(capsys: pytest.CaptureFixture[str]) -> None:
    api = FakeApi(statuses=["ACCEPTED", "PENDING", "FAILED", "PENDING", "FULFILLED"])
    with serve(api) as url:
        code, out, err = run_main(["--api-url", url + "/", *FAST], capsys)

    assert code == 0, err
    assert "PASSED" in out
    assert "status ACCEPTED -> PENDING" in out
    assert "FULFILLED" in out
    posts = [request for request in api.requests if request[0] == "POST"]
    assert len(posts) == 1
    _, path, headers, body = posts[0]
    assert path == "/order"  # the trailing slash of the base URL is not doubled
    assert headers["content-type"] == "application/json"
    assert "x-api-key" not in {name.lower() for name in headers}
    order = json.loads(body)
    assert order["order_id"].startswith("smoke-")
    assert set(order) == {"order_id", "customer_id", "items", "currency"}
    assert order["items"] == [{"sku": "SMOKE-SKU-1", "quantity": 1, "unit_price": "1.00"}]


def test_each_run_uses_a_new_order_id() -> None:
    ids = {smoke.SmokeConfig(api_url="http://127.0.0.1:1").order_id for _ in range(20)}
    assert len(ids) == 20
    assert all(len(order_id) <= 64 and order_id.replace("-", "").isalnum() for order_id in ids)


def test_sends_the_api_key_on_every_request(capsys: pytest.CaptureFixture[str]) -> None:
    api = FakeApi()
    with serve(api) as url:
        code, _, err = run_main(["--api-url", url, "--api-key", "k-123", *FAST], capsys)
    assert code == 0, err
    assert len(api.requests) >= 3
    for _, _, headers, _ in api.requests:
        assert {name.lower(): value for name, value in headers.items()}["x-api-key"] == "k-123"


def test_dead_lettered_passes_by_default_but_not_when_fulfilled_is_expected(
    capsys: pytest.CaptureFixture[str],
) -> None:
    statuses = ["ACCEPTED", "FAILED", "FAILED", "DEAD_LETTERED"]
    with serve(FakeApi(statuses=statuses, extra={"last_error": "simulated failure"})) as url:
        code, out, err = run_main(["--api-url", url, *FAST], capsys)
    assert code == 0, err
    assert "dead-lettered" in out
    assert "simulated failure" in out

    with serve(FakeApi(statuses=statuses)) as url:
        code, _, err = run_main(["--api-url", url, "--expect", "FULFILLED", *FAST], capsys)
    assert code == 1
    assert "ended DEAD_LETTERED, expected FULFILLED" in err


def test_expect_dead_lettered_fails_on_fulfilled(capsys: pytest.CaptureFixture[str]) -> None:
    with serve(FakeApi()) as url:
        code, _, err = run_main(["--api-url", url, "--expect", "DEAD_LETTERED", *FAST], capsys)
    assert code == 1
    assert "ended FULFILLED, expected DEAD_LETTERED" in err


def test_rejected_is_a_failure_with_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    api = FakeApi(statuses=["ACCEPTED", "REJECTED"], extra={"reason": "CURRENCY_NOT_SUPPORTED"})
    with serve(api) as url:
        code, _, err = run_main(["--api-url", url, *FAST], capsys)
    assert code == 1
    assert "REJECTED although it is valid: CURRENCY_NOT_SUPPORTED" in err


def test_times_out_when_the_order_never_reaches_a_terminal_status(capsys: pytest.CaptureFixture[str]) -> None:
    with serve(FakeApi(statuses=["ACCEPTED", "PENDING"])) as url:
        code, _, err = run_main(["--api-url", url, "--interval", "0.01", "--timeout", "0.3"], capsys)
    assert code == 1
    assert "FAILED: timed out after 0.3s" in err
    assert "still PENDING" in err


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (Reply(400, {"message": "bad field"}), "POST /order -> HTTP 400, expected 202"),
        (Reply(500, {"message": "boom"}), "POST /order -> HTTP 500, expected 202"),
        (Reply(202, {"order_id": "someone-else", "status": "ACCEPTED"}, {"Location": "/x"}), "does not name order"),
        (Reply(202, ["not", "an", "object"]), "does not name order"),
    ],
)
def test_a_bad_post_answer_fails(reply: Reply, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with serve(FakeApi(post_replies=[reply])) as url:
        code, _, err = run_main(["--api-url", url, *FAST], capsys)
    assert code == 1
    assert message in err


def test_a_202_without_location_fails(capsys: pytest.CaptureFixture[str]) -> None:
    with serve(FakeApi(send_location=False)) as url:
        code, _, err = run_main(["--api-url", url, *FAST], capsys)
    assert code == 1
    assert "without a Location header" in err


def test_follows_a_relative_location_under_a_stage_path(capsys: pytest.CaptureFixture[str]) -> None:
    api = FakeApi()
    with serve(api) as url:
        code, out, _ = run_main(["--api-url", f"{url}/api", *FAST], capsys)
    assert code == 0
    gets = [path for method, path, _, _ in api.requests if method == "GET"]
    assert gets
    assert all(path.startswith("/api/order/smoke-") for path in gets)
    assert "Location order/smoke-" in out


def test_a_location_that_drops_the_stage_path_fails(capsys: pytest.CaptureFixture[str]) -> None:
    with serve(FakeApi(location_prefix="/order/")) as url:
        code, _, err = run_main(["--api-url", f"{url}/api", *FAST], capsys)
    assert code == 1
    assert "resolves to" in err


def test_a_404_right_after_the_202_fails(capsys: pytest.CaptureFixture[str]) -> None:
    with serve(FakeApi(get_replies=[Reply(404, {"message": "not found"})])) as url:
        code, _, err = run_main(["--api-url", url, *FAST], capsys)
    assert code == 1
    assert "GET right after 202" in err
    assert "HTTP 404, expected 200" in err


def test_an_unknown_status_fails(capsys: pytest.CaptureFixture[str]) -> None:
    with serve(FakeApi(statuses=["ACCEPTED", "SHIPPED"])) as url:
        code, _, err = run_main(["--api-url", url, *FAST], capsys)
    assert code == 1
    assert "unknown status 'SHIPPED'" in err


def test_transient_errors_are_retried(capsys: pytest.CaptureFixture[str]) -> None:
    api = FakeApi(
        post_replies=[Reply(503, {"message": "workflow could not be started"}), Reply(429, None)],
        get_replies=[Reply(502, None)],
    )
    with serve(api) as url:
        code, out, err = run_main(["--api-url", url, *FAST], capsys)
    assert code == 0, err
    assert out.count("transient:") == 3
    bodies = {request[3] for request in api.requests if request[0] == "POST"}
    assert len(bodies) == 1  # every retry repeats the same order: idempotent


def test_no_server_fails_with_a_clear_message_after_the_timeout(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, out, err = run_main(["--api-url", url, "--interval", "0.01", "--timeout", "0.5"], capsys)
    assert code == 1
    assert "POST /order never got an answer" in err
    assert "transient: POST" in out
    lines = out.count("transient: POST")
    assert 2 <= lines <= 8, f"a repeated failure is logged once and then every 10th time, not {lines} times"
    assert "(x11, retrying until the timeout)" in out


def test_reads_the_url_from_terraform_outputs_and_never_a_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No output holds a key: one named like a key is ignored, the key is the one given."""
    api = FakeApi()
    with serve(api) as url:
        outputs = tmp_path / "outputs.json"
        outputs.write_text(
            json.dumps(
                {
                    "api_url": {"sensitive": False, "type": "string", "value": url + "/api/"},
                    "api_key_value": {"sensitive": True, "type": "string", "value": "from-outputs"},
                    "other": {"sensitive": False, "type": "number", "value": 3},
                }
            )
        )
        code, _, err = run_main(["--outputs-json", str(outputs), "--api-key", "given", *FAST], capsys)
    assert code == 0, err
    assert api.requests[0][1] == "/api/order"
    assert api.requests[0][2]["x-api-key"] == "given"


def test_outputs_without_a_url_fail_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"table": {"value": "dofs-dev-orders"}}))
    code, _, err = run_main(["--outputs-json", str(outputs)], capsys)
    assert code == 2
    assert "has no output api_url" in err
    assert "it has: table" in err


@pytest.mark.parametrize("argv", [["--api-url", "ftp://example.com"], ["--api-url", "not a url"], []])
def test_bad_arguments_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("API_URL", raising=False)
    code, _, err = run_main(argv, capsys)
    assert code == 2
    assert "ERROR" in err


def test_clock_and_sleep_are_injectable() -> None:
    """The polling loop never sleeps past the deadline."""
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    def send(method: str, url: str, body: bytes | None, headers: object, timeout: float) -> smoke.HttpResponse:
        if method == "POST":
            return smoke.HttpResponse(202, {"Location": "/order/o-1"}, b'{"order_id": "o-1", "status": "ACCEPTED"}')
        return smoke.HttpResponse(200, {}, b'{"order_id": "o-1", "status": "PENDING"}')

    config = smoke.SmokeConfig(api_url="http://h", order_id="o-1", timeout_seconds=5, interval_seconds=2)
    run = smoke.SmokeRun(config, send=send, clock=lambda: now[0], sleep=sleep, out=io.StringIO())
    with pytest.raises(smoke.SmokeFailure, match="timed out after 5s"):
        run.run()
    assert slept == [2, 2, 1]


def test_the_script_uses_the_standard_library_only() -> None:
    tree = ast.parse(SCRIPT.read_text())
    imports = [node for node in ast.walk(tree) if isinstance(node, ast.Import)]
    modules = {alias.name.split(".")[0] for node in imports for alias in node.names}
    modules |= {
        node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    assert modules - {"__future__"} <= sys.stdlib_module_names


def test_runs_as_a_script_with_a_bare_interpreter() -> None:
    with serve(FakeApi()) as url:
        result = subprocess.run(  # noqa: S603 - fixed arguments
            [sys.executable, "-I", str(SCRIPT), "--api-url", url, *FAST],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert "PASSED" in result.stdout


MAKE = shutil.which("make")
needs_make = pytest.mark.skipif(MAKE is None, reason="make is not installed")


def run_make(*args: str) -> subprocess.CompletedProcess[str]:
    assert MAKE is not None
    return subprocess.run(  # noqa: S603 - fixed arguments
        [MAKE, "--no-print-directory", *args], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )


@needs_make
def test_make_smoke_runs_the_script_and_hides_the_key() -> None:
    api = FakeApi()
    with serve(api) as url:
        result = run_make("smoke", f"API_URL={url}", "API_KEY=secret-key", "SMOKE_TIMEOUT=10", "SMOKE_INTERVAL=0.05")
    assert result.returncode == 0, result.stderr
    assert "PASSED" in result.stdout
    assert "secret-key" not in result.stdout + result.stderr
    assert api.requests[0][2]["x-api-key"] == "secret-key"


@needs_make
def test_make_smoke_without_a_url_says_what_is_missing() -> None:
    result = run_make("smoke", "API_URL=")
    assert result.returncode != 0
    assert "set API_URL=" in result.stderr


@pytest.fixture
def emulated_apigateway() -> Iterator[Any]:
    """The emulator's API Gateway, with stage dev's usage plan as infra/modules/api_gateway names it."""
    emulator = Emulator("127.0.0.1", 0)
    emulator.start()
    try:
        dev = load_stage("dev")
        apigateway = Target(stage=dev, region=dev.region, endpoint_url=emulator.endpoint).client("apigateway")
        apigateway.create_usage_plan(name="dofs-dev-usage-plan")
        yield apigateway
    finally:
        emulator.stop()


@needs_make
def test_make_smoke_deployed_uses_a_new_key_of_its_own(tmp_path: Path, emulated_apigateway: Any) -> None:
    """The Smoke stage: URL from `terraform output -json`, and a key of client smoke, made again
    at each run in the stage's usage plan by the ops CLI (here against the emulator)."""
    apigateway = emulated_apigateway
    endpoint = apigateway.meta.endpoint_url
    api = FakeApi()
    outputs = tmp_path / "outputs.json"
    keys = f"{sys.executable} -m dofs_ops --endpoint-url {endpoint}"
    sent = []
    with serve(api) as url:
        outputs.write_text(json.dumps({"api_url": {"sensitive": False, "type": "string", "value": url + "/api/"}}))
        for _ in range(2):
            assert MAKE is not None
            result = subprocess.run(  # noqa: S603 - fixed arguments
                [
                    MAKE,
                    "--no-print-directory",
                    "smoke-deployed",
                    f"OUTPUTS_JSON={outputs}",
                    "SMOKE_INTERVAL=0.05",
                    "STAGE=dev",
                    f"SMOKE_KEYS={keys}",
                ],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
                env={**os.environ, "API_KEY": "", "API_URL": ""},
            )
            assert result.returncode == 0, result.stdout + result.stderr
            assert "using a new API key of client smoke" in result.stdout
            [key] = apigateway.get_api_keys(includeValues=True)["items"]
            assert key["name"] == "dofs-dev-smoke"
            assert key["value"] not in result.stdout + result.stderr
            sent.append(api.requests[-1][2]["x-api-key"])
            assert sent[-1] == key["value"]
    assert api.requests[0][1] == "/api/order"
    assert sent[0] != sent[1], "each run rotates the smoke client's key"


@needs_make
def test_make_smoke_deployed_without_outputs_says_so(tmp_path: Path) -> None:
    result = run_make("smoke-deployed", f"OUTPUTS_JSON={tmp_path / 'missing.json'}")
    assert result.returncode != 0
    assert "is not a file (make deploy-outputs writes it)" in result.stderr
