"""Worst-case timings of the order pipeline, computed from their sources, never from copies:

- the workflow's, from the ASL: every Task's TimeoutSeconds per attempt, its retriers'
  MaxAttempts, IntervalSeconds, BackoffRate and MaxDelaySeconds (a FULL jitter only shortens a
  delay), along the longest path from StartAt through Next, Choice and Catch (so a step that fails
  after its retries is followed by RecordWorkflowFailure's own worst case);
- an SQS-fed function's, from its queue's maxReceiveCount and visibility timeout: a failed
  attempt is received again only once the visibility timeout has run out;
- a stage's worst case to a terminal order state, which the Smoke stage must wait for:
  workflow, then every receive of order_queue failing, then the dead-letter handler.

    python scripts/timing.py smoke-timeout --stage dev   # seconds `make smoke` waits

Function timeouts are read from the packaged module (build/package/<stage>/chalice.tf.json),
which is what Terraform deploys; without one, from .chalice/config.json as Chalice packages it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from dofs_config.stage import CONFIG_PATH, Stage, UnknownStageError, load_stage  # noqa: E402

ASL_PATH = PROJECT_DIR / "stepfunctions" / "order_workflow.asl.json"
EXPRESS_LIMIT_SECONDS = 300  # an EXPRESS execution is stopped after 5 minutes
EXPRESS_MARGIN_SECONDS = 60  # what the worst case must leave of that limit
# ASL defaults of a Retrier (States Language specification).
DEFAULT_INTERVAL_SECONDS = 1.0
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_BACKOFF_RATE = 2.0
TERMINAL_TYPES = frozenset({"Succeed", "Fail"})


class TimingError(ValueError):
    """The ASL or the settings have no bounded worst case (a Task without a timeout, a loop)."""


def retry_delays(retrier: dict[str, Any]) -> list[float]:
    """The longest wait before each retry a retrier allows."""
    interval = float(retrier.get("IntervalSeconds", DEFAULT_INTERVAL_SECONDS))
    rate = float(retrier.get("BackoffRate", DEFAULT_BACKOFF_RATE))
    cap = retrier.get("MaxDelaySeconds")
    delays = []
    for attempt in range(int(retrier.get("MaxAttempts", DEFAULT_MAX_ATTEMPTS))):
        delay = interval * rate**attempt
        delays.append(min(delay, float(cap)) if cap is not None else delay)
    return delays


def state_worst_case_seconds(name: str, state: dict[str, Any]) -> float:
    """How long a state can run before it moves on (by Next or by a Catch)."""
    if state["Type"] != "Task":
        return 0.0
    if "TimeoutSeconds" not in state:
        raise TimingError(f"{name}: a Task without TimeoutSeconds can run for the whole execution")
    # Each retrier counts its own attempts: in the worst case every one of them is used up.
    delays = [delay for retrier in state.get("Retry", []) for delay in retry_delays(retrier)]
    return float(state["TimeoutSeconds"]) * (1 + len(delays)) + sum(delays)


def _next_states(state: dict[str, Any]) -> list[str]:
    following = [state["Next"]] if "Next" in state else []
    following += [choice["Next"] for choice in state.get("Choices", [])]
    following += [state["Default"]] if "Default" in state else []
    following += [catcher["Next"] for catcher in state.get("Catch", [])]
    return following


@dataclass(frozen=True)
class WorstCase:
    seconds: float
    path: tuple[str, ...]  # the states along the slowest path, StartAt first


def workflow_worst_case(asl: dict[str, Any]) -> WorstCase:
    """The longest an execution of the state machine can take, and along which path."""
    states: dict[str, Any] = asl["States"]
    slowest: dict[str, WorstCase] = {}

    def from_state(name: str, visiting: tuple[str, ...]) -> WorstCase:
        if name in visiting:
            raise TimingError(f"loop through {' -> '.join((*visiting, name))}: no bounded worst case")
        if name not in slowest:
            state = states[name]
            after = [from_state(following, (*visiting, name)) for following in _next_states(state)]
            rest = max(after, key=lambda case: case.seconds, default=WorstCase(0.0, ()))
            if state["Type"] in {"Parallel", "Map"}:
                raise TimingError(f"{name}: {state['Type']} states are not modelled")
            slowest[name] = WorstCase(state_worst_case_seconds(name, state) + rest.seconds, (name, *rest.path))
        return slowest[name]

    return from_state(asl["StartAt"], ())


def load_asl(path: Path = ASL_PATH) -> dict[str, Any]:
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def packaged_timeouts(package_dir: Path) -> dict[str, int]:
    """Handler name to the timeout of its aws_lambda_function in the packaged module."""
    main = json.loads((package_dir / "chalice.tf.json").read_text())
    return {name: int(function["timeout"]) for name, function in main["resource"]["aws_lambda_function"].items()}


def function_timeout(stage: Stage, function: str, package_dir: Path | None = None) -> int:
    if package_dir is not None and (package_dir / "chalice.tf.json").exists():
        return packaged_timeouts(package_dir)[function]
    return stage.function_timeout_seconds(function)


def queue_worst_case_seconds(max_receive_count: int, visibility_timeout_seconds: int) -> int:
    """From a message's first receive until it is dead-lettered: every receive fails, and each
    failed receive is visible again only after the visibility timeout."""
    return max_receive_count * visibility_timeout_seconds


def smoke_worst_case_seconds(
    stage: str, *, asl: dict[str, Any] | None = None, config_path: Path = CONFIG_PATH, package_dir: Path | None = None
) -> float:
    """From an accepted order to a terminal state on the stage: the workflow, every receive of
    order_queue failing, then one run of the dead-letter handler."""
    settings = load_stage(stage, config_path)
    workflow = workflow_worst_case(asl if asl is not None else load_asl()).seconds
    queue = queue_worst_case_seconds(settings.max_receive_count, settings.queue_visibility_timeout_seconds)
    dead_letter = function_timeout(settings, "handle_dead_letter", package_dir)
    return workflow + queue + dead_letter


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    smoke = commands.add_parser("smoke-timeout", help="seconds the smoke test must wait for a terminal state")
    smoke.add_argument("--stage", default="dev")
    smoke.add_argument("--package-dir", type=Path, help="default: build/package/<stage> if it exists")
    smoke.add_argument("--config", type=Path, default=CONFIG_PATH, help="default: .chalice/config.json")
    workflow = commands.add_parser("workflow", help="the workflow's worst case and its path")
    workflow.add_argument("--asl", type=Path, default=ASL_PATH)
    args = parser.parse_args(argv)
    if args.command == "smoke-timeout":
        package_dir = args.package_dir or PROJECT_DIR / "build" / "package" / args.stage
        try:
            worst = smoke_worst_case_seconds(args.stage, config_path=args.config, package_dir=package_dir)
        except UnknownStageError as exc:
            raise SystemExit(str(exc)) from exc
        print(math.ceil(worst))
    else:
        case = workflow_worst_case(load_asl(args.asl))
        print(f"{case.seconds:g} s: {' -> '.join(case.path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
