"""`python -m dofs_local`: the success rate the stack's banner and the demo report is the one its
functions run with, the default included."""

from __future__ import annotations

import argparse

import pytest

from chalicelib.settings import DEFAULT_SUCCESS_RATE
from dofs_local.__main__ import effective_success_rate

pytestmark = pytest.mark.aws


def test_the_option_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FULFILLMENT_SUCCESS_RATE", "0.2")
    assert effective_success_rate(0.0) == (0.0, "--success-rate")


def test_the_environment_when_no_option(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FULFILLMENT_SUCCESS_RATE", "0.25")
    assert effective_success_rate(None) == (0.25, "FULFILLMENT_SUCCESS_RATE")


@pytest.mark.parametrize("unset", [None, ""])
def test_the_functions_default_when_neither(monkeypatch: pytest.MonkeyPatch, unset: str | None) -> None:
    if unset is None:
        monkeypatch.delenv("FULFILLMENT_SUCCESS_RATE", raising=False)
    else:
        monkeypatch.setenv("FULFILLMENT_SUCCESS_RATE", unset)
    assert effective_success_rate(None) == (DEFAULT_SUCCESS_RATE, "the default")


@pytest.mark.parametrize("bad", ["fast", "1.5", "-0.1", "nan"])
def test_a_bad_environment_value_is_named(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv("FULFILLMENT_SUCCESS_RATE", bad)
    with pytest.raises(argparse.ArgumentTypeError, match="between 0 and 1"):
        effective_success_rate(None)
