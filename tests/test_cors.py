"""CORS per stage: the stage's allowed origin, validated, becomes every route's CORS setting."""

from __future__ import annotations

import importlib.util

import pytest

from chalicelib.cors import EXPOSED_HEADERS, route_cors
from chalicelib.settings import CorsSettings, SettingsError
from dofs_config.stage import PROJECT_DIR, load_stage

pytestmark = pytest.mark.unit

LOCAL_FRONT_END = "http://localhost:3000"


def test_no_origin_is_allowed_by_default() -> None:
    settings = CorsSettings.from_env({})
    assert settings.cors_allowed_origins == ()
    assert route_cors(settings) is None


def test_the_allowed_origin_gets_the_headers_a_browser_needs() -> None:
    cors = route_cors(CorsSettings.from_env({"CORS_ALLOWED_ORIGINS": " https://shop.example.com "}))
    assert cors is not None
    headers = cors.get_access_control_headers()
    assert headers["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert {"Content-Type", "X-Api-Key"} <= set(headers["Access-Control-Allow-Headers"].split(","))
    assert headers["Access-Control-Expose-Headers"].split(",") == list(EXPOSED_HEADERS)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("localhost:3000", "is not an origin"),
        ("http://localhost:3000/", "is not an origin"),
        ("https://shop.example.com/app", "is not an origin"),
        ("*", "is not an origin"),
        ("https://a.example.com,https://b.example.com", "at most 1 item"),
    ],
)
def test_a_bad_origin_fails_naming_the_variable(value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=rf"^CORS_ALLOWED_ORIGINS.*{message}"):
        CorsSettings.from_env({"CORS_ALLOWED_ORIGINS": value})


def test_every_route_uses_the_stages_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """app.py imported afresh, as a function's cold start imports it, in a stage that allows an origin."""
    monkeypatch.setenv("CORS_ALLOWED_ORIGINS", LOCAL_FRONT_END)
    spec = importlib.util.spec_from_file_location("app_of_a_stage_with_cors", PROJECT_DIR / "app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    routes = [entry for methods in module.app.routes.values() for entry in methods.values()]
    assert len(routes) == 3
    assert all(entry.cors is not None and entry.cors.allow_origin == LOCAL_FRONT_END for entry in routes)


@pytest.mark.parametrize("stage", ["dev", "local"])
def test_dev_and_local_allow_a_front_end_on_localhost(stage: str) -> None:
    assert load_stage(stage).cors_allowed_origins == (LOCAL_FRONT_END,)
