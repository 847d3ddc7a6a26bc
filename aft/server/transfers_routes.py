"""``/v1/transfers`` and ``/v1/jobs/{id}/transfers``: the transfer journal (see
:mod:`aft.journal`). Every role reads every job's records but a run key, which reads only those of
the jobs it started. ``format=csv`` answers with a CSV file of every matching record, as
``aft transfers list --csv`` prints it."""

from __future__ import annotations

from typing import Any

from aft.exceptions import BadRequest, Forbidden, JobNotFound
from aft.journal import TransferLog, csv_lines
from aft.roles import sees_every_job
from aft.server.http import Api, Caller, Download, query_int, query_text, query_time


def _failed() -> bool:
    raw = (query_text("failed") or "false").lower()
    if raw not in ("true", "false"):
        raise BadRequest(f"failed must be true or false, not {raw!r}")
    return raw == "true"


def _format() -> str:
    raw = (query_text("format") or "json").lower()
    if raw not in ("json", "csv"):
        raise BadRequest(f"format must be json or csv, not {raw!r}")
    return raw


def add_transfers_routes(api: Api) -> None:
    """Register the routes of this module on ``api``."""
    ctx, route = api.ctx, api.route

    def page(job_id: str | None) -> Any:
        log = TransferLog(ctx.instance.store)
        filters: dict[str, Any] = {
            "job_id": job_id,
            "since": query_time("since"),
            "until": query_time("until"),
            "path": query_text("path"),
            "failed": _failed(),
        }
        if _format() == "csv":
            for name in ("limit", "cursor"):
                if query_text(name) is not None:
                    raise BadRequest(f"format=csv gives every matching record: no {name}")
            name = f"transfers-{job_id}.csv" if job_id else "transfers.csv"
            return Download(csv_lines(log.every(**filters)), "text/csv; charset=utf-8", name)
        records, cursor = log.list(
            **filters,
            limit=query_int("limit", 100, 1, 1000) or 100,
            cursor=query_int("cursor", None, 0, 2**62),
        )
        return {"transfers": [r.to_json() for r in records], "nextCursor": cursor}

    def visible(job_id: str, who: Caller) -> str:
        job = ctx.instance.jobs.get(job_id)
        if not sees_every_job(who.role) and job.api_key_id != who.key_id:
            raise JobNotFound(f"no job {job_id!r}")  # a run key sees only the jobs it started
        return job_id

    @route("GET", "/v1/transfers", "any")
    def list_transfers(who: Caller) -> Any:
        """Records oldest first; filters ``job``, ``since``/``until`` (Unix seconds, when
        a file started), ``path`` (a glob over source and destination paths), ``failed``;
        ``cursor`` is the previous page's ``nextCursor``; ``format=csv``: every matching
        record as a CSV file (no ``limit`` or ``cursor``)."""
        job_id = query_text("job")
        if job_id is not None:
            return page(visible(job_id, who))
        if not sees_every_job(who.role):
            raise Forbidden("a run key reads the transfers of its own jobs only: give job=ID")
        return page(None)

    @route("GET", "/v1/jobs/<job_id>/transfers", "any")
    def job_transfers(job_id: str, who: Caller) -> Any:
        """One job's records, with the same filters."""
        return page(visible(job_id, who))
