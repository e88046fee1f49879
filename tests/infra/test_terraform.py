"""`terraform init -backend=false` and `validate` on every root directory under infra/ (the
stage root, bootstrap, and whatever is added later, such as infra/cicd), on every module no
root calls, and on the packaged app, in a temporary copy of the project; `fmt -check` on all of
infra/. Modules a root calls are validated through it (validating each alone costs ~5 s of
provider schema loading and checks nothing more). Skipped, saying why, without Terraform or a
provider mirror (see conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.infra.conftest import APP_DIR, INFRA_DIR, PROJECT_DIR, Terraform, terraform_dirs

ROOTS = [path for path in terraform_dirs() if (INFRA_DIR / "modules") not in path.parents]
CALLED = "\n".join(path.read_text() for root in ROOTS for path in root.glob("*.tf"))
UNCALLED_MODULES = [
    path
    for path in terraform_dirs()
    if (INFRA_DIR / "modules") in path.parents and f'modules/{path.name}"' not in CALLED
]
DIRS = ROOTS + UNCALLED_MODULES


@pytest.mark.parametrize(
    "directory", [*DIRS, None], ids=[*(str(d.relative_to(PROJECT_DIR)) for d in DIRS), "build/app"]
)
def test_terraform_validates(terraform: Terraform, workspace: Path, directory: Path | None) -> None:
    target = workspace / APP_DIR if directory is None else workspace / directory.relative_to(PROJECT_DIR)
    terraform.init(target, "-backend=false")
    result = terraform.run(target, "validate", "-no-color")
    assert "The configuration is valid" in result.stdout


def test_terraform_files_are_formatted(terraform: Terraform) -> None:
    result = terraform.run(INFRA_DIR, "fmt", "-check", "-recursive", "-diff", "-no-color")
    assert result.stdout == ""
