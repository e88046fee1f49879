"""Shared fixtures: emulated AWS (moto, with its Step Functions interpreter) provisioned from
the `local` stage, and the app's settings pointed at it.

Every test belongs to one tier, a marker registered in pyproject.toml and set by its module
(`pytestmark`), or by the `repository` fixture's parameter where one suite runs against the
in-memory fake and DynamoDB on moto. `pytest -m unit` (`make check`) runs the unit tier alone:
then moto is never imported, no AWS client can be created, and only the modules that mark unit
tests are collected.

Only what the hooks below need is imported at the top: pytest-xdist's controller loads this file
too, before it starts the workers, and runs no test; moto and the app are imported by the
processes that run tests (`pytest_configure`), and never by a run of the unit tier."""

from __future__ import annotations

import functools
import importlib.abc
import json
import random
import sys
import time
import types
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from chalicelib.models import Order
    from chalicelib.repository import OrderRepository
    from dofs_config.stage import Stage
    from dofs_local.emulated.provisioning import Resources
    from tests.fakes import InMemoryQueue, RecordingWorkflow
    from tests.ports import SqsQueue, StepFunctionsStarter

REGION = "us-east-1"


def _prepare_moto() -> None:
    """Run once per test process, before its tests are collected."""
    import botocore.loaders
    import botocore.session
    import moto.kms.utils
    from cryptography.hazmat.primitives.asymmetric import rsa
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    from dofs_local.emulated import moto_patches

    # moto gives every test a fresh boto3 default session, and each new botocore session parses the
    # service models' JSON again (most of a test's set-up time). The models are read-only data: one
    # loader, shared by every session of the test run, parses each of them once.
    botocore.session.create_loader = functools.cache(botocore.loaders.create_loader)
    # The tests run moto as the local pipeline runs it (a parsed state machine is reused, and so on).
    moto_patches.apply_all()
    # Each test's encrypted tables make moto create a KMS key, with a new 2048-bit RSA key pair
    # (60 ms of CPU) that nothing reads: one pair per size serves them all.
    shared_key_pairs = types.SimpleNamespace(generate_private_key=functools.cache(rsa.generate_private_key))
    setattr(moto.kms.utils, "rsa", shared_key_pairs)  # noqa: B010

    # moto validates a new state machine's definition by parsing it with ANTLR in pure Python,
    # about half of each test's provisioning; every test creates the same one. A definition found
    # valid stays valid; an invalid one is refused every time.
    validate = StepFunctionsParserBackend._validate_definition
    valid_definitions: set[str] = set()

    def validate_definition_once(definition: str) -> None:
        if definition not in valid_definitions:
            validate(definition)
            valid_definitions.add(definition)

    StepFunctionsParserBackend._validate_definition = staticmethod(validate_definition_once)  # type: ignore[method-assign]


@functools.cache
def _session() -> Any:
    """One session for every test's provisioning: a new one would parse the service models again."""
    import boto3

    return boto3.Session(region_name=REGION)


@functools.cache
def aws_client(service: str, region_name: str = REGION) -> Any:
    """A client of the tests' own session, built once (about 10 ms of CPU each) and reused by every
    test: moto intercepts its calls in whichever test's mock is running. Not the default session's,
    so the fault injector's hooks (on the default session, as the app's clients) never reach it."""
    return _session().client(service, region_name=region_name)


class _SharedClients:
    """The tests' session as `provision` sees it, handing out the shared clients."""

    def client(self, service: str, region_name: str) -> Any:
        return aws_client(service, region_name)


@pytest.fixture
def stage() -> Stage:
    from dofs_config.stage import load_stage

    return load_stage("local")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from moto import mock_aws
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    # moto's interpreter sleeps out each retrier's interval (1 s, then 2 s, ...) in real time: up to
    # 5 s a test of waiting on nothing. The tests count the retries; scripts/timing.py's own tests
    # check the intervals. The emulator (make demo, the chaos run) keeps the real waits.
    monkeypatch.setattr(retrier_decl, "time", types.SimpleNamespace(sleep=lambda seconds: None))
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield


@pytest.fixture
def app_environment(stage: Stage, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The app's settings as the `local` stage deploys them (its metrics namespace, tables, ...)."""
    from chalicelib import runtime

    for name, value in stage.api_environment().items():
        monkeypatch.setenv(name, value)
    runtime.reset()
    yield
    runtime.reset()


@pytest.fixture
def resources(aws: None, stage: Stage, request: pytest.FixtureRequest) -> Resources:
    from dofs_local.emulated.provisioning import provision

    created: Resources = provision(stage, _SharedClients())
    request.getfixturevalue("app_environment")  # after provisioning, as a deployment sets them
    return created


@functools.cache
def _dynamodb_client() -> Any:
    return _session().client("dynamodb")


# The `repository` fixture's parameters, for a module marked `memory_and_dynamodb`: each of its tests
# that takes `repository` runs on the fake (the unit tier) and on DynamoDB on moto (the contract),
# unless it names its tier itself (`aws`: what only DynamoDB has, its requests and their costs).
REPOSITORY_KINDS = (
    pytest.param("memory", marks=pytest.mark.unit, id="memory"),
    pytest.param("dynamodb", marks=pytest.mark.aws, id="dynamodb"),
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    definition = metafunc.definition
    if (
        "repository" in metafunc.fixturenames
        and definition.get_closest_marker("memory_and_dynamodb")
        and not TIERS & {mark.name for mark in definition.own_markers}
    ):
        metafunc.parametrize("repository", REPOSITORY_KINDS, indirect=True)


DynamoDBCalls = list[tuple[str, dict[str, Any]]]


@pytest.fixture
def record_dynamodb_calls() -> Iterator[Callable[[Any], DynamoDBCalls]]:
    """Starts recording, on the repository's client, every DynamoDB call made from then on:
    (operation, request parameters). The recording ends with the test: the client is shared."""
    recorders: list[tuple[Any, Callable[..., None]]] = []

    def start(repository: Any) -> DynamoDBCalls:
        calls: DynamoDBCalls = []

        def record(model: Any, params: dict[str, Any], **_: Any) -> None:
            calls.append((model.name, dict(params)))

        repository._client.meta.events.register("provide-client-params.dynamodb", record)
        recorders.append((repository._client, record))
        return calls

    yield start
    for client, record in recorders:
        client.meta.events.unregister("provide-client-params.dynamodb", record)


@pytest.fixture
def repository(request: pytest.FixtureRequest, stage: Stage) -> OrderRepository:
    """DynamoDB on moto, or (parametrized "memory") the in-memory fake of tests/fakes.py."""
    if getattr(request, "param", "dynamodb") == "memory":
        from tests.fakes import InMemoryOrderRepository

        request.getfixturevalue("app_environment")
        return InMemoryOrderRepository(stage.open_orders_index_shards)
    from chalicelib.repository import DynamoOrderRepository

    request.getfixturevalue("resources")
    return DynamoOrderRepository(
        _dynamodb_client(), stage.orders_table, stage.failed_orders_table, stage.open_orders_index_shards
    )


@pytest.fixture
def queue(repository: OrderRepository, request: pytest.FixtureRequest) -> InMemoryQueue | SqsQueue:
    """The fulfillment queue that goes with `repository`: tests/fakes.py's with the fake, the
    provisioned SQS queue (tests/ports.py) with DynamoDB."""
    from tests.fakes import InMemoryOrderRepository, InMemoryQueue

    if isinstance(repository, InMemoryOrderRepository):
        return InMemoryQueue()
    import boto3

    from tests.ports import SqsQueue

    return SqsQueue(boto3.client("sqs"), request.getfixturevalue("resources").order_queue_url)


@pytest.fixture
def workflow(repository: OrderRepository, request: pytest.FixtureRequest) -> RecordingWorkflow | StepFunctionsStarter:
    """The workflow starter that goes with `repository`: tests/fakes.py's with the fake, the
    provisioned state machine, running the app's functions (tests/ports.py), with DynamoDB."""
    from tests.fakes import InMemoryOrderRepository, RecordingWorkflow

    if isinstance(repository, InMemoryOrderRepository):
        return RecordingWorkflow()
    import boto3

    from tests.ports import StepFunctionsStarter

    request.getfixturevalue("workflow_functions")
    return StepFunctionsStarter(boto3.client("stepfunctions"), request.getfixturevalue("resources").state_machine_arn)


def order_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer_id": "customer-1",
        "items": [{"sku": "SKU-1", "quantity": 2, "unit_price": "12.50"}],
        "currency": "USD",
    }
    body.update(overrides)
    return body


def make_order(order_id: str = "order-1", **overrides: Any) -> Order:
    from chalicelib.models import Order, OrderRequest

    return Order.from_request(OrderRequest.model_validate(order_body(order_id=order_id, **overrides)))


def sqs_event(*records: dict[str, Any]) -> dict[str, Any]:
    """An SQS event as Lambda's event source mapping delivers it."""
    return {"Records": list(records)}


def sqs_record(order_id: str, *, receive_count: int = 1, message_id: str | None = None) -> dict[str, Any]:
    return {
        "messageId": message_id or f"msg-{order_id}-{receive_count}",
        "receiptHandle": f"handle-{order_id}-{receive_count}",
        "body": json.dumps({"order_id": order_id}),
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": "1764000000000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1764000000100",
        },
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:dofs-local-order_queue",
        "awsRegion": REGION,
    }


def seeded(seed: int) -> random.Random:
    return random.Random(seed)


@pytest.fixture
def workflow_functions(resources: Resources, stage: Stage) -> Iterator[dict[str, Any]]:
    """The app's workflow functions, reachable through moto's Lambda by their deployed names."""
    from app import record_workflow_failure, store_order, validate_order
    from dofs_local.emulated import lambda_bridge

    functions: dict[str, Any] = {
        stage.function_name("validate_order"): validate_order,
        stage.function_name("store_order"): store_order,
        stage.function_name("record_workflow_failure"): record_workflow_failure,
    }
    lambda_bridge.install(functions)
    yield functions
    wait_for_executions(resources.state_machine_arn)
    lambda_bridge.uninstall()


def wait_for_executions(state_machine_arn: str, timeout: float = 60.0) -> None:
    """Lets running executions finish, so none outlives the test that started it."""
    stepfunctions = aws_client("stepfunctions")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            running = stepfunctions.list_executions(stateMachineArn=state_machine_arn, statusFilter="RUNNING")
        except stepfunctions.exceptions.StateMachineDoesNotExist:
            return
        if not running["executions"]:
            return
        time.sleep(0.05)
    raise AssertionError("workflow executions still running after the test")


# The tiers (pyproject.toml registers them): each test has exactly one.
TIERS = frozenset({"unit", "aws", "emulator", "terraform", "scanners"})


def _unit_tier_only(config: pytest.Config) -> bool:
    """`pytest -m unit`: the run that must import no moto (`make check`)."""
    return str(config.getoption("markexpr", "")).strip() == "unit"


def pytest_configure(config: pytest.Config) -> None:
    if _is_xdist_controller(config):
        return
    from hypothesis import settings

    # Stateful properties against moto cost about 0.2 s an example.
    settings.register_profile("ci", max_examples=60)
    settings.load_profile("ci")
    if _unit_tier_only(config):
        sys.meta_path.insert(0, _NoMoto())
        _refuse_aws_clients()
    else:
        _prepare_moto()


class _NoMoto(importlib.abc.MetaPathFinder):
    """In a run of the unit tier moto cannot be imported: a unit test that needs it fails, named."""

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None) -> None:
        if fullname.split(".")[0] == "moto":
            raise ImportError(f"{fullname}: the unit tier runs without moto; use tests/fakes.py")


def _refuse_aws_clients() -> None:
    """The unit tier runs on tests/fakes.py: a test that reaches for AWS fails, named. The one client
    left alone is X-Ray's sampling client, which the X-Ray SDK builds when chalicelib.observability's
    Tracer is made, and which never calls while tracing is off (as it is outside Lambda)."""
    import botocore.session

    create_client = botocore.session.Session.create_client

    def refuse(self: botocore.session.Session, service_name: str, *args: Any, **kwargs: Any) -> Any:
        if service_name == "xray":
            return create_client(self, service_name, *args, **kwargs)
        raise AssertionError(f"a unit test created a {service_name} client; use tests/fakes.py")

    botocore.session.Session.create_client = refuse


def _is_xdist_controller(config: pytest.Config) -> bool:
    """pytest-xdist's controller (`-n 2`) hands the tests to its workers and runs none itself."""
    return config.getoption("dist", "no") != "no" and not hasattr(config, "workerinput")


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """A run of the unit tier imports only the test modules that mark unit tests (`pytest.mark.unit`,
    or `memory_and_dynamodb`), and the conftest.py of directories holding one: importing the others
    would import moto, Terraform's parsers and the scanners, for tests it then deselects."""
    if not _unit_tier_only(config):
        return None
    if collection_path.is_dir():
        modules = list(collection_path.rglob("test_*.py"))
    elif collection_path.suffix == ".py" and collection_path.name.startswith("test_"):
        modules = [collection_path]
    else:
        return None
    return None if any(_marks_unit_tests(module) for module in modules) else True


def _marks_unit_tests(module: Path) -> bool:
    text = module.read_text(encoding="utf-8")
    return "pytest.mark.unit" in text or "memory_and_dynamodb" in text


# The files that take minutes (Terraform applied to the emulator, stage after stage, most of it
# waiting on the provider's polls), longest first. `make test` runs the tests on pytest-xdist's
# workers, a file's tests on one, handing out files in collection order (--no-loadscope-reorder):
# these go out first, each to a worker of its own, and the other workers take the rest meanwhile.
# Started last, either would leave its worker running it alone at the end.
LONGEST_FIRST = ("tests/infra/test_pipeline_roles.py", "tests/infra/test_apply.py")


def _longest_first(item: pytest.Item) -> int:
    return LONGEST_FIRST.index(path) if (path := item.nodeid.split("::")[0]) in LONGEST_FIRST else len(LONGEST_FIRST)


def _give_each_test_its_own_node_id(items: list[pytest.Item]) -> None:
    """schemathesis names each API operation's test apart (`test[POST /order]`), but under pytest 9
    they all get the function's node id; pytest-xdist hands tests out by node id, and ran one of the
    three. Each gets its name as its id, as pytest's own parametrized tests do."""
    counts = Counter(item.nodeid for item in items)
    for item in items:
        if counts[item.nodeid] > 1 and item.parent is not None:
            item._id = type(item.id).parse(f"{item.parent.nodeid}::{item.name}")
    duplicates = sorted(nodeid for nodeid, count in Counter(item.nodeid for item in items).items() if count > 1)
    if duplicates:
        raise pytest.UsageError(f"tests sharing a node id (pytest-xdist would run one of each): {duplicates}")


def _check_tiers(items: list[pytest.Item]) -> None:
    wrong = [
        f"{item.nodeid} ({', '.join(sorted(tiers)) or 'none'})"
        for item in items
        if len(tiers := {mark.name for mark in item.iter_markers() if mark.name in TIERS}) != 1
    ]
    if wrong:
        raise pytest.UsageError(f"each test needs exactly one tier marker of {sorted(TIERS)}: {wrong}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _check_tiers(items)
    _give_each_test_its_own_node_id(items)
    if hasattr(config, "workerinput"):
        items.sort(key=_longest_first)  # stable: each file's own order is kept
