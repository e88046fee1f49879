"""`terraform init -backend=false` and `validate` on every root directory under infra/ (the
stage root, bootstrap, and whatever is added later, such as infra/cicd), on every module no
root calls, and on the packaged app, in a temporary copy of the project; `fmt -check` on all of
infra/. Modules a root calls are validated through it (validating each alone costs ~5 s of
provider schema loading and checks nothing more). Skipped, saying why, without Terraform or a
provider mirror (see conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.infra import conftest
from tests.infra.conftest import APP_DIR, INFRA_DIR, PROJECT_DIR, Terraform, terraform_dirs

pytestmark = pytest.mark.terraform

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


@pytest.mark.parametrize("online", ["1", None])
def test_without_a_mirror_the_proof_downloads_the_provider_only_when_told(
    online: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GitHub Actions and the pipeline's Test build have no mirror: with DOFS_TF_ONLINE_INIT=1
    the infrastructure proof runs with the registry (each provider downloaded once) rather than
    being skipped; elsewhere it never downloads."""
    monkeypatch.setattr(conftest, "provider_mirror", lambda: None)
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(tmp_path / "a-config-elsewhere.rc"))
    if online is None:
        monkeypatch.delenv(conftest.ONLINE_INIT, raising=False)
    else:
        monkeypatch.setenv(conftest.ONLINE_INIT, online)
    env = conftest.terraform_environment(tmp_path)
    if online is None:
        assert env is None
        return
    assert env is not None
    assert "TF_CLI_CONFIG_FILE" not in env
    assert Path(env["TF_PLUGIN_CACHE_DIR"]).is_dir()
