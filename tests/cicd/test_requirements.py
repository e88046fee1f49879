"""The locks (requirements/*.txt, requirements.txt) are `make lock`'s output for the inputs
(requirements/*.in): every pin of an input is in its lock at that version, every lock is hashed,
and the sets agree where they overlap, so installing one after another changes nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.cicd.hcl import ROOT
from tests.cicd.test_buildspecs import hashed_lock

pytestmark = pytest.mark.unit

REQUIREMENTS = ROOT / "requirements"
# Each input and its lock; dev.txt is the one resolution the others are resolved within.
LOCKS = {
    "lambda": ROOT / "requirements.txt",
    **{name: REQUIREMENTS / f"{name}.txt" for name in ("build", "local", "dev", "bench", "load", "checkov", "lock")},
}
# Sets installed into the one .venv: their pins must be dev.txt's.
IN_VENV = ("lambda", "build", "local", "bench", "load")
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", re.MULTILINE)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def input_pins(path: Path) -> dict[str, str]:
    """name -> version of each exact pin of an input, with those of the inputs it includes (-r)."""
    text = path.read_text()
    pins = {canonical(name): version for name, version in PIN.findall(text)}
    for included in re.findall(r"^-r\s+(\S+)", text, flags=re.MULTILINE):
        pins |= input_pins(path.parent / included)
    return pins


def lock_pins(path: Path) -> dict[str, set[str]]:
    """name -> the versions a lock pins (two where markers split a package by Python version)."""
    hashed_lock(path)
    pins: dict[str, set[str]] = {}
    for name, version in PIN.findall(path.read_text()):
        pins.setdefault(canonical(name), set()).add(version)
    return pins


def test_every_input_has_its_lock_and_every_lock_its_input() -> None:
    inputs = {path.stem for path in REQUIREMENTS.glob("*.in")}
    assert inputs - {"test", "lint", "security"} == set(LOCKS), "an input without a lock: add it to make lock"
    assert {path.stem for path in REQUIREMENTS.glob("*.txt")} == set(LOCKS) - {"lambda"}


def stale_pins(input_path: Path, lock: Path) -> dict[str, str]:
    """The input's pins that the lock does not pin at that version."""
    locked = lock_pins(lock)
    return {package: version for package, version in input_pins(input_path).items() if locked.get(package) != {version}}


@pytest.mark.parametrize("name", LOCKS)
def test_the_lock_pins_its_input_s_pins_with_hashes(name: str) -> None:
    stale = stale_pins(REQUIREMENTS / f"{name}.in", LOCKS[name])
    assert not stale, f"{LOCKS[name].name} is older than requirements/{name}.in: run `make lock` ({stale})"


@pytest.mark.parametrize("name", IN_VENV)
def test_the_sets_of_one_virtualenv_agree_with_dev(name: str) -> None:
    dev = lock_pins(LOCKS["dev"])
    differ = {
        package: versions
        for package, versions in lock_pins(LOCKS[name]).items()
        if package in dev and versions != dev[package]
    }
    assert not differ, f"{LOCKS[name].name} and dev.txt pin these differently: run `make lock` ({differ})"


def test_the_check_finds_a_stale_lock(tmp_path: Path) -> None:
    """An input changed after `make lock` (here build.in with boto3 moved, through an include)."""
    (tmp_path / "lambda.in").write_text((REQUIREMENTS / "lambda.in").read_text())
    build = (REQUIREMENTS / "build.in").read_text()
    (tmp_path / "build.in").write_text(re.sub(r"^boto3==\S+$", "boto3==9.9.9", build, flags=re.MULTILINE))
    assert stale_pins(tmp_path / "build.in", LOCKS["build"]) == {"boto3": "9.9.9"}


# The AWS services whose moto backends need an extra of their own (moto's metadata), by the name
# boto3 gives them; the others (sqs, iam, logs, sts) need none.
MOTO_EXTRAS = {
    "apigateway": "apigateway",
    "dynamodb": "dynamodb",
    "lambda": "awslambda",
    "stepfunctions": "stepfunctions",
}
EMULATED_CODE = ("app.py", "chalicelib", "dofs_config", "dofs_local", "dofs_ops")


def test_the_local_set_emulates_every_service_the_local_stack_calls() -> None:
    """`make demo` installs only the local set: moto must carry the extra of every service the
    app, the local stack and the ops CLI make clients for, or the stack fails on its first call."""
    services: set[str] = set()
    for root in EMULATED_CODE:
        paths = [ROOT / root] if root.endswith(".py") else sorted((ROOT / root).rglob("*.py"))
        for path in paths:
            services |= set(re.findall(r"""(?:client|resource)\(\s*["']([a-z0-9-]+)["']""", path.read_text()))
    assert {"apigateway", "dynamodb", "stepfunctions"} <= services, "the scan finds the clients"
    extras = re.search(r"^moto\[([^\]]*)\]", (REQUIREMENTS / "local.in").read_text(), flags=re.MULTILINE)
    assert extras is not None, "local.in pins moto with extras"
    wanted = {MOTO_EXTRAS[service] for service in services if service in MOTO_EXTRAS}
    assert wanted <= set(extras.group(1).split(",")), f"moto extras missing from local.in: {wanted}"
