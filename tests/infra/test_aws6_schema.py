"""Forward check against hashicorp/aws 6.x, which the provider mirror lacks: every resource and
data source type, argument and nested block used under infra/ and in the packaged app exists in
6.x, and every argument 6.x requires is set.

The schema is the committed extract tests/infra/aws6_schema.json (regenerate it with
`python scripts/extract_aws6_schema.py`, which reads it from the cdktn-provider-aws wheel).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scripts.tfmodel import META_ARGUMENTS, Module, blocks_of, load_module
from tests.infra.conftest import PROJECT_DIR, terraform_dirs

pytestmark = pytest.mark.terraform

SCHEMA_PATH = Path(__file__).with_name("aws6_schema.json")
DIRS = terraform_dirs()


def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    return loaded


def check_body(
    where: str, body: dict[str, Any], spec: dict[str, Any], problems: list[str], *, top: bool = True
) -> None:
    arguments = set(spec["arguments"])
    blocks: dict[str, Any] = spec.get("blocks", {})
    present = set()
    for key, value in body.items():
        if top and key in META_ARGUMENTS:  # nested blocks may have real arguments named `provider`
            continue
        if key == "dynamic":
            for dynamic in blocks_of(value):
                for label, generator in dynamic.items():
                    if label not in blocks:
                        problems.append(f"{where}: dynamic block {label!r} is not a block in aws 6.x")
                        continue
                    present.add(label)
                    for content in blocks_of(generator.get("content")):
                        check_body(f"{where}.{label}", content, blocks[label], problems, top=False)
            continue
        present.add(key)
        if key in blocks:
            for nested in blocks_of(value):
                check_body(f"{where}.{key}", nested, blocks[key], problems, top=False)
        elif key not in arguments:
            problems.append(f"{where}: {key!r} is neither an argument nor a block in aws 6.x")
    missing = set(spec["required"]) - present
    if missing:
        problems.append(f"{where}: aws 6.x requires {sorted(missing)}")


def check_module(module: Module, aws6: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    for section, found, known in (
        ("resource", module.resources, aws6["resources"]),
        ("data", module.data, aws6["data_sources"]),
    ):
        for kind, named in found.items():
            if not kind.startswith("aws_"):
                continue
            if kind not in known:
                problems.append(f"{section} {kind}: not in aws 6.x (or not in the extract: regenerate it)")
                continue
            for name, body in named.items():
                check_body(f"{section}.{kind}.{name}", body, known[kind], problems)
    return problems


def test_schema_extract_is_for_aws_6() -> None:
    aws6 = schema()
    assert aws6["provider_version"].startswith("6.")
    assert aws6["missing_in_6x"] == []


@pytest.mark.parametrize(
    "directory", [*DIRS, None], ids=[*(str(d.relative_to(PROJECT_DIR)) for d in DIRS), "build/app"]
)
def test_types_arguments_and_blocks_exist_in_aws_6(directory: Path | None, packaged_app: Path) -> None:
    module = load_module(packaged_app if directory is None else directory)
    assert check_module(module, schema()) == []


def test_the_check_catches_removed_arguments() -> None:
    """aws 6 dropped aws_api_gateway_deployment.stage_name: Chalice's raw output must fail."""
    aws6 = schema()
    problems: list[str] = []
    raw = {"rest_api_id": "${x}", "stage_name": "api", "stage_description": "d"}
    check_body("deployment", raw, aws6["resources"]["aws_api_gateway_deployment"], problems)
    assert len(problems) == 2
    check_body("queue", {}, aws6["resources"]["aws_lambda_event_source_mapping"], problems)
    assert any("requires ['function_name']" in problem for problem in problems)
