"""The emulator keeps a function's logging configuration as Lambda does
(dofs_local/emulated/lambda_logging.py), and refuses log levels with the Text format."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.awslambda.models import LambdaFunction

from dofs_local.emulated import lambda_logging
from tests.conftest import aws_client

pytestmark = pytest.mark.aws

LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


@pytest.fixture
def lambda_client() -> Iterator[Any]:
    lambda_logging.install()
    with mock_aws():
        aws_client("iam").create_role(RoleName="fn", AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST))
        yield aws_client("lambda")


def create(client: Any, name: str, **logging: Any) -> Any:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("app.py", "def handler(event, context):\n    return event\n")
    extra = {"LoggingConfig": logging} if logging else {}
    return client.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role="arn:aws:iam::123456789012:role/fn",
        Handler="app.handler",
        Code={"ZipFile": archive.getvalue()},
        **extra,
    )


def test_the_configuration_is_kept_and_returned(lambda_client: Any) -> None:
    create(lambda_client, "json", LogFormat="JSON", SystemLogLevel="WARN", ApplicationLogLevel="INFO")
    assert lambda_client.get_function_configuration(FunctionName="json")["LoggingConfig"] == {
        "LogFormat": "JSON",
        "SystemLogLevel": "WARN",
        "ApplicationLogLevel": "INFO",
        "LogGroup": "/aws/lambda/json",
    }


def test_a_function_without_one_logs_text_to_its_own_group(lambda_client: Any) -> None:
    create(lambda_client, "plain")
    config = lambda_client.get_function(FunctionName="plain")["Configuration"]["LoggingConfig"]
    assert config == {"LogFormat": "Text", "LogGroup": "/aws/lambda/plain"}


def test_an_update_changes_it(lambda_client: Any) -> None:
    create(lambda_client, "changed")
    lambda_client.update_function_configuration(
        FunctionName="changed", LoggingConfig={"LogFormat": "JSON", "SystemLogLevel": "WARN"}
    )
    config = lambda_client.get_function_configuration(FunctionName="changed")["LoggingConfig"]
    assert (config["LogFormat"], config["SystemLogLevel"]) == ("JSON", "WARN")


def test_log_levels_with_text_are_refused_as_aws_refuses_them(lambda_client: Any) -> None:
    with pytest.raises(ClientError) as refused:
        create(lambda_client, "text-levels", LogFormat="Text", SystemLogLevel="WARN")
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "require LogFormat JSON" in refused.value.response["Error"]["Message"]


def test_install_is_idempotent() -> None:
    lambda_logging.install()
    patched = LambdaFunction.get_configuration
    lambda_logging.install()
    assert LambdaFunction.get_configuration is patched
