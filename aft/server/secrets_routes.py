"""``/v1/secrets``: named secrets, write-only (names and when each was last set are
listed, values never leave)."""

from __future__ import annotations

from typing import Any

from aft.server.http import Api, Caller, json_body, only, required


def add_secrets_routes(api: Api) -> None:
    """Register the routes of this module on ``api``."""
    ctx, route = api.ctx, api.route

    @route("GET", "/v1/secrets", "viewer")
    def list_secrets(who: Caller) -> Any:
        rows = ctx.instance.store.query("SELECT name, updated FROM secrets ORDER BY name")
        return {"secrets": [name for name, _ in rows], "updated": dict(rows)}

    @route("PUT", "/v1/secrets/<name>", "admin")
    def set_secret(name: str, who: Caller) -> Any:
        body = json_body()
        only(body, {"value"})
        ctx.instance.secrets.set(name, required(body, "value", str))
        return {"set": name}

    @route("DELETE", "/v1/secrets/<name>", "admin")
    def delete_secret(name: str, who: Caller) -> Any:
        ctx.instance.secrets.delete(name)
        return {"deleted": name}
