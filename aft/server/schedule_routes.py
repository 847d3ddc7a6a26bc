"""REST routes of schedules (admin scope): ``add_schedule_routes(api)``.

``/v1/schedules`` lists and adds; ``/v1/schedules/{id}`` (an id or a name) reads,
changes and deletes. A change takes any of the fields a schedule is added with; what
is left out (or null) stays, and the next run is computed afresh.
"""

from __future__ import annotations

from typing import Any

from aft._serde import to_json
from aft.exceptions import BadRequest
from aft.schedules import Schedule
from aft.server.http import Api, Caller, json_body, only

FIELDS = {"name", "script", "cron", "timezone", "params", "enabled", "overlap", "catchUp"}


def _json(schedule: Schedule) -> dict[str, Any]:
    return dict(to_json(schedule))


def _changes(body: dict[str, Any]) -> dict[str, Any]:
    only(body, FIELDS)
    return {
        ("catch_up" if key == "catchUp" else key): value
        for key, value in body.items()
        if value is not None
    }


def add_schedule_routes(api: Api) -> None:
    """Register ``/v1/schedules`` on ``api``, over the instance's schedules (the service's
    scheduler hears of every change through them)."""
    route = api.route
    store = api.ctx.instance.schedules

    @route("GET", "/v1/schedules", "admin")
    def list_schedules(who: Caller) -> Any:
        return {"schedules": [_json(s) for s in store.list()]}

    @route("POST", "/v1/schedules", "admin", 201)
    def add_schedule(who: Caller) -> Any:
        changes = _changes(json_body())
        for name in ("name", "script", "cron"):
            if name not in changes:
                raise BadRequest(f"{name} is required")
        name, script, cron = (changes.pop(k) for k in ("name", "script", "cron"))
        return _json(store.add(name, script, cron, **changes))

    @route("GET", "/v1/schedules/<name>", "admin")
    def get_schedule(name: str, who: Caller) -> Any:
        return _json(store.get(name))

    @route("PUT", "/v1/schedules/<name>", "admin")
    def change_schedule(name: str, who: Caller) -> Any:
        return _json(store.update(name, **_changes(json_body())))

    @route("DELETE", "/v1/schedules/<name>", "admin")
    def remove_schedule(name: str, who: Caller) -> Any:
        removed = store.remove(name)
        return {"deleted": removed.id, "name": removed.name}
