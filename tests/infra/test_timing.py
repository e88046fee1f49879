"""Timing invariants, computed from their sources (the ASL, .chalice/config.json, the packaged
module, the stage's wiring) by scripts/timing.py; each is shown failing on a mutated copy."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dofs_config.stage import load_stage
from scripts import timing
from scripts.tfmodel import Module, load_module
from tests.infra.conftest import PROJECT_DIR, STAGE, STAGE_ROOT, STAGES

pytestmark = pytest.mark.terraform

# The sqs module's argument holding each queue's visibility timeout, by the module output the
# packaged event source mappings' queue ARNs are wired to (module.sqs.queue_arn / dlq_arn).
VISIBILITY_ARGUMENT = {"queue_arn": "visibility_timeout_seconds", "dlq_arn": "dlq_visibility_timeout_seconds"}
# How infra/stage derives a visibility timeout: the stage's factor times a packaged timeout.
DERIVED_VISIBILITY = re.compile(
    r'^\$\{local\.settings\.(?P<setting>\w+) \* module\.app\.function_timeouts\["(?P<consumer>\w+)"\]\}$'
)


def express_violation(asl: dict[str, Any]) -> str | None:
    case = timing.workflow_worst_case(asl)
    if case.seconds > timing.EXPRESS_LIMIT_SECONDS - timing.EXPRESS_MARGIN_SECONDS:
        return f"{case.seconds:g} s along {' -> '.join(case.path)}"
    return None


def test_the_express_worst_case_leaves_a_margin_under_five_minutes() -> None:
    assert express_violation(timing.load_asl()) is None


def test_the_express_check_catches_the_defect_7_retries() -> None:
    """The ASL before the fix: task timeouts equal to the function timeout, four retries, and
    RecordWorkflowFailure's six attempts up to 30 s apart."""
    asl = copy.deepcopy(timing.load_asl())
    for name, state in asl["States"].items():
        if state["Type"] == "Task":
            state["TimeoutSeconds"] = 30
            if name != "RecordWorkflowFailure":  # crashes were not retried then (issue 12 added it)
                state["Retry"] = [r for r in state["Retry"] if r["ErrorEquals"] != ["States.ALL"]]
            for retrier in state["Retry"]:
                retrier.update(MaxAttempts=6 if name == "RecordWorkflowFailure" else 4)
                retrier.update(MaxDelaySeconds=30 if name == "RecordWorkflowFailure" else 8)
    path = "ValidateOrder -> StoreOrder -> ShouldEnqueue -> EnqueueOrder -> RecordWorkflowFailure -> WorkflowFailed"
    assert express_violation(asl) == f"766 s along {path}"


def test_retries_wait_at_most_their_capped_backoff() -> None:
    assert timing.retry_delays({"IntervalSeconds": 1, "MaxAttempts": 6, "BackoffRate": 2.0, "MaxDelaySeconds": 30}) == [
        1, 2, 4, 8, 16, 30,
    ]  # fmt: skip
    assert timing.retry_delays({}) == [1.0, 2.0, 4.0]  # the ASL defaults
    state = {"Type": "Task", "TimeoutSeconds": 10, "Retry": [{"MaxAttempts": 1}, {"MaxAttempts": 2, "BackoffRate": 1}]}
    assert timing.state_worst_case_seconds("T", state) == 10 * 4 + 1 + 1 + 1  # every retrier used up


def test_unbounded_workflows_are_refused() -> None:
    asl = copy.deepcopy(timing.load_asl())
    del asl["States"]["StoreOrder"]["TimeoutSeconds"]
    with pytest.raises(timing.TimingError, match="StoreOrder: a Task without TimeoutSeconds"):
        timing.workflow_worst_case(asl)
    asl = copy.deepcopy(timing.load_asl())
    asl["States"]["EnqueueOrder"]["Next"] = "ValidateOrder"
    with pytest.raises(timing.TimingError, match="loop through"):
        timing.workflow_worst_case(asl)


def visibility_violations(
    config: dict[str, Any], package: Path, stage: str = STAGE, root: Module | None = None
) -> list[str]:
    """Every SQS-triggered function whose queue's visibility timeout is under 6 x its timeout as
    packaged, following the wiring: mapping -> module input -> sqs output -> sqs argument -> the
    root's local -> the stage's factor times the packaged timeout of the function it names."""
    settings = config["stages"][stage]["dofs"]
    root = root or load_module(STAGE_ROOT)
    app_inputs, sqs_arguments = root.modules["app"], root.modules["sqs"]
    main = json.loads((package / "chalice.tf.json").read_text())
    timeouts = timing.packaged_timeouts(package)
    found = []
    for name, mapping in main["resource"]["aws_lambda_event_source_mapping"].items():
        variable = mapping["event_source_arn"].removeprefix("${var.").removesuffix("}")
        queue_output = app_inputs[variable].removeprefix("${module.sqs.").removesuffix("}")
        local = sqs_arguments[VISIBILITY_ARGUMENT[queue_output]].removeprefix("${local.").removesuffix("}")
        derived = DERIVED_VISIBILITY.match(root.locals[local])
        assert derived is not None, f"local.{local} = {root.locals[local]} is not derived from a function's timeout"
        handler = mapping["function_name"].removeprefix("${aws_lambda_function.").removesuffix(".arn}")
        visibility = settings[derived["setting"]] * timeouts[derived["consumer"]]
        if visibility < 6 * timeouts[handler]:
            found.append(
                f"{name}: {local}={visibility} ({derived['consumer']}'s timeout x {derived['setting']}) "
                f"< 6 x {handler} timeout {timeouts[handler]}"
            )
    return found


def project_config() -> dict[str, Any]:
    return json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())  # type: ignore[no-any-return]


@pytest.mark.parametrize("stage", STAGES)
def test_every_queue_outlasts_six_runs_of_its_function_as_packaged(packaged_apps: dict[str, Path], stage: str) -> None:
    assert visibility_violations(project_config(), packaged_apps[stage], stage) == []


def test_the_visibility_check_catches_a_small_factor_or_a_queue_wired_to_another_function(
    packaged_app: Path, tmp_path: Path
) -> None:
    config = project_config()
    config["stages"][STAGE]["dofs"]["visibility_timeout_factor"] = 1  # defect 8: SQS's 30 s default
    assert [found.split(":")[0] for found in visibility_violations(config, packaged_app)] == [
        "fulfill_order-sqs-event-source",
        "handle_dead_letter-sqs-event-source",
    ]
    # A queue's visibility derived from a function that is not its consumer, which runs shorter.
    package = tmp_path / STAGE
    package.mkdir()
    main = json.loads((packaged_app / "chalice.tf.json").read_text())
    main["resource"]["aws_lambda_function"]["fulfill_order"]["timeout"] = 60
    main["resource"]["aws_lambda_function"]["handle_dead_letter"]["timeout"] = 20
    (package / "chalice.tf.json").write_text(json.dumps(main))
    assert visibility_violations(project_config(), package) == []  # each queue follows its own function
    root = load_module(STAGE_ROOT)
    swapped = root.locals["dlq_visibility_timeout_seconds"]
    root.locals["queue_visibility_timeout_seconds"] = swapped
    assert visibility_violations(project_config(), package, root=root) == [
        "fulfill_order-sqs-event-source: queue_visibility_timeout_seconds=120 (handle_dead_letter's timeout x "
        "visibility_timeout_factor) < 6 x fulfill_order timeout 60"
    ]


def test_packaged_timeouts_are_what_the_config_says(packaged_app: Path) -> None:
    """The smoke timeout reads the config where no package exists: Chalice's precedence must match."""
    stage = load_stage(STAGE)
    timeouts = timing.packaged_timeouts(packaged_app)
    assert timeouts == {name: stage.function_timeout_seconds(name) for name in timeouts}


def make_smoke_timeout(*variables: str) -> int:
    """SMOKE_TIMEOUT as make/cicd.mk computes it (with this interpreter)."""
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not on PATH")
    show = "show-smoke-timeout: ; @echo $(SMOKE_TIMEOUT)"
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [
            make,
            "--no-print-directory",
            "-s",
            "--eval",
            show,
            "show-smoke-timeout",
            f"PYTHON={sys.executable}",
            *variables,
        ],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    return int(result.stdout.strip())


@pytest.mark.parametrize("stage", STAGES)
def test_the_smoke_stage_waits_for_the_stage_worst_case(stage: str) -> None:
    worst = timing.smoke_worst_case_seconds(stage)
    settings = load_stage(stage)
    # At least every receive of order_queue, each visible again only after the visibility timeout.
    assert worst >= settings.max_receive_count * settings.queue_visibility_timeout_seconds
    assert make_smoke_timeout(f"STAGE={stage}") >= worst


@pytest.mark.parametrize("stage", STAGES)
def test_the_visibility_timeout_is_derived_as_terraform_derives_it(stage: str) -> None:
    """stage.py (the smoke timeout's source) and infra/stage compute the same visibility timeout."""
    settings = load_stage(stage)
    factor = project_config()["stages"][stage]["dofs"]["visibility_timeout_factor"]
    assert settings.queue_visibility_timeout_seconds == factor * settings.function_timeout_seconds("fulfill_order")


def test_the_smoke_timeout_follows_the_settings(tmp_path: Path) -> None:
    """Defect 6: a fixed 120 s cannot cover dev's three 180 s receives; the computed one moves
    with the settings it is computed from."""
    config = project_config()
    assert timing.smoke_worst_case_seconds(STAGE) > 120
    config["stages"][STAGE]["dofs"]["visibility_timeout_factor"] += 1
    mutated = tmp_path / "config.json"
    mutated.write_text(json.dumps(config))
    assert timing.smoke_worst_case_seconds(STAGE, config_path=mutated) == timing.smoke_worst_case_seconds(STAGE) + (
        load_stage(STAGE).function_timeout_seconds("fulfill_order")
        * config["stages"][STAGE]["dofs"]["max_receive_count"]
    )
