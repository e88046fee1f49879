"""Pure-Python checks of every Terraform directory under infra/ and of the packaged app: they
run everywhere, with or without Terraform.

- every `.tf` file parses (python-hcl2);
- every var./local./module./data./resource reference resolves, and module outputs exist;
- every module call passes only declared variables and every required one;
- variables are typed and described, outputs described; modules have their files and a
  README whose tables list every input and output;
- the ASL placeholders are exactly the templatefile() variables.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from scripts.tfmodel import Module, expression_strings, load_module, parse_file, references
from tests.infra.conftest import APP_DIR, INFRA_DIR, PROJECT_DIR, STAGE_ROOT, terraform_dirs

pytestmark = pytest.mark.terraform

TF_FILES = sorted(path for path in INFRA_DIR.rglob("*.tf") if ".terraform" not in path.parts)
DIRS = terraform_dirs()
MODULE_DIRS = sorted(path for path in (INFRA_DIR / "modules").iterdir() if path.is_dir())
MODULE_CALL_ARGUMENTS = frozenset({"source", "version", "count", "for_each", "providers", "depends_on"})


def _id(path: Path) -> str:
    return str(path.relative_to(PROJECT_DIR))


@pytest.fixture(params=[*DIRS, "package"], ids=[*map(_id, DIRS), "package"])
def module(request: pytest.FixtureRequest, packaged_app: Path) -> Module:
    directory = packaged_app if request.param == "package" else request.param
    return load_module(directory)


def resolve_source(caller: Path, source: str, packaged_app: Path) -> Path | None:
    """A module call's local source; the app package (build/app) is the session's."""
    if not source.startswith(("./", "../")):
        return None
    path = (caller / source).resolve()
    if path == (PROJECT_DIR / APP_DIR).resolve():
        return packaged_app
    return path


def test_infra_has_terraform() -> None:
    assert len(TF_FILES) > 10
    assert STAGE_ROOT in DIRS
    assert INFRA_DIR / "bootstrap" in DIRS


@pytest.mark.parametrize("path", TF_FILES, ids=map(_id, TF_FILES))
def test_every_tf_file_parses(path: Path) -> None:
    document = parse_file(path)
    assert document, f"{path} holds no Terraform"


def test_every_reference_resolves(module: Module, packaged_app: Path) -> None:
    unresolved: list[str] = []
    for where, text in expression_strings(module):
        for ref in references(text):
            if ref.kind == "var" and ref.name not in module.variables:
                unresolved.append(f"{where}: var.{ref.name}")
            elif ref.kind == "local" and ref.name not in module.locals:
                unresolved.append(f"{where}: local.{ref.name}")
            elif ref.kind == "data":
                kind, name = ref.name.split(".")
                if name not in module.data.get(kind, {}):
                    unresolved.append(f"{where}: data.{ref.name}")
            elif ref.kind == "resource":
                kind, name = ref.name.split(".")
                if name not in module.resources.get(kind, {}):
                    unresolved.append(f"{where}: {ref.name}")
            elif ref.kind == "module":
                if ref.name not in module.modules:
                    unresolved.append(f"{where}: module.{ref.name}")
                    continue
                source = resolve_source(module.directory, module.modules[ref.name]["source"], packaged_app)
                if source is not None and ref.detail is not None and ref.detail not in load_module(source).outputs:
                    unresolved.append(f"{where}: module.{ref.name}.{ref.detail} (no such output)")
    assert unresolved == []


def test_module_calls_pass_declared_and_required_variables(module: Module, packaged_app: Path) -> None:
    for name, call in module.modules.items():
        source = resolve_source(module.directory, call["source"], packaged_app)
        assert source is not None, f"module.{name}: source {call['source']} is not a local path"
        assert source.is_dir(), f"module.{name}: source {call['source']} does not exist"
        called = load_module(source)
        passed = set(call) - MODULE_CALL_ARGUMENTS
        assert passed <= set(called.variables), f"module.{name} passes undeclared {passed - set(called.variables)}"
        required = {variable for variable, body in called.variables.items() if "default" not in body}
        assert required <= passed, f"module.{name} misses required {required - passed}"


def test_variables_are_typed_and_described_and_outputs_described(module: Module) -> None:
    for name, body in module.variables.items():
        assert "type" in body, f"variable {name} has no type"
        assert body.get("description"), f"variable {name} has no description"
    for name, body in module.outputs.items():
        if name in {"EndpointURL", "RestAPIId"}:  # Chalice's own outputs
            continue
        assert body.get("description"), f"output {name} has no description"


@pytest.mark.parametrize("directory", MODULE_DIRS, ids=map(_id, MODULE_DIRS))
def test_modules_have_their_files_and_readme_tables(directory: Path) -> None:
    for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"):
        assert (directory / name).is_file(), f"{_id(directory)} has no {name}"
    module = load_module(directory)
    readme = (directory / "README.md").read_text()
    documented = set(re.findall(r"^\|\s*`([A-Za-z_][\w]*)`\s*\|", readme, flags=re.MULTILINE))
    missing = (set(module.variables) | set(module.outputs)) - documented
    assert missing == set(), f"{_id(directory)}/README.md lacks rows for {sorted(missing)}"


def test_asl_placeholders_are_exactly_the_templatefile_variables() -> None:
    asl = (PROJECT_DIR / "stepfunctions" / "order_workflow.asl.json").read_text()
    placeholders = set(re.findall(r"\$\{([A-Za-z_]\w*)\}", asl))
    module = load_module(INFRA_DIR / "modules" / "stepfunctions")
    template_vars = module.locals["definition_vars"]
    assert set(template_vars) == placeholders
    # templatefile() also reads %{ directives: the ASL must not contain any.
    assert "%{" not in asl
    json.loads(asl)
