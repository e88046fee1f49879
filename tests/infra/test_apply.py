"""`terraform apply` of the dev stage, packaged app included, against moto's server.

The provider's endpoints point at a moto server started in this process on 127.0.0.1; the
state is local (an override file replaces the S3 backend). What moto 5.2 cannot emulate is
left out by a variable (see docs/TESTING.md, "The infrastructure proof"):

- `enable_api_gateway=false`: moto's PutRestApi imports only OpenAPI 3 bodies, and Chalice
  writes Swagger 2.0 (the REST API and its deployment, and so infra/modules/api_gateway's stage,
  method settings, usage plan and access log group, which test_api_gateway.py applies on a REST
  API made without a body);
- `restrict_dlq_sources=false`: moto does not keep an SQS RedriveAllowPolicy, so the provider
  waits forever for it to appear.

The emulator makes AWS's create-time checks (dofs_local/emulated/create_time_checks.py): a function,
event source mapping or state machine whose role cannot yet do what AWS checks is refused with
AWS's error. The provider retries those errors for minutes (as IAM propagation), so the apply
is stopped at the first refusal: no resource of the stack may need a retry to be created.

moto also lacks two Step Functions calls the provider makes, ValidateStateMachineDefinition
and ListStateMachineVersions: `patch_moto()` answers them as AWS does for a valid definition
and an unversioned state machine.

`applied_stack` yields the endpoint and the Terraform outputs, for tests that drive orders
through the applied stack.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from chalicelib import runtime
from chalicelib.observability import DEAD_LETTERED_METRIC, STUCK_ORDERS_METRIC
from dofs_config.stage import Stage, load_stage
from dofs_local.emulated import create_time_checks, lambda_bridge
from dofs_local.emulated.emulator import Emulator
from dofs_local.emulated.pollers import EventSource, QueuePoller
from scripts.postprocess_chalice_tf import EXTRAS_FILE
from tests.infra.conftest import APP_DIR, STAGE, STAGES, Terraform, make_workspace
from tests.metric_identity import counted_identity, watched_identity

REGION = "us-east-1"
HANDLERS = (
    "api_handler",
    "validate_order",
    "store_order",
    "record_workflow_failure",
    "fulfill_order",
    "handle_dead_letter",
    "reconcile_orders",
)
# The functions that start the workflow: the API, and the reconciler restarting a lost execution.
STARTS_THE_WORKFLOW = ("api_handler", "reconcile_orders")
# Provider endpoint keys (hashicorp/aws 5.100 and 6.x) of every service the stack uses.
ENDPOINT_SERVICES = (
    *("apigateway", "cloudwatch", "dynamodb", "iam", "kms", "lambda"),
    *("events", "logs", "s3", "sfn", "sns", "sqs", "ssm", "sts"),
)
# Off for the emulator run: see the module docstring and docs/TESTING.md for why.
EMULATOR_VARIABLES = {"enable_api_gateway": "false", "restrict_dlq_sources": "false"}
APPLY_TIMEOUT_SECONDS = 270  # per stage: the applies side by side get every stage's share
# The first test sets up every stage (package, init, then the applies side by side): pytest-timeout
# stops it only after the applies could have run out their deadline and shown their logs.
SETUP_MARGIN_SECONDS = 60
pytestmark = [pytest.mark.terraform, pytest.mark.timeout(len(STAGES) * APPLY_TIMEOUT_SECONDS + SETUP_MARGIN_SECONDS)]
REFUSAL_POLL_SECONDS = 0.5
APPLY = ("apply", "-auto-approve", "-no-color", "-input=false")


@dataclass(frozen=True)
class AppliedStack:
    stage: str
    endpoint: str  # the moto server every AWS client must use
    outputs: dict[str, Any]  # `terraform output` of the stage: state_machine_arn, queue URLs, tables, ...
    workdir: Path  # the stage root in the temporary workspace
    terraform: Terraform  # terraform with the emulator's environment

    @property
    def settings(self) -> Stage:
        return load_stage(self.stage)

    @property
    def prefix(self) -> str:
        return self.settings.prefix

    @property
    def config(self) -> dict[str, Any]:
        """The stage's `dofs` block of .chalice/config.json, as the workspace's Terraform read it."""
        config = json.loads((self.workdir / "../../.chalice/config.json").read_text())
        return config["stages"][self.stage]["dofs"]  # type: ignore[no-any-return]

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


def emulator_override(endpoint: str, state_path: Path) -> dict[str, Any]:
    """An override file: local state, and the aws provider pointed at the emulator."""
    return {
        "terraform": {"backend": {"local": {"path": str(state_path)}}},
        "provider": {
            "aws": {
                "access_key": "testing",
                "secret_key": "testing",
                "skip_credentials_validation": True,
                "skip_requesting_account_id": True,
                "skip_metadata_api_check": True,
                "s3_use_path_style": True,
                "max_retries": 3,  # a dropped loopback connection is retried; an unemulated call still fails in seconds
                "endpoints": [dict.fromkeys(ENDPOINT_SERVICES, endpoint)],
            }
        },
    }


def patch_moto() -> None:
    """Answers the two Step Functions calls moto 5.2 lacks and the aws provider makes."""
    from moto.stepfunctions.responses import StepFunctionResponse

    def validate_state_machine_definition(self: StepFunctionResponse) -> str:
        return json.dumps({"result": "OK", "diagnostics": []})

    def list_state_machine_versions(self: StepFunctionResponse) -> str:
        return json.dumps({"stateMachineVersions": []})

    for name, method in {
        "validate_state_machine_definition": validate_state_machine_definition,
        "list_state_machine_versions": list_state_machine_versions,
    }.items():
        if not hasattr(StepFunctionResponse, name):
            setattr(StepFunctionResponse, name, method)


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """The local stack's emulator: moto's server with Step Functions execution on."""
    patch_moto()
    saved_port = os.environ.get("MOTO_PORT")
    emulator = Emulator("127.0.0.1", 0)
    emulator.start()  # sets MOTO_PORT, which moto's Step Functions interpreter calls back on
    try:
        yield emulator.endpoint
    finally:
        emulator.stop()
        if saved_port is None:
            os.environ.pop("MOTO_PORT", None)
        else:
            os.environ["MOTO_PORT"] = saved_port


@pytest.fixture(scope="module")
def applied_stacks(
    terraform: Terraform,
    packaged_apps: dict[str, Path],
    moto_endpoint: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, AppliedStack]:
    """Every stage applied to the same emulator (as to one account), each from its own copy of
    the project with its own package and state. The applies run side by side: each spends most of
    its minutes waiting on the provider's polls (an SQS queue's attributes, 25 s)."""
    emulated = {
        stage: emulated_stage(
            terraform, make_workspace(tmp_path_factory.mktemp(f"apply-{stage}"), packaged_apps[stage], stage),
            moto_endpoint, stage,
        )
        for stage in STAGES
    }  # fmt: skip
    apply_without_refusals(*emulated.values())
    stacks = {}
    for stage, (tf, workdir) in emulated.items():
        raw = json.loads(tf.run(workdir, "output", "-json").stdout)
        stacks[stage] = AppliedStack(
            stage, moto_endpoint, {name: value["value"] for name, value in raw.items()}, workdir, tf
        )
    return stacks


@pytest.fixture(params=STAGES)
def applied_stack(request: pytest.FixtureRequest, applied_stacks: dict[str, AppliedStack]) -> AppliedStack:
    return applied_stacks[request.param]


@pytest.fixture
def first_applied(applied_stacks: dict[str, AppliedStack]) -> AppliedStack:
    """The stage applied first. Its second plan and apply (minutes each) run after every other
    stage was applied: they show those applies left it alone, and stand for every stage's."""
    return applied_stacks[STAGES[0]]


def emulated_stage(terraform: Terraform, root: Path, endpoint: str, stage: str = STAGE) -> tuple[Terraform, Path]:
    """The stage root of a workspace, initialised against the emulator for `stage`: terraform
    with its environment. Its variables (the stage, the emulator's) are in a tfvars file, so every
    plan and apply in the workspace sees them."""
    workdir = root / "infra" / "stage"
    tfvars = {"stage": stage, **{name: value == "true" for name, value in EMULATOR_VARIABLES.items()}}
    (workdir / "emulator.auto.tfvars.json").write_text(json.dumps(tfvars))
    override = emulator_override(endpoint, root / "terraform.tfstate")
    (workdir / "zz_emulator_override.tf.json").write_text(json.dumps(override, indent=2))
    tf = Terraform(terraform.binary, emulator_environment(terraform))
    tf.init(workdir)
    return tf, workdir


def emulator_environment(terraform: Terraform) -> dict[str, str]:
    env = {
        **terraform.env,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        # A call to a service missing from ENDPOINT_SERVICES fails at once on a dead local proxy
        # instead of leaving the machine.
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    for name in ("https_proxy", "http_proxy", "no_proxy", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        env.pop(name, None)
    return env


def apply_without_refusals(*stages: tuple[Terraform, Path]) -> None:
    """`terraform apply` of each (terraform, stage root) with the emulator variables, all at once,
    stopped at the first create-time refusal: the provider would retry it for minutes, and AWS
    would refuse it the same way."""
    create_time_checks.clear_violations()
    applies: list[tuple[Path, subprocess.Popen[str]]] = []
    deadline = time.monotonic() + len(stages) * APPLY_TIMEOUT_SECONDS  # side by side, as long as one by one
    try:
        for tf, workdir in stages:
            log = workdir / "apply.log"  # a file, not a pipe: nobody reads a pipe while waiting
            with log.open("w") as output:
                process = subprocess.Popen(  # noqa: S603 - fixed terraform binary, arguments from the tests
                    [tf.binary, *APPLY], cwd=workdir, env=tf.env, stdout=output, stderr=subprocess.STDOUT, text=True
                )
            applies.append((log, process))
        while (
            any(process.poll() is None for _, process in applies)
            and not create_time_checks.violations()
            and time.monotonic() < deadline
        ):
            time.sleep(REFUSAL_POLL_SECONDS)
    finally:
        for _, process in applies:
            if process.poll() is None:
                process.terminate()
        for _, process in applies:
            process.wait(timeout=60)
    refused = create_time_checks.violations()
    if refused:
        raise AssertionError("AWS would refuse these creates:\n" + "\n".join(map(str, refused)))
    failed = [(log, process.returncode) for log, process in applies if process.returncode != 0]
    if failed:
        raise AssertionError(
            "\n".join(f"terraform apply failed in {log.parent} ({code}):\n{log.read_text()}" for log, code in failed)
        )


def test_a_powertools_release_never_published_fails_the_plan_naming_it(
    terraform: Terraform, packaged_app: Path, moto_endpoint: str, tmp_path: Path
) -> None:
    """AWS has no parameter for a release Powertools never published (a pin of a release without
    a layer): the plan stops at reading it, and says which parameter it missed."""
    root = make_workspace(tmp_path, packaged_app)
    extras = root / APP_DIR / EXTRAS_FILE
    module = json.loads(extras.read_text())
    published = module["output"]["powertools_layer_parameter"]["value"]
    never_published = published.rsplit("/", 1)[0] + "/0.0.1"
    module["output"]["powertools_layer_parameter"]["value"] = never_published
    extras.write_text(json.dumps(module))
    tf, workdir = emulated_stage(terraform, root, moto_endpoint)
    result = subprocess.run(  # noqa: S603 - fixed terraform binary, arguments from the tests
        [tf.binary, "plan", "-no-color", "-input=false"],
        cwd=workdir, env=tf.env, capture_output=True, text=True, timeout=APPLY_TIMEOUT_SECONDS,
    )  # fmt: skip
    assert result.returncode != 0, result.stdout
    assert f"reading SSM Parameter ({never_published}): couldn't find resource" in result.stderr


def test_outputs_name_the_stage_resources(applied_stack: AppliedStack) -> None:
    outputs = applied_stack.outputs
    assert outputs["orders_table"] == f"{applied_stack.prefix}-orders"
    assert outputs["failed_orders_table"] == f"{applied_stack.prefix}-failed_orders"
    assert outputs["order_queue_url"].endswith(f"/{applied_stack.prefix}-order_queue")
    assert outputs["order_dlq_url"].endswith(f"/{applied_stack.prefix}-order_dlq")
    assert outputs["state_machine_arn"].endswith(f":stateMachine:{applied_stack.prefix}-order-workflow")
    assert set(outputs["function_names"]) == set(HANDLERS)
    assert set(outputs["event_source_mapping_uuids"]) == {
        "fulfill_order-sqs-event-source",
        "handle_dead_letter-sqs-event-source",
    }


def test_a_second_plan_changes_nothing(first_applied: AppliedStack) -> None:
    """No perpetual diff: what was applied reads back as configured. moto writes JSON attributes
    with spaces where AWS writes them compact (the redrive policy), so a change whose values
    are equal as JSON counts as none."""
    tf = first_applied.terraform
    tf.run(first_applied.workdir, "plan", "-no-color", "-input=false", "-out=second.tfplan")
    plan = json.loads(tf.run(first_applied.workdir, "show", "-json", "second.tfplan").stdout)
    changes = [
        f"{change['address']}: {sorted(_changed_attributes(change['change']))}"
        for change in plan.get("resource_changes", [])
        if change["change"]["actions"] != ["no-op"]
        and (_changed_attributes(change["change"]) or change["change"]["actions"] != ["update"])
    ]
    assert changes == []


def test_a_rerun_of_the_apply_is_refused_nothing(first_applied: AppliedStack) -> None:
    """Defect 1 failed the rerun the same way: a second apply must pass the create-time checks too."""
    apply_without_refusals((first_applied.terraform, first_applied.workdir))
    assert create_time_checks.violations() == []


def _changed_attributes(change: dict[str, Any]) -> set[str]:
    before, after = change.get("before") or {}, change.get("after") or {}
    return {key for key in set(before) | set(after) if not _same(before.get(key), after.get(key))}


def _same(left: Any, right: Any) -> bool:
    if left == right:
        return True
    if isinstance(left, str) and isinstance(right, str):
        try:
            return bool(json.loads(left) == json.loads(right))
        except ValueError:
            return False
    return False


def test_tables_are_on_demand_encrypted_and_recoverable(applied_stack: AppliedStack) -> None:
    dynamodb = applied_stack.client("dynamodb")
    for name in (applied_stack.outputs["orders_table"], applied_stack.outputs["failed_orders_table"]):
        table = dynamodb.describe_table(TableName=name)["Table"]
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert table["KeySchema"] == [{"AttributeName": "order_id", "KeyType": "HASH"}]
        assert table["SSEDescription"]["Status"] == "ENABLED"
        backups = dynamodb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        recovery = "ENABLED" if applied_stack.config["point_in_time_recovery"] else "DISABLED"
        assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == recovery
        assert table["DeletionProtectionEnabled"] is applied_stack.config["deletion_protection"]


def test_log_groups_keep_the_stage_retention(applied_stack: AppliedStack) -> None:
    logs = applied_stack.client("logs")
    groups = logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{applied_stack.prefix}")["logGroups"]
    assert {group["logGroupName"] for group in groups} == {
        f"/aws/lambda/{name}" for name in applied_stack.outputs["function_names"].values()
    }
    assert {group["retentionInDays"] for group in groups} == {applied_stack.config["log_retention_days"]}


def test_alarms_reach_the_stage_subscriptions(applied_stack: AppliedStack) -> None:
    subscriptions = applied_stack.client("sns").list_subscriptions_by_topic(
        TopicArn=applied_stack.outputs["alarm_topic_arn"]
    )["Subscriptions"]
    assert sorted((found["Protocol"], found["Endpoint"]) for found in subscriptions) == sorted(
        ("email", address) for address in applied_stack.config["alarm_emails"]
    )


def test_each_stage_alarms_on_the_metrics_its_own_functions_emit(
    applied_stacks: dict[str, AppliedStack], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The custom metrics' alarms and dashboard widget of each applied stage watch exactly the
    identity (namespace, dimensions) its applied functions count under, and no two stages share
    one: one stage's dead letters never fire another's alarms in the same account."""
    counted = {}
    for stage, stack in applied_stacks.items():
        function = stack.outputs["function_names"]["handle_dead_letter"]
        environment = stack.client("lambda").get_function_configuration(FunctionName=function)["Environment"]
        identity = counted_identity(environment["Variables"], monkeypatch, capsys)
        cloudwatch = stack.client("cloudwatch")
        alarms = cloudwatch.describe_alarms(AlarmNamePrefix=f"{stack.prefix}-")["MetricAlarms"]
        watching = {
            alarm["AlarmName"]: watched_identity(
                alarm["Namespace"], {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
            )
            for alarm in alarms
            if alarm["MetricName"] in {DEAD_LETTERED_METRIC, STUCK_ORDERS_METRIC}
        }
        assert watching == {f"{stack.prefix}-orders-dead-lettered": identity, f"{stack.prefix}-stuck-orders": identity}
        body = json.loads(cloudwatch.get_dashboard(DashboardName=f"{stack.prefix}-orders")["DashboardBody"])
        charted = []
        for widget in body["widgets"]:
            for metric in widget["properties"].get("metrics", []):
                # [namespace, name, dimension, value, ..., {rendering options}]
                namespace, name, *dimensions = [part for part in metric if not isinstance(part, dict)]
                if name == DEAD_LETTERED_METRIC:
                    charted.append(
                        watched_identity(namespace, dict(zip(dimensions[::2], dimensions[1::2], strict=True)))
                    )
        assert charted == [identity], stage
        counted[stage] = identity
    assert len(set(counted.values())) == len(counted), f"stages share a metric identity: {counted}"


def test_the_api_5xx_alarm_watches_the_stages_own_api(applied_stack: AppliedStack) -> None:
    """The stage planned with its API (the emulator run leaves it out): the REST API carries the
    stage's own name, and the 5xx alarm and the dashboard's API widget watch that name and the
    API's stage."""
    tf, workdir = applied_stack.terraform, applied_stack.workdir
    tf.run(
        workdir,
        "plan",
        "-refresh=false",
        "-no-color",
        "-input=false",
        "-var=enable_api_gateway=true",
        "-out=api.tfplan",
    )
    plan = json.loads(tf.run(workdir, "show", "-json", "api.tfplan").stdout)
    planned = {
        resource["address"]: resource["values"]
        for resource in _managed_resources(plan["planned_values"]["root_module"])
    }
    api = planned["module.app.aws_api_gateway_rest_api.rest_api[0]"]
    api_stage = planned["module.api_gateway[0].aws_api_gateway_stage.this"]
    alarm = planned['module.monitoring[0].aws_cloudwatch_metric_alarm.this["api-5xx"]']
    assert api["name"] == applied_stack.prefix, "Chalice's name, the app's, is every stage's"
    assert alarm["dimensions"] == {"ApiName": api["name"], "Stage": api_stage["stage_name"]}
    dashboard = json.loads(planned["module.monitoring[0].aws_cloudwatch_dashboard.this"]["dashboard_body"])
    charted = [
        metric[2:]
        for widget in dashboard["widgets"]
        for metric in widget["properties"].get("metrics", [])
        if metric[0] == "AWS/ApiGateway"
    ]
    assert charted, "the dashboard charts the API"
    assert all(dimensions == ["ApiName", api["name"], "Stage", api_stage["stage_name"]] for dimensions in charted)
    # The stage's throttles and its clients' throttle and quota are its settings; no key is planned.
    settings = applied_stack.config
    plan_settings = planned["module.api_gateway[0].aws_api_gateway_usage_plan.this"]
    assert plan_settings["throttle_settings"] == [
        {"rate_limit": settings["api_client_rate_limit"], "burst_limit": settings["api_client_burst_limit"]}
    ]
    quota = settings["api_client_quota_per_day"]
    quotas = [] if quota is None else [{"limit": quota, "offset": 0, "period": "DAY"}]
    assert plan_settings["quota_settings"] == quotas
    [method_settings] = planned["module.api_gateway[0].aws_api_gateway_method_settings.all"]["settings"]
    assert method_settings["throttling_rate_limit"] == settings["api_throttling_rate_limit"]
    assert method_settings["throttling_burst_limit"] == settings["api_throttling_burst_limit"]
    assert not [address for address in planned if "api_key" in address]


def test_stages_apply_side_by_side_without_sharing_a_resource(applied_stacks: dict[str, AppliedStack]) -> None:
    """Every stage applied to one emulator, as to one account: no resource (by id or ARN) is in
    two stages' states, and every one is tagged with its own stage. The first stage's second plan
    (test_a_second_plan_changes_nothing, after every stage was applied) shows the later applies
    changed nothing of it."""
    states = {
        stage: json.loads(stack.terraform.run(stack.workdir, "show", "-json").stdout)
        for stage, stack in applied_stacks.items()
    }
    assert sharing_violations(states) == []
    assert sum(len(list(_managed_resources(state["values"]["root_module"]))) for state in states.values()) > 100


def sharing_violations(states: dict[str, dict[str, Any]]) -> list[str]:
    """Resources (by id or ARN) in two stages' `terraform show -json` states, and resources
    tagged with another stage (or none) where they take tags."""
    owners: dict[str, str] = {}
    found = []
    for stage, state in states.items():
        for resource in _managed_resources(state["values"]["root_module"]):
            values = resource["values"]
            for identifier in sorted({values.get("arn"), values.get("id")} - {None, ""}):
                if owners.setdefault(identifier, stage) != stage:
                    found.append(f"{resource['address']}: {identifier} in {owners[identifier]} and {stage}")
            if "tags_all" in values and (values["tags_all"] or {}).get("Stage") != stage:
                found.append(f"{stage} {resource['address']}: tagged {values['tags_all']}")
    return found


def test_the_sharing_check_catches_a_shared_or_mistagged_resource() -> None:
    def state(*resources: dict[str, Any]) -> dict[str, Any]:
        return {"values": {"root_module": {"child_modules": [{"resources": list(resources)}]}}}

    queue = {"mode": "managed", "address": "module.sqs.aws_sqs_queue.dlq", "values": {"arn": "arn:q", "id": "q"}}
    tagged = {"mode": "managed", "address": "aws_sns_topic.t", "values": {"arn": "arn:t", "tags_all": {"Stage": "dev"}}}
    assert sharing_violations({"dev": state(queue), "prod": state({**queue, "address": "other"})}) == [
        "other: arn:q in dev and prod",
        "other: q in dev and prod",
    ]
    assert sharing_violations({"prod": state(tagged)}) == ["prod aws_sns_topic.t: tagged {'Stage': 'dev'}"]


def _managed_resources(module: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from (resource for resource in module.get("resources", []) if resource["mode"] == "managed")
    for child in module.get("child_modules", []):
        yield from _managed_resources(child)


def test_queues_redrive_to_the_dlq_with_the_configured_settings(applied_stack: AppliedStack) -> None:
    sqs = applied_stack.client("sqs")
    config = applied_stack.config
    queue = sqs.get_queue_attributes(QueueUrl=applied_stack.outputs["order_queue_url"], AttributeNames=["All"])[
        "Attributes"
    ]
    dlq = sqs.get_queue_attributes(QueueUrl=applied_stack.outputs["order_dlq_url"], AttributeNames=["All"])[
        "Attributes"
    ]
    assert json.loads(queue["RedrivePolicy"]) == {
        "deadLetterTargetArn": applied_stack.outputs["order_dlq_arn"],
        "maxReceiveCount": config["max_receive_count"],
    }
    # The stage's factor times each consumer's timeout, as stage.py (the smoke timeout's source) says.
    settings = applied_stack.settings
    assert int(queue["VisibilityTimeout"]) == settings.queue_visibility_timeout_seconds
    assert int(dlq["VisibilityTimeout"]) == config["visibility_timeout_factor"] * settings.function_timeout_seconds(
        "handle_dead_letter"
    )
    # AWS's advice for an event source mapping, against the deployed functions' timeouts.
    lambda_ = applied_stack.client("lambda")
    names = applied_stack.outputs["function_names"]
    for attributes, handler in ((queue, "fulfill_order"), (dlq, "handle_dead_letter")):
        timeout = lambda_.get_function_configuration(FunctionName=names[handler])["Timeout"]
        assert int(attributes["VisibilityTimeout"]) >= 6 * timeout, handler
    assert int(dlq["MessageRetentionPeriod"]) == config["dlq_retention_seconds"] == 14 * 24 * 3600
    for attributes in (queue, dlq):
        assert attributes["SqsManagedSseEnabled"] == "true"


def test_state_machine_runs_the_project_workflow(applied_stack: AppliedStack) -> None:
    machine = applied_stack.client("stepfunctions").describe_state_machine(
        stateMachineArn=applied_stack.outputs["state_machine_arn"]
    )
    assert machine["type"] == "EXPRESS"
    definition = json.loads(machine["definition"])
    functions = {name: arn for name, arn in applied_stack.outputs["function_names"].items()}
    states = definition["States"]
    assert states["ValidateOrder"]["Parameters"]["FunctionName"].endswith(f":function:{functions['validate_order']}")
    assert states["StoreOrder"]["Parameters"]["FunctionName"].endswith(f":function:{functions['store_order']}")
    assert states["RecordWorkflowFailure"]["Parameters"]["FunctionName"].endswith(
        f":function:{functions['record_workflow_failure']}"
    )
    assert states["EnqueueOrder"]["Parameters"]["QueueUrl"] == applied_stack.outputs["order_queue_url"]
    assert states["StoreOrder"]["Parameters"]["Payload"]["execution_id.$"] == "$$.Execution.Id"
    assert "${" not in machine["definition"]
    assert machine["roleArn"].endswith(f":role/{applied_stack.prefix}-order-workflow-role")


def test_functions_run_with_their_own_roles_and_settings(applied_stack: AppliedStack) -> None:
    lambda_ = applied_stack.client("lambda")
    for handler, name in applied_stack.outputs["function_names"].items():
        function = lambda_.get_function_configuration(FunctionName=name)
        assert function["Role"] == applied_stack.outputs["role_arns"][handler]
        assert function["Role"].endswith(f":role/{applied_stack.prefix}-{handler}")
        assert function["Runtime"].startswith("python3.")
        assert function["Timeout"] == 30
        variables = function["Environment"]["Variables"]
        assert variables["ORDERS_TABLE"] == applied_stack.outputs["orders_table"]
        assert variables["FAILED_ORDERS_TABLE"] == applied_stack.outputs["failed_orders_table"]
        if handler in STARTS_THE_WORKFLOW:
            assert variables["STATE_MACHINE_ARN"] == applied_stack.outputs["state_machine_arn"]
        else:
            assert "STATE_MACHINE_ARN" not in variables
    reconciler = lambda_.get_function_configuration(FunctionName=f"{applied_stack.prefix}-reconcile_orders")[
        "Environment"
    ]
    assert reconciler["Variables"]["ORDER_QUEUE_URL"] == applied_stack.outputs["order_queue_url"]
    threshold = applied_stack.settings.stuck_order_threshold_seconds
    assert reconciler["Variables"]["STUCK_ORDER_THRESHOLD_SECONDS"] == str(threshold)


def test_queues_feed_their_handlers_with_partial_batch_responses(applied_stack: AppliedStack) -> None:
    lambda_ = applied_stack.client("lambda")
    outputs = applied_stack.outputs
    expected = {
        outputs["order_queue_arn"]: outputs["function_names"]["fulfill_order"],
        outputs["order_dlq_arn"]: outputs["function_names"]["handle_dead_letter"],
    }
    for source_arn, function_name in expected.items():
        mappings = lambda_.list_event_source_mappings(EventSourceArn=source_arn)["EventSourceMappings"]
        assert len(mappings) == 1
        mapping = mappings[0]
        assert mapping["FunctionArn"].endswith(f":function:{function_name}")
        assert mapping["BatchSize"] == 10
        assert mapping.get("FunctionResponseTypes") == ["ReportBatchItemFailures"]
        assert mapping["ScalingConfig"] == {
            "MaximumConcurrency": applied_stack.config["event_source_maximum_concurrency"]
        }


def test_roles_allow_only_their_own_calls(applied_stack: AppliedStack) -> None:
    """Each role has one inline policy: no managed policies, no wildcard actions, and "*" only
    for X-Ray, which takes no resource-level permissions (tests/infra/test_iam.py checks the
    exact actions against the code)."""
    iam = applied_stack.client("iam")
    for handler in HANDLERS:
        role = f"{applied_stack.prefix}-{handler}"
        assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
        assert iam.list_role_policies(RoleName=role)["PolicyNames"] == [role]
        document = iam.get_role_policy(RoleName=role, PolicyName=role)["PolicyDocument"]
        if isinstance(document, str):
            document = json.loads(document)
        for statement in document["Statement"]:
            actions = _as_list(statement["Action"])
            assert all(action != "*" and not action.endswith(":*") for action in actions), statement
            if "*" in _as_list(statement["Resource"]):
                assert all(action.startswith("xray:") for action in actions), statement
        started = [
            statement for statement in document["Statement"] if "states:StartExecution" in _as_list(statement["Action"])
        ]
        if handler in STARTS_THE_WORKFLOW:
            assert [_as_list(s["Resource"]) for s in started] == [[applied_stack.outputs["state_machine_arn"]]]
        else:
            assert started == []


def test_api_gateway_is_left_out_of_the_emulator_run(applied_stack: AppliedStack) -> None:
    assert applied_stack.outputs.get("api_url") is None
    assert applied_stack.outputs.get("api_usage_plan_name") is None
    assert applied_stack.client("apigateway").get_rest_apis()["items"] == []
    assert applied_stack.client("apigateway").get_usage_plans()["items"] == []


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def test_an_order_posted_through_the_applied_stack_is_fulfilled(
    applied_stack: AppliedStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The applied functions' own configuration runs the app: the API handler (called as API
    Gateway calls it) starts the applied state machine, whose tasks invoke the applied function
    names, which send to the applied queue, which the event source mappings deliver."""
    import app as app_module

    outputs = applied_stack.outputs
    names: dict[str, str] = outputs["function_names"]
    lambda_ = applied_stack.client("lambda")
    # moto delivers mapped queues to functions itself, synchronously on send and without partial
    # batch responses; the local stack's pollers do it as Lambda does instead.
    mappings = [lambda_.get_event_source_mapping(UUID=uuid) for uuid in outputs["event_source_mapping_uuids"].values()]
    for mapping in mappings:
        lambda_.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    environment = lambda_.get_function_configuration(FunctionName=names["api_handler"])["Environment"]["Variables"]
    for name, value in {**environment, "FULFILLMENT_SUCCESS_RATE": "1.0"}.items():
        monkeypatch.setenv(name, value)
    for name, value in {"AWS_ENDPOINT_URL": applied_stack.endpoint, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    runtime.reset()
    handlers = app_module.app.handler_map
    # What the workflow and the queues invoke (the API is called directly; the schedule never fires here).
    invoked = [handler for handler in HANDLERS if handler not in {"api_handler", "reconcile_orders"}]
    by_function = {names[handler]: handlers[handler] for handler in invoked}
    lambda_bridge.install(by_function)
    queue_urls = {
        outputs["order_queue_arn"]: outputs["order_queue_url"],
        outputs["order_dlq_arn"]: outputs["order_dlq_url"],
    }
    stop = threading.Event()
    sqs = applied_stack.client("sqs")
    pollers = [
        QueuePoller(
            sqs,
            EventSource(
                function_name=mapping["FunctionArn"].split(":")[-1],
                handler=by_function[mapping["FunctionArn"].split(":")[-1]],
                queue_url=queue_urls[mapping["EventSourceArn"]],
                queue_arn=mapping["EventSourceArn"],
                batch_size=mapping["BatchSize"],
                batching_window_seconds=mapping.get("MaximumBatchingWindowInSeconds", 0),
                region=REGION,
            ),
            stop,
        )
        for mapping in mappings
    ]
    for poller in pollers:
        poller.start()
    try:
        response = app_module.app(
            api_gateway_event("POST", "/order", _ORDER), lambda_bridge.LambdaContext(names["api_handler"])
        )
        assert response["statusCode"] == 202, response
        table = applied_stack.client("dynamodb")
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline and status not in {"FULFILLED", "REJECTED", "DEAD_LETTERED"}:
            item = table.get_item(
                TableName=outputs["orders_table"], Key={"order_id": {"S": "applied-1"}}, ConsistentRead=True
            )
            status = item.get("Item", {}).get("status", {}).get("S")
            time.sleep(0.2)
        assert status == "FULFILLED"
    finally:
        stop.set()
        for poller in pollers:
            poller.join(timeout=10)
        lambda_bridge.uninstall()
        runtime.reset()


_ORDER = {"order_id": "applied-1", "customer_id": "c-1", "items": [{"sku": "A", "quantity": 1, "unit_price": "2.50"}]}


def api_gateway_event(method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """A REST API proxy event, as API Gateway passes a request to the Chalice API handler."""
    headers = {"content-type": "application/json", "host": "example.execute-api.us-east-1.amazonaws.com"}
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {key: [value] for key, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"resourcePath": path, "httpMethod": method, "stage": "api", "path": f"/api{path}"},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }
