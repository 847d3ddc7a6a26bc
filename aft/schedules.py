"""Schedules: stored scripts run at set times, like cron, by the service's :class:`Scheduler`.

A schedule fires at the times its cron expression names, read in its IANA time zone.
Around a DST change a wall-clock time that does not exist runs once, an hour late
(02:30 becomes 03:30); one that happens twice runs once, at its first occurrence,
unless the hour field is ``*``: then the repeated hour runs too, as the clock shows it.

A firing submits an ordinary job (trigger ``cron``). While the schedule's previous run
is still queued or running, ``overlap`` decides: ``skip`` drops the firing, ``queue``
holds it (at most one) until that run has ended, ``allow`` submits it at once. Firings
missed while no scheduler ran are skipped, or with ``catch_up`` run once for all.

Each firing is one store transaction that moves ``next_run`` on with a compare-and-set,
so it happens once even with two schedulers on one database.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import threading
import time
import zoneinfo
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs
from croniter import CroniterError, croniter

from aft import audit
from aft._store import Store
from aft.exceptions import ScheduleError, ScheduleExists, ScheduleNotFound, ScriptNotFound
from aft.jobs import JobQueue
from aft.models import name_problem
from aft.scripts_store import ScriptStore

log = logging.getLogger("aft.schedules")

OVERLAP = ("skip", "queue", "allow")
_COLUMNS = (
    "id, name, script, cron, timezone, params, enabled, overlap, catch_up, next_run, last_run,"
    " last_job_id, held, created, updated"
)
_FIND = f"SELECT {_COLUMNS} FROM schedules WHERE id = ? OR name = ? ORDER BY id = ? DESC LIMIT 1"
_NEAR = timedelta(hours=3)  # how far around a time a DST change is looked for


@attrs.frozen
class Schedule:
    """A script run at set times.

    Attributes:
        id: ``sch_`` and 12 hex digits.
        name: unique in any case.
        script: the stored script's name.
        cron: 5 fields (minute hour day month weekday), or 6 with a leading seconds field.
        timezone: the IANA zone the cron expression is read in.
        params: the jobs' params (a flat JSON object).
        enabled: whether it fires.
        overlap: ``skip``, ``queue`` or ``allow``: what a firing does while the previous
            run is still queued or running.
        catch_up: after downtime, run once for the missed firings (else skip them).
        next_run: Unix seconds of the next firing (None while disabled).
        last_run: Unix seconds of the last job submitted.
        last_job_id: that job.
        held: a firing waits for the previous run to end (overlap ``queue``).
        created: Unix seconds.
        updated: Unix seconds of the last change.
    """

    id: str
    name: str
    script: str
    cron: str
    timezone: str
    params: dict[str, Any]
    enabled: bool
    overlap: str
    catch_up: bool
    next_run: float | None
    last_run: float | None
    last_job_id: str | None
    held: bool
    created: float
    updated: float

    @classmethod
    def _from_row(cls, row: Sequence[Any]) -> Schedule:
        v = list(row)
        v[5] = json.loads(v[5])
        v[6], v[8], v[12] = bool(v[6]), bool(v[8]), bool(v[12])
        return cls(*v)


# ---- cron and time zones -------------------------------------------------------------------


def _zone(name: object) -> zoneinfo.ZoneInfo:
    if not isinstance(name, str) or not name.strip():
        raise ScheduleError("timezone is required: an IANA zone like Europe/Berlin or UTC")
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise ScheduleError(
            f"unknown timezone {name!r}: use an IANA zone like Europe/Berlin"
        ) from None


def _check_zone(name: object) -> str:
    _zone(name)
    return str(name)


def _iterator(cron: str, start: datetime) -> croniter:
    return croniter(cron, start, second_at_beginning=len(cron.split()) == 6)


def check_cron(cron: object) -> str:
    """``cron`` with its fields separated by single spaces.

    Raises:
        ScheduleError: not 5 fields (or 6 with leading seconds), or a bad field.
    """
    if not isinstance(cron, str) or not cron.strip():
        raise ScheduleError("cron is required, like '0 2 * * *' (02:00 every day)")
    fields = cron.split()
    if not (len(fields) in (5, 6) or len(fields) == 1 and fields[0].startswith("@")):
        raise ScheduleError(
            f"cron {cron!r} has {len(fields)} fields: give 5 (minute hour day month weekday)"
            " or 6 with a leading seconds field"
        )
    text = " ".join(fields)
    try:
        _iterator(text, datetime(2000, 1, 1))
    except (CroniterError, ValueError) as exc:
        raise ScheduleError(f"cron {text!r} is not valid: {exc}") from None
    return text


def next_fire(cron: str, timezone: str, after: float) -> float:
    """Unix seconds of the first firing of ``cron`` (read in ``timezone``) after ``after``.

    Raises:
        ScheduleError: a bad expression or zone, or one that never fires.
    """
    zone = _zone(timezone)
    cron = check_cron(cron)
    here = datetime.fromtimestamp(after, zone)
    wall = here.replace(tzinfo=None)
    offsets = [
        datetime.fromtimestamp(after + d, zone).utcoffset() or timedelta()
        for d in (-_NEAR.total_seconds(), 0, _NEAR.total_seconds())
    ]
    shift = max(offsets) - min(offsets)  # zero unless the clock changes nearby
    fields = cron.split()
    every_hour = (fields[-4] if len(fields) >= 5 else fields[0]) in ("*", "*/1", "@hourly")
    folds = (0, 1) if shift and every_hour else (0,)
    best: float | None = None
    try:
        candidates = _iterator(cron, wall - shift)
        while True:
            local: datetime = candidates.get_next(datetime)
            for fold in folds:
                moment = local.replace(tzinfo=zone, fold=fold).timestamp()
                if moment > after and (best is None or moment < best):
                    best = moment
            if best is not None and local > wall + shift:
                return best
    except CroniterError as exc:
        raise ScheduleError(f"cron {cron!r} never fires: {exc}") from None


# ---- the store -----------------------------------------------------------------------------


def _check_name(name: object) -> str:
    problem = name_problem(name, "schedule")
    if problem:
        raise ScheduleError(problem)
    return str(name)


def _check_params(params: object) -> dict[str, Any]:
    if not isinstance(params, dict):
        raise ScheduleError('params must be a JSON object, like {"name": "value"}')
    for key, value in params.items():
        if not isinstance(key, str):
            raise ScheduleError("param names must be strings")
        if isinstance(value, float) and not math.isfinite(value):
            raise ScheduleError(f"param {key!r} is not a finite number")
        if value is not None and not isinstance(value, (str, int, float, bool)):
            raise ScheduleError(f"params must be flat: {key!r} holds an object or array")
    return dict(params)


def _check_overlap(overlap: object) -> str:
    if overlap not in OVERLAP:
        raise ScheduleError(f"overlap must be one of {', '.join(OVERLAP)}, not {overlap!r}")
    return str(overlap)


def _check_flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ScheduleError(f"{name} must be true or false")
    return value


def _found(rows: list[tuple[Any, ...]], name_or_id: str) -> Schedule:
    if not rows:
        raise ScheduleNotFound(f"no schedule named {name_or_id!r}")
    return Schedule._from_row(rows[0])


class ScheduleStore:
    """Stored schedules.

    Args:
        store: the instance database.
        clock: Unix seconds now; next runs are computed from it.
        on_change: called after every change (the service wakes its scheduler).
    """

    def __init__(
        self,
        store: Store,
        clock: Callable[[], float] = time.time,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.on_change = on_change
        self._scripts = ScriptStore(store)

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def add(
        self,
        name: str,
        script: str,
        cron: str,
        *,
        timezone: str = "UTC",
        params: dict[str, Any] | None = None,
        enabled: bool = True,
        overlap: str = "skip",
        catch_up: bool = False,
    ) -> Schedule:
        """Store a new schedule.

        Returns:
            The schedule, with its id and next run.

        Raises:
            ScheduleError: a bad name, cron, zone, params, overlap or flag.
            ScheduleExists: the name is taken (in any case).
            ScriptNotFound: no stored script has this name.
        """
        name = _check_name(name)
        cron = check_cron(cron)
        timezone = _check_zone(timezone)
        values = _check_params({} if params is None else params)
        overlap = _check_overlap(overlap)
        enabled = _check_flag("enabled", enabled)
        catch_up = _check_flag("catchUp", catch_up)
        script_name = self._script_name(script)
        now = self.clock()
        next_run = next_fire(cron, timezone, now) if enabled else None
        schedule_id = "sch_" + secrets.token_hex(6)
        with self.store.transaction() as db:
            if db.execute("SELECT 1 FROM schedules WHERE name = ?", (name,)).fetchone():
                raise ScheduleExists(f"a schedule named {name!r} exists already")
            db.execute(
                f"INSERT INTO schedules ({_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, 0, ?, ?)",
                (
                    schedule_id,
                    name,
                    script_name,
                    cron,
                    timezone,
                    json.dumps(values),
                    enabled,
                    overlap,
                    catch_up,
                    next_run,
                    now,
                    now,
                ),
            )
            audit.record(
                db,
                "schedule.add",
                name,
                id=schedule_id,
                script=script_name,
                cron=cron,
                timezone=timezone,
                enabled=enabled,
                overlap=overlap,
                catch_up=catch_up,
                param_names=sorted(values),  # names only: a value may be sensitive
            )
        self._changed()
        return self.get(schedule_id)

    def _script_name(self, script: object) -> str:
        if not isinstance(script, str) or not script:
            raise ScheduleError("script is required: the name of a stored script")
        return self._scripts.get(script).name

    def get(self, name_or_id: str) -> Schedule:
        """By id, or by name in any case.

        Raises:
            ScheduleNotFound: no schedule has this id or name.
        """
        return _found(self.store.query(_FIND, (name_or_id,) * 3), name_or_id)

    def list(self) -> list[Schedule]:
        """Every schedule, sorted by name."""
        rows = self.store.query(f"SELECT {_COLUMNS} FROM schedules ORDER BY name, id")
        return [Schedule._from_row(r) for r in rows]

    def update(
        self,
        name_or_id: str,
        *,
        name: str | None = None,
        script: str | None = None,
        cron: str | None = None,
        timezone: str | None = None,
        params: dict[str, Any] | None = None,
        enabled: bool | None = None,
        overlap: str | None = None,
        catch_up: bool | None = None,
    ) -> Schedule:
        """Change what is given (None keeps it) and compute the next run afresh.

        Raises:
            ScheduleNotFound: no schedule has this id or name.
            ScheduleExists: ``name`` is another schedule's.
            ScheduleError: a bad value.
            ScriptNotFound: ``script`` names no stored script.
        """
        current = self.get(name_or_id)
        new = attrs.evolve(
            current,
            name=current.name if name is None else _check_name(name),
            script=current.script if script is None else self._script_name(script),
            cron=current.cron if cron is None else check_cron(cron),
            timezone=current.timezone if timezone is None else _check_zone(timezone),
            params=current.params if params is None else _check_params(params),
            enabled=current.enabled if enabled is None else _check_flag("enabled", enabled),
            overlap=current.overlap if overlap is None else _check_overlap(overlap),
            catch_up=current.catch_up if catch_up is None else _check_flag("catchUp", catch_up),
        )
        now = self.clock()
        next_run = next_fire(new.cron, new.timezone, now) if new.enabled else None
        with self.store.transaction() as db:
            taken = db.execute(
                "SELECT 1 FROM schedules WHERE name = ? AND id != ?", (new.name, current.id)
            ).fetchone()
            if taken:
                raise ScheduleExists(f"a schedule named {new.name!r} exists already")
            changed = db.execute(
                "UPDATE schedules SET name = ?, script = ?, cron = ?, timezone = ?, params = ?,"
                " enabled = ?, overlap = ?, catch_up = ?, next_run = ?,"
                " held = CASE WHEN ? = 1 THEN held ELSE 0 END, updated = ? WHERE id = ?",
                (
                    new.name,
                    new.script,
                    new.cron,
                    new.timezone,
                    json.dumps(new.params),
                    new.enabled,
                    new.overlap,
                    new.catch_up,
                    next_run,
                    new.enabled and new.overlap == "queue",
                    now,
                    current.id,
                ),
            ).rowcount
            if not changed:
                raise ScheduleNotFound(f"no schedule named {name_or_id!r}")
            audit.record(
                db,
                "schedule.update",
                current.name,
                id=current.id,
                name=new.name,
                script=new.script,
                cron=new.cron,
                timezone=new.timezone,
                enabled=new.enabled,
                overlap=new.overlap,
                catch_up=new.catch_up,
                param_names=sorted(new.params),
            )
        self._changed()
        return self.get(current.id)

    def enable(self, name_or_id: str) -> Schedule:
        """Let a schedule fire again, from its next time after now."""
        return self.update(name_or_id, enabled=True)

    def disable(self, name_or_id: str) -> Schedule:
        """Stop a schedule firing (a held firing is dropped); jobs already started go on."""
        return self.update(name_or_id, enabled=False)

    def remove(self, name_or_id: str) -> Schedule:
        """Delete a schedule; the jobs it started stay.

        Raises:
            ScheduleNotFound: no schedule has this id or name.
        """
        with self.store.transaction() as db:
            schedule = _found(db.execute(_FIND, (name_or_id,) * 3).fetchall(), name_or_id)
            db.execute("DELETE FROM schedules WHERE id = ?", (schedule.id,))
            audit.record(db, "schedule.remove", schedule.name, id=schedule.id)
        self._changed()
        return schedule


# ---- the scheduler -------------------------------------------------------------------------


class Scheduler:
    """Fires due schedules as jobs; :meth:`start` runs it in a thread, :meth:`close` ends it.

    Firings whose time passed before the scheduler started count as missed (downtime).

    Args:
        schedules: the schedules (and their clock).
        queue: where jobs are submitted.
        notify: called after jobs were submitted (wakes the worker pool).
    """

    def __init__(
        self, schedules: ScheduleStore, queue: JobQueue, notify: Callable[[], None]
    ) -> None:
        self._schedules = schedules
        self._store = schedules.store
        self._clock = schedules.clock
        self._queue = queue
        self._scripts = ScriptStore(schedules.store)
        self._notify = notify
        self._started = self._clock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the scheduler's thread; firings due before now are missed ones."""
        self._started = self._clock()
        self._thread = threading.Thread(target=self._loop, name="aft-scheduler", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Look at the schedules again now (one was added or changed)."""
        self._wake.set()

    def close(self) -> None:
        """Stop the thread (after the firing in progress, if any)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> Scheduler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("the scheduler failed; it goes on")
            delay = 1.0
            try:
                soonest = self._store.query(
                    "SELECT MIN(next_run) FROM schedules WHERE enabled = 1"
                )[0][0]
                if soonest is not None:
                    delay = min(delay, max(0.0, soonest - self._clock()) + 0.002)
            except Exception:
                log.exception("the scheduler cannot read its schedules")
            self._wake.wait(delay)
            self._wake.clear()

    def tick(self) -> list[str]:
        """Fire every due schedule and release held firings whose previous run ended.

        Returns:
            The ids of the jobs submitted.
        """
        now = self._clock()
        due = self._store.query(
            "SELECT id, next_run FROM schedules WHERE enabled = 1 AND next_run <= ?"
            " ORDER BY next_run",
            (now,),
        )
        jobs = [job for sid, at in due if (job := self._guarded(self._fire, sid, at, now))]
        held = self._store.query("SELECT id FROM schedules WHERE enabled = 1 AND held = 1")
        jobs += [job for (sid,) in held if (job := self._guarded(self._release, sid, now))]
        if jobs:
            self._notify()
        return jobs

    @staticmethod
    def _guarded(fire: Callable[..., str | None], *args: Any) -> str | None:
        try:
            return fire(*args)
        except Exception:  # one broken schedule never stops the others
            log.exception("schedule %s could not fire", args[0])
            return None

    def _fire(self, schedule_id: str, due: float, now: float) -> str | None:
        with self._store.transaction() as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM schedules WHERE id = ?", (schedule_id,))
            found = row.fetchone()
            if found is None:
                return None
            schedule = Schedule._from_row(found)
            try:
                next_run: float | None = next_fire(schedule.cron, schedule.timezone, now)
            except ScheduleError as exc:
                log.warning("schedule %s is disabled: %s", schedule.name, exc)
                next_run = None
            claimed = db.execute(
                "UPDATE schedules SET next_run = ?, enabled = ? WHERE id = ? AND next_run = ?"
                " AND enabled = 1",
                (next_run, next_run is not None, schedule_id, due),
            ).rowcount
            if not claimed:
                return None  # fired by another scheduler meanwhile
            on_time = due >= self._started or (
                next_fire(schedule.cron, schedule.timezone, self._started - 0.001) <= now
            )
            if not on_time and not schedule.catch_up:
                log.info("schedule %s: firings missed while stopped are skipped", schedule.name)
                return None
            if schedule.overlap != "allow" and self._active(db, schedule.last_job_id):
                if schedule.overlap == "queue":
                    db.execute("UPDATE schedules SET held = 1 WHERE id = ?", (schedule_id,))
                else:
                    log.info("schedule %s: the last run has not ended; skipped", schedule.name)
                return None
            return self._submit(db, schedule, now)

    def _release(self, schedule_id: str, now: float) -> str | None:
        with self._store.transaction() as db:
            found = db.execute(
                f"SELECT {_COLUMNS} FROM schedules WHERE id = ? AND held = 1 AND enabled = 1",
                (schedule_id,),
            ).fetchone()
            if found is None:
                return None
            schedule = Schedule._from_row(found)
            if self._active(db, schedule.last_job_id):
                return None
            released = db.execute(
                "UPDATE schedules SET held = 0 WHERE id = ? AND held = 1", (schedule_id,)
            ).rowcount
            return self._submit(db, schedule, now) if released else None

    def _submit(self, db: Any, schedule: Schedule, now: float) -> str | None:
        try:
            script = self._scripts.get(schedule.script)
        except ScriptNotFound:
            log.warning(
                "schedule %s: no stored script named %r; this firing is skipped",
                schedule.name,
                schedule.script,
            )
            return None
        job = self._queue.submit(
            script.source,
            script_name=script.name,
            params=schedule.params,
            trigger="cron",
            started_by=f"schedule:{schedule.name}",
            script_id=script.id,
            retries=script.retries,
            retry_backoff=script.retry_backoff,
        )  # inside the open transaction `db`: the job and last_job_id commit together
        db.execute(
            "UPDATE schedules SET last_run = ?, last_job_id = ? WHERE id = ?",
            (now, job.id, schedule.id),
        )
        return job.id

    @staticmethod
    def _active(db: Any, job_id: str | None) -> bool:
        """Whether the job, or a retry of it, is still queued or running."""
        if job_id is None:
            return False
        row = db.execute(
            "WITH RECURSIVE run(id) AS (SELECT ? UNION SELECT jobs.id FROM jobs"
            " JOIN run ON jobs.retry_of = run.id)"
            " SELECT 1 FROM jobs WHERE id IN (SELECT id FROM run)"
            " AND state IN ('queued', 'running') LIMIT 1",
            (job_id,),
        ).fetchone()
        return row is not None
