"""REST routes of notification rules (admin scope): ``add_notify_routes(api)``.

``/v1/notifications`` lists (``?script=`` or ``?schedule=`` for one script's or
schedule's rules) and adds; ``/v1/notifications/{id}`` (an id or a name) reads and
deletes; ``/v1/notifications/{id}/test`` sends a test message through the rule and says
how it went. A rule aft could not honour is refused with a 400 naming what is wrong.
"""

from __future__ import annotations

from typing import Any

from aft._serde import to_json
from aft.exceptions import BadRequest
from aft.notify import Notification, Notifier
from aft.server.http import Api, Caller, field, json_body, only, query_text

FIELDS = {
    "name",
    "script",
    "schedule",
    "events",
    "minutes",
    "channel",
    "recipients",
    "urlSecret",
    "headersSecret",
}


def _json(rule: Notification) -> dict[str, Any]:
    return dict(to_json(rule))


def add_notify_routes(api: Api) -> None:
    """Register ``/v1/notifications`` on ``api``, over the instance's rules."""
    route = api.route
    rules = api.ctx.instance.notifications

    @route("GET", "/v1/notifications", "viewer")
    def list_notifications(who: Caller) -> Any:
        found = rules.list(script=query_text("script"), schedule=query_text("schedule"))
        return {"notifications": [_json(n) for n in found]}

    @route("POST", "/v1/notifications", "admin", 201)
    def add_notification(who: Caller) -> Any:
        body = json_body()
        only(body, FIELDS)
        name = field(body, "name", str)
        if not name:
            raise BadRequest("name is required")
        events = field(body, "events", list, ["failure"])
        minutes = field(body, "minutes", (int, float))
        return _json(
            rules.add(
                name,
                script=field(body, "script", str, ""),
                schedule=field(body, "schedule", str, ""),
                events=events,
                minutes=minutes,
                channel=field(body, "channel", str, "email"),
                recipients=field(body, "recipients", str, ""),
                url_secret=field(body, "urlSecret", str, ""),
                headers_secret=field(body, "headersSecret", str, ""),
            )
        )

    @route("GET", "/v1/notifications/<name>", "viewer")
    def get_notification(name: str, who: Caller) -> Any:
        return _json(rules.get(name))

    @route("DELETE", "/v1/notifications/<name>", "admin")
    def remove_notification(name: str, who: Caller) -> Any:
        removed = rules.remove(name)
        return {"deleted": removed.id, "name": removed.name}

    @route("POST", "/v1/notifications/<name>/test", "admin")
    def test_notification(name: str, who: Caller) -> Any:
        rule = rules.get(name)
        result = Notifier(rules).test(rule.id)
        return {"name": rule.name, "ok": result == "sent", "result": result}
