"""Each pipeline role does its stage's work, under IAM enforcement.

infra/bootstrap (the state bucket) and infra/cicd (the build roles, their policies and the
stage's permissions boundary) are applied to moto's server as an administrator. Then, with
moto's IAM enforcement on and the credentials sts:AssumeRole gives for each build's role:

for every stage (dev and prod), with that stage's roles, the stages side by side (each step
started for every stage by its first test), each stage's refusals told apart by its sessions' keys:

- the Plan role runs the stage's `terraform plan -out` (what `make plan` runs) against the
  S3 state in the bootstrap's bucket, taking its lock;
- the Deploy role applies exactly that saved plan (what `make deploy-plan` runs);
- a second plan by the Plan role shows no changes;
- the Smoke role makes its own API key in its stage's usage plan, as `make smoke-deployed` does;
- the Deploy role destroys the stage (prod's tables refuse it until deletion protection is
  turned off, as docs/CONFIGURATION.md tells an operator to).

moto evaluates a role's actions; it compares resources only where it knows the ARN a call
acts on (S3, SQS, IAM roles) and ignores conditions (patch_moto_resource_matching). Resource
and condition scoping are checked on the rendered policies instead (test_policy_analysis.py
and tests/cicd). See docs/PIPELINE.md, "What the pipeline-role check proves".
"""

from __future__ import annotations

import copy
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.exceptions import ClientError

from dofs_config.stage import (
    PLAN_BUILDSPEC_PATH,
    POWERTOOLS_PACKAGE,
    POWERTOOLS_PUBLISHER_ACCOUNT,
    load_stage,
    pinned_version,
    plan_build_runtime,
    powertools_layer_name,
    powertools_layer_parameter,
)
from dofs_local.emulated import moto_patches
from scripts import infra, saved_plan
from tests.cicd.fake_api import FakeApi, serve
from tests.infra import policy_analysis
from tests.infra.conftest import PROJECT_DIR, STAGE, STAGES, Terraform, make_workspace
from tests.infra.test_apply import (
    EMULATOR_VARIABLES,
    ENDPOINT_SERVICES,
    HANDLERS,
    REGION,
    _changed_attributes,
    emulator_override,
    moto_endpoint,  # noqa: F401 - the module's emulator (a fixture)
)

pytestmark = pytest.mark.terraform

MAKE = shutil.which("make")
ACCOUNT_ID = "123456789012"  # moto's default account
APP = "dofs"
STATE_BUCKET = f"dofs-tfstate-{ACCOUNT_ID}-{REGION}"
CICD_ENDPOINT_SERVICES = (*ENDPOINT_SERVICES, "codebuild", "codepipeline", "events", "codestarconnections")
# infra/cicd with every stage, as it promotes them: each stage's roles do that stage's work.
CICD_VARIABLES = {"source_provider": "CodeCommit", "codecommit_repository_name": APP, "stages": json.dumps(STAGES)}
# infra/cicd's IAM, and what it refers to: moto 5.2's CodeBuild refuses a CODEPIPELINE source
# without a location (AWS does not), so the projects and the pipeline are left out; the policies
# naming them use their ARNs built from their names (infra/cicd/main.tf).
CICD_IAM = (
    "aws_iam_role_policy.codebuild",
    "aws_iam_role_policy_attachment.stage",
    "aws_iam_policy.stage_boundary",
    "aws_iam_role_policy.codepipeline",
    "aws_iam_role_policy.events",
    "aws_sns_topic_policy.notifications",
)
CICD_PREFIX = f"{APP}-cicd-{STAGE}"  # the stage's builds, roles and boundary; the test build is {app}-cicd-test
IAM_ARN = f"arn:aws:iam::{ACCOUNT_ID}"
OTHER_STAGE = next(stage for stage in STAGES if stage != STAGE)  # prod: what a dev role must not reach
BUILDS = ("test", "plan", "deploy", "smoke")
RUN_TIMEOUT_SECONDS = 600  # one terraform command as a build's role


def build_role(build: str, stage: str = STAGE) -> str:
    """A build's CodeBuild role: {app}-cicd-test, or the stage's {app}-cicd-{stage}-{build}."""
    return f"{APP}-cicd-test" if build == "test" else f"{APP}-cicd-{stage}-{build}"


def stage_variables(stage: str) -> list[str]:
    return [
        arg for name, value in {"stage": stage, **EMULATOR_VARIABLES}.items() for arg in ("-var", f"{name}={value}")
    ]


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str

    def env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
        }


@dataclass
class Pipeline:
    """One stage's builds: its workspace and its roles' sessions."""

    stage: str
    endpoint: str
    root: Path  # the stage's temporary workspace
    stage_dir: Path
    base_env: dict[str, str]  # terraform's environment without credentials
    terraform: Terraform
    roles: dict[str, Credentials]  # build (test, plan, deploy, smoke) -> its role's session
    admin: Terraform  # terraform with the administrator's credentials, for bootstrap and cicd (in dev's root)

    @property
    def boundary_arn(self) -> str:
        return f"{IAM_ARN}:policy/{APP}-cicd-{self.stage}-stage-boundary"

    @property
    def variables(self) -> list[str]:
        return stage_variables(self.stage)

    @property
    def config_path(self) -> Path:
        """The workspace's .chalice/config.json, which the stage's Terraform reads."""
        return self.root / ".chalice" / "config.json"

    def as_role(self, build: str) -> Terraform:
        """terraform as the build's role, with the environment its CodeBuild project sets."""
        env = {**self.base_env, **self.roles[build].env(), "TF_VAR_permissions_boundary_arn": self.boundary_arn}
        return Terraform(self.terraform.binary, env)

    def admin_client(self, service: str) -> Any:
        return admin_client(self.endpoint, service)

    def role_client(self, build: str, service: str) -> Any:
        credentials = self.roles[build]
        return boto3.client(
            service, endpoint_url=self.endpoint, region_name=REGION,
            aws_access_key_id=credentials.access_key_id, aws_secret_access_key=credentials.secret_access_key,
            aws_session_token=credentials.session_token,
        )  # fmt: skip


def admin_client(endpoint: str, service: str) -> Any:
    """A client with the emulator's administrator credentials (moto's fixed test keys)."""
    return boto3.client(
        service, endpoint_url=endpoint, region_name=REGION,
        aws_access_key_id="testing", aws_secret_access_key="testing",  # pragma: allowlist secret
    )  # fmt: skip


def set_enforcement(on: bool) -> None:
    """moto's switch: after INITIAL_NO_AUTH_ACTION_COUNT unauthenticated calls, every call is
    authenticated and checked against the caller's IAM. The server runs in this process, so
    this sets what its POST /moto-api/reset-auth sets."""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0 if on else float("inf")
    ActionAuthenticatorMixin.request_count = 0


@dataclass(frozen=True)
class Refusal:
    """A call moto refused: the access key that signed it (which role session, so which stage
    and build) and "role action" or "role action: why"."""

    access_key_id: str
    call: str


DENIED: list[Refusal] = []  # every refusal, in order; the stages' runs append side by side


def refused(since: int = 0, credentials: Credentials | None = None) -> list[str]:
    """The calls refused from DENIED[since] on: those signed with the credentials, or every one."""
    return [
        refusal.call
        for refusal in DENIED[since:]
        if credentials is None or refusal.access_key_id == credentials.access_key_id
    ]


# moto names an action by the service's signing name; IAM by its own prefix.
IAM_PREFIX_OF_SIGNING_NAME = {"monitoring": "cloudwatch"}


def patch_moto_iam(monkeypatch: pytest.MonkeyPatch) -> None:
    """Four fixes to moto's IAM enforcement, and a record of what it refuses.

    - moto passes "*" as the resource of a call whose ARN it does not work out (most services),
      and "*" matches no scoped Resource: an unknown resource is taken as matching, so moto
      checks the actions, and the resources where it knows them (S3, SQS, IAM roles);
    - CloudWatch's calls are checked as cloudwatch:..., not by the signing name monitoring:...,
      and API Gateway's as apigateway:<HTTP method>, as IAM names them;
    - the SigV4 signature is not checked: moto's recomputation disagrees with the Go SDK's for
      some Lambda paths (GetFunction of a name with "_"), and signatures are not what this
      checks; the access key still decides which role's policies apply;
    - some protocols get a bare 403 back: each refusal is noted in DENIED for the messages.
    """
    from moto.iam.access_control import IAMPolicyStatement, IAMRequest, IAMRequestBase, S3IAMRequest

    match = IAMPolicyStatement._match

    def match_unknown_resource(pattern: str, string: str) -> re.Match[str] | None:
        return re.match(".*", string) if string == "*" else match(pattern, string)

    check = IAMRequestBase.check_action_permitted

    def check_with_iam_prefix(self: IAMRequestBase, resource: str) -> None:
        prefix, _, name = self._action.partition(":")
        if prefix == "apigateway":  # IAM names API Gateway's actions by HTTP method
            name = botocore.session.get_session().get_service_model("apigateway").operation_model(name).http["method"]
        self._action = f"{IAM_PREFIX_OF_SIGNING_NAME.get(prefix, prefix)}:{name}"
        check(self, resource)

    def recording(cls: Any, method: str, why: str) -> None:
        original = getattr(cls, method)

        def record(self: IAMRequestBase, *args: Any) -> None:
            role = getattr(getattr(self, "_access_key", None), "arn", "?/unknown/").split("/")[-2]
            signed_by = re.search(r"Credential=([^/]*)/", self._headers.get("Authorization", ""))
            DENIED.append(Refusal(signed_by.group(1) if signed_by else "?", f"{role} {self._action}{why}"))
            original(self, *args)

        monkeypatch.setattr(cls, method, record)

    monkeypatch.setattr(IAMPolicyStatement, "_match", staticmethod(match_unknown_resource))
    monkeypatch.setattr(IAMRequestBase, "check_action_permitted", check_with_iam_prefix)
    monkeypatch.setattr(IAMRequestBase, "check_signature", lambda self: None)
    for cls in (IAMRequest, S3IAMRequest):
        recording(cls, "_raise_access_denied", "")
        recording(cls, "_raise_invalid_access_key", ": access key")


def provider_override(endpoint: str, services: tuple[str, ...]) -> dict[str, Any]:
    """The aws provider pointed at the emulator, credentials from the environment."""
    provider = emulator_override(endpoint, Path("unused"))["provider"]["aws"]
    provider = {key: value for key, value in provider.items() if key not in {"access_key", "secret_key"}}
    provider["endpoints"] = [dict.fromkeys(services, endpoint)]
    return {"provider": {"aws": provider}}


def s3_backend(endpoint: str) -> dict[str, Any]:
    """The stage's own S3 backend, on the emulator's state bucket."""
    return {
        "s3": {
            "endpoints": {"s3": endpoint, "sts": endpoint},
            "use_path_style": True,
            "skip_credentials_validation": True,
            "skip_requesting_account_id": True,
            "skip_metadata_api_check": True,
            "skip_region_validation": True,
        }
    }


def apply_as_admin(
    terraform: Terraform, workdir: Path, endpoint: str, state: Path, variables: dict[str, str], *targets: str
) -> None:
    override = provider_override(endpoint, CICD_ENDPOINT_SERVICES)
    override["provider"]["aws"].update(access_key="testing", secret_key="testing")  # pragma: allowlist secret
    override["terraform"] = {"backend": {"local": {"path": str(state)}}}
    (workdir / "zz_emulator_override.tf.json").write_text(json.dumps(override, indent=2))
    terraform.init(workdir)
    arguments = [arg for name, value in variables.items() for arg in ("-var", f"{name}={value}")]
    targeted = [f"-target={target}" for target in targets]
    terraform.run(workdir, "apply", "-auto-approve", "-no-color", "-input=false", *arguments, *targeted, timeout=480)


@pytest.fixture(scope="module")
def pipelines(
    terraform: Terraform,
    packaged_apps: dict[str, Path],
    moto_endpoint: str,  # noqa: F811 - the fixture imported above
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Pipeline]]:
    """Every stage's builds on one emulator, infra/bootstrap and infra/cicd applied once (from
    dev's workspace); each stage initialised by its Plan role, IAM enforcement on."""
    root = make_workspace(tmp_path_factory.mktemp("pipeline"), packaged_apps[STAGE])
    base_env = {
        **terraform.env,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "HTTPS_PROXY": "http://127.0.0.1:9",  # nothing leaves the machine
        "HTTP_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    for name in ("https_proxy", "http_proxy", "no_proxy", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        base_env.pop(name, None)
    admin = Terraform(
        terraform.binary,
        {**base_env, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},  # pragma: allowlist secret
    )
    # The two roots read nothing of each other: applied side by side (most of each is waiting).
    with ThreadPoolExecutor() as pool:
        applied = [
            pool.submit(apply_as_admin, admin, root / "infra" / "bootstrap", moto_endpoint, root / "bootstrap.tfstate",
                        {"region": REGION, "manage_api_gateway_account": "false"}),
            pool.submit(apply_as_admin, admin, root / "infra" / "cicd", moto_endpoint, root / "cicd.tfstate",
                        CICD_VARIABLES, *CICD_IAM),
        ]  # fmt: skip
    for applying in applied:
        applying.result()
    # The emulator speaks plain HTTP, which the state bucket's TLS-only policy refuses, as AWS
    # would (moto evaluates bucket policies).
    admin_client(moto_endpoint, "s3").delete_bucket_policy(Bucket=STATE_BUCKET)
    sts = admin_client(moto_endpoint, "sts")
    override = {
        **provider_override(moto_endpoint, ENDPOINT_SERVICES),
        "terraform": {"backend": s3_backend(moto_endpoint)},
    }
    found: dict[str, Pipeline] = {}
    for stage in STAGES:
        stage_root = root if stage == STAGE else make_workspace(
            tmp_path_factory.mktemp(f"pipeline-{stage}"), packaged_apps[stage], stage
        )  # fmt: skip
        roles = {}
        for build in BUILDS:
            session = sts.assume_role(
                RoleArn=f"{IAM_ARN}:role/{build_role(build, stage)}", RoleSessionName=f"codebuild-{build}"
            )["Credentials"]
            roles[build] = Credentials(session["AccessKeyId"], session["SecretAccessKey"], session["SessionToken"])
        stage_dir = stage_root / "infra" / "stage"
        (stage_dir / "zz_emulator_override.tf.json").write_text(json.dumps(override, indent=2))
        found[stage] = Pipeline(stage, moto_endpoint, stage_root, stage_dir, base_env, terraform, roles, admin)

    monkeypatch = pytest.MonkeyPatch()
    patch_moto_iam(monkeypatch)
    set_enforcement(on=True)
    try:
        # What `make plan STAGE=<stage>` runs (scripts/infra.py), with the emulator's variables; every
        # stage at once.
        with ThreadPoolExecutor() as pool:
            initialised = [
                pool.submit(staged.as_role("plan").run, staged.stage_dir, "init", "-input=false", "-no-color",
                            "-reconfigure", *infra.backend_arguments(stage, STATE_BUCKET))
                for stage, staged in found.items()
            ]  # fmt: skip
        for initialising in initialised:
            initialising.result()
        yield found
    finally:
        set_enforcement(on=False)
        monkeypatch.undo()


@pytest.fixture(scope="module")
def pipeline(pipelines: dict[str, Pipeline]) -> Pipeline:
    """dev's builds: the stage the single-stage checks use."""
    return pipelines[STAGE]


@pytest.fixture(params=STAGES)
def staged(request: pytest.FixtureRequest, pipelines: dict[str, Pipeline]) -> Pipeline:
    """Each stage's builds in turn: a test taking it runs for dev, then for prod."""
    return pipelines[request.param]


Step = Callable[[Pipeline], None]


@dataclass
class SideBySide:
    """A stage's step (plan, apply, destroy) run for every stage at once: most of a terraform run
    is the provider polling the emulator. The step's first test starts it for every stage and
    waits for all of them, so the next step begins on finished stages; each stage's test then
    raises its own stage's failure."""

    pipelines: dict[str, Pipeline]
    pool: ThreadPoolExecutor
    started: dict[Step, dict[str, Future[None]]] = field(default_factory=dict)

    def outcome(self, step: Step, stage: str) -> None:
        if step not in self.started:
            self.started[step] = {name: self.pool.submit(step, pipeline) for name, pipeline in self.pipelines.items()}
            wait(self.started[step].values())
        self.started[step][stage].result()


@pytest.fixture(scope="module")
def side_by_side(pipelines: dict[str, Pipeline]) -> Iterator[SideBySide]:
    with ThreadPoolExecutor(max_workers=len(pipelines)) as pool:
        yield SideBySide(pipelines, pool)


def plan(pipeline: Pipeline, build: str) -> Any:
    return pipeline.as_role(build).run(
        pipeline.stage_dir, "plan", "-input=false", "-no-color", "-out=tfplan", *pipeline.variables, timeout=480
    )


@dataclass(frozen=True)
class RoleRun:
    stdout: str
    denied: list[str]  # the calls moto refused the role's session during the run


def run_as(pipeline: Pipeline, build: str, *args: str) -> RoleRun:
    """terraform as the build's role; a failure names every call moto refused that role's session
    (another stage's run, side by side, signs with its own)."""
    since = len(DENIED)
    try:
        result = pipeline.as_role(build).run(pipeline.stage_dir, *args, timeout=RUN_TIMEOUT_SECONDS)
    except AssertionError as error:
        raise AssertionError(f"refused: {sorted(set(refused(since, pipeline.roles[build])))}\n{error}") from None
    return RoleRun(result.stdout, refused(since, pipeline.roles[build]))


def plan_the_stage(pipeline: Pipeline) -> None:
    """What the Plan build runs: `make plan`, then `make save-plan`, which moves the saved plan to
    the state bucket and leaves its reference (scripts/saved_plan.py)."""
    assert (
        run_as(pipeline, "plan", "plan", "-input=false", "-no-color", "-out=tfplan", *pipeline.variables).denied == []
    )
    since = len(DENIED)
    ref = saved_plan.put(
        pipeline.role_client("plan", "s3"), STATE_BUCKET, pipeline.stage, pipeline.stage_dir / "tfplan"
    )
    assert refused(since, pipeline.roles["plan"]) == []
    ref.save(pipeline.root / "build" / "plan-ref.json")
    (pipeline.stage_dir / "tfplan").unlink()


# The fixture's setup (bootstrap, cicd, every stage's package and init) runs in dev's first test.
@pytest.mark.timeout(len(STAGES) * RUN_TIMEOUT_SECONDS)
def test_1_the_plan_role_plans_the_stage_and_saves_the_plan(staged: Pipeline, side_by_side: SideBySide) -> None:
    side_by_side.outcome(plan_the_stage, staged.stage)


def apply_the_saved_plan(pipeline: Pipeline) -> None:
    """What the Deploy build runs: `make fetch-plan` (the plan its reference names, as saved),
    then `make deploy-plan`."""
    ref = saved_plan.PlanRef.load(pipeline.root / "build" / "plan-ref.json")
    saved_plan.get(
        pipeline.role_client("deploy", "s3"), ref, STATE_BUCKET, pipeline.stage, pipeline.stage_dir / "tfplan"
    )
    assert run_as(pipeline, "deploy", "apply", "-input=false", "-no-color", "tfplan").denied == []
    resources = json.loads(run_as(pipeline, "deploy", "show", "-json").stdout)["values"]["root_module"]
    assert resources  # the state, in the bucket, now holds the stage


@pytest.mark.timeout(2 * RUN_TIMEOUT_SECONDS)  # apply, show
def test_2_the_deploy_role_applies_exactly_the_saved_plan(staged: Pipeline, side_by_side: SideBySide) -> None:
    side_by_side.outcome(apply_the_saved_plan, staged.stage)


def test_2_only_the_stage_s_plan_and_deploy_roles_read_the_saved_plan(
    staged: Pipeline, pipelines: dict[str, Pipeline]
) -> None:
    """The saved plan embeds the stage's state: the stage's Plan and Deploy roles read it; the Test
    and Smoke roles, and the other stage's Plan and Deploy roles, are refused it."""
    ref = saved_plan.PlanRef.load(staged.root / "build" / "plan-ref.json")
    other = next(pipeline for stage, pipeline in pipelines.items() if stage != staged.stage)
    for build in ("plan", "deploy"):
        assert staged.role_client(build, "s3").get_object(Bucket=STATE_BUCKET, Key=ref.key)["Body"].read()
    since = len(DENIED)
    for build, pipeline in [("test", staged), ("smoke", staged), ("plan", other), ("deploy", other)]:
        with pytest.raises(ClientError, match="AccessDenied"):
            pipeline.role_client(build, "s3").get_object(Bucket=STATE_BUCKET, Key=ref.key)
    assert len(refused(since)) == 4


def test_3_the_stage_roles_carry_the_boundary(staged: Pipeline) -> None:
    iam = staged.role_client("plan", "iam")
    prefix = f"{APP}-{staged.stage}"
    names = [f"{prefix}-{handler}" for handler in HANDLERS] + [f"{prefix}-order-workflow-role"]
    for name in names:
        role = iam.get_role(RoleName=name)["Role"]
        assert role.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn") == staged.boundary_arn, name


def beyond_the_boundary(boundary: list[dict[str, Any]], statements: list[dict[str, Any]]) -> list[str]:
    """What a role's policies allow that its boundary does not: AWS refuses it at run time (a
    boundary allows only what both allow), and neither moto nor a plan shows it."""
    return [
        f"{action} on {resource}"
        for statement in statements
        if statement["Effect"] == "Allow"
        for action in _actions(statement)
        for resource in _resources(statement)
        if not _grants(boundary, action, resource)
    ]


def test_3_the_boundary_allows_everything_the_stage_roles_may_do(staged: Pipeline) -> None:
    prefix = f"{APP}-{staged.stage}"
    names = [f"{prefix}-{handler}" for handler in HANDLERS] + [f"{prefix}-order-workflow-role"]
    set_enforcement(on=False)  # read as the administrator: no build role may read the boundary
    try:
        iam = staged.admin_client("iam")
        version = iam.get_policy(PolicyArn=staged.boundary_arn)["Policy"]["DefaultVersionId"]
        document = iam.get_policy_version(PolicyArn=staged.boundary_arn, VersionId=version)["PolicyVersion"]
        boundary = document_statements(document["Document"])
        found = {name: beyond_the_boundary(boundary, role_statements(iam, name)) for name in names}
    finally:
        set_enforcement(on=True)
    assert {name: calls for name, calls in found.items() if calls} == {}


def test_the_boundary_check_can_fail() -> None:
    boundary = [{"Effect": "Allow", "Action": ["dynamodb:GetItem"], "Resource": "arn:aws:dynamodb:r:1:table/p-*"}]
    index, other_table = "arn:aws:dynamodb:r:1:table/p-orders/index/open-orders", "arn:aws:dynamodb:r:1:table/q-x"
    role = [{"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:Query"], "Resource": [index, other_table]}]
    assert beyond_the_boundary(boundary, role) == [
        "dynamodb:GetItem on arn:aws:dynamodb:r:1:table/q-x",
        "dynamodb:Query on arn:aws:dynamodb:r:1:table/p-orders/index/open-orders",
        "dynamodb:Query on arn:aws:dynamodb:r:1:table/q-x",
    ]


def planned_changes(pipeline: Pipeline, saved_plan: str) -> list[str]:
    """The addresses a saved plan changes (updates that change no attribute left out)."""
    shown = json.loads(run_as(pipeline, "plan", "show", "-json", saved_plan).stdout)
    return [
        change["address"]
        for change in shown.get("resource_changes", [])
        if change["change"]["actions"] != ["no-op"]
        and (_changed_attributes(change["change"]) or change["change"]["actions"] != ["update"])
    ]


def plan_again(pipeline: Pipeline) -> None:
    run_as(pipeline, "plan", "plan", "-input=false", "-no-color", "-out=second.tfplan", *pipeline.variables)
    assert planned_changes(pipeline, "second.tfplan") == []


@pytest.mark.timeout(2 * RUN_TIMEOUT_SECONDS)  # plan, show
def test_4_a_second_plan_by_the_plan_role_changes_nothing(staged: Pipeline, side_by_side: SideBySide) -> None:
    side_by_side.outcome(plan_again, staged.stage)


def test_5_a_plan_role_without_the_state_lock_actions_is_denied(pipeline: Pipeline) -> None:
    """The check can fail: the Plan role without its StateLock statement cannot take the lock."""
    role = f"{CICD_PREFIX}-plan"
    set_enforcement(on=False)
    iam = pipeline.admin_client("iam")
    policy = iam.get_role_policy(RoleName=role, PolicyName="build")["PolicyDocument"]
    policy = json.loads(policy) if isinstance(policy, str) else policy
    without_lock = {**policy, "Statement": [s for s in policy["Statement"] if s.get("Sid") != "StateLock"]}
    assert without_lock != policy
    iam.put_role_policy(RoleName=role, PolicyName="build", PolicyDocument=json.dumps(without_lock))
    set_enforcement(on=True)
    try:
        with pytest.raises(AssertionError, match=r"(?s)acquiring the state lock.*PutObject.*StatusCode: 403"):
            plan(pipeline, "plan")
    finally:
        set_enforcement(on=False)
        iam.put_role_policy(RoleName=role, PolicyName="build", PolicyDocument=json.dumps(policy))
        set_enforcement(on=True)


@pytest.fixture(scope="module")
def rendered(pipeline: Pipeline) -> dict[str, dict[str, Any]]:
    """ "root:address" -> document, of every aws_iam_policy_document of the three root modules,
    the stage as the Deploy role applied it (test_2)."""
    shown = {
        "stage": json.loads(run_as(pipeline, "plan", "show", "-json").stdout),
        "cicd": json.loads(pipeline.admin.run(pipeline.root / "infra" / "cicd", "show", "-json").stdout),
        "bootstrap": json.loads(pipeline.admin.run(pipeline.root / "infra" / "bootstrap", "show", "-json").stdout),
    }
    return {
        f"{root}:{address}": document
        for root, show in shown.items()
        for address, document in policy_analysis.policy_documents(show).items()
    }


def test_6_every_policy_the_project_writes_is_analysed(rendered: dict[str, dict[str, Any]]) -> None:
    """Function roles, the workflow's role, key and topic policies of the stage (as the Deploy
    role applied them), the pipeline's, its EventBridge rule's and build roles' policies, the
    stage policies, the notification topic's, the bootstrap's: each rendered by Terraform, no
    finding of parliament or cloudsplaining left unexplained."""
    expected_documents = (
        "stage:module.iam.data.aws_iam_policy_document.function",
        "stage:module.stepfunctions.data.aws_iam_policy_document.this",
        'cicd:data.aws_iam_policy_document.builds["stage-',
        f'cicd:data.aws_iam_policy_document.builds["{STAGE}-plan"]',
        f'cicd:data.aws_iam_policy_document.builds["{OTHER_STAGE}-deploy"]',
        "cicd:data.aws_iam_policy_document.codepipeline",
        "cicd:data.aws_iam_policy_document.events",
        "cicd:data.aws_iam_policy_document.notifications",
        "bootstrap:data.aws_iam_policy_document.tls_only",
    )
    for expected in expected_documents:
        assert any(address.startswith(expected) for address in rendered), expected
    unexplained = policy_analysis.unexplained(rendered)
    assert unexplained == [], "\n".join(f"({address!r}, {sid!r}, {finding!r})" for address, sid, finding in unexplained)


PIPELINE_POLICY = "cicd:data.aws_iam_policy_document.codepipeline"
PROJECT_ARN = f"arn:aws:codebuild:{REGION}:{ACCOUNT_ID}:project/{build_role('test')}"


@pytest.mark.parametrize(
    ("planted", "finding"),
    [
        # A project ARN built without "project/": the built ARNs' format is what parliament checks.
        ({"Sid": "OwnBuilds", "Effect": "Allow", "Action": ["codebuild:StartBuild"],
          "Resource": [PROJECT_ARN.replace("project/", "")]}, "parliament RESOURCE_MISMATCH"),
        ({"Sid": "AnyBuild", "Effect": "Allow", "Action": ["codebuild:StartBuild"], "Resource": "*"},
         "cloudsplaining write without constraints"),
    ],
)  # fmt: skip
def test_6_a_bad_statement_planted_in_the_pipeline_role_s_policy_is_reported(
    rendered: dict[str, dict[str, Any]], planted: dict[str, Any], finding: str
) -> None:
    document = copy.deepcopy(rendered[PIPELINE_POLICY])
    assert PROJECT_ARN in json.dumps(document)  # the real policy names the built project ARNs
    document["Statement"].append(planted)
    found = policy_analysis.unexplained({PIPELINE_POLICY: document})
    assert any(sid == planted["Sid"] and text.startswith(finding) for _, sid, text in found), found


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement.get("Action", [])
    return [actions] if isinstance(actions, str) else list(actions)


def _resources(statement: dict[str, Any]) -> list[str]:
    resources = statement.get("Resource", [])
    return [resources] if isinstance(resources, str) else list(resources)


def _allowed_actions(statements: list[dict[str, Any]]) -> set[str]:
    return {action for statement in statements if statement["Effect"] == "Allow" for action in _actions(statement)}


# Issue 10's scoping of the pipeline's build policies, which moto does not enforce.
SETS_ROLE_PERMISSIONS = {"iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:DetachRolePolicy",
                         "iam:AttachRolePolicy", "iam:PutRolePermissionsBoundary"}  # fmt: skip
TOPIC_KEY_WRITES = {"kms:CreateKey", "kms:PutKeyPolicy", "kms:EnableKeyRotation", "kms:TagResource",
                    "kms:CreateAlias", "kms:ScheduleKeyDeletion"}  # fmt: skip
STAGE_READS = {"kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags", "lambda:ListTags"}
API_GATEWAY = f"arn:aws:apigateway:{REGION}::"
API_ACCOUNT = f"{API_GATEWAY}/account"  # the region's API Gateway settings: no tags, no stage
STAGE_API_PATHS = ("/restapis", "/apikeys", "/usageplans", "/tags/")  # the stage's only by their tags
# Lists, read to find a usage plan or a client's key by name: AWS evaluates no resource tag on them.
API_LISTS = frozenset({f"{API_GATEWAY}/usageplans", f"{API_GATEWAY}/apikeys"})


def document_stage(address: str) -> str | None:
    """The stage a pipeline policy document is for: its builds' (builds["<stage>-plan"]), stage
    policies (builds["stage-<stage>-read"]) and boundary (stage_boundary["<stage>"]); None for the
    pipeline's own."""
    forms = ('builds["{}-', 'builds["stage-{}-', 'stage_boundary["{}"]')
    return next((stage for stage in STAGES if any(form.format(stage) in address for form in forms)), None)


def boundary_arn(stage: str | None) -> str | None:
    return f"{IAM_ARN}:policy/{APP}-cicd-{stage}-stage-boundary" if stage else None


def tag_conditions(stage: str | None) -> list[dict[str, str]]:
    tags = {"Project": APP, "Stage": stage}
    return [{f"aws:{kind}Tag/{key}": value for key, value in tags.items() if value} for kind in ("Resource", "Request")]


def scoping_violations(documents: dict[str, dict[str, Any]]) -> list[str]:
    """What issue 10 requires of the rendered build policies: the boundary condition on every
    role-writing call of any pipeline policy (defect 3), API Gateway only on the stage's tagged APIs, keys and usage
    plans (defect 9), the topic key's and the event source mappings' tagging actions (defect 2)."""
    found = []
    pipeline_statements = [
        (address, statement)
        for address, document in documents.items()
        if address.startswith("cicd:")
        for statement in document["Statement"]
    ]
    for address, statement in pipeline_statements:
        sets_permissions = sorted(SETS_ROLE_PERMISSIONS & set(_actions(statement)))
        boundary = statement.get("Condition", {}).get("StringEquals", {}).get("iam:PermissionsBoundary")
        expected = boundary_arn(document_stage(address))
        if statement["Effect"] == "Allow" and sets_permissions and (boundary is None or boundary != expected):
            found.append(f"{address} {statement.get('Sid')}: {sets_permissions} without the stage boundary")
    stages = {named for address, _ in pipeline_statements if (named := document_stage(address)) is not None}
    for stage in sorted(stages):
        denied = {
            action
            for address, statement in pipeline_statements
            if statement["Effect"] == "Deny" and document_stage(address) == stage
            for action in _actions(statement)
        }
        if "iam:DeleteRolePermissionsBoundary" not in denied:
            found.append(f"iam:DeleteRolePermissionsBoundary is not denied to {stage}'s builds")
    for address, statement in pipeline_statements:
        if statement["Effect"] != "Allow" or not any(a.startswith("apigateway:") for a in _actions(statement)):
            continue
        where = f"{address} {statement.get('Sid')}"
        stage_resources = [resource for resource in _resources(statement) if resource != API_ACCOUNT]
        for resource in stage_resources:
            if not resource.removeprefix(API_GATEWAY).startswith(STAGE_API_PATHS):
                found.append(f"{where}: API Gateway on {resource}")
        if _actions(statement) == ["apigateway:GET"] and set(stage_resources) <= API_LISTS:
            continue
        tags = statement.get("Condition", {}).get("StringEquals", {})
        wanted = tag_conditions(document_stage(address)) if document_stage(address) else []
        # The stage's tags, and maybe more (the smoke key's Client).
        if stage_resources and not any(tags.items() >= condition.items() for condition in wanted):
            found.append(f"{where}: API Gateway without the stage's tags")
    missing_writes = TOPIC_KEY_WRITES - _allowed_actions(documents[policy_analysis.WRITE_CONTROL]["Statement"])
    missing_reads = STAGE_READS - _allowed_actions(documents[policy_analysis.STAGE_READ]["Statement"])
    found += [f"the Deploy role lacks {sorted(missing_writes)}"] if missing_writes else []
    found += [f"the Plan and Deploy roles lack {sorted(missing_reads)}"] if missing_reads else []
    tags_mappings = [
        statement
        for statement in documents[policy_analysis.WRITE_DATA]["Statement"]
        if "lambda:TagResource" in _actions(statement) and ":event-source-mapping:" in str(statement["Resource"])
    ]
    found += [] if tags_mappings else ["the Deploy role cannot tag event source mappings"]
    return found + emulator_gap_violations(documents, stages)


# What the Deploy role does that the emulator run cannot show, since those resources are left out
# of it (the X-Ray sampling rule) or AWS checks them beyond the called action (a function's
# layers: CreateFunction also needs lambda:GetLayerVersion on each); and the resources of a call
# the run makes but moto does not scope (the Powertools parameter every plan reads).
SAMPLING_RULE_WRITES = {"xray:CreateSamplingRule", "xray:UpdateSamplingRule", "xray:DeleteSamplingRule",
                        "xray:TagResource", "xray:UntagResource"}  # fmt: skip


def _grants(statements: list[dict[str, Any]], action: str, resource: str) -> bool:
    return any(
        statement["Effect"] == "Allow"
        and action in _actions(statement)
        and any(fnmatch.fnmatchcase(resource, pattern) for pattern in _resources(statement))
        for statement in statements
    )


# The runtime the pipeline deploys (its Plan build's Python), whatever Python runs these tests.
POWERTOOLS_RUNTIME = plan_build_runtime()
POWERTOOLS_RELEASE = pinned_version(POWERTOOLS_PACKAGE)
OTHER_PUBLISHER = "999999999999"


def test_the_powertools_scope_is_the_plan_build_s_python_not_the_one_running_the_tests(tmp_path: Path) -> None:
    """The roles are checked for the runtime the Plan build packages, read from the line infra/cicd
    reads, whatever Python runs the tests: here one that runs none of them."""
    buildspec = tmp_path / PLAN_BUILDSPEC_PATH.name
    planned = re.sub(r'(?m)^(\s+python: )"[\d.]+"$', r'\1"3.10"', PLAN_BUILDSPEC_PATH.read_text())
    assert planned != PLAN_BUILDSPEC_PATH.read_text()
    buildspec.write_text(planned)
    assert plan_build_runtime(buildspec) == "python3.10"


def powertools_parameter_arn(stage: str, release: str = POWERTOOLS_RELEASE) -> str:
    """The public parameter the stage's Plan build reads (a public parameter's ARN has no account)."""
    name = powertools_layer_parameter(load_stage(stage).architecture, POWERTOOLS_RUNTIME, release)
    return f"arn:aws:ssm:{REGION}::parameter{name}"


def powertools_layer_arn(stage: str, publisher: str = POWERTOOLS_PUBLISHER_ACCOUNT) -> str:
    """The layer version the stage's functions carry when the pipeline deploys them (the
    emulator's version number)."""
    layer = powertools_layer_name(load_stage(stage).architecture, POWERTOOLS_RUNTIME, POWERTOOLS_RELEASE)
    return f"arn:aws:lambda:{REGION}:{publisher}:layer:{layer}:{moto_patches.EMULATED_LAYER_VERSION}"


def powertools_violations(documents: dict[str, dict[str, Any]], stage: str, writes: list[dict[str, Any]]) -> list[str]:
    """The Plan and Deploy roles read the pinned release's parameter, the Deploy role its layer:
    those, and no other release's parameter, no other publisher's layer."""
    reads = documents[policy_analysis.stage_policy(stage, "read")]["Statement"]
    parameter = powertools_parameter_arn(stage)
    found = [] if _grants(reads, "ssm:GetParameter", parameter) else [f"{stage}'s roles cannot read {parameter}"]
    if _grants(reads, "ssm:GetParameter", powertools_parameter_arn(stage, "0.0.1")):
        found.append(f"{stage}'s roles may read Powertools parameters beyond {parameter}")
    layer = powertools_layer_arn(stage)
    found += [] if _grants(writes, "lambda:GetLayerVersion", layer) else [f"{stage}'s Deploy role cannot use {layer}"]
    if _grants(writes, "lambda:GetLayerVersion", powertools_layer_arn(stage, OTHER_PUBLISHER)):
        found.append(f"{stage}'s Deploy role may use layers beyond Powertools' {layer}")
    return found


def emulator_gap_violations(documents: dict[str, dict[str, Any]], stages: set[str]) -> list[str]:
    found = []
    for stage in sorted(stages):
        statements = [
            statement
            for name in ("write-data", "write-control")
            for statement in documents[policy_analysis.stage_policy(stage, name)]["Statement"]
        ]
        settings = load_stage(stage)
        found += powertools_violations(documents, stage, statements)
        rule = f"arn:aws:xray:{REGION}:{ACCOUNT_ID}:sampling-rule/{settings.prefix}-api"
        missing = sorted(action for action in SAMPLING_RULE_WRITES if not _grants(statements, action, rule))
        found += [f"{stage}'s Deploy role lacks {missing} on its sampling rule"] if missing else []
    return found


def test_7_the_rendered_build_policies_are_scoped_as_issue_10_requires(rendered: dict[str, dict[str, Any]]) -> None:
    assert scoping_violations(rendered) == []


Statements = list[dict[str, Any]]


def _without(statements: Statements, sid: str) -> Statements:
    kept = [statement for statement in statements if statement.get("Sid") != sid]
    assert len(kept) == len(statements) - 1, sid
    return kept


def _changed(statements: Statements, sid: str, **changes: Any) -> Statements:
    changed = [{**statement, **changes} if statement.get("Sid") == sid else statement for statement in statements]
    assert changed != statements, sid
    return [{key: value for key, value in statement.items() if value is not None} for statement in changed]


SMOKE_POLICY = f'cicd:data.aws_iam_policy_document.builds["{STAGE}-smoke"]'

# name: (document, mutation of its statements, the one violation it must cause)
MUTATIONS: dict[str, tuple[str, Callable[[Statements], Statements], str]] = {
    "defect 2, no key creation": (
        policy_analysis.WRITE_CONTROL,
        lambda statements: _without(statements, "CreateTopicKey"),
        "the Deploy role lacks ['kms:CreateKey']",
    ),
    "defect 2, untagged mappings": (
        policy_analysis.WRITE_DATA,
        lambda statements: _without(statements, "TagEventSourceMappings"),
        "the Deploy role cannot tag event source mappings",
    ),
    "defect 2, no key reads": (
        policy_analysis.STAGE_READ,
        lambda statements: _without(statements, "TopicKey"),
        "the Plan and Deploy roles lack ['kms:GetKeyPolicy', 'kms:GetKeyRotationStatus', 'kms:ListResourceTags']",
    ),
    "defect 3, no boundary condition": (
        policy_analysis.WRITE_ROLES,
        lambda statements: _changed(statements, "BoundedRoles", Condition=None),
        f"{policy_analysis.WRITE_ROLES} BoundedRoles: ['iam:CreateRole', 'iam:DeleteRolePolicy', "
        "'iam:DetachRolePolicy', 'iam:PutRolePermissionsBoundary', 'iam:PutRolePolicy'] without the stage boundary",
    ),
    "defect 3, the boundary may be removed": (
        policy_analysis.WRITE_ROLES,
        lambda statements: _without(statements, "KeepBoundary"),
        f"iam:DeleteRolePermissionsBoundary is not denied to {STAGE}'s builds",
    ),
    "a function's layer": (
        policy_analysis.WRITE_DATA,
        lambda statements: _without(statements, "Layers"),
        f"{STAGE}'s Deploy role cannot use {powertools_layer_arn(STAGE)}",
    ),
    "any publisher's layer": (
        policy_analysis.WRITE_DATA,
        lambda statements: _changed(statements, "Layers", Resource="arn:aws:lambda:*:*:layer:*:*"),
        f"{STAGE}'s Deploy role may use layers beyond Powertools' {powertools_layer_arn(STAGE)}",
    ),
    "the Powertools parameter": (
        policy_analysis.STAGE_READ,
        lambda statements: _without(statements, "PowertoolsLayerParameter"),
        f"{STAGE}'s roles cannot read {powertools_parameter_arn(STAGE)}",
    ),
    "any Powertools release's parameter": (
        policy_analysis.STAGE_READ,
        lambda statements: _changed(
            statements, "PowertoolsLayerParameter", Resource="arn:aws:ssm:*::parameter/aws/service/powertools/*"
        ),
        f"{STAGE}'s roles may read Powertools parameters beyond {powertools_parameter_arn(STAGE)}",
    ),
    "the sampling rule": (
        policy_analysis.WRITE_CONTROL,
        lambda statements: _without(statements, "SamplingRules"),
        f"{STAGE}'s Deploy role lacks {sorted(SAMPLING_RULE_WRITES)} on its sampling rule",
    ),
    "defect 9, any API": (
        policy_analysis.WRITE_CONTROL,
        lambda statements: _changed(statements, "Api", Resource="*"),
        f"{policy_analysis.WRITE_CONTROL} Api: API Gateway on *",
    ),
    "defect 9, the smoke role deletes any key": (
        SMOKE_POLICY,
        lambda statements: _changed(statements, "DeleteSmokeKey", Condition=None),
        f"{SMOKE_POLICY} DeleteSmokeKey: API Gateway without the stage's tags",
    ),
    "the smoke role reads every key": (
        SMOKE_POLICY,
        lambda statements: _changed(statements, "FindApiKeys", Resource=f"{API_GATEWAY}/apikeys/*"),
        f"{SMOKE_POLICY} FindApiKeys: API Gateway without the stage's tags",
    ),
}


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_7_the_scoping_check_catches_each_defect_put_back(rendered: dict[str, dict[str, Any]], mutation: str) -> None:
    """Each defect of issue 10 the scoping check guards against, put back into the rendered
    policies: the check reports it, and only it."""
    address, mutate, violation = MUTATIONS[mutation]
    documents = copy.deepcopy(rendered)
    documents[address]["Statement"] = mutate(documents[address]["Statement"])
    assert scoping_violations(documents) == [violation]


@pytest.mark.skipif(MAKE is None, reason="make smoke-deployed needs make")
def test_8_the_smoke_role_runs_the_smoke_test_with_a_key_of_its_own(staged: Pipeline, tmp_path: Path) -> None:
    """`make smoke-deployed` as the Smoke role: it makes client smoke's API key in its stage's
    usage plan (dofs_ops keys) and posts an order with it. The emulator run has no API
    (enable_api_gateway=false), so a usage plan tagged as the stage's stands in for it, and a
    fake API answers (tests/cicd/fake_api.py); the test build's role, without apigateway:GET, is
    refused the key."""
    set_enforcement(on=False)
    staged.admin_client("apigateway").create_usage_plan(
        name=f"{APP}-{staged.stage}-usage-plan", tags={"Project": APP, "Stage": staged.stage}
    )
    set_enforcement(on=True)
    api = FakeApi()
    with serve(api) as url:
        outputs = tmp_path / "outputs.json"
        outputs.write_text(json.dumps({"api_url": {"sensitive": False, "type": "string", "value": url + "/api/"}}))
        env = {
            **os.environ, **staged.roles["smoke"].env(), "AWS_ENDPOINT_URL": staged.endpoint,
            "AWS_DEFAULT_REGION": REGION, "NO_PROXY": "127.0.0.1,localhost", "API_KEY": "", "API_URL": "",
        }  # fmt: skip
        env.pop("AWS_PROFILE", None)
        since = len(DENIED)
        result = subprocess.run(  # noqa: S603 - fixed arguments
            [str(MAKE), "--no-print-directory", "smoke-deployed", f"OUTPUTS_JSON={outputs}", "SMOKE_INTERVAL=0.05",
             f"STAGE={staged.stage}", f"PYTHON={sys.executable}"],
            cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert result.returncode == 0, f"refused: {refused(since)}\n{result.stdout}{result.stderr}"
    set_enforcement(on=False)
    [key] = [
        key
        for key in staged.admin_client("apigateway").get_api_keys(includeValues=True)["items"]
        if key["name"] == f"{APP}-{staged.stage}-smoke"
    ]
    set_enforcement(on=True)
    assert api.requests[0][2]["x-api-key"] == key["value"]
    with pytest.raises(ClientError, match="AccessDenied"):
        staged.role_client("test", "apigateway").get_api_key(apiKey=key["id"], includeValue=True)


def turn_deletion_protection_off(pipeline: Pipeline) -> None:
    """What docs/CONFIGURATION.md ("Each AWS stage's values") tells an operator retiring a protected stage to do: set
    deletion_protection to false, then deploy (here: the Plan role plans, the Deploy role applies).
    First, the Deploy role's own DeleteTable is refused by the table's protection, not by IAM."""
    since = len(DENIED)
    with pytest.raises(ClientError, match="DeletionProtectionEnabled"):
        pipeline.role_client("deploy", "dynamodb").delete_table(TableName=load_stage(pipeline.stage).orders_table)
    assert refused(since, pipeline.roles["deploy"]) == []
    config = json.loads(pipeline.config_path.read_text())
    config["stages"][pipeline.stage]["dofs"]["deletion_protection"] = False
    pipeline.config_path.write_text(json.dumps(config, indent=2))
    run_as(pipeline, "plan", "plan", "-input=false", "-no-color", "-out=unprotect.tfplan", *pipeline.variables)
    assert sorted(planned_changes(pipeline, "unprotect.tfplan")) == [
        f'module.dynamodb.aws_dynamodb_table.this["{table}"]' for table in ("failed_orders", "orders")
    ]
    assert run_as(pipeline, "deploy", "apply", "-input=false", "-no-color", "unprotect.tfplan").denied == []


def destroy_the_stage(pipeline: Pipeline) -> None:
    if json.loads(pipeline.config_path.read_text())["stages"][pipeline.stage]["dofs"]["deletion_protection"]:
        turn_deletion_protection_off(pipeline)
    destroyed = run_as(pipeline, "deploy", "destroy", "-auto-approve", "-input=false", "-no-color", *pipeline.variables)
    assert destroyed.denied == []
    names = [
        function["FunctionName"] for function in pipeline.role_client("plan", "lambda").list_functions()["Functions"]
    ]
    assert [name for name in names if name.startswith(f"{APP}-{pipeline.stage}-")] == []


@pytest.mark.timeout(4 * RUN_TIMEOUT_SECONDS)  # prod's: plan, apply, destroy, and the checks between
def test_9_the_deploy_role_destroys_the_stage(staged: Pipeline, side_by_side: SideBySide) -> None:
    """No destroy build exists: the Deploy role, which may delete the stage's resources, is the
    one meant for it. A stage with deletion protection (prod) has it turned off first."""
    side_by_side.outcome(destroy_the_stage, staged.stage)


# --- a dev role and prod's resources -----------------------------------------------------------
# The condition keys by which the build policies scope what AWS names by id (API Gateway, KMS
# keys, event source mappings): a resource's or a request's tags.
TAG_CONDITION_PREFIXES = ("aws:ResourceTag/", "aws:RequestTag/")


def stage_resource_arns(stage: str) -> dict[str, str]:
    """One resource of each kind the stage creates, by service: the ARNs the build roles' policies
    must tell apart (names for most; ids, scoped by tags, for API Gateway and KMS)."""
    prefix = f"{APP}-{stage}"
    at = f"{REGION}:{ACCOUNT_ID}"
    return {
        "dynamodb": f"arn:aws:dynamodb:{at}:table/{prefix}-orders",
        "sqs": f"arn:aws:sqs:{at}:{prefix}-order_queue",
        "states": f"arn:aws:states:{at}:stateMachine:{prefix}-order-workflow",
        "lambda": f"arn:aws:lambda:{at}:function:{prefix}-fulfill_order",
        "iam": f"{IAM_ARN}:role/{prefix}-fulfill_order",
        "logs": f"arn:aws:logs:{at}:log-group:/aws/lambda/{prefix}-fulfill_order",
        "cloudwatch": f"arn:aws:cloudwatch:{at}:alarm:{prefix}-order_dlq-not-empty",
        "sns": f"arn:aws:sns:{at}:{prefix}-alarms",
        "events": f"arn:aws:events:{at}:rule/{prefix}-reconcile_orders-event",
        "s3": f"arn:aws:s3:::{STATE_BUCKET}/{APP}/{stage}/terraform.tfstate",
        "apigateway": f"arn:aws:apigateway:{REGION}::/restapis/a1b2c3d4e5/stages/api",
        "kms": f"arn:aws:kms:{at}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    }


def stage_tags(stage: str) -> dict[str, str]:
    """The request context of a call on the stage's resources: their tags, and (for event source
    mappings, scoped by the function they feed) the function."""
    tags = {"Project": APP, "Stage": stage}
    return {
        **{f"{kind}{key}": value for kind in TAG_CONDITION_PREFIXES for key, value in tags.items()},
        "lambda:FunctionArn": stage_resource_arns(stage)["lambda"],
    }


# What AWS lets no policy scope to a stage (iam_roles.tf: "AWS requires *"): Step Functions' log
# delivery and the definition check act on the account, not on a named resource.
ACCOUNT_LEVEL = frozenset({
    "logs:CreateLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery", "logs:PutResourcePolicy",
    "states:ValidateStateMachineDefinition",
})  # fmt: skip
EXACT_OPERATORS = ("StringEquals", "ArnEquals")
PATTERN_OPERATORS = ("StringLike", "ArnLike")


def _context_satisfies(condition: dict[str, Any], context: dict[str, str]) -> bool:
    """The condition's keys that the context has (tags, lambda:FunctionArn), with the equality and
    pattern operators; every other key and operator counts as met (more permissive than AWS, so
    a leak is never hidden)."""
    for operator, keys in condition.items():
        for key, expected in keys.items():
            if key not in context or operator not in EXACT_OPERATORS + PATTERN_OPERATORS:
                continue
            values = [expected] if isinstance(expected, str) else expected
            if operator in EXACT_OPERATORS and context[key] not in values:
                return False
            if operator in PATTERN_OPERATORS and not any(fnmatch.fnmatchcase(context[key], value) for value in values):
                return False
    return True


def permits(statements: list[dict[str, Any]], action: str, resource: str, tags: dict[str, str]) -> bool:
    """moto's IAM policy evaluator for the action and resource of each statement (wildcards
    included); conditions evaluated here against the context (moto's evaluator takes none of
    these keys); an explicit Deny wins."""
    from moto.iam.access_control import IAMPolicyStatement, PermissionResult

    allowed = False
    for statement in statements:
        matched = IAMPolicyStatement({key: value for key, value in statement.items() if key != "Condition"})
        result = matched.is_action_permitted(action, resource)
        if result is PermissionResult.NEUTRAL or not _context_satisfies(statement.get("Condition", {}), tags):
            continue
        if result is PermissionResult.DENIED:
            return False
        allowed = True
    return allowed


def role_statements(iam: Any, role: str) -> list[dict[str, Any]]:
    """Every statement of the role's inline and attached policies, as IAM holds them."""
    documents = [
        iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        for name in iam.list_role_policies(RoleName=role)["PolicyNames"]
    ]
    for attached in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
        version = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]["DefaultVersionId"]
        documents.append(
            iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=version)["PolicyVersion"]["Document"]
        )
    return [statement for document in documents for statement in document_statements(document)]


def document_statements(document: dict[str, Any] | str) -> list[dict[str, Any]]:
    parsed = json.loads(document) if isinstance(document, str) else document
    found = parsed["Statement"]
    return [found] if isinstance(found, dict) else list(found)


def changing_actions(statements: list[dict[str, Any]]) -> set[str]:
    """The Allow statements' actions that change something (not Get/List/Describe), by service."""
    reads = ("Get", "List", "Describe", "Head")
    return {
        action
        for statement in statements
        if statement["Effect"] == "Allow"
        for action in _actions(statement)
        if not action.partition(":")[2].startswith(reads)
    }


def test_the_prod_evaluation_catches_a_statement_reaching_prod() -> None:
    """A name pattern wider than the stage's, or a tag condition naming no stage, reaches prod;
    the stage's own pattern and tag do not."""
    prod, prod_tags = stage_resource_arns(OTHER_STAGE), stage_tags(OTHER_STAGE)
    table = prod["dynamodb"].rsplit("/", 1)[0]

    def allow(resource: str, condition: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        statement = {"Effect": "Allow", "Action": ["dynamodb:DeleteTable", "apigateway:DELETE"], "Resource": [resource]}
        return [statement | ({"Condition": condition} if condition else {})]

    assert permits(allow(f"{table}/{APP}-*"), "dynamodb:DeleteTable", prod["dynamodb"], prod_tags)
    assert not permits(allow(f"{table}/{APP}-{STAGE}-*"), "dynamodb:DeleteTable", prod["dynamodb"], prod_tags)
    api = f"arn:aws:apigateway:{REGION}::/restapis/*"
    assert permits(allow(api), "apigateway:DELETE", prod["apigateway"], prod_tags)
    dev_only = {"StringEquals": {"aws:ResourceTag/Stage": STAGE}}
    assert not permits(allow(api, dev_only), "apigateway:DELETE", prod["apigateway"], prod_tags)
    assert permits(allow(api, dev_only), "apigateway:DELETE", prod["apigateway"], stage_tags(STAGE))
    dev_functions = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{APP}-{STAGE}-*"
    mapping = [
        {"Effect": "Allow", "Action": "lambda:CreateEventSourceMapping", "Resource": "*",
         "Condition": {"ArnLike": {"lambda:FunctionArn": [dev_functions]}}}
    ]  # fmt: skip
    assert not permits(mapping, "lambda:CreateEventSourceMapping", prod["lambda"], prod_tags)
    assert permits(mapping, "lambda:CreateEventSourceMapping", prod["lambda"], stage_tags(STAGE))
    denied = [
        *allow(f"{table}/*"),
        {"Effect": "Deny", "Action": "dynamodb:*", "Resource": f"{table}/{APP}-{OTHER_STAGE}-*"},
    ]
    assert not permits(denied, "dynamodb:DeleteTable", prod["dynamodb"], prod_tags)


@pytest.mark.parametrize("build", ["plan", "deploy", "smoke"])
def test_10_a_dev_build_role_s_policies_permit_no_change_to_prod(pipeline: Pipeline, build: str) -> None:
    """Every changing action a dev build role holds, evaluated against one prod resource of its
    service (by ARN, with prod's tags): none is permitted. The same actions against dev's
    resources are (for the Deploy role: the control that the evaluation can say yes)."""
    set_enforcement(on=False)
    try:
        statements = role_statements(pipeline.admin_client("iam"), f"{CICD_PREFIX}-{build}")
    finally:
        set_enforcement(on=True)
    prod, dev = stage_resource_arns(OTHER_STAGE), stage_resource_arns(STAGE)
    actions = sorted(action for action in changing_actions(statements) if action.partition(":")[0] in prod)
    leaks = [
        action
        for action in actions
        if permits(statements, action, prod[action.partition(":")[0]], stage_tags(OTHER_STAGE))
    ]
    # The account-level calls reach every stage alike: they are listed, and granted on "*" only.
    assert sorted(set(leaks) - ACCOUNT_LEVEL) == []
    for action in leaks:
        assert all(_resources(found) == ["*"] for found in statements if action in _actions(found)), action
    if build == "deploy":
        on_dev = [
            action
            for action in actions
            if permits(statements, action, dev[action.partition(":")[0]], stage_tags(STAGE))
        ]
        assert len(on_dev) > 50
        assert {
            "dynamodb:DeleteTable",
            "lambda:UpdateFunctionCode",
            "sqs:SetQueueAttributes",
            "iam:PutRolePolicy",
        } <= set(on_dev)


def test_11_a_dev_role_is_refused_a_change_to_prod_under_iam_enforcement(pipeline: Pipeline) -> None:
    """moto's enforcement compares resources for SQS queues and IAM roles: prod's queue and a prod
    function's role exist (made by the administrator); the dev Deploy role may change dev's own but
    is refused prod's."""
    set_enforcement(on=False)
    admin_sqs, admin_iam = pipeline.admin_client("sqs"), pipeline.admin_client("iam")
    trust_statement = {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    trust = json.dumps({"Version": "2012-10-17", "Statement": [trust_statement]})
    queues = {
        stage: admin_sqs.create_queue(QueueName=f"{APP}-{stage}-order_queue")["QueueUrl"]
        for stage in (STAGE, OTHER_STAGE)
    }
    for stage in (STAGE, OTHER_STAGE):
        admin_iam.create_role(RoleName=f"{APP}-{stage}-fulfill_order", AssumeRolePolicyDocument=trust)
    set_enforcement(on=True)
    sqs, iam = pipeline.role_client("deploy", "sqs"), pipeline.role_client("deploy", "iam")
    policy = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:ReceiveMessage", "Resource": "*"}]}
    )
    since = len(DENIED)
    sqs.set_queue_attributes(QueueUrl=queues[STAGE], Attributes={"VisibilityTimeout": "60"})
    iam.put_role_policy(RoleName=f"{APP}-{STAGE}-fulfill_order", PolicyName="probe", PolicyDocument=policy)
    assert refused(since) == []
    with pytest.raises(ClientError, match="AccessDenied"):
        sqs.set_queue_attributes(QueueUrl=queues[OTHER_STAGE], Attributes={"VisibilityTimeout": "60"})
    with pytest.raises(ClientError, match="AccessDenied"):
        sqs.delete_queue(QueueUrl=queues[OTHER_STAGE])
    with pytest.raises(ClientError, match="AccessDenied"):
        iam.put_role_policy(RoleName=f"{APP}-{OTHER_STAGE}-fulfill_order", PolicyName="probe", PolicyDocument=policy)
    with pytest.raises(ClientError, match="AccessDenied"):
        iam.delete_role(RoleName=f"{APP}-{OTHER_STAGE}-fulfill_order")
    assert sorted(refused(since)) == sorted(
        f"{CICD_PREFIX}-deploy {action}"
        for action in ("sqs:SetQueueAttributes", "sqs:DeleteQueue", "iam:PutRolePolicy", "iam:DeleteRole")
    )
