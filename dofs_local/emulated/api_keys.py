"""The local stack's check of x-api-key, as API Gateway makes it: a request is let through when
its key is an enabled API key in the stage's usage plan (in the emulator: `dofs_ops keys`
creates and revokes them there, as on AWS)."""

from __future__ import annotations

import hmac
from typing import Any

from botocore.exceptions import ClientError

from dofs_config.stage import Stage
from dofs_ops import keys

# API Gateway refuses an imported key value shorter than this (CreateApiKey's value).
MIN_KEY_LENGTH = 20


class UsagePlanKeys:
    def __init__(self, apigateway: Any, usage_plan_id: str) -> None:
        self._apigateway = apigateway
        self._usage_plan_id = usage_plan_id

    def add(self, stage: Stage, client: str, value: str) -> str:
        """A client's key with a value of the caller's choosing (`--require-api-key KEY`), in the
        plan, named and tagged as `dofs_ops keys create` makes one."""
        if len(value) < MIN_KEY_LENGTH:
            raise ValueError(
                f"an API key is at least {MIN_KEY_LENGTH} characters (API Gateway's rule): {client}'s is not"
            )
        key_id: str = self._apigateway.create_api_key(
            name=keys.key_name(stage, client), value=value, enabled=True, tags=keys.client_tags(stage, client)
        )["id"]
        self._apigateway.create_usage_plan_key(usagePlanId=self._usage_plan_id, keyId=key_id, keyType="API_KEY")
        return key_id

    def allows(self, value: str) -> bool:
        """Read at every request: a key revoked or disabled a moment ago is refused at once. The
        emulator keeps a deleted key in the plan's list, so each match is looked up again."""
        if not value:
            return False
        pages = self._apigateway.get_paginator("get_usage_plan_keys").paginate(usagePlanId=self._usage_plan_id)
        for page in pages:
            for plan_key in page.get("items", []):
                matches = hmac.compare_digest(str(plan_key.get("value", "")).encode(), value.encode())
                if matches and self._enabled(plan_key["id"]):
                    return True
        return False

    def _enabled(self, key_id: str) -> bool:
        try:
            return bool(self._apigateway.get_api_key(apiKey=key_id, includeValue=False).get("enabled"))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "NotFoundException":
                return False
            raise
