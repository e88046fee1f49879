"""Reading infra/cicd/*.tf with python-hcl2, keeping the source order of blocks.

python-hcl2's dicts group blocks by type (all `stage` blocks, then all `dynamic` blocks), so
they lose the order of a static and a dynamic `stage`; the order comes from its parse tree.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
from hcl2.rules.base import BlockRule, BodyRule

ROOT = Path(__file__).resolve().parents[2]
CICD_DIR = ROOT / "infra" / "cicd"


# What infra/cicd reads outside itself, for the Powertools layer each stage's roles may read:
# the stages' architectures, the pinned release, the Python of the Plan build.
CICD_READS = (Path(".chalice") / "config.json", Path("requirements") / "build.in", Path("buildspec-plan.yml"))


def copy_cicd_reads(root: Path) -> None:
    """The files infra/cicd reads, copied under root as laid out in the repository."""
    for relative in CICD_READS:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / relative, root / relative)


def copy_cicd(root: Path) -> Path:
    """A copy of infra/cicd under root, laid out as in the repository with what it reads
    (CICD_READS), without .terraform or the lock file."""
    workdir = root / "infra" / "cicd"
    shutil.copytree(CICD_DIR, workdir, ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl"))
    copy_cicd_reads(root)
    return workdir


_REFERENCE = re.compile(r"^\$\{local\.([a-z_]+)\}$")


def unquote(value: Any) -> Any:
    """python-hcl2 keeps the quotes of string literals: '"Source"' -> 'Source'."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def tf_files() -> list[Path]:
    return sorted(CICD_DIR.glob("*.tf"))


@cache
def load(path: Path) -> dict[str, Any]:
    """Parsed once per test session (python-hcl2 is slow); callers must not change the result."""
    data: dict[str, Any] = hcl2.loads(path.read_text())
    return data


def all_blocks(kind: str) -> list[dict[str, Any]]:
    """Every top-level block of one kind (resource, variable, output, locals, ...) in infra/cicd."""
    return [block for path in tf_files() for block in load(path).get(kind, [])]


def resources(resource_type: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for block in all_blocks("resource"):
        for rtype, named in block.items():
            if unquote(rtype) == resource_type:
                found.update({unquote(name): body for name, body in named.items()})
    return found


def locals_() -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for block in all_blocks("locals"):
        merged.update(block)
    return merged


def resolve(value: Any) -> Any:
    """A string literal, or the literal a `${local.x}` reference names."""
    value = unquote(value)
    if isinstance(value, str) and (match := _REFERENCE.match(value)):
        return unquote(locals_()[match.group(1)])
    return value


def variables() -> dict[str, dict[str, Any]]:
    return {unquote(name): body for block in all_blocks("variable") for name, body in block.items()}


def outputs() -> dict[str, dict[str, Any]]:
    return {unquote(name): body for block in all_blocks("output") for name, body in block.items()}


@dataclass(frozen=True)
class Stage:
    name: str
    dynamic: bool
    for_each: str | None
    body: dict[str, Any]

    @property
    def actions(self) -> list[dict[str, Any]]:
        """Static actions, plus the content of dynamic ones (e.g. the two Source providers)."""
        found: list[dict[str, Any]] = list(self.body.get("action", []))
        for dynamic in self.body.get("dynamic", []):
            for label, block in dynamic.items():
                if unquote(label) == "action":
                    found.extend(block["content"])
        return found


def _labels(block: BlockRule) -> list[str]:
    return [str(unquote(label.serialize())) for label in block.labels]


@cache
def pipeline_stages(resource_name: str = "this") -> list[Stage]:
    """The `stage` blocks of aws_codepipeline.<resource_name>, static and dynamic, in source order."""
    for path in tf_files():
        tree = hcl2.parses(path.read_text())
        for child in tree.body.children:
            if isinstance(child, BlockRule) and _labels(child) == ["resource", "aws_codepipeline", resource_name]:
                return _stages(child.body)
    raise AssertionError(f"no resource aws_codepipeline.{resource_name} in {CICD_DIR}")


def _stages(body: BodyRule) -> list[Stage]:
    stages: list[Stage] = []
    for child in body.children:
        if not isinstance(child, BlockRule):
            continue
        labels = _labels(child)
        serialized: dict[str, Any] = child.body.serialize()
        if labels == ["stage"]:
            stages.append(Stage(unquote(serialized["name"]), dynamic=False, for_each=None, body=serialized))
        elif labels == ["dynamic", "stage"]:
            (content,) = serialized["content"]
            stages.append(Stage(unquote(content["name"]), dynamic=True, for_each=serialized["for_each"], body=content))
    return stages
