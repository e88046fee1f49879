"""Each function's peak memory: a fresh interpreter imports the app and builds what the
function uses (its AWS clients included), then reports its peak resident set (VmHWM; not
ru_maxrss, which Linux carries over from the parent across fork and exec), the figure Lambda's
REPORT line calls Max Memory Used. The memory a stage gives a function
(.chalice/config.json) must stay above it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping

from dofs_config.stage import PROJECT_DIR, load_stage

# A function's memory may not come closer than this to its measured peak.
HEADROOM = 1.25


def peak_memory_mb(inits: Mapping[str, str]) -> dict[str, float]:
    """`inits`: function -> the expression that builds what it uses (bench.COLD_START_INIT)."""
    stage = load_stage("local")  # the functions validate their settings when they start
    env = {**os.environ, **stage.api_environment(), "AWS_DEFAULT_REGION": stage.region}
    peaks: dict[str, float] = {}
    for function, init in inits.items():
        probe = (
            "import app; from chalicelib import runtime; "
            f"{init}; print(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])"
        )
        out = subprocess.run(  # noqa: S603 - this interpreter, a fixed probe
            [sys.executable, "-c", probe], cwd=PROJECT_DIR, env=env, capture_output=True, text=True, check=True
        ).stdout
        peaks[function] = round(int(out.split()[-1]) / 1024, 1)  # in kB
    return peaks
