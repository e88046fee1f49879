"""The JSON lines the app's functions log, as a test reads them."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chalicelib.observability import logger

LogLines = Callable[[], list[dict[str, Any]]]


@pytest.fixture(name="log_lines")
def log_lines_fixture() -> Iterator[LogLines]:
    """The lines logged while the test runs."""
    stream = io.StringIO()
    handlers = [h for h in logger.handlers if isinstance(h, logging.StreamHandler)]
    saved = [h.setStream(stream) for h in handlers]
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    for handler, original in zip(handlers, saved, strict=True):
        handler.setStream(original)
