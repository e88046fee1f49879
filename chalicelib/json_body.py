"""A request body's JSON, read strictly: whatever a client sends is a value or a 4xx, never a 5xx.

Python's `json` alone would recurse until RecursionError on deep nesting, let the last of two
equal keys win, accept NaN and Infinity (not JSON), read UTF-16 and UTF-32 bodies, and raise
ValueError on an integer of over 4,300 digits. Each of those is refused here with a message
naming it, or (numbers) left to the model, which names the field.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from chalicelib.responses import HttpError

MAX_DEPTH = 10  # an order nests 3 deep (body, items, item); anything deeper is refused unread
_CHARSETS = frozenset({"utf-8", "utf8"})
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')  # brackets inside a string do not nest
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")
_INNERMOST_PAIR = re.compile(r"\[\]|\{\}")
_CLOSER_OF = {"[": "]", "{": "}"}


def check_charset(content_type: str) -> None:
    """A JSON body is UTF-8 (RFC 8259 section 8.1): a declared charset that is not is a 415."""
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in _CHARSETS:
            raise HttpError(415, "UnsupportedMediaType", f"charset must be utf-8, got {value.strip()!r}")


def parse(raw_body: bytes) -> Any:
    """The body's JSON value, or an HttpError 400 naming what is wrong with it."""
    try:
        text = raw_body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _invalid(f"body is not UTF-8: byte {exc.start} ({raw_body[exc.start]:#04x}) is not valid there") from exc
    _check_depth(text)
    try:
        return json.loads(
            text,
            # Every number a Decimal: exact, and built in linear time (int() of thousands of digits
            # is refused by Python with a ValueError); the model turns a whole one into an int.
            parse_float=Decimal,
            parse_int=Decimal,
            parse_constant=_not_a_number,
            object_pairs_hook=_object,
        )
    except json.JSONDecodeError as exc:
        raise _invalid(f"body is not valid JSON: {exc}") from exc


def _check_depth(text: str) -> None:
    """Refuses nesting deeper than MAX_DEPTH without walking a large body in Python: the regular
    expressions strip the strings and peel one level of innermost pairs a pass, in C."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return
    brackets = _NOT_A_BRACKET.sub("", _STRING.sub("", text))
    peeled = brackets
    for _ in range(MAX_DEPTH):
        peeled = _INNERMOST_PAIR.sub("", peeled)
        if not peeled:
            return
    # Something nests deeper than MAX_DEPTH, or does not pair up (json.loads names that): walked
    # until it is clear which.
    open_brackets: list[str] = []
    for bracket in brackets:
        if bracket in _CLOSER_OF:
            open_brackets.append(_CLOSER_OF[bracket])
            if len(open_brackets) > MAX_DEPTH:
                raise _invalid(f"body nests arrays and objects more than {MAX_DEPTH} deep")
        elif not open_brackets or open_brackets.pop() != bracket:
            return


def _not_a_number(name: str) -> Any:
    raise _invalid(f"{name} is not a JSON number")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise _invalid(f"body has the key {key!r} more than once in one object")
        seen.add(key)
    return dict(pairs)


def _invalid(message: str) -> HttpError:
    return HttpError(400, "InvalidJSON", message)
