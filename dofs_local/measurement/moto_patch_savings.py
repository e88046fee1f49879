"""What each speed patch of dofs_local/emulated/moto_patches.py saves: the demo (`make demo`'s run)
and a slice of the moto-backed tests, timed with all patches and with one speed patch left out.

    .venv/bin/python -m dofs_local.measurement.moto_patch_savings [--runs 2] [--patch NAME ...] [--no-tests]

Every run is a new process, timed by its wall clock and its CPU (user + system, which other
load on the machine disturbs less). Left out means moto's own code runs where the patch would
have replaced it. Loaded as a pytest plugin (`-p dofs_local.measurement.moto_patch_savings`), this
module leaves out the patches named in LEAVE_OUT_VARIABLE before the tests' conftest applies them.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dofs_config.stage import PROJECT_DIR
from dofs_local.emulated import moto_patches

# The patches that exist for speed alone (the others give fidelity: thread safety, the Lambda
# bridge, what AWS has and moto lacks, create-time checks), by their function in moto_patches.
SPEED_PATCHES = (
    "parse_definitions_once",
    "reuse_workflow_clients",
    "compile_json_paths_once",
    "parse_update_expressions_once",
    "cheaper_sqs_bookkeeping",
    "list_action_methods_once",
    "memoise_backend_routing",
    "reuse_workflow_threads",
)
LEAVE_OUT_VARIABLE = "DOFS_MOTO_PATCHES_LEFT_OUT"
MODULE = "dofs_local.measurement.moto_patch_savings"  # this one's name, also when run as __main__
DEMO = ("demo", "--orders", "50", "--port", "0", "--aws-port", "0")
TEST_SLICE = (
    "tests/test_workflow.py",
    "tests/test_workflow_crash_retry.py",
    "tests/test_api.py",
    "tests/test_fulfillment.py",
    "tests/test_pollers.py",
    "tests/test_reconciler.py",
    "tests/test_redrive.py",
)


def leave_out(names: Iterable[str]) -> None:
    """`moto_patches.apply_all()` skips these (it calls each by its module-level name)."""
    for name in names:
        if name not in SPEED_PATCHES:
            raise ValueError(f"{name} is not a speed patch: {', '.join(SPEED_PATCHES)}")
        setattr(moto_patches, name, lambda: None)


leave_out(filter(None, os.environ.get(LEAVE_OUT_VARIABLE, "").split(",")))


@dataclass(frozen=True)
class Timing:
    wall: float
    cpu: float


def timed(command: Sequence[str], left_out: str) -> Timing:
    environment = {**os.environ, LEAVE_OUT_VARIABLE: left_out}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, cwd=PROJECT_DIR, env=environment, check=True, capture_output=True)  # noqa: S603
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return Timing(wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)


def commands(tests: bool) -> dict[str, list[str]]:
    # This module first, so that it leaves out what LEAVE_OUT_VARIABLE names before the stack starts.
    demo = f"import {MODULE}; from dofs_local.__main__ import main; raise SystemExit(main({list(DEMO)!r}))"
    found = {"demo": [sys.executable, "-c", demo]}
    if tests:
        plugin = ["-p", MODULE, "-p", "no:schemathesis", "-p", "no:cacheprovider"]
        found["tests"] = [sys.executable, "-m", "pytest", "-q", *plugin, *TEST_SLICE]
        # The stack under load: 200 orders through every function, many invocations at once.
        found["pipeline"] = [sys.executable, "-m", "pytest", "-q", *plugin, "tests/integration/test_pipeline.py"]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each (the best is kept)")
    parser.add_argument("--patch", action="append", choices=SPEED_PATCHES, help="only these (default: all)")
    parser.add_argument("--no-tests", action="store_true", help="time the demo only")
    parser.add_argument("--together", action="store_true", help="leave the patches out all at once, not one by one")
    args = parser.parse_args(argv)
    runs = commands(tests=not args.no_tests)
    chosen = args.patch or SPEED_PATCHES
    variants = ["", ",".join(chosen)] if args.together else ["", *chosen]
    best: dict[tuple[str, str], Timing] = {}
    for _ in range(args.runs):  # interleaved: a change in the machine's load spreads over every variant
        for variant in variants:
            for what, command in runs.items():
                timing = timed(command, variant)
                print(
                    f"{what:5} without {variant or '(none)':42} wall {timing.wall:6.1f} s  cpu {timing.cpu:6.1f} s",
                    flush=True,
                )
                kept = best.get((what, variant), timing)
                best[(what, variant)] = Timing(min(kept.wall, timing.wall), min(kept.cpu, timing.cpu))
    print("\nsaved by each patch (best run without it minus best run with all), share of the run with all:")
    for what in runs:
        base = best[(what, "")]
        print(f"{what}: all patches wall {base.wall:.1f} s, cpu {base.cpu:.1f} s")
        for variant in variants[1:]:
            left = best[(what, variant)]
            wall, cpu = left.wall - base.wall, left.cpu - base.cpu
            shares = f"wall {wall:+6.1f} s ({wall / base.wall:+6.1%})  cpu {cpu:+6.1f} s ({cpu / base.cpu:+6.1%})"
            print(f"  {variant:42} {shares}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
