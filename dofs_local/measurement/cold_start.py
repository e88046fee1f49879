"""Each function's cold start as Lambda's init phase runs it, measured on this machine.

The probe runs what Lambda runs, not the development tree: the stage's package as `make package`
builds it (`deployment.zip` unpacked; no bytecode is written, as Lambda's task root is
read-only), and for each function in the package its own environment variables, function name
and tracing mode, with the variables Lambda adds (`AWS_LAMBDA_FUNCTION_NAME`, `LAMBDA_TASK_ROOT`,
the function's credentials, ...). A fresh interpreter imports the handler's module, which on
Lambda builds the function's settings and clients (`chalicelib/runtime.py`), and, where the
function traces, Powertools' Tracer and the X-Ray SDK. Beside the package it sees only what
Lambda's runtime (boto3 and its dependencies) and the Powertools layer (Powertools, the X-Ray SDK)
provide, this interpreter's copies of them: an import the package lacks fails here as on Lambda.

Used by `make bench` (wall time and peak memory) and `make capacity-measure` (CPU time, which the
capacity model scales by each function's memory).
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from dofs_config.stage import LOCAL_ACCOUNT_ID, PROJECT_DIR, Stage, load_stage

# What stands in for Lambda's Python runtime and the Powertools layer: these distributions of this
# interpreter, with their dependencies.
RUNTIME_AND_LAYER = ("boto3", "aws-lambda-powertools", "aws-xray-sdk")

# Runs in the function's environment: the init, then what it cost and what it compiled (a module
# whose bytecode is missing or stale is compiled from its source, at every cold start on Lambda).
_PROBE = """
import importlib.machinery, json, os, resource, sys, time
root = os.environ["LAMBDA_TASK_ROOT"] + os.sep
compiled = []
loader = importlib.machinery.SourceFileLoader
compile_source = loader.source_to_code
def recording(self, data, path, *args, **kwargs):
    if str(path).startswith(root):
        compiled.append(os.path.relpath(path, root))
    return compile_source(self, data, path, *args, **kwargs)
loader.source_to_code = recording
started = time.perf_counter()
import {module}
wall_ms = (time.perf_counter() - started) * 1000
usage = resource.getrusage(resource.RUSAGE_SELF)
with open("/proc/self/status") as status:
    peak_kb = int(status.read().split("VmHWM:")[1].split()[0])
print(json.dumps({{
    "wall_ms": wall_ms,
    "cpu_ms": (usage.ru_utime + usage.ru_stime) * 1000,
    "peak_memory_mb": peak_kb / 1024,
    "xray_sdk_loaded": "aws_xray_sdk.core" in sys.modules,
    "compiled_from_source": sorted(compiled),
}}))
"""

# Lambda gives a function its role's credentials in these variables, so no client walks the
# credential chain (to the instance metadata service) when it is built. Dummies: the probe calls nothing.
ROLE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "probe",  # pragma: allowlist secret - a dummy
    "AWS_SECRET_ACCESS_KEY": "probe",  # pragma: allowlist secret - a dummy
    "AWS_SESSION_TOKEN": "probe",  # pragma: allowlist secret - a dummy
}

_TERRAFORM_VARIABLE = re.compile(r"\$\{var\.(\w+)\}")


@dataclass(frozen=True)
class PackagedFunction:
    """One aws_lambda_function of the package, as Terraform creates it."""

    name: str  # the handler's name in app.py (Chalice's resource name)
    function_name: str
    handler: str  # module.attribute
    memory_mb: int
    traced: bool  # tracing_config Active
    environment: dict[str, str]


@dataclass(frozen=True)
class Init:
    """One function's init phase: medians over the runs."""

    wall_ms: float  # on this machine, with a whole core
    cpu_ms: float  # the interpreter's own start included
    peak_memory_mb: float  # VmHWM: what Lambda's REPORT line calls Max Memory Used
    xray_sdk_loaded: bool
    compiled_from_source: tuple[str, ...]  # the package's files compiled at import (no usable bytecode)


def packaged_functions(package: Path) -> dict[str, PackagedFunction]:
    """The functions `chalice package` wrote into the package's Terraform (chalice.tf.json)."""
    resources = json.loads((package / "chalice.tf.json").read_text())["resource"]["aws_lambda_function"]
    return {
        name: PackagedFunction(
            name=name,
            function_name=function["function_name"],
            handler=function["handler"],
            memory_mb=int(function["memory_size"]),
            traced=function.get("tracing_config", {}).get("mode") == "Active",
            environment=dict(function.get("environment", {}).get("variables", {})),
        )
        for name, function in resources.items()
    }


def terraform_inputs(stage: Stage) -> dict[str, str]:
    """What infra/stage passes for the package's `${var.…}` references in environment variables."""
    return {
        "state_machine_arn": stage.state_machine_arn(),
        "order_queue_url": f"https://sqs.{stage.region}.amazonaws.com/{LOCAL_ACCOUNT_ID}/{stage.order_queue_name}",
        "max_receive_count": str(stage.max_receive_count),
        "stuck_order_threshold_seconds": str(stage.stuck_order_threshold_seconds),
    }


def lambda_environment(
    function: PackagedFunction, stage: Stage, task_root: Path, home: Path, runtime_path: Path | None = None
) -> dict[str, str]:
    """The function's variables with Terraform's inputs filled in, and those Lambda sets itself.
    Nothing of this machine's environment leaks in (no ~/.aws, no POWERTOOLS_* of a shell)."""
    inputs = terraform_inputs(stage)

    def filled(value: str) -> str:
        def one(match: re.Match[str]) -> str:
            if match.group(1) not in inputs:
                raise ValueError(
                    f"{function.name}: no value for ${{var.{match.group(1)}}} (cold_start.terraform_inputs)"
                )
            return inputs[match.group(1)]

        return _TERRAFORM_VARIABLE.sub(one, value)

    runtime = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return {
        **{name: filled(value) for name, value in function.environment.items()},
        "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime}",
        "AWS_REGION": stage.region,
        "AWS_DEFAULT_REGION": stage.region,
        "LAMBDA_TASK_ROOT": str(task_root),
        "_HANDLER": function.handler,
        **ROLE_CREDENTIALS,
        "PYTHONPATH": os.pathsep.join(str(path) for path in (task_root, runtime_path) if path is not None),
        "PYTHONDONTWRITEBYTECODE": "1",  # Lambda's task root is read-only
        "HOME": str(home),
        "PATH": "/usr/bin:/bin",
        "TZ": ":UTC",
    }


def provided_distributions(roots: tuple[str, ...] = RUNTIME_AND_LAYER) -> set[str]:
    """The distributions `roots` install, with the dependencies they require (no extras)."""
    found: set[str] = set()
    pending = list(roots)
    while pending:
        name = canonicalize_name(pending.pop())
        if name in found:
            continue
        found.add(name)
        for requirement in map(Requirement, metadata.requires(name) or []):
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
    return found


def link_runtime(directory: Path, distributions: set[str]) -> Path:
    """A directory holding only these distributions' top-level modules (links to this interpreter's)."""
    directory.mkdir()
    for name in distributions:
        distribution = metadata.distribution(name)
        tops = {file.parts[0] for file in distribution.files or []}
        for top in sorted(tops - {"..", "__pycache__"}):
            if not top.endswith((".dist-info", ".pth")) and not (directory / top).exists():
                (directory / top).symlink_to(Path(str(distribution.locate_file(top))))
    return directory


@dataclass(frozen=True)
class TaskRoot:
    """The package unpacked as Lambda unpacks it into /var/task, what the runtime and layer provide
    beside it, and a home with no ~/.aws."""

    package: Path
    runtime: Path
    home: Path


@contextmanager
def unpacked(package: Path) -> Iterator[TaskRoot]:
    with tempfile.TemporaryDirectory(prefix="dofs-task-") as work:
        task_root = Path(work) / "task"
        with zipfile.ZipFile(package / "deployment.zip") as archive:
            archive.extractall(task_root)
        (Path(work) / "home").mkdir()
        yield TaskRoot(task_root, link_runtime(Path(work) / "runtime", provided_distributions()), Path(work) / "home")


def measure_inits(
    package: Path, stage_name: str, runs: int = 5, functions: tuple[str, ...] | None = None
) -> dict[str, Init]:
    """Each packaged function's init (or these `functions`'), `runs` times in a fresh interpreter: medians."""
    stage = load_stage(stage_name)
    inits: dict[str, Init] = {}
    with unpacked(package) as root:
        for name, function in sorted(packaged_functions(package).items()):
            if functions is not None and name not in functions:
                continue
            env = lambda_environment(function, stage, root.package, root.home, root.runtime)
            probe = _PROBE.format(module=function.handler.split(".")[0])
            samples = [_run(probe, env, root.package) for _ in range(runs)]
            inits[name] = Init(
                wall_ms=round(statistics.median(sample.wall_ms for sample in samples), 1),
                cpu_ms=round(statistics.median(sample.cpu_ms for sample in samples), 1),
                peak_memory_mb=round(statistics.median(sample.peak_memory_mb for sample in samples), 1),
                xray_sdk_loaded=all(sample.xray_sdk_loaded for sample in samples),
                compiled_from_source=samples[0].compiled_from_source,
            )
    return inits


def heaviest_imports(package: Path, stage_name: str, function_name: str, count: int = 6) -> dict[str, float]:
    """`python -X importtime` of one function's init: its heaviest imports, cumulative ms."""
    stage = load_stage(stage_name)
    function = packaged_functions(package)[function_name]
    with unpacked(package) as root:
        env = lambda_environment(function, stage, root.package, root.home, root.runtime)
        lines = subprocess.run(  # noqa: S603 - this interpreter, a fixed import
            [sys.executable, "-S", "-X", "importtime", "-c", f"import {function.handler.split('.')[0]}"],
            cwd=root.package,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stderr.splitlines()
    rows = [line.split("|") for line in lines if line.startswith("import time:")]
    heaviest = sorted((int(row[1]), row[2].strip()) for row in rows if row[1].strip().isdigit())[-count:]
    return {name: round(us / 1000, 1) for us, name in reversed(heaviest)}


def build_package(stage_name: str, out: Path) -> Path:
    """`make package` for the stage, into `out`."""
    subprocess.run(  # noqa: S603 - this interpreter and the project's own script
        [sys.executable, "scripts/package_app.py", "--stage", stage_name, "--out", str(out)],
        cwd=PROJECT_DIR,
        check=True,
        capture_output=True,
    )
    return out


def _run(probe: str, env: dict[str, str], task_root: Path) -> Init:
    result = subprocess.run(  # noqa: S603 - this interpreter, a fixed probe
        [sys.executable, "-S", "-c", probe], cwd=task_root, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"{env['AWS_LAMBDA_FUNCTION_NAME']}: the init failed:\n{result.stderr[-3000:]}")
    sample = json.loads(result.stdout.splitlines()[-1])
    return Init(
        wall_ms=float(sample["wall_ms"]),
        cpu_ms=float(sample["cpu_ms"]),
        peak_memory_mb=float(sample["peak_memory_mb"]),
        xray_sdk_loaded=bool(sample["xray_sdk_loaded"]),
        compiled_from_source=tuple(sample["compiled_from_source"]),
    )
