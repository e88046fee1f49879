"""Runtime settings, read from the environment that `.chalice/config.json` gives each stage.

Each function validates the settings it needs when it starts (`chalicelib/runtime.py`): a
missing or malformed variable fails its cold start with the variable named, rather than
surfacing later as a retryable error. The defaults below are the contract's (section 5), and
this is the only place they are written.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DEFAULT_SUCCESS_RATE = 0.7
DEFAULT_MAX_ORDER_TOTAL = Decimal("50000.00")
DEFAULT_SUPPORTED_CURRENCIES = frozenset({"USD", "EUR", "GBP", "INR"})
# Shards of the orders table's `open-orders` index. An order costs at most two index writes (it
# enters when accepted, leaves when terminal), so prod's 1,000 orders/s with 3x bursts is 6,000
# index writes/s: 188/s per shard with 32, a fifth of a partition's 1,000 writes/s, leaving room
# for redrives and an uneven spread. 16 (375/s) would do; 32 costs only more (cheap, mostly empty)
# queries per reconciler run. Raise it freely; lowering it hides the open orders written to the
# shards above the new count until they close.
DEFAULT_OPEN_ORDERS_INDEX_SHARDS = 32


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names its environment variable."""


# A plain pydantic model read from a mapping, not pydantic-settings: its sources (dotenv, secrets,
# the cloud providers' vaults, a CLI) import asyncio and argparse, about 60 ms of every cold start
# for nothing the functions use.
class _EnvironmentSettings(BaseModel):
    # Field names are the variables' names, lower-cased; each value is the variable's text. Each
    # class is built when first read: a function builds only the settings it reads.
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Self:
        """The settings from `env` (default: the process environment); an empty variable counts as
        unset. SettingsError names what is wrong."""
        variables = os.environ if env is None else env
        try:
            return cls.model_validate({name.lower(): value for name, value in variables.items() if value != ""})
        except ValidationError as exc:
            raise SettingsError(_describe(exc)) from exc


class BusinessRules(_EnvironmentSettings):
    """What ValidateOrder checks (docs/CONTRACT.md section 2); it needs nothing else."""

    max_order_total: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)] = DEFAULT_MAX_ORDER_TOTAL
    # A comma-separated list (the validator below splits it).
    supported_currencies: frozenset[str] = DEFAULT_SUPPORTED_CURRENCIES

    @field_validator("supported_currencies", mode="before")
    @classmethod
    def _comma_separated(cls, raw: Any) -> Any:
        if not isinstance(raw, str):
            return raw
        codes = frozenset(code.strip().upper() for code in raw.split(",") if code.strip())
        return codes or DEFAULT_SUPPORTED_CURRENCIES


# An origin as a browser sends it: scheme, host and an optional port; no path, no trailing slash.
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


class CorsSettings(_EnvironmentSettings):
    """Which browser origins may call the API (docs/CONTRACT.md section 2): none by default.

    At most one per stage: API Gateway answers a preflight itself, from a mock integration whose
    `Access-Control-Allow-Origin` is a constant, so it cannot pick one origin out of several.
    """

    cors_allowed_origins: Annotated[tuple[str, ...], Field(max_length=1)] = ()

    @field_validator("cors_allowed_origins", mode="before")
    @classmethod
    def _comma_separated_origins(cls, raw: Any) -> Any:
        if not isinstance(raw, str):
            return raw
        origins = tuple(origin.strip() for origin in raw.split(",") if origin.strip())
        for origin in origins:
            if not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"{origin!r} is not an origin such as https://shop.example.com or http://localhost:3000"
                )
        return origins


class OpenOrdersIndexSettings(_EnvironmentSettings):
    """How many shards the `open-orders` index has: whoever writes or reads it must agree."""

    open_orders_index_shards: Annotated[int, Field(ge=1, le=1000)] = DEFAULT_OPEN_ORDERS_INDEX_SHARDS


class Settings(BusinessRules, OpenOrdersIndexSettings):
    """The tables, their index's shards and the fulfillment rate: what every function that stores
    orders needs."""

    orders_table: Annotated[str, Field(min_length=1)]
    failed_orders_table: Annotated[str, Field(min_length=1)]
    fulfillment_success_rate: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)] = DEFAULT_SUCCESS_RATE
    # Days terminal orders (and failed orders) are kept before DynamoDB's TTL deletes them; unset: forever.
    order_retention_days: Annotated[int, Field(ge=1)] | None = None
    failed_order_retention_days: Annotated[int, Field(ge=1)] | None = None


class ApiSettings(Settings):
    """The API handler's: it also starts the workflow (only it gets STATE_MACHINE_ARN)."""

    state_machine_arn: Annotated[str, Field(min_length=1)]


class DeadLetterSettings(Settings):
    """The DLQ handler's: order_queue's maxReceiveCount, a round's attempts."""

    max_receive_count: Annotated[int, Field(ge=1)]


class ReconcilerSettings(Settings):
    """The reconciler's: it restarts the workflow, queues orders and dead-letters them."""

    state_machine_arn: Annotated[str, Field(min_length=1)]
    order_queue_url: Annotated[str, Field(min_length=1)]
    stuck_order_threshold_seconds: Annotated[int, Field(ge=1)]
    max_receive_count: Annotated[int, Field(ge=1)]


def _describe(error: ValidationError) -> str:
    problems = []
    for entry in error.errors(include_url=False):
        variable = ".".join(str(part) for part in entry["loc"]).upper()
        value = "" if entry["type"] == "missing" else f"={entry['input']!r}"
        problems.append(f"{variable}{value}: {entry['msg']}")
    return "; ".join(problems)
