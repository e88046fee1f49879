"""Every Terraform root commits a `.terraform.lock.hcl` pinning the hashicorp/aws version the
offline proof checks: the linux_amd64 `h1:` hash of the mirror's package and the registry's
`zh:` hashes of every platform's zip, so `terraform init` accepts the provider on any machine.
The Terraform tests init with -lockfile=readonly (conftest.py), so the mirror's package is
checked against these files on every run."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.infra.conftest import AWS_PROVIDER, INFRA_DIR, LOCK_FILE, PROJECT_DIR, Terraform, provider_mirror
from tests.infra.test_terraform import ROOTS

pytestmark = pytest.mark.terraform

PINNED_VERSION = "5.100.0"  # the version tested offline: the mirror must hold exactly this one
# HashiCorp publishes one zip per platform in the release's SHA256SUMS; the lock lists them all.
MIN_PLATFORM_HASHES = 14
PROVIDER_BLOCK = re.compile(r'provider "(?P<source>[^"]+)" \{(?P<body>.*?)\n\}', re.DOTALL)


def locked_providers(lock: Path) -> dict[str, dict[str, object]]:
    providers: dict[str, dict[str, object]] = {}
    for block in PROVIDER_BLOCK.finditer(lock.read_text()):
        body = block["body"]
        version = re.search(r'version\s+=\s+"([^"]+)"', body)
        providers[block["source"]] = {
            "version": version[1] if version else None,
            "hashes": re.findall(r'"((?:h1|zh):[^"]+)"', body),
        }
    return providers


def test_there_are_roots() -> None:
    assert {root.relative_to(INFRA_DIR).as_posix() for root in ROOTS} >= {"stage", "cicd", "bootstrap"}


@pytest.mark.parametrize("root", ROOTS, ids=[str(root.relative_to(PROJECT_DIR)) for root in ROOTS])
def test_each_root_commits_a_lock_for_every_platform(root: Path) -> None:
    lock = root / LOCK_FILE
    assert lock.is_file(), f"{lock.relative_to(PROJECT_DIR)} is missing: CI would pick the newest provider"
    providers = locked_providers(lock)
    assert set(providers) == {AWS_PROVIDER}
    aws = providers[AWS_PROVIDER]
    hashes = aws["hashes"]
    assert isinstance(hashes, list)
    assert aws["version"] == PINNED_VERSION
    assert [h for h in hashes if h.startswith("h1:")], "no h1: hash (the mirror's linux_amd64 package)"
    platform_hashes = [h for h in hashes if re.fullmatch(r"zh:[0-9a-f]{64}", h)]
    assert len(platform_hashes) >= MIN_PLATFORM_HASHES, "zh: hashes of every platform are missing"


def test_the_mirror_holds_the_pinned_version() -> None:
    mirror = provider_mirror()
    if mirror is None:
        pytest.skip("no provider mirror on this machine (see conftest.py)")
    assert sorted(path.name for path in (mirror / AWS_PROVIDER).iterdir()) == [PINNED_VERSION]


def test_init_refuses_a_provider_the_lock_does_not_hold(terraform: Terraform, tmp_path: Path) -> None:
    """What -lockfile=readonly guards: a lock whose checksums do not match the package fails init."""
    root = tmp_path / "bootstrap"
    shutil.copytree(INFRA_DIR / "bootstrap", root, ignore=shutil.ignore_patterns(".terraform"))
    terraform.init(root, "-backend=false")  # the committed lock: accepted
    lock = root / LOCK_FILE
    lock.write_text(re.sub(r'"h1:[^"]+"', '"h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="', lock.read_text()))
    shutil.rmtree(root / ".terraform")
    with pytest.raises(AssertionError, match=r"(?i)checksum"):
        terraform.init(root, "-backend=false")
