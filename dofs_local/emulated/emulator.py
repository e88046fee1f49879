"""The AWS emulator: a moto server on 127.0.0.1, with Step Functions execution switched on (moto
only records state machines by default; its interpreter calls back into this server, reading the
port from MOTO_PORT) and the changes of `moto_patches.py` applied."""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from typing import Any

from moto.server import ThreadedMotoServer

from dofs_local.emulated import moto_patches


class Emulator:
    def __init__(self, host: str = "127.0.0.1", port: int = 4566) -> None:
        self._server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
        self.host = host
        self.port = port

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        moto_patches.apply_all()
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log per AWS call
        self._server.start()
        self.port = self._server.get_host_and_port()[1]
        # Request threads are joined when the server closes, so stop() leaves none behind.
        wsgi_server: Any = self._server._server
        wsgi_server.daemon_threads = False
        wsgi_server.block_on_close = True
        os.environ["MOTO_PORT"] = str(self.port)
        self._moto_api("reset", None)
        self._moto_api("config", {"stepfunctions": {"execute_state_machine": True}})

    def stop(self) -> None:
        self._server.stop()

    def _moto_api(self, path: str, body: dict[str, Any] | None) -> None:
        request = urllib.request.Request(  # noqa: S310 - a fixed http URL on loopback
            f"{self.endpoint}/moto-api/{path}",
            data=json.dumps(body or {}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            response.read()
