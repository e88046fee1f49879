"""A function's logging configuration, which AWS keeps and moto 5.2 does not.

Lambda stores `LoggingConfig` (log format, application and system log levels, log group) with
the function and returns it from GetFunction(Configuration); moto drops it, so Terraform saw a
change on every plan of a stage that sets it. AWS also refuses log levels with the Text format
(they filter JSON lines only): the same refusal here, so a stage that asks for it fails locally
as it would on AWS.
"""

from __future__ import annotations

from typing import Any

from moto.awslambda.exceptions import InvalidParameterValueException
from moto.awslambda.models import LambdaFunction

LEVELS = ("ApplicationLogLevel", "SystemLogLevel")
KEPT = "dofs_logging_config"  # the attribute the configuration is kept in, on moto's function


def checked(function_name: str, config: dict[str, Any] | None) -> dict[str, Any]:
    """The configuration Lambda keeps: Text and the function's own log group unless given."""
    kept = {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{function_name}", **(config or {})}
    if kept["LogFormat"] != "JSON" and any(level in kept for level in LEVELS):
        raise InvalidParameterValueException(
            "ApplicationLogLevel and SystemLogLevel require LogFormat JSON (a Text log has no levels to filter)"
        )
    return kept


def install() -> None:
    """Idempotent: keep LoggingConfig on create and update, return it with the configuration."""
    if getattr(LambdaFunction.get_configuration, "__dofs_logging__", False):
        return
    create, configuration, update = (
        LambdaFunction.__init__,
        LambdaFunction.get_configuration,
        LambdaFunction.update_configuration,
    )

    def created(self: LambdaFunction, account_id: str, spec: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        logging_config = checked(spec.get("FunctionName", ""), spec.get("LoggingConfig"))
        create(self, account_id, spec, *args, **kwargs)
        setattr(self, KEPT, logging_config)

    def with_logging(self: LambdaFunction, on_create: bool = False) -> dict[str, Any]:
        return configuration(self, on_create) | {"LoggingConfig": getattr(self, KEPT)}

    def updated(self: LambdaFunction, config_updates: dict[str, Any]) -> dict[str, Any]:
        if "LoggingConfig" in config_updates:
            setattr(self, KEPT, checked(self.function_name, config_updates["LoggingConfig"]))
        result: dict[str, Any] = update(self, config_updates)
        return result | {"LoggingConfig": getattr(self, KEPT)}

    with_logging.__dofs_logging__ = True  # type: ignore[attr-defined]
    LambdaFunction.__init__ = created  # type: ignore[method-assign]
    LambdaFunction.get_configuration = with_logging  # type: ignore[method-assign]
    LambdaFunction.update_configuration = updated  # type: ignore[method-assign]
