"""`make bench`'s cold-start probe builds every function the way Lambda's init does: each
function's settings must be in the probe's environment (a missing one failed the probe)."""

from __future__ import annotations

import pytest

from dofs_local.measurement.bench import COLD_START_INIT, cold_start_ms

pytestmark = pytest.mark.aws


def test_every_function_is_measured() -> None:
    measured = cold_start_ms(runs=1)["median_ms_to_ready"]
    assert set(COLD_START_INIT) | {"app_import"} == set(measured)
    assert all(ms > 0 for ms in measured.values())
