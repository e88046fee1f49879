"""Per-client API keys: one key per client in the stage's usage plan (infra/modules/api_gateway
makes the plan, `{prefix}-usage-plan`, with the per-client throttle and quota).

A client's key is named `{prefix}-{client}` (dofs-dev-smoke) and tagged with the stage's tags
and `Client`. Its value is returned once, by `create`, and kept nowhere: `list` never reads
values. Creating a key for a client that has one is refused (`ClientExistsError`) unless
`replace` is asked, which deletes the old key first. API Gateway has no conditional create, so
a create looks again once its key is in the plan: finding another key of the client's name (two
creates at once), it deletes its own and is refused. So a client never keeps two keys, and a
create that succeeded is never undone (at worst both of two racing creates are refused)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from dofs_config.stage import Stage
from dofs_ops.target import Target

# No "-": `{prefix}-{client}` then names one stage's client only (stage dev's client "x-y" and
# stage dev-x's client "y" would share a name).
CLIENT_PATTERN = r"^[A-Za-z0-9_]{1,64}$"
_CLIENT = re.compile(CLIENT_PATTERN)
CLIENT_TAG = "Client"


class KeysError(Exception):
    """One line for the operator; nothing was changed."""


class NoUsagePlanError(KeysError):
    pass


class ClientExistsError(KeysError):
    pass


class UnknownClientError(KeysError):
    pass


@dataclass(frozen=True)
class ClientKey:
    client: str
    key_id: str
    enabled: bool
    created: str  # ISO 8601, UTC


@dataclass(frozen=True)
class CreatedKey:
    client: str
    key_id: str
    value: str  # shown once: never stored
    usage_plan_id: str


def is_client(text: str) -> bool:
    return bool(_CLIENT.match(text))


def usage_plan_name(stage: Stage) -> str:
    """As infra/modules/api_gateway names it (and the local stack, dofs_local/emulated/provisioning.py)."""
    return f"{stage.prefix}-usage-plan"


def key_name(stage: Stage, client: str) -> str:
    return f"{stage.prefix}-{client}"


def stage_tags(stage: Stage) -> dict[str, str]:
    """The tags infra/stage gives everything it makes: the pipeline's roles match on them."""
    return {"Project": stage.app_name, "Stage": stage.name}


def client_tags(stage: Stage, client: str) -> dict[str, str]:
    return {**stage_tags(stage), CLIENT_TAG: client}


def usage_plan_id(target: Target) -> str:
    name = usage_plan_name(target.stage)
    pages = target.client("apigateway").get_paginator("get_usage_plans").paginate()
    found = [plan["id"] for page in pages for plan in page.get("items", []) if plan.get("name") == name]
    if len(found) != 1:
        problem = "no usage plan" if not found else f"{len(found)} usage plans"
        raise NoUsagePlanError(f"{problem} named {name} ({target.describe()}): is the stage's API deployed?")
    plan_id: str = found[0]
    return plan_id


def _keys_named(target: Target, name: str) -> list[dict[str, Any]]:
    """API keys named exactly `name` (the API's name query matches prefixes), without values."""
    pages = target.client("apigateway").get_paginator("get_api_keys").paginate(nameQuery=name, includeValues=False)
    return sorted((key for page in pages for key in page.get("items", []) if key.get("name") == name), key=_id)


def _id(key: dict[str, Any]) -> str:
    key_id: str = key["id"]
    return key_id


def _delete(target: Target, key_id: str) -> None:
    """Deleting a key takes it out of every usage plan. Gone already (another operator): done."""
    try:
        target.client("apigateway").delete_api_key(apiKey=key_id)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "NotFoundException":
            raise


def create(target: Target, client: str, *, replace: bool = False) -> CreatedKey:
    plan_id = usage_plan_id(target)
    name = key_name(target.stage, client)
    existing = _keys_named(target, name)
    if existing and not replace:
        ids = ", ".join(_id(key) for key in existing)
        raise ClientExistsError(
            f"client {client} already has API key {ids} ({target.describe()}); its value is shown only at "
            f"creation: `keys revoke {client}` then `keys create {client}`, or `keys create {client} --replace`"
        )
    for key in existing:
        _delete(target, _id(key))
    apigateway = target.client("apigateway")
    key = apigateway.create_api_key(
        name=name,
        description=f"API key of client {client} in stage {target.stage.name} (dofs_ops keys)",
        enabled=True,
        tags=client_tags(target.stage, client),
    )
    try:
        apigateway.create_usage_plan_key(usagePlanId=plan_id, keyId=key["id"], keyType="API_KEY")
    except BaseException:
        _delete(target, key["id"])  # no key left outside the plan
        raise
    others = [_id(other) for other in _keys_named(target, name) if _id(other) != key["id"]]
    if others:
        _delete(target, key["id"])
        raise ClientExistsError(
            f"client {client} was given API key {', '.join(others)} at the same time ({target.describe()}); "
            "nothing changed"
        )
    return CreatedKey(client=client, key_id=key["id"], value=key["value"], usage_plan_id=plan_id)


def list_keys(target: Target) -> list[ClientKey]:
    """The clients whose keys are in the stage's usage plan, by client name; never their values."""
    plan_id = usage_plan_id(target)
    apigateway = target.client("apigateway")
    prefix = f"{target.stage.prefix}-"
    keys = []
    for plan_key in _plan_keys(apigateway, plan_id):
        name = plan_key.get("name") or ""
        client = name.removeprefix(prefix)
        if not name.startswith(prefix) or not is_client(client):
            continue  # a key not made by this CLI: not a client of ours
        try:
            key = apigateway.get_api_key(apiKey=plan_key["id"], includeValue=False)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "NotFoundException":
                continue  # deleted since the plan was read
            raise
        created = key.get("createdDate")
        keys.append(
            ClientKey(
                client=client,
                key_id=key["id"],
                enabled=bool(key.get("enabled")),
                created=created.isoformat() if created is not None else "",
            )
        )
    return sorted(keys, key=lambda key: (key.client, key.key_id))


def _plan_keys(apigateway: Any, plan_id: str) -> Iterator[dict[str, Any]]:
    for page in apigateway.get_paginator("get_usage_plan_keys").paginate(usagePlanId=plan_id):
        for plan_key in page.get("items", []):
            # Only id and name are read: a usage plan key carries the key's value too.
            yield {"id": plan_key["id"], "name": plan_key.get("name")}


def revoke(target: Target, client: str) -> list[str]:
    """Deletes the client's key (every key of that name, should there be several); the other
    clients' keys are untouched. Returns the ids deleted."""
    usage_plan_id(target)  # the stage's API is there: a missing plan is not "no such client"
    keys = _keys_named(target, key_name(target.stage, client))
    if not keys:
        raise UnknownClientError(f"client {client} has no API key ({target.describe()}); nothing changed")
    for key in keys:
        _delete(target, _id(key))
    return [_id(key) for key in keys]
