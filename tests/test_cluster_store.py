"""The stores on PostgreSQL: the SQLite suites of jobs, scripts, keys, secrets, settings,
the VFS Library, accounts, the audit trail and recorded CLI runs, run again on a
PostgresStore (a real server per session)."""

from __future__ import annotations

import threading
import time

import pytest

from aft._pgstore import MIGRATIONS, PostgresStore, translate
from aft.instance import Instance
from tests.servers.cluster import cluster_urls, postgres_server, redis_server  # noqa: F401
from tests.test_accounts import *  # noqa: F403
from tests.test_audit import *  # noqa: F403
from tests.test_jobs import *  # noqa: F403
from tests.test_keys import *  # noqa: F403
from tests.test_local_run import *  # noqa: F403
from tests.test_schedules import *  # noqa: F403
from tests.test_scripts_store import *  # noqa: F403
from tests.test_secrets import *  # noqa: F403
from tests.test_settings import *  # noqa: F403
from tests.test_vfs_library import *  # noqa: F403


@pytest.fixture
def instance(aft_home, cluster_urls, monkeypatch):  # noqa: F811
    """An instance whose database is a fresh PostgreSQL database (no broker)."""
    monkeypatch.setenv("AFT_DATABASE_URL", cluster_urls.database_url)
    with Instance(aft_home) as inst:
        assert isinstance(inst.store, PostgresStore)
        yield inst


def test_translate_placeholders_percent_and_nocase():
    assert translate("SELECT ? WHERE a = ? COLLATE NOCASE") == "SELECT %s WHERE a = %s"
    assert translate("SELECT '?%' || ? LIKE '5%'") == "SELECT '?%%' || %s LIKE '5%%'"
    assert translate("SELECT 'it''s ?' , ?") == "SELECT 'it''s ?' , %s"


def test_migrations_are_applied_once_by_concurrent_openers(cluster_urls):  # noqa: F811
    errors: list[BaseException] = []

    def open_it():
        try:
            PostgresStore(cluster_urls.database_url).close()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with PostgresStore(cluster_urls.database_url) as store:
        assert store.query("SELECT version FROM aft_schema") == [(len(MIGRATIONS),)]


def test_case_insensitive_names_hold_on_postgres(instance):
    from aft.exceptions import ScriptExists
    from aft.scripts_store import ScriptStore

    scripts = ScriptStore(instance.store)
    scripts.add("Nightly", "Log(1)")
    with pytest.raises(ScriptExists):
        scripts.add("NIGHTLY", "Log(2)")
    assert scripts.get("nightly").name == "Nightly"


def test_move_to_postgres_copies_everything_and_switches_the_home(
    aft_home,
    run_aft,
    postgres_server,  # noqa: F811
):
    from aft.jobs import JobQueue
    from aft.keys import ApiKeyStore
    from aft.models import JobState, LogLevel, LogLine, RunResult
    from aft.schedules import ScheduleStore
    from aft.scripts_store import ScriptStore
    from tests.servers.cluster import fresh_database

    with Instance(aft_home) as inst:  # a single node on SQLite, in use for a while
        assert not isinstance(inst.store, PostgresStore)
        ScriptStore(inst.store).add("nightly", 'Log("n")', retries=1)
        inst.secrets.set("token", "s3cr3t-canary")
        inst.vfs.add("Backups", "Disk", str(aft_home))
        _, key = ApiKeyStore(inst.store).create("ci", ["127.0.0.1"])
        ScheduleStore(inst.store).add("every night", "nightly", "0 2 * * *")
        queue = JobQueue(inst.store)
        done = queue.submit('Log("n")', script_name="nightly")
        assert queue.claim("w") is not None
        queue.append_log(done.id, [LogLine(1.0, LogLevel.INFO, "copied 3 files")])
        chatty = [LogLine(2.0, LogLevel.INFO, f"line {n}") for n in range(12_001)]
        queue.append_log(done.id, chatty)  # more rows than one batch of the copy
        queue.finish(done.id, RunResult(JobState.SUCCEEDED, 0, ()))
        cut_short = queue.submit('Log("n")', script_name="nightly", retries=1)
        assert queue.claim("w") is not None  # running when the node stopped

    url = fresh_database(postgres_server)
    moved = run_aft("move-to-postgres", url)
    assert moved.returncode == 0, moved.stderr
    assert "copied " in moved.stdout and "master.key" in moved.stdout
    assert (aft_home / "cluster.conf").stat().st_mode & 0o777 == 0o600

    with Instance(aft_home) as inst:  # the same home, now on PostgreSQL
        assert isinstance(inst.store, PostgresStore)
        assert ScriptStore(inst.store).get("NIGHTLY").retries == 1
        assert inst.secrets.get("token") == "s3cr3t-canary"
        assert inst.vfs.get("backups").type == "Disk"
        assert ApiKeyStore(inst.store).verify(key, "127.0.0.1").name == "ci"
        assert ScheduleStore(inst.store).get("every night").enabled
        queue = JobQueue(inst.store)
        assert queue.get(done.id).state is JobState.SUCCEEDED
        lines = [line.text for line in queue.log(done.id, limit=20_000)[0]]
        assert lines == ["copied 3 files"] + [f"line {n}" for n in range(12_001)]
        assert queue.get(cut_short.id).state is JobState.INTERRUPTED
        retry = queue.claim("w")  # the retry its policy queued, and newer jobs after it
        assert retry is not None and retry.retry_of == cut_short.id
        newer = queue.submit("Log(1)", script_name="later")
        assert [j.id for j in queue.list(limit=10)[0]][0] == newer.id

    again = run_aft("move-to-postgres", url)
    assert again.returncode != 0 and "uses PostgreSQL already" in again.stderr


def test_move_to_postgres_refuses_a_database_that_holds_data(
    aft_home,
    run_aft,
    postgres_server,  # noqa: F811
):
    from aft.jobs import JobQueue
    from aft.models import JobState
    from tests.servers.cluster import fresh_database

    url = fresh_database(postgres_server)
    with PostgresStore(url) as other:
        other.execute("INSERT INTO settings (key, value) VALUES ('timezone', 'UTC')")
    with Instance(aft_home) as inst:
        running = JobQueue(inst.store).submit("Log(1)", script_name="s")
        assert JobQueue(inst.store).claim("w") is not None
    refused = run_aft("move-to-postgres", url)
    assert refused.returncode != 0
    assert "holds data already (table settings)" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert not (aft_home / "cluster.conf").exists()
    with Instance(aft_home) as inst:  # a refused move leaves the SQLite data as it was
        assert JobQueue(inst.store).get(running.id).state is JobState.RUNNING


def test_every_sqlite_table_and_column_has_its_postgresql_twin(tmp_path, cluster_urls):  # noqa: F811
    """The two schemas are written by hand (aft/_store.py, aft/cluster/pgstore.py); this is
    what keeps them in step, as move-to-postgres and every store rely on."""
    from aft._store import SqliteStore

    with SqliteStore(tmp_path / "aft.db") as sqlite, PostgresStore(cluster_urls.database_url) as pg:
        tables = [
            name
            for (name,) in sqlite.query(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        assert "jobs" in tables and "schedules" in tables
        for table in tables:
            ours = {row[1] for row in sqlite.query(f"PRAGMA table_info({table})")}
            theirs = {
                name
                for (name,) in pg.query(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = ?",
                    (table,),
                )
            }
            assert ours <= theirs, f"{table}: PostgreSQL lacks {sorted(ours - theirs)}"


def test_an_unreachable_database_is_one_line_without_its_password():
    from aft.exceptions import StoreError

    with pytest.raises(StoreError) as caught:
        PostgresStore("postgresql://aft:s3cr3t-pw@127.0.0.1:1/aft")
    message = str(caught.value)
    assert "\n" not in message and "s3cr3t-pw" not in message
    assert message.startswith("cannot open database postgresql://aft:***@127.0.0.1:1/aft: ")


def test_a_cli_run_on_a_cluster_keeps_its_heartbeat_and_hears_a_halt(instance):
    from aft.jobs import ClusterQueue, LocalRun
    from aft.models import JobState, RunResult

    queue = ClusterQueue(instance.store, stale_after=0.5)
    job_id = queue.start_here("x", script_name="a", params={}, worker="cli-host:1")
    halted = threading.Event()
    with LocalRun(queue, job_id, "cli-host:1", on_halt=halted.set, every=0.05) as run:
        time.sleep(1.5)
        assert queue.reap() == []  # its heartbeat is fresh
        queue.request_halt(job_id)
        assert halted.wait(5)
        run.finish(RunResult(JobState.HALTED, 0, ()))
    assert queue.get(job_id).state is JobState.HALTED
    stale = queue.start_here("x", script_name="b", params={}, worker="cli-host:2")
    time.sleep(1)
    assert queue.reap() == [stale]  # without the heartbeat a run would be taken for dead
