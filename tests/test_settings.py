from __future__ import annotations

import pytest

from chalicelib.settings import Settings, SettingsError


def test_defaults_match_the_contract() -> None:
    settings = Settings.from_env({})
    assert settings.fulfillment_success_rate == 0.7
    assert str(settings.max_order_total) == "50000.00"
    assert settings.supported_currencies == {"USD", "EUR", "GBP", "INR"}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FULFILLMENT_SUCCESS_RATE": "1.5"}, "between 0 and 1"),
        ({"FULFILLMENT_SUCCESS_RATE": "often"}, "not a number"),
        ({"MAX_ORDER_TOTAL": "lots"}, "not a decimal"),
        ({"MAX_ORDER_TOTAL": "-1"}, "non-negative"),
    ],
)
def test_bad_settings_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)
