"""Retention: finished jobs (with their logs), transfer records and audit entries older than
the instance's settings say are deleted, in bounded batches.

Three settings, in days (0, the default, keeps forever):

- ``job_retention_days``: finished jobs, their logs and progress, by when they finished
  (a queued or running job is never purged);
- ``transfer_retention_days``: transfer records, by when their file started;
- ``audit_retention_days``: audit entries, by their time. Kept apart, and meant to be the
  longest: the audit trail is what proves the rest, so it is never purged unless asked for.

The transfer journal and the audit trail are hash chains (:mod:`aft.audit`), and only their
oldest entries go: a purge deletes the longest run from the start of a chain whose entries
are all older than the limit. Before deleting, it writes a checkpoint, an audit entry
``retention.purge`` saying per chain the range deleted, the count and the hash of the last
entry deleted (a chain it leaves alone but an earlier checkpoint purged is repeated, with
a count of 0, as that earlier checkpoint may go now), and the jobs and log lines it
deletes; then it raises each chain's mark, up to which the append-only triggers let rows
be deleted. ``aft audit verify`` checks each chain from its newest checkpoint on. The
deletion runs in transactions of at most ``batch`` rows, so other writers wait little; one
interrupted part-way is finished by the next purge.

The service purges every :data:`PURGE_EVERY` seconds (:class:`PurgeLoop`); ``aft purge``
and :meth:`Retention.purge` do it at once, and ``dry_run`` only counts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from aft import audit
from aft._store import Store
from aft.settings import Settings

log = logging.getLogger("aft.retention")

#: Who the audit trail says wrote a checkpoint.
ACTOR = "system:retention"
#: Seconds between two purges of a running service.
PURGE_EVERY = 3600.0
_DAY = 86400.0
_FINAL = ("succeeded", "failed", "halted", "interrupted")
_OLD_JOB = f"state IN ({', '.join(repr(state) for state in _FINAL)}) AND finished < ?"


class PurgeReport(NamedTuple):
    """What a purge deleted (or, in a dry run, would delete).

    Attributes:
        jobs: finished jobs.
        log_lines: their log lines.
        transfers: transfer records.
        audit: audit entries.
        dry_run: True when nothing was deleted.
    """

    jobs: int
    log_lines: int
    transfers: int
    audit: int
    dry_run: bool

    def line(self) -> str:
        """One line for a person."""
        verb = "would purge" if self.dry_run else "purged"
        return (
            f"{verb} {_count(self.jobs, 'job')} ({_count(self.log_lines, 'log line')}),"
            f" {_count(self.transfers, 'transfer record')},"
            f" {_count(self.audit, 'audit entry', 'audit entries')}"
        )


def _count(n: int, one: str, many: str = "") -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


class Retention:
    """Purges what the retention settings no longer keep.

    Args:
        store: the instance database.
        batch: rows deleted per transaction.
        clock: the current Unix time.
    """

    def __init__(
        self, store: Store, *, batch: int = 1000, clock: Callable[[], float] = time.time
    ) -> None:
        if batch < 1:
            raise ValueError("batch must be 1 or more")
        self._store = store
        self._settings = Settings(store)
        self._batch = batch
        self._clock = clock

    def purge(self, *, dry_run: bool = False) -> PurgeReport:
        """Delete (or, with ``dry_run``, count) what is older than the settings keep."""
        now = self._clock()
        cutoffs = {
            key: now - int(self._settings.get(f"{key}_retention_days")) * _DAY
            for key in ("job", "transfer", "audit")
            if self._settings.get(f"{key}_retention_days")
        }
        if not cutoffs:
            return PurgeReport(0, 0, 0, 0, dry_run)
        with self._store.transaction() as db:  # what goes, its checkpoint and marks: one snapshot
            jobs, lines = self._count_jobs(db, cutoffs["job"]) if "job" in cutoffs else (0, 0)
            ranges: dict[str, dict[str, Any]] = {}
            for chain, key, column in (
                (audit.TRANSFERS, "transfer", "started"),
                (audit.AUDIT, "audit", "time"),
            ):
                if key in cutoffs:
                    found = _old_run(db, chain, column, cutoffs[key])
                    if found is not None:
                        ranges[chain.table] = found
            report = PurgeReport(
                jobs,
                lines,
                ranges.get("transfers", {}).get("count", 0),
                ranges.get("audit", {}).get("count", 0),
                dry_run,
            )
            if dry_run:
                return report
            if any(report[:4]):
                self._checkpoint(db, ranges, jobs, lines, cutoffs.get("job"))
        if jobs:
            self._delete_jobs(cutoffs["job"])
        for table in ("transfers", "audit"):  # also what an interrupted purge left
            self._delete_head(table)
        if any(report[:4]):
            log.info("%s", report.line())
        return report

    def _checkpoint(
        self,
        db: Any,
        ranges: dict[str, dict[str, Any]],
        jobs: int,
        lines: int,
        finished_before: float | None,
    ) -> None:
        """Record what goes in a checkpoint entry and set the chains' purge marks."""
        for chain in (audit.TRANSFERS, audit.AUDIT):  # repeated: the older checkpoint may go
            start, digest = audit.checkpoint(self._store, chain)
            if chain.table not in ranges and start:
                ranges[chain.table] = {"count": 0, "to": start, "lastHash": digest}
        detail: dict[str, Any] = dict(ranges)
        if jobs:
            detail["jobs"] = {"count": jobs, "logLines": lines, "finishedBefore": finished_before}
        with audit.acting_as(ACTOR):
            audit.record(db, audit.CHECKPOINT, "retention", **detail)
        for table, found in ranges.items():
            db.execute(
                "INSERT INTO purge_marks (chain, upto, hash) VALUES (?, ?, ?)"
                " ON CONFLICT(chain) DO UPDATE SET upto = excluded.upto, hash = excluded.hash",
                (table, found["to"], found["lastHash"]),
            )

    @staticmethod
    def _count_jobs(db: Any, cutoff: float) -> tuple[int, int]:
        row = db.execute(
            f"SELECT COUNT(*), (SELECT COUNT(*) FROM job_logs WHERE job_id IN"
            f" (SELECT id FROM jobs WHERE {_OLD_JOB})) FROM jobs WHERE {_OLD_JOB}",
            (cutoff, cutoff),
        ).fetchone()
        return int(row[0]), int(row[1])

    def _delete_jobs(self, cutoff: float) -> None:
        """Delete the finished jobs that ended before ``cutoff``, with their logs."""
        while True:
            with self._store.transaction() as db:
                ids = [
                    r[0]
                    for r in db.execute(
                        f"SELECT id FROM jobs WHERE {_OLD_JOB} ORDER BY seq LIMIT ?",
                        (cutoff, self._batch),
                    ).fetchall()
                ]
                if not ids:
                    return
                marks = ", ".join("?" * len(ids))
                db.execute(f"DELETE FROM job_logs WHERE job_id IN ({marks})", ids)
                db.execute(f"DELETE FROM jobs WHERE id IN ({marks})", ids)

    def _delete_head(self, table: str) -> None:
        """Delete ``table``'s rows up to its purge mark, ``batch`` rows a transaction."""
        while True:
            with self._store.transaction() as db:
                done = db.execute(
                    f"DELETE FROM {table} WHERE seq IN (SELECT seq FROM {table} WHERE seq <="
                    " (SELECT upto FROM purge_marks WHERE chain = ?) ORDER BY seq LIMIT ?)",
                    (table, self._batch),
                ).rowcount
            if done < self._batch:
                return


def _old_run(db: Any, chain: audit.Chain, column: str, cutoff: float) -> dict[str, Any] | None:
    """The run of entries from the start of ``chain`` (after its purge mark) that are all
    older than ``cutoff``: ``from``, ``to``, ``count``, ``lastHash`` (None: none)."""
    table = chain.table
    mark = db.execute("SELECT upto FROM purge_marks WHERE chain = ?", (table,)).fetchone()
    after = int(mark[0]) if mark else 0
    first = db.execute(f"SELECT MIN(seq) FROM {table} WHERE seq > ?", (after,)).fetchone()[0]
    if first is None:
        return None
    young = db.execute(
        f"SELECT MIN(seq) FROM {table} WHERE seq > ? AND {column} >= ?", (after, cutoff)
    ).fetchone()[0]
    if young is None:
        young = int(db.execute(f"SELECT MAX(seq) FROM {table}").fetchone()[0]) + 1
    last = int(young) - 1
    if last < int(first):
        return None
    count, digest = db.execute(
        f"SELECT COUNT(*), (SELECT hash FROM {table} WHERE seq = ?) FROM {table}"
        " WHERE seq > ? AND seq <= ?",
        (last, after, last),
    ).fetchone()
    return {"from": int(first), "to": last, "count": int(count), "lastHash": digest or ""}


class PurgeLoop:
    """The service's purge: a thread that runs :meth:`Retention.purge` at start and every
    ``every`` seconds after. Use it as a context manager, or ``start``/``close``.

    Args:
        retention: what purges.
        every: seconds between purges.
    """

    def __init__(self, retention: Retention, every: float = PURGE_EVERY) -> None:
        self._retention = retention
        self._every = every
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread."""
        self._thread = threading.Thread(target=self._loop, name="aft-purge", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the thread (after the purge under way, if any)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> PurgeLoop:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self._retention.purge()
            except Exception:
                log.exception("the retention purge failed; it runs again later")
            self._stopping.wait(self._every)
