"""Regenerates tests/infra/aws6_schema.json: the hashicorp/aws 6.x schema of the resource and
data source types this project uses, for the forward-compatibility test (the provider mirror
on the project's machines has 5.100 only).

Source: the PyPI package cdktn-provider-aws (CDK Terrain's prebuilt aws provider), whose jsii
assembly (`_jsii/*.jsii.tgz`, `package/.jsii`) carries the provider schema: each resource
class's docs link names its Terraform type, each property's docs link ends in its snake_case
name, a property that is not optional is required, and a property typed as a struct (docs
"<name> block.") is a nested block. The 70 MB wheel is downloaded to a temporary directory and
never kept.

    .venv/bin/python scripts/extract_aws6_schema.py            # types used by infra/ and the package
    .venv/bin/python scripts/extract_aws6_schema.py --version 25.8.1
"""

from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from scripts.package_app import package  # noqa: E402
from scripts.tfmodel import load_module, module_files  # noqa: E402

PACKAGE = "cdktn-provider-aws"
DEFAULT_VERSION = "25.8.1"
OUTPUT = PROJECT_DIR / "tests" / "infra" / "aws6_schema.json"
TYPE_LINK = re.compile(r"docs/(?P<kind>resources|data-sources)/(?P<slug>\w+) (?P<type>aws_\w+)\}")
PROVIDER_VERSION = re.compile(r"hashicorp/aws/(?P<version>\d+\.\d+\.\d+)/docs")
PROPERTY_LINK = re.compile(r"#(?P<name>\w+) \w+#\w+\}")


def used_types(directories: list[Path]) -> tuple[set[str], set[str]]:
    resources: set[str] = set()
    data: set[str] = set()
    for directory in directories:
        module = load_module(directory)
        resources.update(kind for kind in module.resources if kind.startswith("aws_"))
        data.update(kind for kind in module.data if kind.startswith("aws_"))
    return resources, data


def terraform_directories(package_dir: Path) -> list[Path]:
    infra = PROJECT_DIR / "infra"
    found = {path.parent for path in infra.rglob("*.tf") if ".terraform" not in path.parts}
    return [*sorted(found), package_dir]


def read_assembly(version: str, workdir: Path) -> dict[str, Any]:
    subprocess.run(  # noqa: S603 - this interpreter's pip, fixed arguments
        [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", f"{PACKAGE}=={version}", "-d", str(workdir)],
        check=True,
    )
    wheel = next(workdir.glob("*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".jsii.tgz"))
        tgz = archive.read(name)
    with tarfile.open(fileobj=io.BytesIO(tgz)) as tar:
        member = tar.extractfile("package/.jsii")
        if member is None:
            raise SystemExit(f"{name} has no package/.jsii")
        assembly: dict[str, Any] = json.loads(member.read())
    return assembly


def _struct_fqn(type_ref: dict[str, Any], types: dict[str, Any]) -> str | None:
    """The struct a property is typed as (directly, in an array, or in a union with IResolvable)."""
    if "fqn" in type_ref:
        target = types.get(type_ref["fqn"], {})
        return type_ref["fqn"] if target.get("kind") == "interface" and target.get("datatype") else None
    if "collection" in type_ref:
        return _struct_fqn(type_ref["collection"]["elementtype"], types)
    for option in type_ref.get("union", {}).get("types", []):
        found = _struct_fqn(option, types)
        if found:
            return found
    return None


def _schema(fqn: str, types: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    arguments: list[str] = []
    required: list[str] = []
    blocks: dict[str, Any] = {}
    for prop in types[fqn].get("properties", []):
        docs = prop.get("docs", {})
        match = PROPERTY_LINK.search(f"{docs.get('summary', '')} {docs.get('remarks', '')}")
        if match is None:
            continue
        name = match["name"]
        struct = _struct_fqn(prop["type"], types)
        if struct is not None and depth < 6:
            blocks[name] = _schema(struct, types, depth + 1)
        else:
            arguments.append(name)
        if not prop.get("optional"):
            required.append(name)
    result: dict[str, Any] = {"arguments": sorted(arguments), "required": sorted(required)}
    if blocks:
        result["blocks"] = dict(sorted(blocks.items()))
    return result


def extract(assembly: dict[str, Any], resources: set[str], data: set[str]) -> dict[str, Any]:
    types: dict[str, Any] = assembly["types"]
    found: dict[str, dict[str, Any]] = {"resources": {}, "data_sources": {}}
    provider_version = None
    for fqn, spec in types.items():
        if spec.get("kind") != "class":
            continue
        match = TYPE_LINK.search(spec.get("docs", {}).get("summary", ""))
        if match is None:
            continue
        section, wanted = ("resources", resources) if match["kind"] == "resources" else ("data_sources", data)
        # jsii suffixes a Config whose name another module's type already took (wafv2WebAcl has a
        # Wafv2WebAclAssociationConfig of its own): Wafv2WebAclAssociationConfigA.
        config = next((name for name in (f"{fqn}Config", f"{fqn}ConfigA") if name in types), None)
        if match["type"] not in wanted or config is None:
            continue
        found[section][match["type"]] = _schema(config, types)
        version = PROVIDER_VERSION.search(spec["docs"]["summary"])
        provider_version = version["version"] if version else provider_version
    missing = (resources - set(found["resources"])) | (data - set(found["data_sources"]))
    return {
        "provider": "hashicorp/aws",
        "provider_version": provider_version,
        "source": f"{PACKAGE}=={assembly['version']} (jsii assembly)",
        "regenerate": "python scripts/extract_aws6_schema.py",
        "missing_in_6x": sorted(missing),
        "resources": dict(sorted(found["resources"].items())),
        "data_sources": dict(sorted(found["data_sources"].items())),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Extract the hashicorp/aws 6.x schema of the types in use.")
    parser.add_argument("--version", default=DEFAULT_VERSION, help=f"{PACKAGE} version")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--package-dir", type=Path, help="an existing `make package` output to scan")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        package_dir = args.package_dir or package("dev", workdir / "package" / "dev")
        assert module_files(package_dir), f"{package_dir} holds no Terraform"
        resources, data = used_types(terraform_directories(package_dir))
        assembly = read_assembly(args.version, workdir / "wheel")
    schema = extract(assembly, resources, data)
    args.output.write_text(json.dumps(schema, indent=1, sort_keys=False) + "\n")
    size = args.output.stat().st_size
    print(
        f"wrote {args.output} ({size // 1024} kB): {len(schema['resources'])} resources, "
        f"{len(schema['data_sources'])} data sources, hashicorp/aws {schema['provider_version']}"
    )
    if schema["missing_in_6x"]:
        print(f"types missing in 6.x: {schema['missing_in_6x']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
