"""The REST API v1 as a Bottle app, built by :func:`create_app` (never Bottle's default app).

Every answer is JSON. Errors are ``{"error": code, "message": one line}`` with the HTTP
status taken from :data:`STATUS` by the error's stable code; anything unexpected is a
500 ``internal`` whose details go to the service log, never to the caller.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import bottle

from aft import __version__
from aft._serde import to_json
from aft.exceptions import (
    AftError,
    BadRequest,
    Forbidden,
    JobNotFound,
    MethodNotAllowed,
    NotFound,
    ServiceError,
)
from aft.executor import check_params, read_script
from aft.instance import Instance
from aft.models import DEFAULT_GROUP, JobState, check_group
from aft.server.openapi import openapi_document

log = logging.getLogger("aft.server")

MAX_BODY = 1024 * 1024

#: HTTP status by error code; a code not listed is a 400 (bad input of some kind).
STATUS = {
    "unauthorized": 401,
    "forbidden": 403,
    "cli_run_disabled": 403,
    "not_found": 404,
    "job_not_found": 404,
    "script_not_found": 404,
    "secret_not_found": 404,
    "api_key_not_found": 404,
    "unknown_setting": 404,
    "vfs_not_found": 404,
    "account_not_found": 404,
    "schedule_not_found": 404,
    "method_not_allowed": 405,
    "job_ended": 409,
    "script_exists": 409,
    "vfs_exists": 409,
    "account_exists": 409,
    "schedule_exists": 409,
    "schedule_error": 400,
    "too_many_attempts": 429,
    "internal": 500,
    "store_error": 503,
    "store_corrupt": 503,
}


@attrs.frozen
class Caller:
    """Who is calling: an API key's id and scope, or the local CLI of the same instance."""

    key_id: str
    scope: str
    trigger: str = "api"


@attrs.define
class ServiceContext:
    """What the routes work with.

    Attributes:
        instance: the instance served: its job queue, stores, settings and secrets.
        notify: wakes the worker pool after a job is queued or a halt requested.
        local_token: the token in the runtime file that lets the instance's own CLI in.
    """

    instance: Instance
    notify: Callable[[], None]
    local_token: str | None = None


def _remote_addr() -> str:
    # The socket's peer: never X-Forwarded-For, which a caller can write.
    return str(bottle.request.environ.get("REMOTE_ADDR", ""))


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


def _json_body() -> dict[str, Any]:
    raw = bottle.request.body.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise BadRequest(f"request body larger than {MAX_BODY} bytes")
    try:
        body = json.loads(raw or b"null")
    except ValueError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    return body


def _field(
    body: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any = None
) -> Any:
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
        names = {str: "a string", int: "a whole number", bool: "true or false", list: "an array"}
        expected = names.get(kind, "a number") if isinstance(kind, type) else "a number"
        raise BadRequest(f"{name} must be {expected}")
    return value


def _only(body: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BadRequest(f"unknown field(s): {', '.join(unknown)}")


def _query_int(name: str, default: int | None, low: int, high: int) -> int | None:
    raw = bottle.request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}")
    return value


def _error(exc: AftError) -> str:
    status = STATUS.get(exc.code, 400)
    bottle.response.status = status
    bottle.response.content_type = "application/json"
    message = str(exc).splitlines()[0] if str(exc) else exc.code
    return json.dumps({"error": exc.code, "message": message})


class Api:
    """The Bottle app with the two things every route needs: who calls, and JSON in and out.

    Route modules (jobs and administration here; schedules and the web UI elsewhere)
    register through :meth:`route`. ``authenticators`` are extra ways in besides an API
    key (the web UI adds its session): each returns a :class:`Caller` or None.
    """

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.app = bottle.Bottle()  # routes answer with JSON text they made themselves
        self.app.uninstall("json")
        self.authenticators: list[Callable[[str], Caller | None]] = []

    def caller(self, scope: str) -> Caller:
        """Who is calling, with at least ``scope``. Raises AuthError (401) or Forbidden (403)."""
        key = bottle.request.get_header("X-API-Key") or ""
        address = _remote_addr()
        token = self.ctx.local_token
        if token and key and hmac.compare_digest(key.encode(), token.encode()):
            if _is_loopback(address):
                return Caller("local", "admin", "cli")
        if not key:
            for authenticate in self.authenticators:
                found = authenticate(scope)
                if found is not None:
                    return found
        api_key = self.ctx.instance.api_keys.verify(key, address, scope)
        return Caller(api_key.id, api_key.scope)

    def route(
        self, method: str, path: str, scope: str | None, status: int = 200
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register a JSON route: authenticate (unless ``scope`` is None), map errors.

        The handler gets the :class:`Caller` as ``who`` (when a scope is asked) and the
        path's parameters; what it returns is sent as JSON with ``status``.
        """

        def register(handler: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(handler)
            def wrapper(**kwargs: Any) -> str:
                try:
                    if scope is not None:
                        kwargs["who"] = self.caller(scope)
                    result = handler(**kwargs)
                except AftError as exc:
                    return _error(exc)
                except Exception:
                    log.exception("%s %s failed", method, path)
                    return _error(ServiceError("internal error; see the service log"))
                bottle.response.status = status
                bottle.response.content_type = "application/json"
                return json.dumps(result)

            self.app.route(path, method, wrapper)
            return handler

        return register


def create_app(
    ctx: ServiceContext, extensions: Sequence[Callable[[Api], None]] = ()
) -> bottle.Bottle:
    """The REST API over ``ctx``, plus what each extension registers on it."""
    api = Api(ctx)
    app, route = api.app, api.route

    def visible_job(job_id: str, who: Caller) -> Any:
        job = ctx.instance.jobs.get(job_id)
        if who.scope != "admin" and job.api_key_id != who.key_id:
            raise JobNotFound(f"no job {job_id!r}")  # a run key sees only the jobs it started
        return job

    def requested_group(body: dict[str, Any]) -> str | None:
        """The worker group a request body names, checked; None when it names none."""
        if body.get("group") is None:
            return None
        if not ctx.instance.config.distributed:  # only a cluster has worker groups
            raise BadRequest("group needs a cluster (aft worker nodes); this node runs alone")
        try:
            return check_group(_field(body, "group", str))
        except ValueError as exc:
            raise BadRequest(str(exc)) from None

    # ---- jobs -------------------------------------------------------------------------

    @route("POST", "/v1/jobs", "run", 202)
    def submit_job(who: Caller) -> Any:
        body = _json_body()
        _only(body, {"scriptName", "scriptId", "filePath", "params", "jobType", "group"})
        chosen = [k for k in ("scriptName", "scriptId", "filePath") if body.get(k) is not None]
        if len(chosen) != 1:
            raise BadRequest("give exactly one of scriptName, scriptId, filePath")
        params = check_params(_field(body, "params", dict, {}))
        for name, value in params.items():
            if isinstance(value, (dict, list)):
                raise BadRequest(f"params must be flat: {name!r} holds an object or array")
        retries, backoff, script_id = 0, 0.0, None
        if "filePath" in chosen:
            path = _field(body, "filePath", str)
            if who.trigger != "cli" and not ctx.instance.settings.get("allow_file_path"):
                raise Forbidden("filePath jobs are off: set allow_file_path to true to allow them")
            source, name = read_script(path), path.rsplit("/", 1)[-1]
        else:
            script = ctx.instance.scripts.get(_field(body, chosen[0], str))
            source, name, script_id = script.source, script.name, script.id
            retries, backoff = script.retries, script.retry_backoff
        job = ctx.instance.jobs.submit(
            source,
            script_name=name,
            params=params,
            trigger=who.trigger,
            script_id=script_id,
            api_key_id=who.key_id,
            retries=retries,
            retry_backoff=backoff,
            group=requested_group(body),
        )
        ctx.notify()
        return {"jobId": job.id, "status": job.state.value}

    @route("GET", "/v1/jobs", "run")
    def list_jobs(who: Caller) -> Any:
        query = bottle.request.query
        state = query.get("status") or None
        if state is not None and state not in {s.value for s in JobState}:
            raise BadRequest(f"unknown status {state!r}")
        since = query.get("since") or None
        try:
            since_value = float(since) if since is not None else None
        except ValueError:
            raise BadRequest("since must be Unix seconds") from None
        jobs, cursor = ctx.instance.jobs.list(
            state=state,
            script=query.get("script") or None,
            since=since_value,
            api_key_id=None if who.scope == "admin" else who.key_id,
            limit=_query_int("limit", 50, 1, 500) or 50,
            cursor=_query_int("cursor", None, 0, 2**62),
        )
        return {"jobs": to_json(jobs), "nextCursor": cursor}

    @route("GET", "/v1/jobs/<job_id>", "run")
    def get_job(job_id: str, who: Caller) -> Any:
        return to_json(visible_job(job_id, who))

    @route("GET", "/v1/jobs/<job_id>/log", "run")
    def job_log(job_id: str, who: Caller) -> Any:
        job = visible_job(job_id, who)
        offset = _query_int("offset", 0, 0, 2**62) or 0
        lines, next_offset = ctx.instance.jobs.log(job_id, offset)
        return {
            "lines": [{"time": ln.time, "level": ln.level.value, "text": ln.text} for ln in lines],
            "nextOffset": next_offset,
            "status": job.state.value,
        }

    @route("POST", "/v1/jobs/<job_id>/halt", "run", 202)
    def halt_job(job_id: str, who: Caller) -> Any:
        visible_job(job_id, who)
        job = ctx.instance.jobs.request_halt(job_id)
        ctx.notify()
        return {"jobId": job.id, "status": job.state.value}

    # ---- scripts ------------------------------------------------------------------------

    @route("GET", "/v1/scripts", "admin")
    def list_scripts(who: Caller) -> Any:
        return {
            "scripts": [_script_json(s, with_source=False) for s in ctx.instance.scripts.list()]
        }

    @route("POST", "/v1/scripts", "admin", 201)
    def add_script(who: Caller) -> Any:
        body = _json_body()
        _only(body, {"name", "source", "retries", "retryBackoff", "group"})
        group = requested_group(body)
        script = ctx.instance.scripts.add(
            _required(body, "name", str),
            _required(body, "source", str),
            retries=_field(body, "retries", int, 0),
            retry_backoff=float(_field(body, "retryBackoff", (int, float), 30.0)),
            group=group or DEFAULT_GROUP,
        )
        return _script_json(script)

    @route("GET", "/v1/scripts/<name>", "admin")
    def get_script(name: str, who: Caller) -> Any:
        return _script_json(ctx.instance.scripts.get(name))

    @route("PUT", "/v1/scripts/<name>", "admin")
    def update_script(name: str, who: Caller) -> Any:
        body = _json_body()
        _only(body, {"name", "source", "retries", "retryBackoff", "group"})
        group = requested_group(body)
        backoff = _field(body, "retryBackoff", (int, float))
        script = ctx.instance.scripts.update(
            name,
            source=_field(body, "source", str),
            name=_field(body, "name", str),
            retries=_field(body, "retries", int),
            retry_backoff=None if backoff is None else float(backoff),
            group=group,
        )
        return _script_json(script)

    @route("DELETE", "/v1/scripts/<name>", "admin")
    def remove_script(name: str, who: Caller) -> Any:
        ctx.instance.scripts.remove(name)
        return {"deleted": name}

    # ---- secrets (write-only) ---------------------------------------------------------

    @route("GET", "/v1/secrets", "admin")
    def list_secrets(who: Caller) -> Any:
        return {"secrets": ctx.instance.secrets.names()}

    @route("PUT", "/v1/secrets/<name>", "admin")
    def set_secret(name: str, who: Caller) -> Any:
        body = _json_body()
        _only(body, {"value"})
        ctx.instance.secrets.set(name, _required(body, "value", str))
        return {"set": name}

    @route("DELETE", "/v1/secrets/<name>", "admin")
    def delete_secret(name: str, who: Caller) -> Any:
        ctx.instance.secrets.delete(name)
        return {"deleted": name}

    # ---- API keys -----------------------------------------------------------------------

    @route("GET", "/v1/apikeys", "admin")
    def list_keys(who: Caller) -> Any:
        return {"apiKeys": to_json(ctx.instance.api_keys.list())}

    @route("POST", "/v1/apikeys", "admin", 201)
    def create_key(who: Caller) -> Any:
        body = _json_body()
        _only(body, {"name", "allow", "scope"})
        allow = _required(body, "allow", list)
        if not all(isinstance(a, str) for a in allow):
            raise BadRequest("allow must be an array of addresses or CIDRs")
        record, key = ctx.instance.api_keys.create(
            _required(body, "name", str), allow, scope=_field(body, "scope", str, "run")
        )
        return {**to_json(record), "key": key}

    @route("DELETE", "/v1/apikeys/<key_id>", "admin")
    def revoke_key(key_id: str, who: Caller) -> Any:
        ctx.instance.api_keys.revoke(key_id)
        return {"revoked": key_id}

    # ---- settings -----------------------------------------------------------------------

    @route("GET", "/v1/settings", "admin")
    def list_settings(who: Caller) -> Any:
        return {"settings": ctx.instance.settings.all()}

    @route("PUT", "/v1/settings/<key>", "admin")
    def set_setting(key: str, who: Caller) -> Any:
        body = _json_body()
        _only(body, {"value"})
        if "value" not in body or isinstance(body["value"], (dict, list)) or body["value"] is None:
            raise BadRequest("value must be a string, number or boolean")
        return {"key": key, "value": ctx.instance.settings.set(key, body["value"])}

    # ---- open routes --------------------------------------------------------------------

    @route("GET", "/v1/health", None)
    def health() -> Any:
        return {"status": "ok", "version": __version__, "time": time.time()}

    @route("GET", "/v1/openapi.json", None)
    def openapi() -> Any:
        return openapi_document()

    def not_found(error: bottle.HTTPError) -> str:
        if error.status_code == 405:
            return _error(MethodNotAllowed(f"{bottle.request.method} is not allowed here"))
        if error.status_code == 404:
            return _error(NotFound(f"no route {bottle.request.path}"))
        if error.status_code >= 500:
            return _error(ServiceError("internal error; see the service log"))
        return _error(BadRequest(str(error.body or "bad request")))

    for extend in extensions:
        extend(api)
    app.default_error_handler = not_found  # type: ignore[method-assign]
    return app


def _required(body: dict[str, Any], name: str, kind: type) -> Any:
    value = _field(body, name, kind)
    if value is None:
        raise BadRequest(f"{name} is required")
    return value


def _script_json(script: Any, with_source: bool = True) -> dict[str, Any]:
    data = to_json(script)
    if not with_source:
        data.pop("source", None)
    return data
