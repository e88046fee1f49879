"""The user documentation stays short and current: README.md within 12 KB, and no README or
docs/ page carries a run diary's markers (tracker references, load averages)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PROJECT_DIR = Path(__file__).resolve().parent.parent
README_LIMIT_BYTES = 12 * 1024
# A tracker's numbers mean nothing to a reader without the tracker; a load average is a fact of
# one run on one machine, not of the product.
DIARY = re.compile(r"\b(?:issues?|defects?)\s+\d+|\bload averages?\b", re.IGNORECASE)


def documentation() -> list[Path]:
    skipped = {".venv", ".venv-checkov", ".git", ".terraform", "build", "node_modules"}
    readmes = [
        path for path in PROJECT_DIR.rglob("README.md") if not skipped.intersection(path.relative_to(PROJECT_DIR).parts)
    ]
    return sorted({*readmes, *(PROJECT_DIR / "docs").rglob("*.md")})


def diary_markers(text: str) -> list[str]:
    return [match.group(0) for match in DIARY.finditer(text)]


def test_readme_is_at_most_12_kb() -> None:
    size = (PROJECT_DIR / "README.md").stat().st_size
    assert size <= README_LIMIT_BYTES, f"README.md is {size} bytes; move detail to docs/"


@pytest.mark.parametrize("path", documentation(), ids=lambda path: str(path.relative_to(PROJECT_DIR)))
def test_no_run_diary(path: Path) -> None:
    assert diary_markers(path.read_text()) == [], f"{path.relative_to(PROJECT_DIR)}: current facts only"


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("fixed (issue 10, defect 4)", ["issue 10", "defect 4"]),
        ("each of defects 2, 3 and 9", ["defects 2"]),
        ("at load average 1.5", ["load average"]),
        ("Issue 12 branch", ["Issue 12"]),
        ("test_apply_defect_1.py refuses it; an issue with the API", []),
    ],
)
def test_the_check_finds_diary_markers(text: str, found: list[str]) -> None:
    assert diary_markers(text) == found


@pytest.mark.parametrize("path", ["env.json", ".dofs/env.json", ".dofs/local.log"])
def test_files_the_examples_write_are_ignored(path: str) -> None:
    git = shutil.which("git")
    if git is None or not (PROJECT_DIR / ".git").exists():
        pytest.skip("not a git checkout")
    ignored = subprocess.run(  # noqa: S603 - fixed arguments
        [git, "check-ignore", "--quiet", "--no-index", path], cwd=PROJECT_DIR, check=False
    )
    assert ignored.returncode == 0, f"{path} is not in .gitignore"


def test_examples_use_the_port_variables() -> None:
    """`make local`'s ports are PORT and AWS_PORT: an example with 8000 or 4566 in a URL fails
    for a reader who chose others."""
    fixed = re.compile(r"(?:127\.0\.0\.1|localhost):(?:8000|4566)\b")
    found = [str(path.relative_to(PROJECT_DIR)) for path in documentation() if fixed.search(path.read_text())]
    assert found == []


def test_examples_create_dofs_before_writing_to_it() -> None:
    """A pipeline opens its files at once: `make local | tee .dofs/x` needs .dofs made first."""
    for path in documentation():
        for line in path.read_text().splitlines():
            if re.search(r"\btee\s+(?:-\w+\s+)*\.dofs/", line):
                assert "mkdir -p .dofs &&" in line.split("tee")[0], f"{path.name}: {line}"
