"""A small, typed model of a Terraform module directory, read from `.tf` (python-hcl2) and
`.tf.json` files, for the offline checks in tests/infra and scripts/extract_aws6_schema.py.

python-hcl2 (>= 5) keeps the quotes of labels and string literals and marks blocks with
`__is_block__`; `normalize()` turns its output into the shape Terraform's JSON syntax has.
Override files (`*_override.tf(.json)`, `override.tf(.json)`) are merged the way Terraform
merges them: arguments replace arguments, nested blocks replace blocks of the same type.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

META_ARGUMENTS = frozenset({"count", "for_each", "depends_on", "lifecycle", "provider", "provisioner", "connection"})
SECTIONS = ("resource", "data", "module", "variable", "locals", "output", "provider", "terraform")


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def normalize(value: Any) -> Any:
    """python-hcl2 output -> Terraform JSON shape (labels and literals unquoted; its own
    `__is_block__`/`__comments__`/`__inline_comments__` keys dropped)."""
    if isinstance(value, dict):
        return {_unquote(key): normalize(item) for key, item in value.items() if not key.startswith("__")}
    if isinstance(value, list):
        return [normalize(item) for item in value]
    if isinstance(value, str):
        return _unquote(value)
    return value


def is_override(path: Path) -> bool:
    stem = path.name.removesuffix(".json").removesuffix(".tf")
    return stem == "override" or stem.endswith("_override")


def parse_file(path: Path) -> dict[str, Any]:
    """One file as {section: ...} in Terraform's JSON shape (sections that hold labelled blocks
    are dicts keyed by their labels)."""
    if path.name.endswith(".tf.json"):
        document: dict[str, Any] = json.loads(path.read_text())
        return document
    hcl2 = importlib.import_module("hcl2")  # python-hcl2 ships no type information

    with path.open() as handle:
        raw = normalize(hcl2.load(handle))
    document = {}
    for section, blocks in raw.items():
        if section == "locals":
            merged: dict[str, Any] = {}
            for block in blocks:
                merged.update(block)
            document["locals"] = merged
        elif section in {"resource", "data"}:
            result: dict[str, dict[str, Any]] = {}
            for block in blocks:
                for kind, named in block.items():
                    for name, body in named.items():
                        result.setdefault(kind, {})[name] = body
            document[section] = result
        elif section in {"module", "variable", "output", "provider"}:
            labelled: dict[str, Any] = {}
            for block in blocks:
                labelled.update(block)
            document[section] = labelled
        else:
            document[section] = blocks
    return document


def _merge_override(original: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(original)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def module_files(directory: Path) -> list[Path]:
    return sorted(path for path in directory.iterdir() if path.name.endswith((".tf", ".tf.json")))


@dataclass
class Module:
    directory: Path
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    data: dict[str, dict[str, Any]] = field(default_factory=dict)
    modules: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, Any] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)

    def sections(self) -> Iterator[tuple[str, dict[str, Any]]]:
        yield "resource", self.resources
        yield "data", self.data
        yield "module", self.modules
        yield "variable", self.variables
        yield "locals", self.locals
        yield "output", self.outputs


def load_module(directory: Path) -> Module:
    module = Module(directory)
    files = module_files(directory)
    for path in [p for p in files if not is_override(p)] + [p for p in files if is_override(p)]:
        document = parse_file(path)
        override = is_override(path)
        for kind_section, target in (("resource", module.resources), ("data", module.data)):
            for kind, named in document.get(kind_section, {}).items():
                for name, body in named.items():
                    bucket = target.setdefault(kind, {})
                    bucket[name] = _merge_override(bucket.get(name, {}), body) if override else body
        for section, target in (("module", module.modules), ("variable", module.variables), ("output", module.outputs)):
            for name, body in document.get(section, {}).items():
                target[name] = _merge_override(target.get(name, {}), body) if override else body
        module.locals.update(document.get("locals", {}))
    return module


def strings(value: Any) -> Iterator[str]:
    """Every string inside a parsed value (expressions are strings in both syntaxes)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def blocks_of(value: Any) -> list[dict[str, Any]]:
    """A nested block's bodies: python-hcl2 and JSON give a dict or a list of dicts."""
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, dict)]
    return []


REFERENCE = re.compile(
    r"(?<![\w.\-])(?:"
    r"var\.(?P<var>[A-Za-z_][\w-]*)"
    r"|local\.(?P<local>[A-Za-z_][\w-]*)"
    r"|module\.(?P<module>[A-Za-z_][\w-]*)(?:\.(?P<module_output>[A-Za-z_][\w-]*))?"
    r"|data\.(?P<data_type>[a-z][a-z0-9_]*)\.(?P<data_name>[A-Za-z_][\w-]*)"
    r"|(?P<resource_type>(?:aws|terraform|null|random)_[a-z0-9_]+)\.(?P<resource_name>[A-Za-z_][\w-]*)"
    r")"
)


@dataclass(frozen=True)
class Reference:
    kind: str  # var, local, module, data, resource
    name: str
    detail: str | None = None


def references(text: str) -> Iterator[Reference]:
    if "${" not in text and not re.search(r"\b(var|local|module|data)\.", text):
        return
    for match in REFERENCE.finditer(text):
        if match["var"]:
            yield Reference("var", match["var"])
        elif match["local"]:
            yield Reference("local", match["local"])
        elif match["module"]:
            yield Reference("module", match["module"], match["module_output"])
        elif match["data_type"]:
            yield Reference("data", f"{match['data_type']}.{match['data_name']}")
        elif match["resource_type"]:
            yield Reference("resource", f"{match['resource_type']}.{match['resource_name']}")


def expression_strings(module: Module) -> Iterator[tuple[str, str]]:
    """(where, text) for every string that may hold an expression (variable descriptions and
    other plain literals are skipped only when they hold no `${`)."""
    for section, content in module.sections():
        if section == "variable":
            for name, body in content.items():
                for key in ("default", "validation"):
                    for text in strings(body.get(key)):
                        yield f"variable.{name}.{key}", text
            continue
        for text in strings(content):
            yield section, text
