from __future__ import annotations

import pytest

from chalicelib.settings import ApiSettings, BusinessRules, Settings, SettingsError

pytestmark = pytest.mark.unit

TABLES = {"ORDERS_TABLE": "orders", "FAILED_ORDERS_TABLE": "failed"}


def test_defaults_match_the_contract() -> None:
    settings = Settings.from_env(TABLES)
    assert settings.fulfillment_success_rate == 0.7
    assert str(settings.max_order_total) == "50000.00"
    assert settings.supported_currencies == {"USD", "EUR", "GBP", "INR"}
    assert settings.open_orders_index_shards == 32


def test_an_empty_variable_counts_as_unset() -> None:
    settings = Settings.from_env({**TABLES, "FULFILLMENT_SUCCESS_RATE": "", "SUPPORTED_CURRENCIES": " "})
    assert settings.fulfillment_success_rate == 0.7
    assert settings.supported_currencies == {"USD", "EUR", "GBP", "INR"}


def test_currencies_are_a_comma_separated_list() -> None:
    assert BusinessRules.from_env({"SUPPORTED_CURRENCIES": "usd, jpy,"}).supported_currencies == {"USD", "JPY"}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FULFILLMENT_SUCCESS_RATE": "1.5"}, "FULFILLMENT_SUCCESS_RATE='1.5': Input should be less than or equal"),
        ({"FULFILLMENT_SUCCESS_RATE": "often"}, "FULFILLMENT_SUCCESS_RATE='often'"),
        ({"MAX_ORDER_TOTAL": "lots"}, "MAX_ORDER_TOTAL='lots'"),
        ({"MAX_ORDER_TOTAL": "-1"}, "MAX_ORDER_TOTAL='-1': Input should be greater than or equal to 0"),
        ({"OPEN_ORDERS_INDEX_SHARDS": "0"}, "OPEN_ORDERS_INDEX_SHARDS='0': Input should be greater than or equal to 1"),
        ({"OPEN_ORDERS_INDEX_SHARDS": "many"}, "OPEN_ORDERS_INDEX_SHARDS='many'"),
    ],
)
def test_bad_settings_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({**TABLES, **env})


@pytest.mark.parametrize("missing", ["ORDERS_TABLE", "FAILED_ORDERS_TABLE"])
def test_a_missing_table_fails_naming_the_variable(missing: str) -> None:
    env = {name: value for name, value in TABLES.items() if name != missing}
    with pytest.raises(SettingsError, match=rf"^{missing}: Field required$"):
        Settings.from_env(env)
    with pytest.raises(SettingsError, match=missing):
        Settings.from_env({**env, missing: ""})


def test_the_api_needs_the_state_machine_arn() -> None:
    with pytest.raises(SettingsError, match=r"^STATE_MACHINE_ARN: Field required$"):
        ApiSettings.from_env(TABLES)
    assert ApiSettings.from_env({**TABLES, "STATE_MACHINE_ARN": "arn:x"}).state_machine_arn == "arn:x"


def test_the_process_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERS_TABLE", "o")
    monkeypatch.setenv("FAILED_ORDERS_TABLE", "f")
    monkeypatch.setenv("FULFILLMENT_SUCCESS_RATE", "0.25")
    assert Settings.from_env().fulfillment_success_rate == 0.25
    monkeypatch.setenv("ORDERS_TABLE", "")
    with pytest.raises(SettingsError, match="ORDERS_TABLE: Field required"):
        Settings.from_env()
