"""``/v1/apikeys``: REST API keys (a new key is shown once, in the answer)."""

from __future__ import annotations

from typing import Any

from aft._serde import to_json
from aft.exceptions import BadRequest
from aft.server.http import Api, Caller, field, json_body, only, required


def add_keys_routes(api: Api) -> None:
    """Register the routes of this module on ``api``."""
    ctx, route = api.ctx, api.route

    @route("GET", "/v1/apikeys", "viewer")
    def list_keys(who: Caller) -> Any:
        return {"apiKeys": to_json(ctx.instance.api_keys.list())}

    @route("POST", "/v1/apikeys", "admin", 201)
    def create_key(who: Caller) -> Any:
        body = json_body()
        only(body, {"name", "allow", "scope"})
        allow = required(body, "allow", list)
        if not all(isinstance(a, str) for a in allow):
            raise BadRequest("allow must be an array of addresses or CIDRs")
        record, key = ctx.instance.api_keys.create(
            required(body, "name", str), allow, scope=field(body, "scope", str, "run")
        )
        return {**to_json(record), "key": key}

    @route("DELETE", "/v1/apikeys/<key_id>", "admin")
    def revoke_key(key_id: str, who: Caller) -> Any:
        ctx.instance.api_keys.revoke(key_id)
        return {"revoked": key_id}
