""".github/workflows/ci.yml runs `make test` on pushes and pull requests, with the pinned tools."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from dofs_config.stage import plan_build_runtime
from tests.cicd.hcl import ROOT

pytestmark = pytest.mark.unit

WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
README = ROOT / "README.md"


def workflow() -> dict[Any, Any]:
    data = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(data, dict)
    return data


def steps() -> list[dict[str, Any]]:
    (job,) = workflow()["jobs"].values()
    found: list[dict[str, Any]] = job["steps"]
    return found


def test_runs_on_pushes_and_pull_requests() -> None:
    data = workflow()
    triggers: dict[str, Any] = data["on"] if "on" in data else data[True]  # YAML 1.1 reads `on` as True
    assert set(triggers) >= {"push", "pull_request"}


def test_runs_make_test_on_every_python_the_readme_names_and_terraform_1_11_4() -> None:
    (job,) = workflow()["jobs"].values()
    pythons = [str(version) for version in job["strategy"]["matrix"]["python-version"]]
    named = re.search(r"On a fresh machine with Python ([\d.]+), ([\d.]+) or ([\d.]+)", README.read_text())
    assert named is not None, "README.md names the Pythons the two commands run on"
    assert pythons == list(named.groups())
    assert f"python{pythons[0]}" == plan_build_runtime()  # the oldest is the pipeline's and Lambda's
    by_action = {step["uses"].split("@")[0]: step for step in steps() if "uses" in step}
    assert by_action["actions/setup-python"]["with"]["python-version"] == "${{ matrix.python-version }}"
    assert str(by_action["hashicorp/setup-terraform"]["with"]["terraform_version"]) == "1.11.4"
    assert [step["run"] for step in steps() if "run" in step] == ["make test"]


def test_only_reads_the_repository() -> None:
    assert workflow()["permissions"] == {"contents": "read"}
