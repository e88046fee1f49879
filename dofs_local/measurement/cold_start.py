"""Each function's cold start as Lambda's init phase runs it, measured on this machine.

The probe runs what Lambda runs, not the development tree: the stage's package as `make package`
builds it (`deployment.zip`, unpacked into a task root that nothing writes bytecode into, as
Lambda's is read-only), and for each function in the package its own environment variables,
function name and tracing mode, with the variables Lambda adds (`AWS_LAMBDA_FUNCTION_NAME`,
`LAMBDA_TASK_ROOT`, ...). A fresh interpreter imports the handler's module, which on Lambda
builds the function's settings and clients (`chalicelib/runtime.py`), and, where the function
traces, Powertools' Tracer and the X-Ray SDK. boto3 and Powertools come from this interpreter's
site-packages, standing in for Lambda's runtime and the Powertools layer.

Used by `make bench` (wall time and peak memory) and `make capacity-measure` (CPU time, which the
capacity model scales by each function's memory).
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dofs_config.stage import LOCAL_ACCOUNT_ID, PROJECT_DIR, Stage, load_stage

# Runs in the function's environment: the init, then what it cost and what it loaded.
_PROBE = """
import json, os, resource, sys, time
started = time.perf_counter()
import {module}
wall_ms = (time.perf_counter() - started) * 1000
usage = resource.getrusage(resource.RUSAGE_SELF)
root = os.environ["LAMBDA_TASK_ROOT"] + os.sep
packaged = [m for m in list(sys.modules.values()) if (getattr(m, "__file__", None) or "").startswith(root)]
compiled = sorted(m.__name__ for m in packaged if m.__file__.endswith(".py") and not os.path.exists(m.__cached__))
with open("/proc/self/status") as status:
    peak_kb = int(status.read().split("VmHWM:")[1].split()[0])
print(json.dumps({{
    "wall_ms": wall_ms,
    "cpu_ms": (usage.ru_utime + usage.ru_stime) * 1000,
    "peak_memory_mb": peak_kb / 1024,
    "xray_sdk_loaded": "aws_xray_sdk.core" in sys.modules,
    "compiled_from_source": compiled,
}}))
"""

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
    compiled_from_source: tuple[str, ...]  # packaged modules imported without their bytecode


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


def lambda_environment(function: PackagedFunction, stage: Stage, task_root: Path, home: Path) -> dict[str, str]:
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
        "PYTHONPATH": str(task_root),
        "PYTHONDONTWRITEBYTECODE": "1",  # Lambda's task root is read-only
        "HOME": str(home),
        "PATH": "/usr/bin:/bin",
        "TZ": ":UTC",
    }


@contextmanager
def unpacked(package: Path) -> Iterator[Path]:
    """The package's deployment.zip unpacked, as Lambda unpacks it into /var/task."""
    with tempfile.TemporaryDirectory(prefix="dofs-task-") as work:
        task_root = Path(work) / "task"
        with zipfile.ZipFile(package / "deployment.zip") as archive:
            archive.extractall(task_root)
        (Path(work) / "home").mkdir()
        yield task_root


def measure_inits(package: Path, stage_name: str, runs: int = 5) -> dict[str, Init]:
    """Every packaged function's init, `runs` times each in a fresh interpreter: medians."""
    stage = load_stage(stage_name)
    inits: dict[str, Init] = {}
    with unpacked(package) as task_root:
        for name, function in sorted(packaged_functions(package).items()):
            env = lambda_environment(function, stage, task_root, task_root.parent / "home")
            probe = _PROBE.format(module=function.handler.split(".")[0])
            samples = [_run(probe, env, task_root) for _ in range(runs)]
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
    with unpacked(package) as task_root:
        env = lambda_environment(function, stage, task_root, task_root.parent / "home")
        lines = subprocess.run(  # noqa: S603 - this interpreter, a fixed import
            [sys.executable, "-X", "importtime", "-c", f"import {function.handler.split('.')[0]}"],
            cwd=task_root,
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
        [sys.executable, "-c", probe], cwd=task_root, env=env, capture_output=True, text=True
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
