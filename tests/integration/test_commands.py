"""`make local` and `make demo` as a user runs them: separate processes, stopped with Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from chalicelib.settings import DEFAULT_SUCCESS_RATE
from dofs_config.stage import PROJECT_DIR
from dofs_local.emulated.pipeline import LocalPipeline, PipelineOptions

pytestmark = pytest.mark.emulator


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _port_is_free(port: int) -> bool:
    """Free for a new server, which (like ours) may reuse a port with connections in TIME_WAIT."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_serve_answers_then_stops_on_ctrl_c() -> None:
    api_port, aws_port = _free_port(), _free_port()
    server = subprocess.Popen(  # noqa: S603 - our own module
        [sys.executable, "-m", "dofs_local", "serve", "--port", str(api_port), "--aws-port", str(aws_port)],
        cwd=PROJECT_DIR,
        env={name: value for name, value in os.environ.items() if name != "FULFILLMENT_SUCCESS_RATE"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        banner = ""
        assert server.stdout is not None
        while "Function logs follow" not in banner:
            line = server.stdout.readline()
            assert line, f"serve exited early: {banner}"
            banner += line
        assert re.search(rf"API\s+http://127.0.0.1:{api_port}", banner)
        # No rate given: the banner names the one the functions run with, not "None".
        assert re.search(rf"success rate\s+{DEFAULT_SUCCESS_RATE} \(the default\)", banner), banner
        request = urllib.request.Request(
            f"http://127.0.0.1:{api_port}/order",
            data=json.dumps({"customer_id": "c", "items": [{"sku": "A", "quantity": 1, "unit_price": "1"}]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            assert response.status == 202
    finally:
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=60)
    assert server.returncode == 0, output
    assert "stopped" in output
    assert _port_is_free(api_port)
    assert _port_is_free(aws_port)


def test_a_stopped_stack_leaves_no_thread_behind() -> None:
    before = set(threading.enumerate())
    with LocalPipeline(PipelineOptions(api_port=0, aws_port=0, quiet_http=True)) as stack:
        request = urllib.request.Request(  # noqa: S310 - loopback
            f"{stack.api_url}/order", data=b"{}", headers={"Content-Type": "text/plain"}
        )
        with pytest.raises(urllib.error.HTTPError, match="415"):
            urllib.request.urlopen(request, timeout=30)  # noqa: S310
    deadline = time.monotonic() + 5
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert set(threading.enumerate()) - before == set()


def test_demo_command_passes_and_reports(tmp_path: object) -> None:
    demo = subprocess.run(  # noqa: S603 - our own module
        [sys.executable, "-m", "dofs_local", "demo", "--orders", "12", "--success-rate", "0", "--port", "0",
         "--aws-port", "0", "--log-file", f"{tmp_path}/logs.jsonl"],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "invariants      : all hold" in demo.stdout
    assert re.search(r"terminal states : \{'DEAD_LETTERED': \d+, 'REJECTED': \d+\}", demo.stdout)
