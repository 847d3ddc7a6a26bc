"""JobQueue: the persistent job queue in the instance database.

A job is written (with a snapshot of its script) before anyone is told it exists, so
a crash never loses an accepted job. Its life: ``queued`` -> ``running`` -> one of
``succeeded``, ``failed``, ``halted``, ``interrupted``. Every change of state is a
guarded ``UPDATE ... WHERE state = ...``, so a job is claimed by one worker only and
finished once only.

A job that ends ``failed`` or ``interrupted`` with attempts left is followed by a new
job (``retry_of`` = the old one, in the same worker group) that may not start before its
backoff has passed.

Every job runs in a worker group (``default`` unless its script or its submitter names
another). :class:`JobQueue` is the queue of a single node, whose own worker pool claims
its jobs; :class:`ClusterQueue` is the same queue when worker nodes take jobs through a
broker: it adds publishing, claiming by id, heartbeats and the reaper.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from aft._store import Store
from aft.audit import current_actor
from aft.exceptions import JobAlreadyEnded, JobConflict, JobNotFound, JobWaitTimeout
from aft.journal import Journal, Progress, Tracker, job_progress
from aft.models import (
    DEFAULT_GROUP,
    Job,
    JobState,
    LogLevel,
    LogLine,
    RunResult,
    check_group,
)

TRIGGERS = ("api", "cli", "cron", "ui")
#: How long an idempotency key keeps answering with the job it made.
IDEMPOTENCY_SECONDS = 24 * 3600
_COLUMNS = (
    "id, script_id, script_name, params, trigger, api_key_id, state, exit_code, error,"
    " error_line, attempt, max_attempts, retry_backoff, retry_of, not_before, created,"
    " started, finished, worker, halt_requested, grp, max_run_seconds, halt_reason, started_by"
)


def _job(row: Sequence[Any]) -> Job:
    values = list(row)
    values[3] = json.loads(values[3])
    values[6] = JobState(values[6])
    return Job(*values)


class QueuedJob(Job):
    """A job as :meth:`JobQueue.submit` returns it: its record when it was queued (equal to
    that :class:`Job`), and a handle on the queue to follow it with.

    Its fields do not change; :meth:`wait` and :meth:`result` read the job as it is now.
    Someone must run the queue meanwhile: a :class:`~aft.worker.WorkerPool`,
    ``aft serve``, or worker nodes.
    """

    queue: JobQueue

    @classmethod
    def of(cls, job: Job, queue: JobQueue) -> QueuedJob:
        """``job``'s record with a handle on ``queue``."""
        handle = cls._make(job)
        handle.queue = queue
        return handle

    def record(self) -> Job:
        """The job's record as queued, without the handle."""
        return Job._make(self)

    def wait(self, timeout: float | None = None) -> Job:
        """The job's record once it has ended (succeeded, failed, halted or interrupted).

        Raises:
            JobWaitTimeout: it has not ended after ``timeout`` seconds.
        """
        return self.queue.wait(self.id, timeout)

    def result(self, timeout: float | None = None) -> RunResult:
        """How the run went, once it has ended, as :meth:`aft.executor.Executor.run`
        returns it: state, exit code, the whole log, error and error line.

        Raises:
            JobWaitTimeout: it has not ended after ``timeout`` seconds.
        """
        job = self.wait(timeout)
        lines: list[LogLine] = []
        while True:
            page, _ = self.queue.log(self.id, offset=len(lines))
            if not page:
                break
            lines.extend(page)
        exit_code = job.exit_code
        if exit_code is None:
            exit_code = 0 if job.state is JobState.SUCCEEDED else 1
        return RunResult(job.state, exit_code, tuple(lines), job.error, job.error_line)


# Return types named before JobQueue defines its own `list` method.
JobPage = tuple[list[Job], "int | None"]
LogPage = tuple[list[LogLine], int]
HaltRequests = list[tuple[str, str, float]]
JobIds = list[str]


def new_job_id() -> str:
    return "job_" + os.urandom(8).hex()  # what secrets.token_hex does, without its imports


class JobQueue:
    """The instance's jobs and their logs.

    Args:
        store: the instance database.
    """

    def __init__(self, store: Store) -> None:
        self._store = store

    # ---- submitting and reading ---------------------------------------------------------

    def submit(
        self,
        source: str,
        *,
        script_name: str,
        params: dict[str, Any] | None = None,
        trigger: str = "api",
        script_id: str | None = None,
        api_key_id: str | None = None,
        retries: int = 0,
        retry_backoff: float = 0.0,
        group: str | None = None,
        idempotency_key: str | None = None,
        started_by: str | None = None,
    ) -> QueuedJob:
        """Queue a run of ``source``. The job is committed when this returns; inside a
        transaction of this thread that is open already, when that one commits.

        With ``idempotency_key``, a second submit with the same key from the same API key
        within :data:`IDEMPOTENCY_SECONDS` queues nothing and returns the first job (a
        client that lost the answer to a crash can safely ask again).

        Args:
            source: the script text.
            script_name: what ``ScriptName()`` returns.
            params: the job parameters.
            trigger: who asked: ``api``, ``cli``, ``cron`` or ``ui``.
            script_id: the stored script it runs, if any.
            api_key_id: the API key that asked, if any.
            retries: how many times a failed or interrupted run is retried.
            retry_backoff: seconds before the first retry (doubling after each).
            group: the worker group; by default the stored script's, else ``default``.
            idempotency_key: the client's key for this request (1 to 200 characters).
            started_by: who or what asked: ``schedule:NAME``, ``key:NAME (ID)``,
                ``account:NAME``, ``cli:OSUSER``; by default the actor of
                :func:`aft.audit.acting_as`.

        Returns:
            The job as queued, with :meth:`QueuedJob.wait` and :meth:`QueuedJob.result`.

        Raises:
            ValueError: a bad trigger, group name or idempotency key.
            JobConflict: the idempotency key was used for a different request.
        """
        if trigger not in TRIGGERS:
            raise ValueError(f"trigger must be one of {', '.join(TRIGGERS)}")
        if group is not None:
            check_group(group)
        if idempotency_key is not None and not 0 < len(idempotency_key) <= 200:
            raise ValueError("an idempotency key is 1 to 200 characters")
        job_id = new_job_id()
        now = time.time()
        if started_by is None:
            started_by = current_actor()[0]
        with self._store.transaction() as db:
            row = db.execute(
                "SELECT grp, max_run_seconds FROM scripts WHERE id = ?", (script_id,)
            ).fetchone()
            if group is None:
                group = DEFAULT_GROUP if row is None else str(row[0])
            max_run = 0.0 if row is None else float(row[1])
            if idempotency_key is not None:
                request = [script_name, script_id, params or {}, group, trigger]
                fingerprint = hashlib.sha256(json.dumps(request).encode()).hexdigest()
                first = self._first_job(db, api_key_id or "", idempotency_key, fingerprint, now)
                if first is not None:
                    return self._queued(first)
            db.execute(
                "INSERT INTO jobs (id, script_id, script_name, source, params, trigger,"
                " api_key_id, state, attempt, max_attempts, retry_backoff, not_before, created,"
                " grp, max_run_seconds, started_by)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', 1, ?, ?, 0, ?, ?, ?, ?)",
                (
                    job_id,
                    script_id,
                    script_name,
                    source,
                    json.dumps(params or {}, allow_nan=False),
                    trigger,
                    api_key_id,
                    1 + retries,
                    retry_backoff,
                    now,
                    group,
                    max_run,
                    started_by,
                ),
            )
            if idempotency_key is not None:
                db.execute(
                    "INSERT INTO idempotency (owner, key, fingerprint, job_id, created)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (api_key_id or "", idempotency_key, fingerprint, job_id, now),
                )
        return self._queued(job_id)

    def _queued(self, job_id: str) -> QueuedJob:
        return QueuedJob.of(self.get(job_id), self)

    @staticmethod
    def _first_job(db: Any, owner: str, key: str, fingerprint: str, now: float) -> str | None:
        """The job an earlier request with this key made, if the key is still live."""
        db.execute("DELETE FROM idempotency WHERE created < ?", (now - IDEMPOTENCY_SECONDS,))
        row = db.execute(
            "SELECT fingerprint, job_id FROM idempotency WHERE owner = ? AND key = ?",
            (owner, key),
        ).fetchone()
        if row is None:
            return None
        if row[0] != fingerprint:
            raise JobConflict(
                "this Idempotency-Key was used for a different request in the last 24 hours"
            )
        return str(row[1])

    def get(self, job_id: str) -> Job:
        """Raises JobNotFound."""
        rows = self._store.query(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        if not rows:
            raise JobNotFound(f"no job {job_id!r}")
        return _job(rows[0])

    def wait(self, job_id: str, timeout: float | None = None, poll: float = 0.1) -> Job:
        """The job once it has ended (succeeded, failed, halted or interrupted).

        Whoever runs it (a :class:`~aft.worker.WorkerPool`, ``aft serve``, worker nodes)
        may be in another process: this polls the record every ``poll`` seconds.

        Raises:
            JobNotFound: no such job.
            JobWaitTimeout: it has not ended after ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if job.state.is_final:
                return job
            if deadline is not None and time.monotonic() >= deadline:
                raise JobWaitTimeout(f"job {job_id} is still {job.state.value} after {timeout:g}s")
            time.sleep(poll)

    def source(self, job_id: str) -> str:
        """The script text the job runs (as it was when queued)."""
        rows = self._store.query("SELECT source FROM jobs WHERE id = ?", (job_id,))
        if not rows:
            raise JobNotFound(f"no job {job_id!r}")
        return str(rows[0][0])

    def list(
        self,
        *,
        state: str | None = None,
        script: str | None = None,
        trigger: str | None = None,
        since: float | None = None,
        api_key_id: str | None = None,
        limit: int = 50,
        cursor: int | None = None,
    ) -> JobPage:
        """Jobs, newest first, and the cursor for the next page (None at the end).

        Args:
            state: only jobs in this state.
            script: only jobs of this script (any case).
            trigger: only jobs started this way (``api``, ``cli``, ``cron``, ``ui``).
            since: only jobs queued at or after this Unix time.
            api_key_id: only jobs this API key started.
            limit: the page size.
            cursor: the cursor a previous page gave.
        """
        where: list[str] = ["1 = 1"]
        args: list[object] = []
        if state is not None:
            where.append("state = ?")
            args.append(JobState(state).value)
        if script is not None:
            where.append("script_name = ? COLLATE NOCASE")
            args.append(script)
        if trigger is not None:
            where.append('"trigger" = ?')
            args.append(trigger)
        if since is not None:
            where.append("created >= ?")
            args.append(since)
        if api_key_id is not None:
            where.append("api_key_id = ?")
            args.append(api_key_id)
        if cursor is not None:
            where.append("seq < ?")
            args.append(cursor)
        rows = self._store.query(
            f"SELECT seq, {_COLUMNS} FROM jobs WHERE {' AND '.join(where)}"
            " ORDER BY seq DESC LIMIT ?",
            (*args, limit + 1),
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return [_job(r[1:]) for r in rows], (rows[-1][0] if more else None)

    def log(
        self, job_id: str, offset: int = 0, limit: int = 1000, max_chars: int = 1024 * 1024
    ) -> LogPage:
        """Log lines from ``offset`` on (at most ``limit`` lines and, past the first line,
        ``max_chars`` characters of text), and the offset to ask for next."""
        self.get(job_id)
        rows = self._store.query(
            "SELECT time, level, text FROM job_logs WHERE job_id = ? AND n >= ? ORDER BY n LIMIT ?",
            (job_id, offset, limit),
        )
        lines: list[LogLine] = []
        size = 0
        for t, level, text in rows:
            size += len(text)
            if lines and size > max_chars:
                break
            lines.append(LogLine(t, LogLevel(level), text))
        return lines, offset + len(lines)

    # ---- what workers do ----------------------------------------------------------------

    def start_here(
        self,
        source: str,
        *,
        script_name: str,
        params: dict[str, Any],
        worker: str,
        trigger: str = "cli",
        started_by: str | None = None,
    ) -> str:
        """Record a run that starts now in the calling process (``aft run``): a job that is
        ``running`` from the start (no worker ever claims it) and that :meth:`finish` ends.

        Returns:
            The job's id.
        """
        if trigger not in TRIGGERS:
            raise ValueError(f"trigger must be one of {', '.join(TRIGGERS)}")
        job_id = new_job_id()
        now = time.time()
        self._store.execute(
            "INSERT INTO jobs (id, script_name, source, params, trigger, state, attempt,"
            " max_attempts, retry_backoff, not_before, created, started, worker, started_by)"
            " VALUES (?, ?, ?, ?, ?, 'running', 1, 1, 0, 0, ?, ?, ?, ?)",
            (
                job_id,
                script_name,
                source,
                json.dumps(params, allow_nan=False),
                trigger,
                now,
                now,
                worker,
                started_by,
            ),
        )
        return job_id

    def tracker(
        self,
        job_id: str,
        *,
        transfers: bool = True,
        on_progress: Callable[[Progress], object] | None = None,
    ) -> Tracker:
        """A tracker for a run of ``job_id`` that writes its progress (and, with
        ``transfers``, a record per file) to the job; close it once the run ends.
        ``on_progress`` is also told (see :class:`~aft.journal.Tracker`)."""
        journal = Journal(self._store, job_id, transfers=transfers)
        return Tracker(on_progress=on_progress, journal=journal, job_id=job_id)

    def progress(self, job_id: str) -> dict[str, Any] | None:
        """The job's progress as its run last wrote it (None: it moved no file yet)."""
        return job_progress(self._store, job_id)

    def claim(self, worker: str) -> Job | None:
        """Take the oldest queued job that may start now, or None."""
        with self._store.transaction() as db:
            row = db.execute(
                "UPDATE jobs SET state = 'running', started = ?, worker = ? WHERE id = ("
                " SELECT id FROM jobs WHERE state = 'queued' AND not_before <= ?"
                " ORDER BY seq LIMIT 1) RETURNING id",
                (time.time(), worker, time.time()),
            ).fetchone()
        return None if row is None else self.get(row[0])

    def append_log(self, job_id: str, lines: Iterable[LogLine]) -> None:
        with self._store.transaction() as db:
            n = db.execute(
                "SELECT COALESCE(MAX(n) + 1, 0) FROM job_logs WHERE job_id = ?", (job_id,)
            ).fetchone()[0]
            db.executemany(
                "INSERT INTO job_logs (job_id, n, time, level, text) VALUES (?, ?, ?, ?, ?)",
                [(job_id, n + i, ln.time, ln.level.value, ln.text) for i, ln in enumerate(lines)],
            )

    def finish(self, job_id: str, result: RunResult) -> bool:
        """Record how a running job ended; False if it was not running any more."""
        return self._end(job_id, result.state, result.exit_code, result.error, result.error_line)

    def interrupt(self, job_id: str, reason: str) -> bool:
        """End a running job whose process died; it is retried if its policy says so."""
        return self._end(job_id, JobState.INTERRUPTED, None, reason, None)

    def halted_by_force(self, job_id: str, reason: str) -> bool:
        """End a running job whose process was killed after a halt request."""
        return self._end(job_id, JobState.HALTED, None, reason, None)

    def _end(
        self,
        job_id: str,
        state: JobState,
        exit_code: int | None,
        error: str | None,
        line: int | None,
    ) -> bool:
        now = time.time()
        with self._store.transaction() as db:
            ended = db.execute(  # the reason it was asked to halt comes first, if any
                "UPDATE jobs SET state = ?, exit_code = ?, error_line = ?, finished = ?,"
                " error = COALESCE(halt_reason || '; ' || ?, halt_reason, ?)"
                " WHERE id = ? AND state = 'running'",
                (state.value, exit_code, line, now, error, error, job_id),
            ).rowcount
            if ended and state in (JobState.FAILED, JobState.INTERRUPTED):
                self._queue_retry(db, job_id, now)
        return bool(ended)

    @staticmethod
    def _queue_retry(db: Any, job_id: str, now: float) -> None:
        attempt, max_attempts, backoff = db.execute(
            "SELECT attempt, max_attempts, retry_backoff FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
        if attempt >= max_attempts:
            return
        db.execute(
            "INSERT INTO jobs (id, script_id, script_name, source, params, trigger, api_key_id,"
            " state, attempt, max_attempts, retry_backoff, retry_of, not_before, created, grp,"
            " max_run_seconds, started_by) SELECT ?, script_id, script_name, source, params,"
            " trigger, api_key_id, 'queued', attempt + 1, max_attempts, retry_backoff, id, ?, ?,"
            " grp, max_run_seconds, started_by FROM jobs WHERE id = ?",
            (new_job_id(), now + backoff * 2 ** (attempt - 1), now, job_id),
        )

    # ---- halting and recovery -----------------------------------------------------------

    def request_halt(self, job_id: str, reason: str | None = None) -> Job:
        """Ask a job to stop: a queued one never starts; a running one gets the halt signal.

        Args:
            job_id: the job.
            reason: why, for the job's record (it leads the job's error when it ends).

        Raises:
            JobNotFound: no such job.
            JobAlreadyEnded: the job has already ended.
        """
        now = time.time()
        with self._store.transaction() as db:
            row = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise JobNotFound(f"no job {job_id!r}")
            state = JobState(row[0])
            if state.is_final:
                raise JobAlreadyEnded(f"job {job_id} has already ended ({state.value})")
            if state is JobState.QUEUED:
                db.execute(
                    "UPDATE jobs SET state = 'halted', finished = ?,"
                    " error = 'halted before it started' WHERE id = ?",
                    (now, job_id),
                )
            else:
                db.execute(
                    "UPDATE jobs SET halt_requested = COALESCE(halt_requested, ?),"
                    " halt_reason = COALESCE(halt_reason, ?) WHERE id = ?",
                    (now, reason, job_id),
                )
        return self.get(job_id)

    def halt_requests(self) -> HaltRequests:
        """Running jobs asked to halt: ``(job id, worker, when asked)``."""
        rows = self._store.query(
            "SELECT id, worker, halt_requested FROM jobs"
            " WHERE state = 'running' AND halt_requested IS NOT NULL"
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def recover(
        self, reason: str = "the service stopped while the job ran", *, host: str | None = None
    ) -> JobIds:
        """Mark running jobs interrupted after a crash; returns their ids.

        Args:
            reason: what the jobs' records say.
            host: only the jobs of worker processes of this host (worker ``host:pid``) that
                are gone: no process of that id, or one that started after the job did (its
                id was reused). A node on a database that other nodes use recovers its own
                jobs only, whatever they run. None: every running job (the node's own
                database) but the runs of ``aft run`` on this host whose process lives.
        """
        rows = self._store.query(
            "SELECT id, worker, started, trigger FROM jobs WHERE state = 'running'"
        )

        def gone(worker: str | None, started: float | None, trigger: str) -> bool:
            name, _, pid_text = (worker or "").rpartition(":")
            if host is None and trigger != "cli":
                return True
            if name != (host or os.uname().nodename) or not pid_text.isdigit():
                return False
            pid = int(pid_text)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                pass  # another user's process: alive
            try:  # Linux: a zombie is gone; a process younger than the job is another one
                fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
                boot = next(
                    float(line.split()[1])
                    for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime ")
                )
                born = boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
            except (OSError, ValueError, IndexError, StopIteration):
                return False
            return fields[0] in ("Z", "X") or born > (started or 0.0) + 1.0

        return [
            job_id
            for job_id, worker, started, trigger in rows
            if gone(worker, started, trigger) and self.interrupt(job_id, reason)
        ]

    def counts(self) -> dict[str, int]:
        """How many jobs are in each state."""
        rows = self._store.query("SELECT state, COUNT(*) FROM jobs GROUP BY state")
        return {state.value: 0 for state in JobState} | dict(rows)


class LocalRun:
    """A script run in the calling process (``aft run``), recorded as a job.

    The job is written once when it starts and once when it ends; log lines reach it in
    batches: every ``every`` seconds (a background thread) or every ``batch`` lines,
    whichever comes first, so a chatty script costs few write transactions. The same
    thread looks whether someone asked the job to halt (``aft jobs halt``, the console)
    and then calls ``on_halt``; on a cluster's queue it also renews the job's heartbeat,
    which the reapers would otherwise take for a dead worker's.

    Args:
        queue: the instance's job queue.
        job_id: the job :meth:`JobQueue.start_here` recorded.
        worker: the name it was recorded with.
        on_halt: called (from the thread) once a halt is asked for.
        every: seconds between batches.
        batch: lines that make a batch at once.
    """

    def __init__(
        self,
        queue: JobQueue,
        job_id: str,
        worker: str,
        on_halt: Callable[[], None] | None = None,
        every: float = 1.0,
        batch: int = 500,
    ) -> None:
        self.queue = queue
        self.job_id = job_id
        self.worker = worker
        self._on_halt = on_halt
        self._batch = batch
        self._pending: list[LogLine] = []
        self._lock = threading.Lock()
        self._writing = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, args=(every,), daemon=True)
        # The thread starts with every signal blocked, so the process's signals (the halt)
        # reach the main thread, which may be blocked in a select that only they interrupt.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
        try:
            self._thread.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    def log(self, line: LogLine) -> None:
        """Keep a log line for the next batch (an ``on_log`` for :meth:`Executor.run`)."""
        with self._lock:
            self._pending.append(line)
            full = len(self._pending) >= self._batch
        if full:
            self._flush()

    def finish(self, result: RunResult) -> None:
        """Write the remaining lines and how the run ended (once; later calls do nothing)."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join()
        self._flush()
        self.queue.finish(self.job_id, result)

    def __enter__(self) -> LocalRun:
        return self

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        """A run that raised instead of returning a result is recorded as failed."""
        if exc is not None:
            error = " ".join(str(exc).split()) or type(exc).__name__
            self.finish(RunResult(JobState.FAILED, 1, (), error=error))

    def _flush(self) -> None:
        with self._writing:  # batches are written in the order they were taken
            with self._lock:
                lines, self._pending = self._pending, []
            if lines:
                self.queue.append_log(self.job_id, lines)

    def _loop(self, every: float) -> None:
        while not self._stop.wait(every):
            self._flush()
            if isinstance(self.queue, ClusterQueue):
                halt = self.queue.beat(self.job_id, self.worker)[1]
            else:
                halt = self.queue.get(self.job_id).halt_requested is not None
            if halt and self._on_halt is not None:
                self._on_halt()
                self._on_halt = None


# ---- several nodes ---------------------------------------------------------------------

_NOW = "EXTRACT(EPOCH FROM clock_timestamp())::float8"


class ClusterQueue(JobQueue):
    """The job queue of a cluster (a :class:`~aft._pgstore.PostgresStore`).

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

    Heartbeats use the database's clock, so the nodes' clocks need not agree. The first
    node with a broker to open the database marks it a cluster's (:meth:`join`), so that a
    node without one refuses to serve it (see :meth:`membership`).

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

    def recover(self, reason: str = "", *, host: str | None = None) -> JobIds:
        """Nothing to do when a serve node starts: the jobs other nodes' workers run are
        theirs, and the reaper interrupts those whose workers died."""
        return []

    # ---- membership -------------------------------------------------------------------

    def join(self, node: str) -> None:
        """Mark the database a cluster's, if no node has yet (``node`` names the first)."""
        self._store.execute(
            "INSERT INTO cluster_info (id, since, first_node) VALUES (1, ?, ?)"
            " ON CONFLICT (id) DO NOTHING",
            (time.time(), node),
        )

    @staticmethod
    def membership(store: Store) -> tuple[float, str] | None:
        """When ``store`` became a cluster's database and its first node; None if it has not."""
        rows = store.query("SELECT since, first_node FROM cluster_info WHERE id = 1")
        return None if not rows else (float(rows[0][0]), str(rows[0][1]))

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

    def unpublish(self, job_ids: Sequence[str]) -> None:
        """Forget the stamp of queued jobs whose message could not be sent, so that the
        next :meth:`to_publish` sends them again (not ``republish_after`` later)."""
        self._store.execute(
            "UPDATE jobs SET published = NULL WHERE id = ANY(?) AND state = 'queued'",
            (list(job_ids),),
        )

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
        return self.take(job_id, worker) is not None

    def take(self, job_id: str, worker: str, *, started: float | None = None) -> float | None:
        """Claim job ``job_id`` if it is queued and due: its maximum run time in seconds (0:
        none), or None when it is not queued (any more).

        Args:
            job_id: the job.
            worker: the claiming worker's name.
            started: the claim's time (default now); :meth:`release` names the claim by it.
        """
        rows = self._store.query(
            f"UPDATE jobs SET state = 'running', started = ?, worker = ?, heartbeat = {_NOW}"
            " WHERE id = ? AND state = 'queued' AND not_before <= ? RETURNING max_run_seconds",
            (time.time() if started is None else started, worker, job_id, time.time()),
        )
        return float(rows[0][0]) if rows else None

    def release(self, job_id: str, worker: str, started: float) -> bool:
        """Put back a job that ``worker`` claimed at ``started`` but never ran (the claim's
        answer was lost); it is published again. False when that claim did not happen or
        the job has moved on."""
        return bool(
            self._store.execute(
                "UPDATE jobs SET state = 'queued', started = NULL, worker = NULL,"
                " heartbeat = NULL, published = NULL"
                " WHERE id = ? AND state = 'running' AND worker = ? AND started = ?",
                (job_id, worker, started),
            )
        )

    def beat(self, job_id: str, worker: str) -> tuple[bool, bool]:
        """Renew a running job's heartbeat: ``(still ours, halt requested)``."""
        halts = self.beat_all([job_id], worker)
        return (job_id in halts, halts.get(job_id, False))

    def beat_all(self, job_ids: Sequence[str], worker: str) -> dict[str, bool]:
        """Renew the heartbeat of ``worker``'s running jobs, in one statement.

        Returns:
            Job id -> halt requested, for the jobs still running as ``worker``'s (a job
            missing from it was reaped, halted or ended elsewhere).
        """
        rows = self._store.query(
            f"UPDATE jobs SET heartbeat = {_NOW}"
            " WHERE id = ANY(?) AND state = 'running' AND worker = ?"
            " RETURNING id, halt_requested",
            (list(job_ids), worker),
        )
        return {str(job_id): halt is not None for job_id, halt in rows}

    def fenced(self, job_id: str, worker: str, note: str) -> bool:
        """Record that ``worker`` killed its run of the job itself, and why (``note``).

        A job still running as ``worker``'s ends ``interrupted`` with ``note`` (and is
        retried as its policy says); one that a reaper interrupted meanwhile gets ``note``
        after the reaper's reason. Either way the note is also the last line of the job's
        log. Safe to repeat.

        Returns:
            False when there was nothing to record (the job ended otherwise).
        """
        now = time.time()
        with self._store.transaction() as db:
            changed = db.execute(
                "UPDATE jobs SET state = 'interrupted', finished = ?,"
                " error = COALESCE(halt_reason || '; ' || ?, halt_reason, ?)"
                " WHERE id = ? AND state = 'running' AND worker = ?",
                (now, note, note, job_id, worker),
            ).rowcount
            if changed:
                self._queue_retry(db, job_id, now)
            else:
                changed = db.execute(
                    "UPDATE jobs SET error = COALESCE(error || '; ', '') || ?"
                    " WHERE id = ? AND state = 'interrupted' AND worker = ?"
                    " AND strpos(COALESCE(error, ''), ?) = 0",
                    (note, job_id, worker, note),
                ).rowcount
            if changed:
                self.append_log(job_id, [LogLine(now, LogLevel.ERROR, note)])
        return bool(changed)

    def ping(self) -> None:
        """One round trip to the database.

        Raises:
            StoreError: the database cannot be reached.
        """
        self._store.query("SELECT 1")
