"""``/v1/settings``: the instance settings."""

from __future__ import annotations

from typing import Any

from aft.exceptions import BadRequest
from aft.server.http import Api, Caller, json_body, only


def add_settings_routes(api: Api) -> None:
    """Register the routes of this module on ``api``."""
    ctx, route = api.ctx, api.route

    @route("GET", "/v1/settings", "viewer")
    def list_settings(who: Caller) -> Any:
        return {"settings": ctx.instance.settings.all()}

    @route("PUT", "/v1/settings/<key>", "admin")
    def set_setting(key: str, who: Caller) -> Any:
        body = json_body()
        only(body, {"value"})
        if "value" not in body or isinstance(body["value"], (dict, list)) or body["value"] is None:
            raise BadRequest("value must be a string, number or boolean")
        return {"key": key, "value": ctx.instance.settings.set(key, body["value"])}
