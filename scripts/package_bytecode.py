"""The Lambda package ships each module's bytecode, so no cold start compiles Python.

Lambda runs the package from a read-only directory: a module without its `.pyc` is compiled from
source at every cold start and the result thrown away. `chalice package` zips sources only (the
wheels it unpacks hold no bytecode), so every cold start compiled pydantic, chalice.app and the
app, about 160 ms of CPU at a whole vCPU. This adds the bytecode to `deployment.zip`, compiled by
the Python of the packaged runtime, in the checked-hash form: a `.pyc` is used only while it
matches its source, whatever the files' timestamps after Lambda unpacks them.
"""

from __future__ import annotations

import compileall
import importlib.util
import os
import py_compile
import shutil
import stat
import sys
import tempfile
import zipfile
from pathlib import Path

# Where Lambda unpacks the package: the path tracebacks name, and the same in every build.
LAMBDA_TASK_ROOT = "/var/task"


def running_runtime() -> str:
    return f"python{sys.version_info.major}.{sys.version_info.minor}"


def add_bytecode(archive: Path, runtime: str) -> int:
    """Rewrites the zip with a checked-hash `.pyc` beside every module; returns how many. Bytecode
    is specific to a Python version: the runtime the package declares must be this interpreter's."""
    if runtime != running_runtime():
        raise SystemExit(
            f"the package is for {runtime} but this is {running_runtime()}: its bytecode would never load; "
            f"package with {runtime}"
        )
    with tempfile.TemporaryDirectory() as work:
        root = Path(work)
        with zipfile.ZipFile(archive) as package:
            entries = package.infolist()
            package.extractall(root)
        # Caches copied from a developer's tree may be stale or another Python's: compiled afresh.
        for cache in [path for path in root.rglob("__pycache__") if path.is_dir()]:
            shutil.rmtree(cache)
        sources = sorted(root.rglob("*.py"))
        compiled = compileall.compile_dir(
            root,
            ddir=LAMBDA_TASK_ROOT,
            quiet=2,
            optimize=0,  # Lambda runs without -O, reading the plain .pyc, whatever PYTHONOPTIMIZE is here
            invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
        )
        if not compiled:
            raise SystemExit(f"a module in {archive} does not compile")
        kept = [entry for entry in entries if "__pycache__/" not in entry.filename]
        times = {entry.filename: entry.date_time for entry in kept}
        # Written beside the package, then moved over it: a failure leaves the package as it was.
        rewritten = archive.with_name(f".{archive.name}.rewriting")
        with zipfile.ZipFile(rewritten, "w", zipfile.ZIP_DEFLATED) as package:
            for entry in kept:
                package.writestr(entry, (root / entry.filename).read_bytes() if not entry.is_dir() else b"")
            for source in sources:
                cached = Path(importlib.util.cache_from_source(str(source), optimization=""))
                name = cached.relative_to(root).as_posix()
                info = zipfile.ZipInfo(name, date_time=times[source.relative_to(root).as_posix()])
                info.external_attr = (stat.S_IFREG | 0o644) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                package.writestr(info, cached.read_bytes())
        os.replace(rewritten, archive)
    return len(sources)
