"""``/v1/audit``: the audit trail of administrative actions (read by viewers and up)."""

from __future__ import annotations

from typing import Any

from aft.server.http import Api, Caller, query_int, query_text, query_time


def add_audit_routes(api: Api) -> None:
    """Register the routes of this module on ``api``."""
    ctx, route = api.ctx, api.route

    @route("GET", "/v1/audit", "viewer")
    def list_audit(who: Caller) -> Any:
        """Entries oldest first, filtered by ``since``/``until`` (Unix seconds) and
        ``actor``; ``cursor`` is the previous page's ``nextCursor``."""
        entries, cursor = ctx.instance.audit.list(
            since=query_time("since"),
            until=query_time("until"),
            actor=query_text("actor"),
            limit=query_int("limit", 100, 1, 1000) or 100,
            cursor=query_int("cursor", None, 0, 2**62),
        )
        return {"entries": [e.to_json() for e in entries], "nextCursor": cursor}
