""".github/workflows/ci.yml runs `make test` on pushes and pull requests, with the pinned tools."""

from __future__ import annotations

from typing import Any

import yaml

from tests.cicd.hcl import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"


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


def test_runs_make_test_with_python_3_11_and_terraform_1_11_4() -> None:
    by_action = {step["uses"].split("@")[0]: step for step in steps() if "uses" in step}
    assert str(by_action["actions/setup-python"]["with"]["python-version"]) == "3.11"
    assert str(by_action["hashicorp/setup-terraform"]["with"]["terraform_version"]) == "1.11.4"
    assert [step["run"] for step in steps() if "run" in step] == ["make test"]


def test_only_reads_the_repository() -> None:
    assert workflow()["permissions"] == {"contents": "read"}
