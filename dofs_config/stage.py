"""A stage's names and settings, read from `.chalice/config.json`: the one source of truth
that Chalice, Terraform (`jsondecode(file(...))`) and the dev tools share.

This is the one reader of that file in Python: the local stack, the benchmark, scripts/ and the
Makefiles all load a stage here. The Lambda package never does (its functions read the
environment variables Chalice sets from it, `chalicelib/settings.py`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chalicelib.repository import Retention

PROJECT_DIR = Path(__file__).resolve().parent.parent
CONFIG_PATH = PROJECT_DIR / ".chalice" / "config.json"
# moto's fixed account: ARNs in the local stage's config are written for it.
LOCAL_ACCOUNT_ID = "123456789012"
# The emulator's stage (`make local`); every other stage in the file is deployed to AWS by infra/stage.
LOCAL_STAGE = "local"


@dataclass(frozen=True)
class Stage:
    name: str
    app_name: str
    region: str
    environment: dict[str, str]
    max_receive_count: int
    queue_visibility_timeout_seconds: int
    dlq_retention_seconds: int
    workflow_type: str
    stuck_order_threshold_seconds: int
    lambda_timeout_seconds: int
    function_timeouts_seconds: dict[str, int]
    lambda_memory_mb: int
    function_environments: dict[str, dict[str, str]]
    # What the stage pays for on AWS (docs/PERFORMANCE.md prices each stage with these).
    function_memory_mb: dict[str, int]  # per-function lambda_memory_size, where set
    xray: bool  # Chalice traces the functions and (Terraform) the API stage and the workflow
    xray_sampling_rate: float  # share of API requests traced beyond the reservoir
    workflow_log_level: str  # the state machine's execution log level
    log_retention_days: int
    api_throttling_rate_limit: float | None  # requests/s the stage is sized for (None: local)
    architecture: str  # the functions' lambda_architecture (CHALICE_DEFAULT_ARCHITECTURE where unset)
    layers: tuple[str, ...] = ()  # the Lambda layers every function gets (on AWS, POWERTOOLS_LAYER)

    @property
    def prefix(self) -> str:
        return f"{self.app_name}-{self.name}"

    @property
    def orders_table(self) -> str:
        return self.environment["ORDERS_TABLE"]

    @property
    def failed_orders_table(self) -> str:
        return self.environment["FAILED_ORDERS_TABLE"]

    @property
    def cors_allowed_origins(self) -> tuple[str, ...]:
        """The browser origins the stage's API allows: its CORS_ALLOWED_ORIGINS, as app.py reads it."""
        # Imported here: the rest of this module runs on a bare Python (make's stage check), pydantic needs the venv.
        from chalicelib.settings import CorsSettings

        return CorsSettings.from_env(self.environment).cors_allowed_origins

    @property
    def open_orders_index_shards(self) -> int:
        """The shards of the orders table's `open-orders` index: the stage's OPEN_ORDERS_INDEX_SHARDS,
        as its functions read it (chalicelib/settings.py holds the default and why)."""
        from chalicelib.settings import OpenOrdersIndexSettings  # pydantic: the venv's, as above

        return OpenOrdersIndexSettings.from_env(self.environment).open_orders_index_shards

    @property
    def retention(self) -> Retention:
        """How long the stage keeps terminal and dead-lettered orders, as its functions read it."""
        from chalicelib.repository import Retention  # pydantic: the venv's, as above
        from chalicelib.settings import Settings

        settings = Settings.from_env(self.environment)
        return Retention(settings.order_retention_days, settings.failed_order_retention_days)

    @property
    def order_queue_name(self) -> str:
        return f"{self.prefix}-order_queue"

    @property
    def order_dlq_name(self) -> str:
        return f"{self.prefix}-order_dlq"

    @property
    def state_machine_name(self) -> str:
        return f"{self.prefix}-order-workflow"

    def function_name(self, handler: str) -> str:
        """Chalice names each deployed function `{app}-{stage}-{handler}`."""
        return f"{self.prefix}-{handler}"

    def function_arn(self, handler: str) -> str:
        return f"arn:aws:lambda:{self.region}:{LOCAL_ACCOUNT_ID}:function:{self.function_name(handler)}"

    def state_machine_arn(self) -> str:
        return f"arn:aws:states:{self.region}:{LOCAL_ACCOUNT_ID}:stateMachine:{self.state_machine_name}"

    def memory_mb(self, handler: str) -> int:
        """The memory Chalice packages for a function: its own lambda_memory_size, else the stage's."""
        return self.function_memory_mb.get(handler, self.lambda_memory_mb)

    @property
    def log_level(self) -> str:
        """The functions' log level (Powertools)."""
        return self.environment.get("POWERTOOLS_LOG_LEVEL", "INFO")

    def function_timeout_seconds(self, handler: str) -> int:
        """The timeout Chalice packages for a function: its own lambda_timeout, else the stage's."""
        return self.function_timeouts_seconds.get(handler, self.lambda_timeout_seconds)

    def reconciler_environment(self, order_queue_url: str) -> dict[str, str]:
        """What Terraform gives the reconciler on AWS (.chalice/config.json's reconcile_orders)."""
        return {
            **self.environment,
            "STATE_MACHINE_ARN": self.state_machine_arn(),
            "ORDER_QUEUE_URL": order_queue_url,
            "STUCK_ORDER_THRESHOLD_SECONDS": str(self.stuck_order_threshold_seconds),
            "MAX_RECEIVE_COUNT": str(self.max_receive_count),
        }

    def api_environment(self) -> dict[str, str]:
        """The API handler's variables: the stage's plus its own (STATE_MACHINE_ARN)."""
        return {**self.environment, **self.function_environments.get("api_handler", {})}


# Chalice's own defaults when neither the stage nor the top level sets lambda_memory_size / lambda_timeout.
CHALICE_DEFAULT_MEMORY_MB = 128
CHALICE_DEFAULT_TIMEOUT_SECONDS = 60
CHALICE_DEFAULT_ARCHITECTURE = "x86_64"
# AWS's default sampling rule (5 % beyond 1 request/s) and infra's default retention, for a
# stage that sets neither (the local stage).
DEFAULT_XRAY_SAMPLING_RATE = 0.05
DEFAULT_LOG_RETENTION_DAYS = 30


# Powertools on AWS: the layer Powertools publishes for each release, Python version and
# architecture, whose ARN in a region is the value of a public SSM parameter published with it
# (docs.aws.amazon.com/powertools/python/latest/#lambda-layer). A stage's `layers` name it as a
# module input, which infra/stage reads from that parameter at plan time.
POWERTOOLS_PACKAGE = "aws-lambda-powertools"
POWERTOOLS_LAYER = "${var.powertools_layer_arn}"
POWERTOOLS_PUBLISHER_ACCOUNT = "017000801446"
REQUIREMENTS_PATH = PROJECT_DIR / "requirements" / "build.in"


def pinned_version(package: str, requirements: Path = REQUIREMENTS_PATH) -> str:
    """The version requirements/build.in pins (`package==X`): Powertools' one pin, which the
    tests and the local stack install and the deployed layer follows."""
    pins = re.findall(rf"^{re.escape(package)}==(\S+)$", requirements.read_text(), flags=re.MULTILINE)
    if len(pins) != 1:
        raise ValueError(f"{requirements.name} must pin {package} exactly once (package==version), found {pins}")
    return str(pins[0])


POWERTOOLS_PARAMETER_PREFIX = "/aws/service/powertools/python/"


def packaged_runtime() -> str:
    """The Lambda runtime Chalice packages for here: the Python running it, e.g. python3.12 (where
    `make package` or `make deploy` runs on 3.12); the pipeline's is plan_build_runtime()."""
    # Imported here: the rest of this module runs on a bare Python (make's stage check).
    from chalice.config import Config

    return str(Config().lambda_python_version)


PLAN_BUILDSPEC_PATH = PROJECT_DIR / "buildspec-plan.yml"


def plan_build_runtime(buildspec: Path = PLAN_BUILDSPEC_PATH) -> str:
    """The Lambda runtime the pipeline deploys: the Python of its Plan build (its runtime-versions),
    which runs `chalice package`, e.g. python3.11. infra/cicd reads the same line to scope the
    Powertools parameter and layer its roles may use."""
    import yaml  # the venv's, as above

    install = yaml.safe_load(buildspec.read_text())["phases"]["install"]
    return f"python{install['runtime-versions']['python']}"


def powertools_layer_parameter(architecture: str, runtime: str, version: str) -> str:
    """The public SSM parameter whose value is the layer's ARN, e.g.
    /aws/service/powertools/python/x86_64/python3.11/3.37.0."""
    return f"{POWERTOOLS_PARAMETER_PREFIX}{architecture}/{runtime}/{version}"


def powertools_layer_name(architecture: str, runtime: str, version: str) -> str:
    """The layer's name, e.g. AWSLambdaPowertoolsPythonV3-python311-x86_64 (one per major version)."""
    major = version.split(".")[0]
    return f"AWSLambdaPowertoolsPythonV{major}-{runtime.replace('.', '')}-{architecture}"


class UnknownStageError(ValueError):
    """The stage is not in .chalice/config.json (the message lists the known ones)."""


def read_config(path: Path = CONFIG_PATH) -> dict[str, Any]:
    config: dict[str, Any] = json.loads(path.read_text())
    return config


def deployable_stages(config_path: Path = CONFIG_PATH) -> list[str]:
    """The stages infra/stage deploys to AWS: every stage of the file but the emulator's."""
    return sorted(name for name in read_config(config_path)["stages"] if name != LOCAL_STAGE)


def require_deployable_stage(name: str, config_path: Path = CONFIG_PATH) -> None:
    """Refuse a stage infra/stage cannot deploy, naming the ones it can."""
    known = deployable_stages(config_path)
    if name not in known:
        raise UnknownStageError(
            f"stage {name!r} is not a deployable stage of .chalice/config.json; known stages: {', '.join(known)}"
        )


def _queue_visibility_timeout_seconds(settings: dict[str, Any], consumer_timeout_seconds: int) -> int:
    """order_queue's visibility timeout: the stage's seconds where it sets them (the local stage's
    are seconds-short), otherwise its visibility_timeout_factor times the consumer's timeout, as
    infra/stage computes it."""
    if "queue_visibility_timeout_seconds" in settings:
        return int(settings["queue_visibility_timeout_seconds"])
    return int(settings["visibility_timeout_factor"]) * consumer_timeout_seconds


def load_stage(name: str = "local", config_path: Path = CONFIG_PATH) -> Stage:
    config = read_config(config_path)
    try:
        raw = config["stages"][name]
    except KeyError as exc:
        known = ", ".join(sorted(config["stages"]))
        raise UnknownStageError(f"stage {name!r} is not in .chalice/config.json; known stages: {known}") from exc
    settings = raw["dofs"]
    # A function's value wins over the stage's, and the stage's over the top level's, as in Chalice.
    lambda_timeout_seconds = int(
        raw.get("lambda_timeout", config.get("lambda_timeout", CHALICE_DEFAULT_TIMEOUT_SECONDS))
    )
    function_timeouts_seconds = {
        handler: int(function["lambda_timeout"])
        for handler, function in raw.get("lambda_functions", {}).items()
        if "lambda_timeout" in function
    }
    return Stage(
        name=name,
        app_name=config["app_name"],
        region=settings["region"],
        environment=dict(raw["environment_variables"]),
        max_receive_count=int(settings["max_receive_count"]),
        queue_visibility_timeout_seconds=_queue_visibility_timeout_seconds(
            settings, function_timeouts_seconds.get("fulfill_order", lambda_timeout_seconds)
        ),
        dlq_retention_seconds=int(settings["dlq_retention_seconds"]),
        workflow_type=settings["workflow_type"],
        stuck_order_threshold_seconds=int(settings["stuck_order_threshold_seconds"]),
        lambda_timeout_seconds=lambda_timeout_seconds,
        function_timeouts_seconds=function_timeouts_seconds,
        lambda_memory_mb=int(
            raw.get("lambda_memory_size", config.get("lambda_memory_size", CHALICE_DEFAULT_MEMORY_MB))
        ),
        function_environments={
            handler: dict(function.get("environment_variables", {}))
            for handler, function in raw.get("lambda_functions", {}).items()
        },
        function_memory_mb={
            handler: int(function["lambda_memory_size"])
            for handler, function in raw.get("lambda_functions", {}).items()
            if "lambda_memory_size" in function
        },
        xray=bool(raw.get("xray", config.get("xray", False))),
        xray_sampling_rate=float(settings.get("xray_sampling_rate", DEFAULT_XRAY_SAMPLING_RATE)),
        workflow_log_level=settings["workflow_log_level"],
        log_retention_days=int(settings.get("log_retention_days", DEFAULT_LOG_RETENTION_DAYS)),
        api_throttling_rate_limit=(
            float(settings["api_throttling_rate_limit"]) if "api_throttling_rate_limit" in settings else None
        ),
        layers=tuple(raw.get("layers", config.get("layers", ()))),
        architecture=raw.get("lambda_architecture", config.get("lambda_architecture", CHALICE_DEFAULT_ARCHITECTURE)),
    )
