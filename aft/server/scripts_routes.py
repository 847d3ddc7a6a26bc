"""``/v1/scripts``: the stored scripts. A source that does not parse is refused, with
the line QuickJS points at."""

from __future__ import annotations

import re
from typing import Any

from aft._serde import to_json
from aft.exceptions import BadRequest
from aft.models import DEFAULT_GROUP
from aft.server.http import Api, Caller, field, json_body, only, required, worker_group
from aft.syncjs.engine import Engine, JSError

_FIELDS = {"name", "source", "retries", "retryBackoff", "group", "maxRunSeconds"}
_PARSED = "aft:parsed"
_AT_LINE = re.compile(r":(\d+):\d+\)?$", re.MULTILINE)
_USE_STRICT = re.compile(r"""\s*(["'])use strict\1(?=[ \t]*(;|\r?\n|$))""")


def check_syntax(source: str | None) -> None:
    """Refuse a source QuickJS cannot parse, naming the line, without running any of it.

    The source is parsed whole as the script it is, with a ``throw`` put on its first line
    (after a "use strict" directive, which stays one): a source that parses starts by
    throwing, so none of it runs.

    Raises:
        BadRequest: ``line N: SyntaxError: ...``, about the ``source`` field.
    """
    if source is None:
        return
    try:
        strict = _USE_STRICT.match(source)
        cut = strict.end() if strict else 0
        Engine({}).eval(f'{source[:cut]};throw "{_PARSED}";{source[cut:]}', "script")
    except JSError as exc:
        message = str(exc).strip()
        if message == _PARSED:
            return
        found = _AT_LINE.search(message)
        where = f"line {found.group(1)}: " if found else ""
        error = BadRequest(f"{where}{message.splitlines()[0]}")
        error.field = "source"  # type: ignore[attr-defined]
        raise error from None


def add_scripts_routes(api: Api) -> None:
    """Register the routes of this module on ``api``."""
    ctx, route = api.ctx, api.route

    @route("GET", "/v1/scripts", "viewer")
    def list_scripts(who: Caller) -> Any:
        return {
            "scripts": [_script_json(s, with_source=False) for s in ctx.instance.scripts.list()]
        }

    @route("POST", "/v1/scripts", "admin", 201)
    def add_script(who: Caller) -> Any:
        body = json_body()
        only(body, _FIELDS)
        group = worker_group(ctx.instance, body)
        check_syntax(required(body, "source", str))
        script = ctx.instance.scripts.add(
            required(body, "name", str),
            required(body, "source", str),
            retries=field(body, "retries", int, 0),
            retry_backoff=float(field(body, "retryBackoff", (int, float), 30.0)),
            group=group or DEFAULT_GROUP,
            max_run_seconds=field(body, "maxRunSeconds", int, 0),
        )
        return _script_json(script)

    @route("GET", "/v1/scripts/<name>", "viewer")
    def get_script(name: str, who: Caller) -> Any:
        return _script_json(ctx.instance.scripts.get(name))

    @route("PUT", "/v1/scripts/<name>", "admin")
    def update_script(name: str, who: Caller) -> Any:
        body = json_body()
        only(body, _FIELDS)
        group = worker_group(ctx.instance, body)
        backoff = field(body, "retryBackoff", (int, float))
        check_syntax(field(body, "source", str))
        script = ctx.instance.scripts.update(
            name,
            source=field(body, "source", str),
            name=field(body, "name", str),
            retries=field(body, "retries", int),
            retry_backoff=None if backoff is None else float(backoff),
            group=group,
            max_run_seconds=field(body, "maxRunSeconds", int),
        )
        return _script_json(script)

    @route("DELETE", "/v1/scripts/<name>", "admin")
    def remove_script(name: str, who: Caller) -> Any:
        ctx.instance.scripts.remove(name)
        return {"deleted": name}


def _script_json(script: Any, with_source: bool = True) -> dict[str, Any]:
    data = to_json(script)
    if not with_source:
        data.pop("source", None)
    return data
