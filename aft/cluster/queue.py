"""ClusterQueue: the job queue when worker nodes take jobs through Celery.

The ``jobs`` table stays the record; a Celery message only says "run job X" in a worker
group. Every step is a guarded UPDATE, so it holds whichever node does it and however
often a message arrives:

- a serve node *publishes* a queued job by stamping ``published`` (one node wins), then
  sends its message; a queued job whose message went long ago and that no worker took
  is published again (a lost message never loses a job);
- a worker *claims* the job by id (``queued`` -> ``running``, with its name and a
  heartbeat): a message that comes twice runs the job once;
- the worker renews the heartbeat while the job runs; a serve node's reaper marks a
  running job whose heartbeat went stale ``interrupted`` (again one node wins), and the
  retry policy queues the next attempt, which any worker of the group may take.

Heartbeats use the database's clock, so the nodes' clocks need not agree.
"""

from __future__ import annotations

import contextlib
import re
import time
from typing import Any

from aft._store import Store
from aft.cluster.config import ClusterConfig
from aft.jobs import Job, JobIds, JobQueue

DEFAULT_GROUP = "default"
_GROUP = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_NOW = "EXTRACT(EPOCH FROM clock_timestamp())::float8"


def check_group(group: object) -> str:
    """A worker group name, validated.

    Raises:
        ValueError: not 1 to 64 letters, digits, ``_``, ``.`` or ``-``.
    """
    if not isinstance(group, str) or not _GROUP.match(group):
        raise ValueError("a worker group is 1 to 64 letters, digits, '_', '.' or '-'")
    return group


class ClusterQueue(JobQueue):
    """The job queue of a cluster (a :class:`~aft.cluster.pgstore.PostgresStore`).

    Args:
        store: the shared database.
        stale_after: seconds without a heartbeat after which a running job is interrupted.
        republish_after: seconds after which an untaken queued job is published again.
    """

    def __init__(
        self, store: Store, *, stale_after: float = 30.0, republish_after: float = 300.0
    ) -> None:
        super().__init__(store)
        self.stale_after = stale_after
        self.republish_after = republish_after

    @classmethod
    def for_node(cls, store: Store, config: ClusterConfig) -> ClusterQueue:
        """The queue as a node with cluster configuration ``config`` sees it."""
        return cls(
            store,
            stale_after=config.stale_after_seconds,
            republish_after=config.republish_after_seconds,
        )

    def submit(  # type: ignore[override]
        self, source: str, *, group: str | None = None, **kwargs: Any
    ) -> Job:
        """Queue a run of ``source`` for a worker group; see :meth:`JobQueue.submit`.

        Args:
            source: the script text.
            group: the worker group; by default the stored script's (``script_id``),
                else ``default``.
            **kwargs: as for :meth:`JobQueue.submit`.

        Raises:
            ValueError: a bad trigger or group name.
        """
        if group is None:
            script_id = kwargs.get("script_id")
            group = DEFAULT_GROUP if script_id is None else ScriptGroups(self._store).get(script_id)
        check_group(group)
        db = kwargs.pop("db", None)  # a caller's open transaction (the scheduler's)
        with contextlib.nullcontext(db) if db is not None else self._store.transaction() as tx:
            job = super().submit(source, db=tx, **kwargs)  # the job and its group together
            tx.execute("UPDATE jobs SET grp = ? WHERE id = ?", (group, job.id))
        return job

    def group(self, job_id: str) -> str:
        """The worker group a job runs in."""
        rows = self._store.query("SELECT grp FROM jobs WHERE id = ?", (job_id,))
        return str(rows[0][0]) if rows else DEFAULT_GROUP

    def recover(self, reason: str = "") -> JobIds:
        """Nothing to do when a serve node starts: the jobs other nodes' workers run are
        theirs, and the reaper interrupts those whose workers died."""
        return []

    # ---- serve nodes ------------------------------------------------------------------

    def to_publish(self, limit: int = 200) -> list[tuple[str, str]]:
        """Stamp the queued jobs due for a message; returns ``(job id, group)`` to send."""
        with self._store.transaction() as db:
            rows = db.execute(
                f"UPDATE jobs SET published = {_NOW} WHERE id IN ("
                " SELECT id FROM jobs WHERE state = 'queued' AND not_before <= ?"
                f" AND (published IS NULL OR published < {_NOW} - ?)"
                " ORDER BY seq LIMIT ?) RETURNING id, grp",
                (time.time(), self.republish_after, limit),
            ).fetchall()
        return [(r[0], r[1]) for r in rows]

    def reap(self) -> JobIds:
        """Interrupt running jobs whose heartbeat is stale (queueing their retries)."""
        stale = self._store.query(
            "SELECT id FROM jobs WHERE state = 'running'"
            f" AND COALESCE(heartbeat, started) < {_NOW} - ?",
            (self.stale_after,),
        )
        reaped = []
        for (job_id,) in stale:
            now = time.time()
            with self._store.transaction() as db:
                ended = db.execute(
                    "UPDATE jobs SET state = 'interrupted', error = ?, finished = ?"
                    " WHERE id = ? AND state = 'running'"
                    f" AND COALESCE(heartbeat, started) < {_NOW} - ?",
                    (
                        f"the worker stopped sending heartbeats ({self.stale_after:g}s)",
                        now,
                        job_id,
                        self.stale_after,
                    ),
                ).rowcount
                if ended:
                    self._queue_retry(db, job_id, now)
                    reaped.append(job_id)
        return reaped

    # ---- worker nodes -----------------------------------------------------------------

    def claim_id(self, job_id: str, worker: str) -> bool:
        """Take job ``job_id`` if it is queued and due; False if it is not (any more)."""
        return bool(
            self._store.execute(
                f"UPDATE jobs SET state = 'running', started = ?, worker = ?, heartbeat = {_NOW}"
                " WHERE id = ? AND state = 'queued' AND not_before <= ?",
                (time.time(), worker, job_id, time.time()),
            )
        )

    def beat(self, job_id: str, worker: str) -> tuple[bool, bool]:
        """Renew a running job's heartbeat: ``(still ours, halt requested)``."""
        rows = self._store.query(
            f"UPDATE jobs SET heartbeat = {_NOW}"
            " WHERE id = ? AND state = 'running' AND worker = ? RETURNING halt_requested",
            (job_id, worker),
        )
        return (bool(rows), bool(rows) and rows[0][0] is not None)


class ScriptGroups:
    """The worker group each stored script's jobs run in (a cluster database only).

    Args:
        store: the shared database.
    """

    def __init__(self, store: Store) -> None:
        self._store = store

    def get(self, script_id: str) -> str:
        """The script's group (``default`` unless set)."""
        rows = self._store.query("SELECT grp FROM script_groups WHERE script_id = ?", (script_id,))
        return str(rows[0][0]) if rows else DEFAULT_GROUP

    def all(self) -> dict[str, str]:
        """Script id -> group, for the scripts whose group is not ``default``."""
        return dict(self._store.query("SELECT script_id, grp FROM script_groups"))

    def set(self, script_id: str, group: str) -> str:
        """Run the script's jobs in ``group`` from now on (``default`` forgets the choice).

        Raises:
            ValueError: a bad group name.
        """
        check_group(group)
        with self._store.transaction() as db:
            db.execute("DELETE FROM script_groups WHERE script_id = ?", (script_id,))
            if group != DEFAULT_GROUP:
                db.execute(
                    "INSERT INTO script_groups (script_id, grp) VALUES (?, ?)", (script_id, group)
                )
        return group
