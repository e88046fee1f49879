"""The strict JSON reader's limits at their edges (chalicelib/json_body.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from chalicelib import json_body
from chalicelib.responses import HttpError

pytestmark = pytest.mark.unit

LIMIT = json_body.MAX_DEPTH


def refused(raw: bytes) -> str:
    with pytest.raises(HttpError) as caught:
        json_body.parse(raw)
    assert (caught.value.status, caught.value.code) == (400, "InvalidJSON")
    return caught.value.message


@pytest.mark.parametrize("opener", ["[", '{"k":'])
def test_nesting_up_to_the_limit_is_read_and_one_more_is_refused(opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    assert json_body.parse((opener * LIMIT + "1" + closer * LIMIT).encode()) is not None
    assert "nests" in refused((opener * (LIMIT + 1) + "1" + closer * (LIMIT + 1)).encode())


def test_deep_nesting_after_a_long_flat_part_is_refused() -> None:
    flat = "[1]," * 5_000
    assert "nests" in refused(f"[{flat}{'[' * LIMIT}{']' * LIMIT}]".encode())


def test_brackets_inside_strings_do_not_nest() -> None:
    text = '{"a": "' + "[{" * 100 + '\\"]"}'
    assert json_body.parse(text.encode()) == {"a": "[{" * 100 + '"]'}


def test_unpaired_brackets_are_invalid_json_not_deep_nesting() -> None:
    assert "nests" not in refused(b"[}" * (LIMIT + 1))


def test_numbers() -> None:
    assert json_body.parse(b'{"p": 12.50, "q": 3}') == {"p": Decimal("12.50"), "q": Decimal(3)}
    assert json_body.parse(("9" * 5000).encode()) == Decimal("9" * 5000)  # int() would raise ValueError
    assert "NaN" in refused(b"[NaN]")


def test_a_duplicate_key_is_named_at_any_depth() -> None:
    assert "'sku'" in refused(b'{"items": [{"sku": "a", "sku": "b"}]}')


@pytest.mark.parametrize(
    ("content_type", "accepted"),
    [
        ("application/json", True),
        ("application/json; charset=UTF-8", True),
        ('application/json; charset="utf-8"', True),
        ("application/json; charset=latin-1", False),
        ("application/json; charset=utf-16", False),
    ],
)
def test_only_utf8_is_a_charset(content_type: str, accepted: bool) -> None:
    if accepted:
        json_body.check_charset(content_type)
        return
    with pytest.raises(HttpError) as caught:
        json_body.check_charset(content_type)
    assert caught.value.status == 415
    assert "charset" in caught.value.message
