"""HTTP answers: JSON bodies, and the one place where an error becomes a response.

Handlers raise `HttpError`; `answers_errors` turns it into the contract's error body
(`{"error", "message"}`, plus `fields` for a 400), and a 503 gets its Retry-After.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from chalice.app import Response

RETRY_AFTER_SECONDS = "1"
Params = ParamSpec("Params")
Owner = TypeVar("Owner")


class HttpError(Exception):
    """An answer other than success: the status it carries, a stable code and a message."""

    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


class ServiceUnavailableError(HttpError):
    """503: a dependency is busy or down; nothing was left half-done, so the client may retry."""

    def __init__(self, message: str) -> None:
        super().__init__(503, "ServiceUnavailable", message)


def json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=json.dumps(body, separators=(",", ":")),
        status_code=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def error_response(error: HttpError) -> Response:
    headers = {"Retry-After": RETRY_AFTER_SECONDS} if isinstance(error, ServiceUnavailableError) else None
    return json_response(error.status, {"error": error.code, "message": error.message, **error.details}, headers)


def answers_errors(
    handler: Callable[Concatenate[Owner, Params], Response],
) -> Callable[Concatenate[Owner, Params], Response]:
    """Wraps a route's implementation: an HttpError becomes its response."""

    def answered(owner: Owner, /, *args: Params.args, **kwargs: Params.kwargs) -> Response:
        try:
            return handler(owner, *args, **kwargs)
        except HttpError as exc:
            return error_response(exc)

    return answered
