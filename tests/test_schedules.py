"""Schedules: parsing, next-run computation (DST, seconds), the Scheduler's overlap and
catch-up policies on an injected clock, two schedulers on one database, the CLI, the REST
routes, and a real ``aft serve`` firing a schedule across a restart."""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from aft._store import SqliteStore
from aft.exceptions import (
    BadRequest,
    ScheduleError,
    ScheduleExists,
    ScheduleNotFound,
    ScriptNotFound,
)
from aft.instance import Instance
from aft.jobs import JobQueue
from aft.keys import ApiKeyStore
from aft.models import JobState, RunResult
from aft.schedules import Scheduler, ScheduleStore, check_cron, next_fire
from aft.scripts_store import ScriptStore
from tests.service_helpers import ServeProcess

BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2026, 6, 1, 12, 0, 0, tzinfo=timezone.utc).timestamp()


def berlin(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, BERLIN).isoformat()


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def world(instance):
    """A database with one script, a ScheduleStore on a fake clock, and a queue.

    The instance's database: SQLite here, PostgreSQL when tests/test_cluster_store.py
    runs these tests again."""
    store = instance.store
    ScriptStore(store).add("Copy", 'Log("copy")', retries=2, retry_backoff=5)
    clock = Clock()
    woken: list[int] = []

    class World:
        pass

    w = World()
    w.store, w.clock, w.woken = store, clock, woken
    w.schedules = ScheduleStore(store, clock=clock)
    w.queue = JobQueue(store)
    w.scheduler = lambda: Scheduler(w.schedules, w.queue, lambda: woken.append(1))
    return w


def cron_jobs(queue: JobQueue) -> list:
    jobs, _ = queue.list(limit=500)
    return [j for j in jobs if j.trigger == "cron"]


def finish(queue: JobQueue, job_id: str) -> None:
    claimed = queue.claim("w1")
    assert claimed is not None and claimed.id == job_id
    queue.finish(job_id, RunResult(JobState.SUCCEEDED, 0, None, None))


# ---- parsing and errors ------------------------------------------------------------------


def test_cron_parsing_and_errors():
    assert check_cron("  0  2 * *   * ") == "0 2 * * *"
    assert check_cron("*/2 * * * * *") == "*/2 * * * * *"
    for bad, says in [
        ("0 2 * *", "has 4 fields"),
        ("0 0 2 * * * 2027", "has 7 fields"),
        ("61 2 * * *", "not valid"),
        ("a b c d e", "not valid"),
        ("", "cron is required"),
    ]:
        with pytest.raises(ScheduleError, match=says):
            check_cron(bad)
    with pytest.raises(ScheduleError, match="never fires"):
        next_fire("0 0 30 2 *", "UTC", T0)


def test_store_validates_every_field(world):
    s = world.schedules
    good = dict(name="Nightly", script="copy", cron="0 2 * * *")
    cases = [
        ({"cron": "0 2 * *"}, ScheduleError, "fields"),
        ({"timezone": "Mars/Olympus"}, ScheduleError, "unknown timezone"),
        ({"timezone": "../etc/passwd"}, ScheduleError, "unknown timezone"),
        ({"params": {"a": {"b": 1}}}, ScheduleError, "flat"),
        ({"params": [1, 2]}, ScheduleError, "JSON object"),
        ({"overlap": "sometimes"}, ScheduleError, "overlap must be one of"),
        ({"catch_up": "yes"}, ScheduleError, "true or false"),
        ({"name": " "}, ScheduleError, "schedule name"),
        ({"script": "nope"}, ScriptNotFound, "no script"),
    ]
    for change, error, says in cases:
        args = {**good, **change}
        with pytest.raises(error, match=says):
            s.add(args.pop("name"), args.pop("script"), args.pop("cron"), **args)
    assert s.list() == []
    made = s.add("Nightly", "copy", "0 2 * * *", timezone="Europe/Berlin", params={"n": 1})
    assert made.id.startswith("sch_") and len(made.id) == 16
    assert made.script == "Copy"  # the stored script's own spelling
    assert berlin(made.next_run) == "2026-06-02T02:00:00+02:00"
    with pytest.raises(ScheduleExists):
        s.add("NIGHTLY", "copy", "* * * * *")
    with pytest.raises(ScheduleNotFound):
        s.get("other")
    assert s.get("nightly") == s.get(made.id) == made
    # an update recomputes the next run; disabling clears it, enabling computes it anew
    world.clock.now += 86400
    changed = s.update("nightly", cron="30 4 * * *")
    assert berlin(changed.next_run) == "2026-06-03T04:30:00+02:00"
    assert s.disable(made.id).next_run is None
    world.clock.now += 86400
    assert berlin(s.enable("Nightly").next_run) == "2026-06-04T04:30:00+02:00"
    with pytest.raises(ScheduleError):
        s.update("nightly", overlap="never")
    assert s.get("nightly").overlap == "skip"
    s.add("Other", "copy", "* * * * *")
    with pytest.raises(ScheduleExists):
        s.update("other", name="nightly")
    assert s.remove("nightly").name == "Nightly"
    assert [x.name for x in s.list()] == ["Other"]


# ---- next-run computation ---------------------------------------------------------------


def series(cron: str, zone: str, start: datetime, count: int) -> list[str]:
    at, out = start.timestamp(), []
    for _ in range(count):
        at = next_fire(cron, zone, at)
        out.append(datetime.fromtimestamp(at, ZoneInfo(zone)).isoformat())
    return out


def test_next_run_across_dst_changes():
    # Spring forward (Berlin, 2026-03-29 02:00 -> 03:00): 02:30 does not exist; it runs at 03:30.
    assert series("30 2 * * *", "Europe/Berlin", datetime(2026, 3, 28, 3, tzinfo=BERLIN), 3) == [
        "2026-03-29T03:30:00+02:00",
        "2026-03-30T02:30:00+02:00",
        "2026-03-31T02:30:00+02:00",
    ]
    # Fall back (2026-10-25 03:00 -> 02:00): 02:30 happens twice; a daily job runs once.
    assert series("30 2 * * *", "Europe/Berlin", datetime(2026, 10, 24, 3, tzinfo=BERLIN), 2) == [
        "2026-10-25T02:30:00+02:00",
        "2026-10-26T02:30:00+01:00",
    ]
    # ...while a job on every hour runs through the repeated hour as the clock shows it.
    assert series("*/30 * * * *", "Europe/Berlin", datetime(2026, 10, 25, 1, tzinfo=BERLIN), 6) == [
        "2026-10-25T01:30:00+02:00",
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:00:00+01:00",
        "2026-10-25T02:30:00+01:00",
        "2026-10-25T03:00:00+01:00",
    ]
    # The same wall time in another zone is another instant.
    noon = datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()
    assert next_fire("0 9 * * *", "Asia/Tokyo", noon) - next_fire("0 9 * * *", "UTC", noon) == (
        -9 * 3600 + 86400
    )


def test_six_field_cron_counts_seconds():
    start = datetime(2026, 1, 1, 0, 0, 0, 500_000, tzinfo=timezone.utc)
    assert series("*/2 * * * * *", "UTC", start, 3) == [
        "2026-01-01T00:00:02+00:00",
        "2026-01-01T00:00:04+00:00",
        "2026-01-01T00:00:06+00:00",
    ]
    assert series("30 0 12 * * *", "UTC", start, 1) == ["2026-01-01T12:00:30+00:00"]


# ---- the scheduler's policies, on an injected clock --------------------------------------


def test_a_due_schedule_fires_once_as_a_cron_job(world):
    made = world.schedules.add("Every minute", "Copy", "* * * * *", params={"who": "cron"})
    scheduler = world.scheduler()
    assert scheduler.tick() == []  # not due yet
    world.clock.now = made.next_run
    (job_id,) = scheduler.tick()
    assert scheduler.tick() == []  # the same firing never twice
    job = world.queue.get(job_id)
    assert (job.trigger, job.script_name, job.params) == ("cron", "Copy", {"who": "cron"})
    assert job.max_attempts == 3 and job.retry_backoff == 5  # the script's retry policy
    assert world.queue.source(job_id) == 'Log("copy")'
    after = world.schedules.get(made.id)
    assert (after.last_job_id, after.last_run) == (job_id, made.next_run)
    assert after.next_run == made.next_run + 60
    assert world.woken == [1]


def test_overlap_skip_drops_a_firing_while_the_last_run_is_active(world):
    made = world.schedules.add("S", "Copy", "* * * * *", overlap="skip")
    scheduler = world.scheduler()
    world.clock.now = made.next_run
    (first,) = scheduler.tick()
    world.clock.now += 60
    assert scheduler.tick() == []  # the first is still queued: dropped
    assert not world.schedules.get("S").held
    finish(world.queue, first)
    assert scheduler.tick() == []  # a dropped firing stays dropped
    world.clock.now += 60
    assert len(scheduler.tick()) == 1
    assert len(cron_jobs(world.queue)) == 2


def test_overlap_queue_holds_one_firing_until_the_last_run_ends(world):
    made = world.schedules.add("Q", "Copy", "* * * * *", overlap="queue")
    scheduler = world.scheduler()
    world.clock.now = made.next_run
    (first,) = scheduler.tick()
    for _ in range(3):  # three firings while it runs: one is held
        world.clock.now += 60
        assert scheduler.tick() == []
        assert world.schedules.get("Q").held
    finish(world.queue, first)
    (second,) = scheduler.tick()  # released as soon as the first has ended
    assert not world.schedules.get("Q").held
    assert world.schedules.get("Q").last_job_id == second
    assert scheduler.tick() == []
    assert len(cron_jobs(world.queue)) == 2


def test_overlap_queue_waits_for_retries_of_the_last_run(world):
    made = world.schedules.add("Q", "Copy", "* * * * *", overlap="queue")
    scheduler = world.scheduler()
    world.clock.now = made.next_run
    (first,) = scheduler.tick()
    world.clock.now += 60
    assert scheduler.tick() == []
    world.queue.claim("w1")
    world.queue.finish(first, RunResult(JobState.FAILED, 1, "boom", None))  # a retry is queued
    assert scheduler.tick() == []  # the run is not over while its retry waits
    assert world.schedules.get("Q").held


def test_overlap_allow_submits_at_once(world):
    made = world.schedules.add("A", "Copy", "* * * * *", overlap="allow")
    scheduler = world.scheduler()
    for n in range(3):
        world.clock.now = made.next_run + 60 * n
        assert len(scheduler.tick()) == 1
    assert [j.state for j in cron_jobs(world.queue)] == [JobState.QUEUED] * 3


def test_disabling_drops_a_held_firing(world):
    made = world.schedules.add("Q", "Copy", "* * * * *", overlap="queue")
    scheduler = world.scheduler()
    world.clock.now = made.next_run
    (first,) = scheduler.tick()
    world.clock.now += 60
    scheduler.tick()
    assert world.schedules.disable("Q").held is False
    finish(world.queue, first)
    world.clock.now += 600
    assert scheduler.tick() == []
    assert world.schedules.get("Q").next_run is None


@pytest.mark.parametrize("catch_up, runs", [(False, 0), (True, 1)])
def test_catch_up_after_downtime(world, catch_up, runs):
    made = world.schedules.add("C", "Copy", "*/5 * * * *", catch_up=catch_up, overlap="allow")
    world.clock.now = made.next_run + 3630  # thirteen firings passed while nothing ran
    scheduler = world.scheduler()
    assert len(scheduler.tick()) == runs
    assert scheduler.tick() == []
    after = world.schedules.get("C")
    assert after.next_run > world.clock.now
    assert after.next_run == next_fire("*/5 * * * *", "UTC", world.clock.now)
    # From now on every firing runs, whatever the policy.
    world.clock.now = after.next_run + 0.3
    assert len(scheduler.tick()) == 1


def test_a_late_scheduler_fires_once_but_never_loses_the_firing(world):
    made = world.schedules.add("L", "Copy", "*/5 * * * *", catch_up=False)
    scheduler = world.scheduler()  # running since before the firing
    world.clock.now = made.next_run + 4 * 60  # the thread was held up: late, not missed
    assert len(scheduler.tick()) == 1
    assert scheduler.tick() == []


def test_a_missing_script_skips_the_firing_with_a_warning(world, caplog):
    made = world.schedules.add("M", "Copy", "* * * * *")
    ScriptStore(world.store).remove("Copy")
    scheduler = world.scheduler()
    world.clock.now = made.next_run
    with caplog.at_level(logging.WARNING, logger="aft.schedules"):
        assert scheduler.tick() == []
    assert "no stored script named 'Copy'" in caplog.text
    assert world.schedules.get("M").next_run == made.next_run + 60  # it goes on
    ScriptStore(world.store).add("copy", 'Log("back")')
    world.clock.now += 60
    assert len(scheduler.tick()) == 1


def test_two_schedulers_on_one_database_fire_once(tmp_path):
    path = tmp_path / "aft.db"
    clock = Clock()
    stores = [SqliteStore(path), SqliteStore(path)]
    try:
        ScriptStore(stores[0]).add("Copy", 'Log("copy")')
        made = ScheduleStore(stores[0], clock=clock).add(
            "Both", "Copy", "* * * * *", overlap="allow"
        )
        schedulers = [
            Scheduler(ScheduleStore(s, clock=clock), JobQueue(s), lambda: None) for s in stores
        ]
        fired: list[str] = []
        for n in range(5):
            clock.now = made.next_run + 60 * n
            barrier = threading.Barrier(2)

            def run(scheduler: Scheduler, barrier: threading.Barrier = barrier) -> None:
                barrier.wait()
                fired.extend(scheduler.tick())

            threads = [threading.Thread(target=run, args=(s,)) for s in schedulers]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert len(fired) == n + 1, f"firing {n}: {fired}"
        assert len(cron_jobs(JobQueue(stores[1]))) == 5
    finally:
        for s in stores:
            s.close()


def test_the_scheduler_thread_wakes_on_a_change(world):
    world.clock.now = time.time()
    world.schedules.clock = time.time
    scheduler = Scheduler(world.schedules, world.queue, lambda: None)
    world.schedules.on_change = scheduler.wake
    scheduler.start()
    try:
        made = world.schedules.add("Soon", "Copy", "* * * * * *")  # every second
        deadline = time.monotonic() + 10
        while not cron_jobs(world.queue) and time.monotonic() < deadline:
            time.sleep(0.05)
        (job,) = cron_jobs(world.queue)[-1:]
        assert job.created >= made.created
    finally:
        scheduler.close()


# ---- the CLI -----------------------------------------------------------------------------


def test_cli_schedules(run_aft, aft_home, tmp_path):
    script = tmp_path / "copy.syncjs"
    script.write_text('Log("copy")')
    assert run_aft("scripts", "add", "Copy", "-f", str(script)).returncode == 0
    done = run_aft(
        "schedules", "add", "Nightly", "--script", "copy", "--cron", "0 2 * * *",
        "--timezone", "Europe/Berlin", "--params", '{"dir": "D:\\Archive"}',
        "--overlap", "queue", "--catch-up",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "schedule Nightly added as sch_" in done.stdout
    shown = json.loads(run_aft("schedules", "show", "nightly", "--json").stdout)
    assert shown["cron"] == "0 2 * * *" and shown["timezone"] == "Europe/Berlin"
    assert shown["params"] == {"dir": "D:\\Archive"}
    assert (shown["overlap"], shown["catchUp"], shown["enabled"]) == ("queue", True, True)
    assert datetime.fromtimestamp(shown["nextRun"], BERLIN).strftime("%H:%M") == "02:00"
    assert set(shown) >= {"id", "lastRun", "lastJobId"}
    paused = run_aft(
        "schedules", "add", "Often", "--script", "Copy", "--cron", "*/2 * * * * *", "--disabled"
    )
    assert paused.returncode == 0, paused.stderr
    listing = run_aft("schedules", "list").stdout.splitlines()
    assert listing[0].startswith("Nightly  0 2 * * * (Europe/Berlin)  Copy  enabled  next 2")
    assert listing[0].endswith("last never")
    assert listing[1].startswith("Often  */2 * * * * * (UTC)  Copy  disabled  next never")
    assert "enabled; next 2" in run_aft("schedules", "enable", "often").stdout
    assert run_aft("schedules", "disable", "often").stdout == "schedule Often disabled\n"
    assert run_aft("schedules", "remove", "OFTEN").stdout == "schedule Often removed\n"
    for args, says in [
        (("--cron", "61 2 * * *"), "cron '61 2 * * *' is not valid"),
        (("--cron", "* * * * *", "--timezone", "Nowhere/City"), "unknown timezone"),
        (("--cron", "* * * * *", "--params", '{"a": [1]}'), "params must be flat"),
        (("--cron", "* * * * *", "--params", "{oops"), "params are not valid JSON"),
        (("--cron", "* * * * *", "--overlap", "maybe"), "overlap must be one of"),
    ]:
        bad = run_aft("schedules", "add", "Bad", "--script", "Copy", *args)
        assert bad.returncode == 2 and bad.stderr.startswith("aft: error: " + says), bad.stderr
        assert len(bad.stderr.splitlines()) == 1
    missing = run_aft("schedules", "show", "nope")
    assert (missing.returncode, missing.stderr) == (1, "aft: error: no schedule named 'nope'\n")
    taken = run_aft("schedules", "add", "NIGHTLY", "--script", "Copy", "--cron", "* * * * *")
    assert "exists already" in taken.stderr
    assert [ln.split()[0] for ln in run_aft("schedules", "list").stdout.splitlines()] == ["Nightly"]


# ---- a real aft serve --------------------------------------------------------------------


def even_seconds(start: float, end: float) -> int:
    """How many firings of ``*/2 * * * * *`` fall in [start, end]."""
    return max(0, math.floor(end / 2) - math.ceil(start / 2) + 1)


def test_rest_routes(aft_home):
    with Instance(aft_home) as instance:
        key = ApiKeyStore(instance.store).create("admin", ["127.0.0.1"], scope="admin")[1]
        run_key = ApiKeyStore(instance.store).create("run", ["127.0.0.1"], scope="run")[1]
        ScriptStore(instance.store).add("Copy", 'Log("copy")')
    proc = ServeProcess(aft_home).start()
    try:
        with proc.client(key) as client:
            assert client.request("GET", "/v1/schedules") == {"schedules": []}
            made = client.request(
                "POST", "/v1/schedules",
                {"name": "Nightly", "script": "Copy", "cron": "0 2 * * *",
                 "timezone": "Europe/Berlin", "params": {"a": 1}, "enabled": True,
                 "overlap": "queue", "catchUp": True},
            )  # fmt: skip
            assert made["id"].startswith("sch_") and made["nextRun"] > time.time()
            assert (made["overlap"], made["catchUp"], made["lastRun"]) == ("queue", True, None)
            paused = client.request("PUT", f"/v1/schedules/{made['id']}", {"enabled": False})
            assert paused["enabled"] is False and paused["nextRun"] is None
            assert paused["cron"] == "0 2 * * *"  # what is left out stays
            assert client.request("GET", "/v1/schedules/nightly")["id"] == made["id"]
            for body, error in [
                ({"name": "X", "script": "Copy", "cron": "61 * * * *"}, ScheduleError),
                ({"name": "X", "script": "Copy"}, BadRequest),
                ({"name": "X", "script": "Copy", "cron": "* * * * *", "when": 1}, BadRequest),
                ({"name": "X", "script": "Nope", "cron": "* * * * *"}, ScriptNotFound),
                ({"name": "nightly", "script": "Copy", "cron": "* * * * *"}, ScheduleExists),
                ({"name": "X", "script": "Copy", "cron": "* * * * *", "params": 3}, ScheduleError),
            ]:
                with pytest.raises(error):
                    client.request("POST", "/v1/schedules", body)
            with pytest.raises(ScheduleError, match="^The hour field '24' is not valid: it takes"):
                client.request("PUT", "/v1/schedules/nightly", {"cron": "0 24 * * *"})
            with pytest.raises(ScheduleError, match="5 fields .* or 6 with seconds first.* has 4$"):
                client.request("PUT", "/v1/schedules/nightly", {"cron": "0 2 * *"})
            preview = client.request(
                "POST", "/v1/cron/preview", {"cron": "0 2 * * *", "timezone": "Europe/Berlin"}
            )
            assert preview["errors"] == {} and len(preview["runs"]) == 5
            assert all(berlin(t)[10:19] == "T02:00:00" for t in preview["runs"])
            assert (
                preview["runs"] == sorted(set(preview["runs"])) and preview["runs"][0] > time.time()
            )
            bad = {"cron": "0 2 30 2 *", "timezone": "Mars/Base"}
            preview = client.request("POST", "/v1/cron/preview", bad)
            assert preview["runs"] == [] and list(preview["errors"]) == ["timezone"]
            preview = client.request("POST", "/v1/cron/preview", {"cron": "0 2 30 2 *"})
            assert set(preview["errors"]) == {"timezone"}
            bad = {"cron": "0 2 30 2 *", "timezone": "UTC"}
            assert (
                "never fires" in client.request("POST", "/v1/cron/preview", bad)["errors"]["cron"]
            )
            with pytest.raises(ScheduleNotFound):
                client.request("PUT", "/v1/schedules/nope", {"enabled": True})
            assert client.request("DELETE", "/v1/schedules/NIGHTLY")["deleted"] == made["id"]
            with pytest.raises(ScheduleNotFound):
                client.request("DELETE", "/v1/schedules/nightly")
        with proc.client(run_key) as client:
            with pytest.raises(Exception, match="scope|admin|not allowed"):
                client.request("GET", "/v1/schedules")
    finally:
        proc.stop()


@pytest.mark.slow
def test_serve_fires_on_time_and_never_twice_across_a_restart(aft_home):
    with Instance(aft_home) as instance:
        instance.settings.set("concurrency", 2)
        scripts = ScriptStore(instance.store)
        scripts.add("Tick", 'Log("tick " + Param("n"));')
        scripts.add("Catch", 'Log("catch");')
        schedules = ScheduleStore(instance.store)
        schedules.add("Every two", "Tick", "*/2 * * * * *", params={"n": 1}, overlap="allow")
        schedules.add("Catching up", "Catch", "*/2 * * * * *", overlap="allow", catch_up=True)
        scripts.add("Gone", 'Log("gone");')
        schedules.add("Orphan", "Gone", "*/2 * * * * *")
        scripts.remove("Gone")  # its firings are skipped with a warning; nothing breaks
    proc = ServeProcess(aft_home)
    up: list[tuple[float, float, float, float]] = []  # launched, ready, stopping, stopped
    for _ in range(2):
        launched = time.time()
        proc.start()
        ready = time.time()
        time.sleep(6.5)  # three firings or so while it runs
        stopping = time.time()
        output = proc.stop()
        up.append((launched, ready, stopping, time.time()))
        assert "Traceback" not in output, output
        assert "schedule Orphan: no stored script named 'Gone'" in output, output
        if len(up) == 1:
            time.sleep(5)  # downtime: two or three firings are missed
    with Instance(aft_home) as instance:
        queue = JobQueue(instance.store)
        jobs = cron_jobs(queue)
    tick = [j for j in jobs if j.script_name == "Tick"]
    catch = [j for j in jobs if j.script_name == "Catch"]
    assert not [j for j in jobs if j.script_name == "Gone"]
    # No double runs: never more jobs than firings while a service could have run...
    most = sum(even_seconds(a, d) for a, _, _, d in up)
    # ...and none lost while it surely ran (a firing in the last moment may be cut off).
    least = sum(even_seconds(b, c - 0.5) for _, b, c, _ in up)
    assert least <= len(tick) <= most, (least, len(tick), most)
    times = sorted(j.created for j in tick)
    assert all(b - a > 1.0 for a, b in zip(times, times[1:], strict=False)), (
        times
    )  # one job per firing
    # catch-up: the firings missed in the downtime ran once, at the restart
    assert least + 1 <= len(catch) <= most + 1, (least, len(catch), most)
    assert all(j.params == {"n": 1} for j in tick)
    done = [j for j in tick if j.state is JobState.SUCCEEDED]
    assert len(done) >= least - 2
