"""app.py imported as a stage's Lambda container imports it, for the local stack and the bench
(`import_app_for_the_stage`): with the stage's settings, os.environ left as it was."""

from __future__ import annotations

import os
import sys

import pytest

import app
from chalicelib.cors import route_cors
from chalicelib.settings import CorsSettings
from dofs_config.stage import load_stage
from dofs_local.emulated.pipeline import import_app_for_the_stage

pytestmark = pytest.mark.emulator


def test_the_app_is_imported_again_under_another_stage_s_settings_and_only_then() -> None:
    stages = [load_stage(name) for name in ("local", "prod")]
    cors = {stage.name: route_cors(CorsSettings.from_env(stage.environment)) for stage in stages}
    assert cors["local"] != cors["prod"]  # else this test shows nothing
    other = next(stage for stage in stages if cors[stage.name] != app.CORS)
    environ_before = dict(os.environ)
    cors_before = app.CORS
    module, globals_before = import_app_for_the_stage(other)
    try:
        assert module is sys.modules["app"]
        assert cors[other.name] == module.CORS
        assert globals_before is not None
        assert globals_before["CORS"] == cors_before
        assert dict(os.environ) == environ_before
        assert import_app_for_the_stage(other) == (module, None)  # imported as it is: not again
    finally:
        if globals_before is not None:  # the app as the other tests imported it
            vars(module).clear()
            vars(module).update(globals_before)
    assert cors_before == app.CORS
