"""REST routes of the VFS Library: ``add_vfs_routes(api)``.

A profile's payload (its credentials) is write-only: taken on add or change, used to
connect, never returned. Error messages from a connection test have every payload
value masked, whatever the backend put in them.

``/v1/vfs/types`` serves each type's schema (its target's and payload's fields), and
``/v1/vfs/types/{type}/target`` writes and checks a target from its fields, so a form
needs to know no backend; ``GET /v1/vfs/{name}`` gives the target's fields too.
"""

from __future__ import annotations

import sys
from typing import Any

from aft._serde import to_json
from aft.exceptions import AftError, BadRequest, VfsError
from aft.server.http import Api, Caller, field, has_body, json_body, only, query_text
from aft.vfs import BACKENDS, backend_class, open_vfs, schema_class
from aft.vfs.library import RESERVED_NAMES, check_target, secret_values

MASK = "********"
_FIELDS = {"name", "type", "target", "payload"}


def _payload(body: dict[str, Any]) -> dict[str, Any] | None:
    payload = body.get("payload")
    if payload is None:
        return None
    if not isinstance(payload, dict):
        raise BadRequest("payload must be a JSON object of credentials")
    return payload


def _masked(exc: AftError, payload: dict[str, Any]) -> AftError:
    """``exc`` again, with no payload value left in its message."""
    message = str(exc)
    for value in sorted(secret_values(payload), key=len, reverse=True):
        if value:
            message = message.replace(value, MASK)
    if message == str(exc):
        return exc
    masked = type(exc).__new__(type(exc))
    Exception.__init__(masked, message)
    return masked


def _try_connection(type_name: str, target: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Connect and list the root; the answer says how many entries it holds."""
    check_target(type_name, target)
    try:
        with open_vfs(type_name, target, payload) as vfs:
            entries = vfs.listdir("/")
    except AftError as exc:
        raise _masked(exc, payload) from None
    return {"ok": True, "entries": len(entries), "message": f"connected: {len(entries)} entries"}


def _fields(body: dict[str, Any]) -> dict[str, str]:
    """The ``fields`` object of a request: text values (a flag may be true or false)."""
    fields = body.get("fields", {})
    if not isinstance(fields, dict):
        raise BadRequest("fields must be a JSON object")
    for name, value in fields.items():
        if isinstance(value, bool):
            fields[name] = "true" if value else "false"
        elif not isinstance(value, str):
            raise BadRequest(f"fields.{name} must be a string")
    return fields


def compose_target(
    type_name: str, fields: dict[str, str], payload: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The target ``fields`` describe, and what is wrong with them (and with ``payload``)
    as ``{field: message}`` (``_target`` for the whole target), by the type's own rules."""
    schema = schema_class(type_name)
    errors = {**schema.check_fields(fields), **schema.check_payload(payload or {})}
    target = schema.compose_target(fields)
    if not errors:
        try:
            check_target(type_name, target)
        except VfsError as exc:
            errors["_target"] = str(exc)
    return {"target": target, "errors": errors}


#: A profile's name in a path: any but the route words beside it (which no name may be).
_NAME = "<name:re:(?!(?i:" + "|".join(RESERVED_NAMES) + ")$)[^/]+>"


def add_vfs_routes(api: Api) -> None:
    """Register ``/v1/vfs`` (list, add, get, change, delete, test), ``/v1/vfs/hostkey`` and
    ``/v1/vfs/types``."""
    route = api.route
    instance = api.ctx.instance

    def profile_json(profile: Any) -> dict[str, Any]:
        return dict(to_json(profile))

    @route("GET", "/v1/vfs", "viewer")
    def list_vfs(who: Caller) -> Any:
        return {"vfs": [profile_json(p) for p in instance.vfs.list()]}

    @route("POST", "/v1/vfs", "admin", 201)
    def add_vfs(who: Caller) -> Any:
        body = json_body()
        only(body, _FIELDS)
        name = field(body, "name", str)
        if not name:
            raise BadRequest("name is required")
        type_name = field(body, "type", str)
        if not type_name:
            raise BadRequest("type is required")
        target = field(body, "target", str)
        if not target:
            raise BadRequest("target is required")
        return profile_json(instance.vfs.add(name, type_name, target, _payload(body) or {}))

    @route("GET", "/v1/vfs/types", "viewer")
    def vfs_types(who: Caller) -> Any:
        return {"types": [schema_class(name).describe() for name in BACKENDS]}

    @route("POST", "/v1/vfs/types/<type_name>/target", "viewer")  # a pure function
    def vfs_target(type_name: str, who: Caller) -> Any:
        body = json_body()
        only(body, {"fields", "payload"})
        return compose_target(type_name, _fields(body), _payload(body))

    @route("GET", "/v1/vfs/hostkey", "admin")
    def host_key(who: Caller) -> Any:
        url = query_text("url") or ""
        try:  # the SFTP type's own grammar: one place says what an address looks like
            where = schema_class("SFTP").parse_target(url)
        except VfsError:
            raise BadRequest(f"give an SFTP address like sftp://host:22, not {url!r}") from None
        host, port = where["host"], int(where["port"] or 22)
        module = sys.modules[backend_class("SFTP").__module__]
        fingerprint = module.host_key_fingerprint(host, port)
        return {"host": host, "port": port, "fingerprint": fingerprint}

    @route("POST", "/v1/vfs/test", "admin")
    def test_unsaved(who: Caller) -> Any:
        body = json_body()
        only(body, _FIELDS)
        type_name, target = field(body, "type", str), field(body, "target", str)
        if not type_name or not target:
            raise BadRequest("type and target are required")
        return _try_connection(type_name, target, _payload(body) or {})

    @route("GET", f"/v1/vfs/{_NAME}", "viewer")
    def get_vfs(name: str, who: Caller) -> Any:
        """The profile, with its target's fields (null when the target no longer parses)."""
        profile = instance.vfs.get(name)
        try:
            fields: dict[str, str] | None = schema_class(profile.type).parse_target(profile.target)
        except VfsError:
            fields = None
        return {**profile_json(profile), "fields": fields}

    @route("PUT", f"/v1/vfs/{_NAME}", "admin")
    def change_vfs(name: str, who: Caller) -> Any:
        """Change type, target or payload; what is left out stays (the payload too)."""
        body = json_body()
        only(body, _FIELDS - {"name"})
        return profile_json(
            instance.vfs.update(
                name, field(body, "type", str), field(body, "target", str), _payload(body)
            )
        )

    @route("DELETE", f"/v1/vfs/{_NAME}", "admin")
    def remove_vfs(name: str, who: Caller) -> Any:
        instance.vfs.remove(name)
        return {"deleted": name}

    @route("POST", f"/v1/vfs/{_NAME}/test", "admin")
    def test_saved(name: str, who: Caller) -> Any:
        """Try the saved profile; with ``{"target"}``, try that target with the profile's
        stored credentials (an edit that keeps them, before it is saved)."""
        body = json_body() if has_body() else {}
        only(body, {"target"})
        library = instance.vfs
        profile = library.get(name)
        target = field(body, "target", str) or profile.target
        return _try_connection(profile.type, target, library.payload(profile.name))
