"""The buildspecs parse, call Make targets only, and those targets exist; their files and
variables agree with the pipeline (infra/cicd) that runs them."""

from __future__ import annotations

import fnmatch
import itertools
import os
import re
import shlex
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cicd import hcl

pytestmark = pytest.mark.unit

ROOT = hcl.ROOT
BUILDSPECS = {
    "test": "buildspec-test.yml",
    "plan": "buildspec-plan.yml",
    "deploy": "buildspec-deploy.yml",
    "smoke": "buildspec-smoke.yml",
}
PHASES = ("install", "pre_build", "build", "post_build")
# Shell syntax that would make a command more than one Make call.
SHELL_OPERATORS = re.compile(r"[;&|<>`]|\$\(")
VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / name).read_text())
    assert isinstance(data, dict), f"{name} is not a YAML mapping"
    return data


def commands(spec: dict[str, Any]) -> list[str]:
    phases = spec.get("phases") or {}
    found: list[str] = []
    for phase in PHASES:
        body = phases.get(phase) or {}
        found.extend(body.get("commands") or [])
        found.extend((body.get("finally") or []) if isinstance(body.get("finally"), list) else [])
    return found


@cache
def make_targets() -> frozenset[str]:
    """Targets Make knows, from its database: the Makefile and every make/*.mk it includes."""
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [make, "-pRrq", "-f", "Makefile", "__no_such_target__"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "LC_ALL": "C", "MAKEFLAGS": ""},
        timeout=60,
        check=False,
    )
    database = result.stdout.split("\n# Files\n", 1)[-1]
    targets: set[str] = set()
    for entry in database.split("\n\n"):
        lines = [line for line in entry.splitlines() if line]
        if any(line.startswith("# Not a target") for line in lines):
            continue
        for line in lines:
            match = re.match(r"^([A-Za-z0-9_][A-Za-z0-9_.-]*):(?!=)", line)
            if match:
                targets.add(match.group(1))
    assert "test" in targets, f"could not read Make's database: {result.stderr[:500]}"
    return frozenset(targets)


def make_call(command: str) -> tuple[list[str], dict[str, str]]:
    """`make [VAR=value ...] target ...` -> (targets, variables); fails for anything else."""
    assert not SHELL_OPERATORS.search(command), f"not a plain Make call: {command!r}"
    words = shlex.split(command)
    assert words, "empty command"
    assert words[0] == "make", f"buildspec commands must be `make <target>`: {command!r}"
    targets = [word for word in words[1:] if "=" not in word and not word.startswith("-")]
    variables = dict(word.split("=", 1) for word in words[1:] if "=" in word and not word.startswith("-"))
    assert targets, f"no target in {command!r}"
    return targets, variables


def build_variables(key: str) -> set[str]:
    """Environment variables the CodeBuild project of one kind of build sets (codebuild.tf): its
    static ones, and the dynamic ones (STAGE for a stage's builds, the boundary for plan and deploy)."""
    (project,) = hcl.resources("aws_codebuild_project").values()
    (environment,) = project["environment"]
    names = {hcl.unquote(variable["name"]) for variable in environment.get("environment_variable", [])}
    for dynamic in environment.get("dynamic", []):
        for block in dynamic.values():
            if key != "test" or "each.value.stage" not in block["for_each"]:
                names.update(hcl.unquote(content["name"]) for content in block["content"])
    return names


def test_there_is_one_buildspec_per_codebuild_project() -> None:
    """The test build, and the plan, deploy and smoke builds every stage gets (local.build_kinds)."""
    kinds = hcl.locals_()["build_kinds"]
    assert {"test": "buildspec-test.yml"} | {
        kind: hcl.unquote(build["buildspec"]) for kind, build in kinds.items()
    } == (BUILDSPECS)
    assert "buildspec-test.yml" in hcl.locals_()["builds"]
    assert sorted(path.name for path in ROOT.glob("buildspec*.yml")) == sorted(BUILDSPECS.values())


@pytest.mark.parametrize("name", BUILDSPECS.values())
def test_buildspec_parses_and_calls_only_existing_make_targets(name: str) -> None:
    spec = load(name)
    assert str(spec["version"]) == "0.2"
    assert set(spec) <= {"version", "env", "phases", "artifacts"}, "keep buildspecs to the keys the pipeline uses"
    assert set(spec["phases"]) <= set(PHASES)
    found = commands(spec)
    assert found, f"{name} runs nothing"
    for command in found:
        targets, _ = make_call(command)
        missing = [target for target in targets if target not in make_targets()]
        assert not missing, f"{name}: `{command}` calls Make targets that do not exist: {missing}"


@pytest.mark.parametrize("name", BUILDSPECS.values())
def test_builds_use_python_3_11(name: str) -> None:
    install = load(name)["phases"]["install"]
    assert str(install["runtime-versions"]["python"]) == "3.11"


@pytest.mark.parametrize(("key", "name"), BUILDSPECS.items())
def test_variables_in_commands_are_set_by_codebuild(key: str, name: str) -> None:
    spec = load(name)
    defined = build_variables(key) | set((spec.get("env") or {}).get("variables") or {})
    for command in commands(spec):
        for variable in VARIABLE.findall(command):
            assert variable in defined or variable.startswith("CODEBUILD_"), (
                f"{name}: ${variable} is set neither by the CodeBuild project nor by the buildspec"
            )


def test_stage_commands() -> None:
    """Each stage runs the target docs/PIPELINE.md names for it."""
    called = {key: [make_call(command)[0] for command in commands(load(name))] for key, name in BUILDSPECS.items()}
    assert ["test"] in called["test"]
    assert ["plan"] in called["plan"]
    assert ["deploy-plan"] in called["deploy"]
    assert ["smoke-deployed"] in called["smoke"]


def _variable(name: str, target: str, variable: str) -> str:
    for command in commands(load(name)):
        targets, variables = make_call(command)
        if target in targets:
            return variables[variable]
    raise AssertionError(f"{name} never calls `make {target}`")


# Where `make plan` (make/infra.mk -> scripts/infra.py) saves the plan: build/tfplan-<stage>.
PLAN_FILE_OF_MAKE_PLAN = "build/tfplan-$STAGE"


def test_make_plan_saves_the_plan_where_deploy_looks_for_it() -> None:
    """`make plan` runs `terraform plan -out=build/tfplan-<stage>`; make/cicd.mk's PLAN default agrees."""
    script = (ROOT / "scripts" / "infra.py").read_text()
    assert 'PROJECT_DIR / "build" / f"tfplan-{args.stage}"' in script, (
        "make plan no longer saves build/tfplan-<stage>: update PLAN in buildspec-deploy.yml and make/cicd.mk"
    )
    assert '"plan", "-input=false", f"-out={plan_file}"' in script
    assert "PLAN ?= build/tfplan-$(STAGE)" in (ROOT / "make" / "cicd.mk").read_text()


def in_artifact(path: str, artifacts: dict[str, Any]) -> bool:
    """Whether CodeBuild puts path (relative to the source root) in the artifact."""
    included = any(fnmatch.fnmatch(path, pattern) for pattern in artifacts["files"])
    return included and not any(fnmatch.fnmatch(path, pattern) for pattern in artifacts.get("exclude-paths") or [])


def test_the_plan_s_artifact_carries_the_plan_s_reference_never_the_plan() -> None:
    """The saved plan embeds the stage's state, and every build may read every artifact: Plan
    moves it to the state bucket (save-plan) and hands on its reference; Deploy fetches it
    (fetch-plan) where deploy-plan applies it."""
    plan_file = _variable(BUILDSPECS["deploy"], "deploy-plan", "PLAN")
    assert plan_file == PLAN_FILE_OF_MAKE_PLAN
    assert _variable(BUILDSPECS["deploy"], "fetch-plan", "PLAN") == plan_file
    plan_commands = [make_call(command)[0] for command in commands(load(BUILDSPECS["plan"]))]
    assert plan_commands.index(["save-plan"]) > plan_commands.index(["plan"])
    deploy_commands = [make_call(command)[0] for command in commands(load(BUILDSPECS["deploy"]))]
    assert deploy_commands.index(["fetch-plan"]) < deploy_commands.index(["deploy-plan"])
    artifacts = load(BUILDSPECS["plan"])["artifacts"]
    assert "base-directory" not in artifacts, "Deploy's source must be laid out like the repository"
    for stage in ("dev", "prod"):
        assert not in_artifact(plan_file.replace("$STAGE", stage), artifacts)
        assert in_artifact(make_variable("PLAN_REF", stage), artifacts)
    # The package and the modules that the plan refers to travel with it; providers do not.
    assert in_artifact("build/package/dev/chalice.tf.json", artifacts)
    assert in_artifact("build/app/chalice.tf.json", artifacts)
    assert in_artifact("infra/stage/.terraform.lock.hcl", artifacts)
    assert not in_artifact("infra/stage/.terraform/providers/x", artifacts)


def make_variable(name: str, stage: str, env: dict[str, str] | None = None) -> str:
    """A make/cicd.mk variable's value for a stage (in the environment env)."""
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [make, "--no-print-directory", "-s", "--eval", f"show: ; @echo '$({name})'", "show", f"STAGE={stage}"],
        cwd=ROOT, env={**os.environ, "LC_ALL": "C", "MAKEFLAGS": "", **(env or {})}, capture_output=True, text=True,
        timeout=60, check=True,
    )  # fmt: skip
    return result.stdout.strip()


def test_smoke_reads_the_outputs_deploy_saves_in_its_artifact() -> None:
    outputs_path = _variable(BUILDSPECS["deploy"], "deploy-outputs", "DEPLOY_OUTPUTS")
    deploy_artifacts = load(BUILDSPECS["deploy"])["artifacts"]
    base = deploy_artifacts.get("base-directory", ".")
    relative = os.path.relpath(outputs_path, base)
    assert relative in deploy_artifacts["files"]

    # Each stage's Deploy writes DeployOutput_<stage> (infra/cicd/main.tf); its Smoke build gets
    # it in $CODEBUILD_SRC_DIR_DeployOutput_<stage>, where make/cicd.mk's OUTPUTS_JSON looks.
    assert hcl.locals_()["deploy_artifacts"] == '${{for stage in var.stages : stage => "DeployOutput_${stage}"}}'
    assert _variable(BUILDSPECS["smoke"], "smoke-deployed", "STAGE") == "$STAGE"
    assert make_outputs_json("prod", {"CODEBUILD_SRC_DIR_DeployOutput_prod": "/codebuild/prod"}) == (
        f"/codebuild/prod/{relative}"
    )
    assert make_outputs_json("prod", {"CODEBUILD_SRC_DIR_DeployOutput_dev": "/codebuild/dev"}) == ""


def make_outputs_json(stage: str, env: dict[str, str]) -> str:
    """OUTPUTS_JSON as make/cicd.mk works it out for a stage in CodeBuild's environment."""
    return make_variable("OUTPUTS_JSON", stage, env)


def test_deploy_plan_applies_the_saved_plan_and_never_plans_again() -> None:
    """`make -n deploy-plan`: init, then `terraform apply <plan file>`, and no `terraform plan`."""
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [make, "-n", "--no-print-directory", "deploy-plan", "STAGE=dev", "PLAN=build/tfplan-dev"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "LC_ALL": "C", "MAKEFLAGS": ""},
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    applies = [line for line in lines if " apply " in line]
    assert applies == [f"terraform -chdir=infra/stage apply -input=false '{ROOT}/build/tfplan-dev'"]
    assert not [line for line in lines if re.search(r"terraform\S* .*\bplan\b(?!-)", line) and "tfplan" not in line]
    assert any("scripts/infra.py check --stage dev" in line for line in lines), "prerequisites are checked first"
    assert lines.index(applies[0]) > next(i for i, line in enumerate(lines) if " init " in line)


# What a build installs: every `pip install` that its Make calls would run, read from Make's dry
# run with every target out of date (-B), so the virtualenvs' recipes show even where they exist.
PIP_INSTALL = re.compile(r"(?:^|\s)(?:\S*/)?(?:pip3?|python3?(?:\.\d+)? -m pip) install\s")
# Tools of the tests, lint, types, fuzzing, scanners and the emulator: a Plan or Deploy build,
# which holds the deploy role, runs none of them.
CHECK_TOOLS = frozenset({
    "bandit", "checkov", "cloudsplaining", "detect-secrets", "hypothesis", "moto", "mypy", "parliament", "pip-audit",
    "pytest", "pytest-timeout", "pytest-xdist", "ruff", "schemathesis", "matplotlib", "py-spy",
})  # fmt: skip
REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==[^\s;]+(\s*;.*)?$")
LOCK_OPTIONS = ("-r", "--requirement")
# Options that change how pip shows or where it caches, never what it installs.
HARMLESS_PIP_OPTIONS = frozenset({"--require-hashes", "--progress-bar", "on", "off", "--quiet", "-q"})


@pytest.fixture
def codebuild(tmp_path: Path) -> dict[str, str]:
    """Stage dev's Deploy outputs, as its Smoke build gets them: make runs smoke-deployed's line
    that reads them even under -n, for the line calls make."""
    (tmp_path / "outputs.json").write_text("{}")
    return {"CODEBUILD_SRC_DIR_DeployOutput_dev": str(tmp_path)}


def dry_run(command: str, env: dict[str, str]) -> list[str]:
    """The shell commands `command` (a `make ...` call of a stage's build) would run in CodeBuild's
    environment env, prerequisites included, for stage dev."""
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    targets, variables = make_call(command.replace("$STAGE", "dev"))
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [make, "-n", "-B", "--no-print-directory", *targets, *(f"{name}={value}" for name, value in variables.items())],
        cwd=ROOT, env={**os.environ, "LC_ALL": "C", "MAKEFLAGS": "", "STAGE": "dev", **env},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"make -n {command}: {result.stderr[-2000:]}"
    return result.stdout.splitlines()


def hashed_lock(path: Path) -> set[str]:
    """The names a lock file pins; fails unless every requirement is `name==version` with its hashes."""
    logical = re.sub(r"\\\n", " ", path.read_text())
    names: set[str] = set()
    for raw in logical.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        requirement, *options = re.split(r"\s+(?=--)", line)
        match = REQUIREMENT.match(requirement.strip())
        assert match, f"{path.name}: {requirement!r} is not an exact pin (name==version): run `make lock`"
        hashed = bool(options) and all(option.startswith("--hash=sha256:") for option in options)
        assert hashed, f"{path.name}: {requirement!r} has no hash (or has another option): run `make lock`"
        names.add(match.group(1).lower().replace("_", "-"))
    assert names, f"{path.name} pins nothing"
    return names


def installs(lines: list[str]) -> set[str]:
    """What the shell lines install with pip: each pip install must read hashed locks only, with
    --require-hashes; returns the names pinned by the locks."""
    names: set[str] = set()
    for line in lines:
        match = PIP_INSTALL.search(line)
        if not match:
            continue
        arguments = shlex.split(line[match.end() :])
        assert "--require-hashes" in arguments, f"installs without --require-hashes: {line}"
        files = [value for option, value in itertools.pairwise(arguments) if option in LOCK_OPTIONS]
        rest = [
            argument for i, argument in enumerate(arguments)
            if argument not in LOCK_OPTIONS and (i == 0 or arguments[i - 1] not in LOCK_OPTIONS)
        ]  # fmt: skip
        assert files, f"installs without a lock file: {line}"
        assert all(argument in HARMLESS_PIP_OPTIONS for argument in rest), f"installs besides hashed locks: {line}"
        for path in files:
            names |= hashed_lock(ROOT / path)
    return names


def ci_commands() -> list[tuple[str, str]]:
    """(where, command) for every command of every buildspec and of the GitHub workflow's steps."""
    found = [(name, command) for name in BUILDSPECS.values() for command in commands(load(name))]
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    for job in workflow["jobs"].values():
        found += [("ci.yml", step["run"]) for step in job["steps"] if "run" in step]
    return found


@pytest.mark.parametrize(("where", "command"), ci_commands())
def test_ci_installs_only_hash_locked_pins(where: str, command: str, codebuild: dict[str, str]) -> None:
    """Every package a build installs is pinned with its hashes, and pip checks them."""
    installs(dry_run(command, codebuild))


@pytest.mark.parametrize("key", ["plan", "deploy"])
def test_plan_and_deploy_install_the_build_set_and_no_check_tool(key: str, codebuild: dict[str, str]) -> None:
    installed = set().union(*(installs(dry_run(command, codebuild)) for command in commands(load(BUILDSPECS[key]))))
    assert installed == hashed_lock(ROOT / "requirements" / "build.txt")
    assert not installed & CHECK_TOOLS, f"{key} installs check tools: {sorted(installed & CHECK_TOOLS)}"


def test_check_tools_are_the_tools_the_requirements_name() -> None:
    """CHECK_TOOLS does not go stale: each is a direct requirement of a tools set (or the emulator)."""
    named: set[str] = set()
    for name in ("test", "lint", "security", "checkov", "bench", "local"):
        text = (ROOT / "requirements" / f"{name}.in").read_text()
        named |= {match.lower() for match in re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)", text, flags=re.MULTILINE)}
    assert named >= CHECK_TOOLS


def test_smoke_installs_the_build_set_and_no_check_tool(codebuild: dict[str, str]) -> None:
    """The smoke test makes its own API key with the ops CLI (the build set: boto3, pydantic),
    then runs scripts/smoke.py: no test, lint or scanning tool."""
    installed: set[str] = set()
    for command in commands(load(BUILDSPECS["smoke"])):
        lines = dry_run(command, codebuild)
        assert any("scripts/smoke.py" in line for line in lines)
        assert any("dofs_ops" in line and "keys create smoke" in line for line in lines)
        installed |= installs(lines)
    assert installed == hashed_lock(ROOT / "requirements" / "build.txt")
    assert not installed & CHECK_TOOLS, f"smoke installs check tools: {sorted(installed & CHECK_TOOLS)}"


def test_the_install_check_refuses_what_is_not_hash_locked(tmp_path: Path) -> None:
    """The checks above fail for an unhashed pin, a range, a package beside the locks and an
    install without --require-hashes."""
    lock = tmp_path / "lock.txt"
    lock.write_text("boto3==1.44.8\n")
    with pytest.raises(AssertionError, match="has no hash"):
        hashed_lock(lock)
    lock.write_text("boto3>=1.0 \\\n    --hash=sha256:00\n")
    with pytest.raises(AssertionError, match="not an exact pin"):
        hashed_lock(lock)
    good = ".venv/bin/python -m pip install --require-hashes --progress-bar on -r requirements/build.txt"
    assert "chalice" in installs([good])
    for line in (good + " ruff", good.replace("--require-hashes ", ""), good + " --index-url=http://x"):
        with pytest.raises(AssertionError, match="installs"):
            installs([line])
