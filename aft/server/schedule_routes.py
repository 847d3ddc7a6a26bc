"""REST routes of schedules: ``add_schedule_routes(api)``.

``/v1/schedules`` lists and adds; ``/v1/schedules/{id}`` (an id or a name) reads,
changes and deletes. A change takes any of the fields a schedule is added with; what
is left out (or null) stays, and the next run is computed afresh.
``/v1/cron/preview`` gives the next runs of a cron line in a zone, for a form (apart from
``/v1/schedules/{id}``: no schedule name is kept from use).
A bad cron line is explained field by field; each error names the field it is about.
"""

from __future__ import annotations

import time
from typing import Any

from aft._serde import to_json
from aft.exceptions import AftError, BadRequest, ScheduleError, ScheduleExists
from aft.schedules import Schedule, check_cron, next_fire
from aft.server.http import Api, Caller, json_body, only

FIELDS = {"name", "script", "cron", "timezone", "params", "enabled", "overlap", "catchUp"}
#: The five fields of a cron line, and what each takes.
_CRON_FIELDS = (
    ("minute", "0 to 59"),
    ("hour", "0 to 23"),
    ("day of the month", "1 to 31"),
    ("month", "1 to 12 or JAN to DEC"),
    ("day of the week", "0 to 6 (0 is Sunday) or SUN to SAT"),
)
_SHAPE = "5 fields (minute hour day month weekday), or 6 with seconds first"
#: How many next runs a preview shows.
PREVIEW_RUNS = 5


def cron_problem(cron: object) -> str | None:
    """What is wrong with a cron line, in plain words naming the bad field; None if nothing."""
    if not isinstance(cron, str) or not cron.strip():
        return f"Enter a cron line: {_SHAPE}, like 0 2 * * * (02:00 every day)"
    try:
        check_cron(cron)
        return None
    except ScheduleError as exc:
        fallback = str(exc)
    fields = cron.split()
    if len(fields) not in (5, 6):
        return f"A cron line has {_SHAPE}; this one has {len(fields)}"
    names = ((("second", "0 to 59"),) if len(fields) == 6 else ()) + _CRON_FIELDS
    for index, (name, takes) in enumerate(names):
        probe = ["*"] * len(fields)
        probe[index] = fields[index]
        try:
            check_cron(" ".join(probe))
        except ScheduleError:
            return (
                f"The {name} field {fields[index]!r} is not valid: it takes {takes},"
                " a list (1,15), a range (1-5) or a step (*/10)"
            )
    return fallback


def _on_field(exc: AftError, name: str) -> AftError:
    """``exc``, said to be about the form field ``name``."""
    exc.field = name  # type: ignore[attr-defined]
    return exc


def _json(schedule: Schedule) -> dict[str, Any]:
    return dict(to_json(schedule))


def _changes(body: dict[str, Any]) -> dict[str, Any]:
    only(body, FIELDS)
    if "cron" in body and body["cron"] is not None and (problem := cron_problem(body["cron"])):
        raise _on_field(ScheduleError(problem), "cron")
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

    @route("GET", "/v1/schedules", "viewer")
    def list_schedules(who: Caller) -> Any:
        return {"schedules": [_json(s) for s in store.list()]}

    @route("POST", "/v1/schedules", "admin", 201)
    def add_schedule(who: Caller) -> Any:
        changes = _changes(json_body())
        for name in ("name", "script", "cron"):
            if name not in changes:
                raise BadRequest(f"{name} is required")
        name, script, cron = (changes.pop(k) for k in ("name", "script", "cron"))
        try:
            return _json(store.add(name, script, cron, **changes))
        except ScheduleExists as exc:
            raise _on_field(exc, "name") from None

    @route("POST", "/v1/cron/preview", "viewer")  # a pure function
    def preview(who: Caller) -> Any:
        """The next runs of ``cron`` in ``timezone``, or what is wrong, by field."""
        body = json_body()
        only(body, {"cron", "timezone"})
        cron, zone = body.get("cron"), body.get("timezone")
        errors = {}
        if problem := cron_problem(cron):
            errors["cron"] = problem
        if not isinstance(zone, str) or not zone.strip():
            errors["timezone"] = "Enter a time zone, like Europe/Berlin or UTC"
        runs: list[float] = []
        if not errors:
            try:
                after = time.time()
                for _ in range(PREVIEW_RUNS):
                    after = next_fire(str(cron), str(zone), after)
                    runs.append(after)
            except ScheduleError as exc:
                errors["timezone" if "timezone" in str(exc) else "cron"] = str(exc)
        return {"runs": runs, "errors": errors}

    @route("GET", "/v1/schedules/<name>", "viewer")
    def get_schedule(name: str, who: Caller) -> Any:
        return _json(store.get(name))

    @route("PUT", "/v1/schedules/<name>", "admin")
    def change_schedule(name: str, who: Caller) -> Any:
        try:
            return _json(store.update(name, **_changes(json_body())))
        except ScheduleExists as exc:
            raise _on_field(exc, "name") from None

    @route("DELETE", "/v1/schedules/<name>", "admin")
    def remove_schedule(name: str, who: Caller) -> Any:
        removed = store.remove(name)
        return {"deleted": removed.id, "name": removed.name}
