"""Which execution history events a state machine's log group receives at a log level, as AWS
decides it (docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html): ALL every event; ERROR
the failed, timed-out and aborted ones (the execution's own and its states'); FATAL only the
execution's own failure; OFF none. The emulator keeps every execution's whole history, so what
reads execution events locally filters them here: what a deployed stage would have logged."""

from __future__ import annotations

FATAL_EVENTS = frozenset({"ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"})
_ERROR_MARKERS = ("Failed", "Aborted", "TimedOut")


def logged(event_type: str, level: str) -> bool:
    if level == "ALL":
        return True
    if level == "ERROR":
        return any(marker in event_type for marker in _ERROR_MARKERS)
    if level == "FATAL":
        return event_type in FATAL_EVENTS
    return False  # OFF
