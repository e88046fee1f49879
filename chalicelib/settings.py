"""Runtime settings, read from the environment that `.chalice/config.json` gives each stage."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

DEFAULT_SUCCESS_RATE = 0.7
DEFAULT_MAX_ORDER_TOTAL = Decimal("50000.00")
DEFAULT_SUPPORTED_CURRENCIES = ("USD", "EUR", "GBP", "INR")


class SettingsError(ValueError):
    """A setting is missing or malformed; raised at first use so the log names it."""


@dataclass(frozen=True)
class Settings:
    orders_table: str
    failed_orders_table: str
    state_machine_arn: str
    fulfillment_success_rate: float
    max_order_total: Decimal
    supported_currencies: frozenset[str]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            orders_table=env.get("ORDERS_TABLE", ""),
            failed_orders_table=env.get("FAILED_ORDERS_TABLE", ""),
            # Only the API handler gets this variable (see .chalice/config.json).
            state_machine_arn=env.get("STATE_MACHINE_ARN", ""),
            fulfillment_success_rate=_rate(env.get("FULFILLMENT_SUCCESS_RATE")),
            max_order_total=_decimal("MAX_ORDER_TOTAL", env.get("MAX_ORDER_TOTAL")),
            supported_currencies=_currencies(env.get("SUPPORTED_CURRENCIES")),
        )


def _rate(raw: str | None) -> float:
    if raw is None or raw == "":
        return DEFAULT_SUCCESS_RATE
    try:
        rate = float(raw)
    except ValueError as exc:
        raise SettingsError(f"FULFILLMENT_SUCCESS_RATE={raw!r} is not a number") from exc
    if not 0.0 <= rate <= 1.0:
        raise SettingsError(f"FULFILLMENT_SUCCESS_RATE={raw!r} is not between 0 and 1")
    return rate


def _decimal(name: str, raw: str | None) -> Decimal:
    if raw is None or raw == "":
        return DEFAULT_MAX_ORDER_TOTAL
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:
        raise SettingsError(f"{name}={raw!r} is not a decimal number") from exc
    if not value.is_finite() or value < 0:
        raise SettingsError(f"{name}={raw!r} must be a non-negative number")
    return value


def _currencies(raw: str | None) -> frozenset[str]:
    if raw is None or raw.strip() == "":
        return frozenset(DEFAULT_SUPPORTED_CURRENCIES)
    return frozenset(code.strip().upper() for code in raw.split(",") if code.strip())
