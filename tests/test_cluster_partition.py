"""A worker node cut off from PostgreSQL, with a TCP proxy between the two.

Real servers, real ``aft serve`` and ``aft worker`` processes (tests/test_cluster.py's
harness); one worker reaches the database through a :class:`~tests.servers.cluster.TcpProxy`
that can swallow everything it is sent (``blackhole``) or refuse and reset (``refuse``).
Heartbeats every 0.5 s and a stale time of 3 s: the worker kills a job it cannot renew
after 1.5 s, a reaper interrupts it after 3 s.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from aft.models import JobState
from tests.servers.cluster import (  # noqa: F401
    cluster_urls,
    postgres_server,
    redis_server,
    tcp_proxy,
)
from tests.test_cluster import cluster, submit  # noqa: F401

pytestmark = pytest.mark.slow

#: A job that leaves a trace of its run every 100 ms for about 6 s: a file named
#: JOBID-MILLISECONDS, so two runs that overlap show it whatever happens to them.
TICKING = """
var dir = Param("dir");
for (var i = 0; i < 60; i++) {
  WriteTextFile(dir + "/" + JobID() + "-" + Date.now(), "x");
  Sleep(100);
}
"""


def _port(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


def _runs(marks: Path) -> dict[str, tuple[int, int, int]]:
    """Job id -> (first trace, last trace, traces) of each run that left one."""
    times: dict[str, list[int]] = {}
    for name in os.listdir(marks):
        job_id, _, stamp = name.rpartition("-")
        times.setdefault(job_id, []).append(int(stamp))
    return {job_id: (min(t), max(t), len(t)) for job_id, t in times.items()}


def _until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} not within {timeout:g}s")


def test_a_silent_partition_kills_the_job_before_its_retry_starts(cluster, tmp_path):  # noqa: F811
    """The path to the database swallows everything: the cut worker's heartbeat call
    blocks, yet the worker kills the job 1.5 s after its last renewal; the reaper's retry
    runs on the other worker and never overlaps the first run; once the path heals, the
    job's record says what the cut worker did."""
    marks = tmp_path / "marks"
    marks.mkdir()
    with tcp_proxy(_port(cluster.urls.database_url)) as proxy:
        cluster.serve("serve1")
        cut = cluster.worker("cut", AFT_DATABASE_URL=proxy.url(cluster.urls.database_url))
        job = submit(cluster, TICKING, params={"dir": str(marks)}, retries=1, retry_backoff=0)
        _until(lambda: _runs(marks).get(job.id), 30, "the first run")
        assert cluster.queue.get(job.id).worker == cut
        healthy = cluster.worker("healthy")
        proxy.set_mode("blackhole")
        retry = cluster.wait(cluster.retry_of(job.id, timeout=30).id, timeout=30)
        assert retry.state is JobState.SUCCEEDED, retry.error
        assert retry.worker == healthy and retry.attempt == 2
        lost = cluster.queue.get(job.id)
        assert lost.state is JobState.INTERRUPTED
        assert "the worker stopped sending heartbeats" in (lost.error or "")
        runs = _runs(marks)
        assert set(runs) == {job.id, retry.id}
        first, second = runs[job.id], runs[retry.id]
        assert first[1] < second[0], (first, second)  # never two runs at once
        assert first[1] < lost.finished * 1000  # killed before the reaper interrupted it
        assert first[2] < 60 and second[2] == 60  # the first run was cut short
        proxy.set_mode("forward")  # the path heals: the cut worker records what it did
        error = _until(
            lambda: (
                "killed by its worker" in (cluster.queue.get(job.id).error or "")
                and cluster.queue.get(job.id).error
            ),
            20,
            "the cut worker's account",
        )
    assert f"killed by its worker {cut}" in error and "no heartbeat renewed for 1.5s" in error
    assert "killed by its worker" in cluster.queue.log(job.id)[0][-1].text
    assert _runs(marks)[job.id] == first  # nothing of the first run came after its kill


def test_a_worker_that_cannot_reach_the_database_leaves_its_jobs_to_a_healthy_one(cluster):  # noqa: F811
    """Connections to the database are refused and reset: the cut worker takes no job of
    its group (a message it gets goes back to the broker at once), so ten jobs run on the
    healthy worker within seconds, not after ``republish_after_seconds`` (300). Once the
    database answers again, the cut worker takes jobs again."""
    with tcp_proxy(_port(cluster.urls.database_url)) as proxy:
        cluster.serve("serve1")
        cut = cluster.worker("cut", AFT_DATABASE_URL=proxy.url(cluster.urls.database_url))
        healthy = cluster.worker("healthy")
        proxy.set_mode("refuse")
        began = time.monotonic()
        jobs = [submit(cluster, 'Log("ran"); Sleep(100)') for _ in range(10)]
        done = [cluster.wait(job.id, timeout=began + 60 - time.monotonic()) for job in jobs]
        took = time.monotonic() - began
        assert all(j.state is JobState.SUCCEEDED for j in done), [j.error for j in done]
        assert {j.worker for j in done} == {healthy}
        assert took < 60, took  # a swallowed message would wait 300 s
        assert all(len(cluster.queue.log(j.id)[0]) == 1 for j in done)  # each ran once
        proxy.set_mode("forward")
        stopping = cluster.workers["healthy"]
        stopping.send_signal(signal.SIGTERM)
        try:
            stopping.wait(30)
        except subprocess.TimeoutExpired:
            stopping.kill()
        later = cluster.wait(submit(cluster, 'Log("back")').id, timeout=30)
    assert later.state is JobState.SUCCEEDED and later.worker == cut


def test_jobs_queued_while_the_broker_is_away_go_out_as_soon_as_it_is_back(cluster):  # noqa: F811
    """The serve node cannot reach Redis: its job stays queued, and it is sent as soon as
    Redis answers again, not ``republish_after_seconds`` (300) after the failed send."""
    with tcp_proxy(_port(cluster.urls.broker_url)) as proxy:
        cluster.serve("serve1", AFT_BROKER_URL=proxy.url(cluster.urls.broker_url))
        cluster.worker("w1")
        proxy.set_mode("refuse")
        job = submit(cluster, 'Log("sent at last")')
        time.sleep(3)  # the serve node tries to send it, and fails, several times
        assert cluster.queue.get(job.id).state is JobState.QUEUED
        proxy.set_mode("forward")
        healed = time.monotonic()
        done = cluster.wait(job.id, timeout=60)
        took = time.monotonic() - healed
    assert done.state is JobState.SUCCEEDED
    assert took < 60, took


def test_a_nodes_database_url_carries_deadlines_from_its_timing(tmp_path):
    """``stale_after_seconds`` sets every deadline; what the configured URL says wins."""
    from psycopg.conninfo import conninfo_to_dict

    from aft.config import cluster_config

    url = "postgresql://aft:pw@db.example/aft?sslmode=require&keepalives_idle=9"
    config = cluster_config(tmp_path, {"AFT_DATABASE_URL": url, "AFT_STALE_AFTER_SECONDS": "12"})
    given = conninfo_to_dict(config.database_url)
    assert given["sslmode"] == "require" and given["password"] == "pw"
    assert given["keepalives_idle"] == "9"  # the URL's own
    assert (given["connect_timeout"], given["keepalives_interval"]) == ("3", "1")
    assert given["tcp_user_timeout"] == "6000"
    assert given["options"] == (
        "-c statement_timeout=12000 -c idle_in_transaction_session_timeout=6000"
    )
    theirs = (
        "postgresql://db.example/aft?options=-c%20search_path%3Daft%20-c%20statement_timeout%3D500"
    )
    config = cluster_config(tmp_path, {"AFT_DATABASE_URL": theirs})
    assert conninfo_to_dict(config.database_url)["options"] == (
        "-c search_path=aft -c statement_timeout=500 -c idle_in_transaction_session_timeout=15000"
    )


def test_a_statement_without_an_answer_fails_at_its_deadline(postgres_server, tmp_path):  # noqa: F811
    """Through a path that swallows everything, a call gives up after the store's deadline
    (the server never sees it, so its statement timeout cannot help), and the store works
    again once the path heals."""
    from aft._pgstore import PostgresStore
    from aft.exceptions import StoreError
    from tests.servers.cluster import fresh_database

    url = fresh_database(postgres_server)
    with tcp_proxy(_port(url)) as proxy:
        store = PostgresStore(proxy.url(url) + "?connect_timeout=2", deadline=1.0)
        try:
            assert store.query("SELECT 1") == [(1,)]
            proxy.set_mode("blackhole")
            began = time.monotonic()
            with pytest.raises(StoreError, match="did not answer within 1s"):
                store.query("SELECT 2")
            with pytest.raises(StoreError, match="connection timeout"):  # connects anew
                with store.transaction() as db:
                    db.execute("SELECT 3")
            assert time.monotonic() - began < 10
            proxy.set_mode("forward")
            with store.transaction() as db:
                assert db.execute("SELECT 4").fetchone() == (4,)
            with pytest.raises(StoreError, match="did not answer within 1s"):
                with store.transaction() as db:  # cut inside a transaction
                    proxy.set_mode("blackhole")
                    db.execute("SELECT 5")
            proxy.set_mode("forward")
            assert store.query("SELECT 6") == [(6,)]
        finally:
            store.close()
