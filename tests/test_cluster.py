"""Several nodes on one PostgreSQL database and one Redis broker, as separate processes.

Real servers (tests/servers/cluster.py), real ``aft serve`` and ``aft worker`` processes.
Heartbeats every 0.5 s and a stale time of 3 s keep the worker-death tests short.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aft.client import AftClient
from aft.cluster.celery_app import make_app, publish
from aft.config import save_database_url
from aft.exceptions import BadRequest, ScriptNotFound
from aft.instance import Instance
from aft.jobs import ClusterQueue, Job, JobQueue
from aft.keys import ApiKeyStore
from aft.models import JobState
from aft.schedules import ScheduleStore
from aft.scripts_store import ScriptStore
from tests.conftest import aft_command
from tests.servers.cluster import ClusterUrls, cluster_urls, postgres_server, redis_server  # noqa: F401
from tests.service_helpers import ServeProcess

TIMING = {"AFT_HEARTBEAT_SECONDS": "0.5", "AFT_STALE_AFTER_SECONDS": "3"}
pytestmark = pytest.mark.slow


class Cluster:
    """The nodes of one test: homes sharing a master key, and their processes."""

    def __init__(self, base: Path, urls: ClusterUrls) -> None:
        self.base = base
        self.urls = urls
        self.env = {**os.environ, **urls.env(**TIMING)}
        self.env.pop("AFT_HOME", None)
        self.home = base / "admin"
        self.instance = _open_instance(self.home, urls.database_url)
        self.queue = ClusterQueue(self.instance.store, stale_after=3.0)
        self.workers: dict[str, subprocess.Popen[str]] = {}
        self.serves: list[ServeProcess] = []

    def node_home(self, name: str) -> Path:
        home = self.base / name
        home.mkdir()
        shutil.copy(self.home / "master.key", home / "master.key")  # secrets decrypt anywhere
        return home

    def worker(self, name: str, group: str = "default", concurrency: int = 1, **env: str) -> str:
        """Start ``aft worker`` (``env``: more environment variables); returns its job-owner
        prefix (``host:pid``) once it is ready."""
        proc = subprocess.Popen(
            [aft_command(), "worker", "--group", group, "--concurrency", str(concurrency)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env={**self.env, "AFT_HOME": str(self.node_home(name)), **env},
        )
        self.workers[name] = proc
        assert proc.stdout is not None
        seen = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                raise AssertionError(f"aft worker exited: {''.join(seen)}")
            seen.append(line)
            if line.startswith("aft: worker "):
                _drain(proc)
                return line.split()[2]
        raise AssertionError(f"aft worker not ready: {''.join(seen)}")

    def serve(self, name: str, **env: str) -> ServeProcess:
        """Start ``aft serve`` (``env``: more environment variables) and wait until it listens."""
        serve = ServeProcess(self.node_home(name), "--http", env={**self.env, **env}).start()
        self.serves.append(serve)
        return serve

    def wait(self, job_id: str, timeout: float = 60.0) -> Job:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.queue.get(job_id)
            if job.state.is_final:
                return job
            time.sleep(0.1)
        raise AssertionError(f"{job_id} still {self.queue.get(job_id).state.value}")

    def retry_of(self, job_id: str, timeout: float = 30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self.instance.store.query("SELECT id FROM jobs WHERE retry_of = ?", (job_id,))
            if rows:
                return self.queue.get(rows[0][0])
            time.sleep(0.1)
        raise AssertionError(f"no retry of {job_id}")

    def close(self) -> None:
        for proc in self.workers.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for serve in self.serves:
            serve.stop()
        for proc in self.workers.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.instance.close()


def _open_instance(home: Path, database_url: str) -> Instance:
    """An Instance on the cluster's database, opened in this process (its cluster.conf
    names the database)."""
    home.mkdir(parents=True)
    save_database_url(home, database_url)
    return Instance(home)


def _drain(proc: subprocess.Popen[str]) -> None:
    """Read a node's output in the background, so a full pipe never blocks it."""
    import threading

    assert proc.stdout is not None
    stdout = proc.stdout
    threading.Thread(target=lambda: stdout.read(), daemon=True).start()


@pytest.fixture
def cluster(tmp_path, cluster_urls):  # noqa: F811
    c = Cluster(tmp_path, cluster_urls)
    yield c
    c.close()


def submit(cluster: Cluster, source: str, **kwargs):
    return cluster.queue.submit(source, script_name="t.syncjs", **kwargs)


def test_jobs_spread_over_two_worker_nodes(cluster):
    cluster.serve("serve1")
    a = cluster.worker("w1")
    b = cluster.worker("w2")
    jobs = [
        submit(cluster, 'Log("n " + Param("n")); Sleep(700)', params={"n": n}) for n in range(6)
    ]
    done = [cluster.wait(j.id) for j in jobs]
    assert all(j.state is JobState.SUCCEEDED for j in done), [j.error for j in done]
    owners = {j.worker for j in done}
    assert owners == {a, b}
    assert [cluster.queue.log(j.id)[0][0].text for j in jobs] == [f"n {n}" for n in range(6)]


def test_kill_9_of_a_worker_mid_job_interrupts_it_and_the_retry_runs_on_the_other(cluster):
    cluster.serve("serve1")
    first = cluster.worker("w1")
    job = submit(cluster, 'Log("start"); Sleep(4000); Log("end")', retries=1, retry_backoff=0)
    deadline = time.monotonic() + 30
    while not cluster.queue.log(job.id)[0]:  # running, mid-script: "start" is logged
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.05)
    assert cluster.queue.get(job.id).worker == first
    second = cluster.worker("w2")
    os.kill(cluster.workers["w1"].pid, signal.SIGKILL)  # the node and (PDEATHSIG) its job
    lost = cluster.wait(job.id)
    assert lost.state is JobState.INTERRUPTED and "heartbeat" in (lost.error or "")
    retry = cluster.wait(cluster.retry_of(job.id).id)
    assert retry.state is JobState.SUCCEEDED and retry.attempt == 2
    assert retry.worker == second
    assert retry.started >= lost.finished  # never two runs of it at once
    assert [ln.text for ln in cluster.queue.log(job.id)[0]] == ["start"]
    assert [ln.text for ln in cluster.queue.log(retry.id)[0]] == ["start", "end"]


def test_a_message_delivered_three_times_runs_the_job_once(cluster):
    cluster.worker("w1", concurrency=3)
    job = submit(cluster, 'Log("ran"); Sleep(500)')
    app = make_app(cluster.urls.broker_url)
    try:
        for _ in range(3):  # no serve node: this test is the only publisher
            publish(app, job.id, "default")
    finally:
        app.close()
    assert cluster.wait(job.id).state is JobState.SUCCEEDED
    time.sleep(1.5)  # let the other two messages arrive and be dropped
    assert [ln.text for ln in cluster.queue.log(job.id)[0]] == ["ran"]
    assert cluster.queue.counts()["succeeded"] == 1


def test_a_job_posted_for_a_group_runs_on_that_group_only(cluster):
    serve = cluster.serve("serve1")
    cluster.worker("wa", group="alpha")
    beta = cluster.worker("wb", group="beta")
    _, key = ApiKeyStore(cluster.instance.store).create("ci", ["127.0.0.1"], scope="admin")
    ScriptStore(cluster.instance.store).add("where", 'Log("here")')
    with AftClient(serve.url, key) as client:
        ids = [client.submit_job(script_name="where", group="beta").id for _ in range(3)]
        with pytest.raises(Exception, match="worker group"):
            client.submit_job(script_name="where", group="no spaces")
    done = [cluster.wait(i) for i in ids]
    assert {j.worker for j in done} == {beta}
    assert {cluster.queue.get(i).group for i in ids} == {"beta"}
    with AftClient(serve.url, key) as client:
        assert client.job(ids[0]).group == "beta"
    env = {**cluster.env, "AFT_HOME": str(cluster.home)}
    shown = subprocess.run(
        [aft_command(), "jobs", "show", ids[0], "--json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    assert json.loads(shown.stdout)["group"] == "beta"


def test_a_stored_scripts_group_routes_its_jobs(cluster):
    serve = cluster.serve("serve1")
    cluster.worker("wd")
    alpha = cluster.worker("wa", group="alpha")
    _, key = ApiKeyStore(cluster.instance.store).create("ci", ["127.0.0.1"], scope="admin")
    ScriptStore(cluster.instance.store).add("nas sweep", 'Log("on the nas")')
    env = {**cluster.env, "AFT_HOME": str(cluster.home)}
    aft = [aft_command(), "scripts", "group", "nas sweep"]
    subprocess.run([*aft, "alpha"], env=env, check=True, capture_output=True)
    shown = subprocess.run(aft, env=env, check=True, capture_output=True, text=True)
    assert shown.stdout.strip() == "alpha"
    with AftClient(serve.url, key) as client:
        ids = [client.submit_job(script_name="nas sweep").id for _ in range(3)]
        retries_there = client.submit_job(script_name="nas sweep", group="default").id
    assert {cluster.wait(i).worker for i in ids} == {alpha}
    assert cluster.wait(retries_there).worker != alpha  # the body's group wins


def test_a_scripts_group_through_the_rest_api(cluster):
    serve = cluster.serve("serve1")
    cluster.worker("wd")
    beta = cluster.worker("wb", group="beta")
    _, key = ApiKeyStore(cluster.instance.store).create("ci", ["127.0.0.1"], scope="admin")
    with AftClient(serve.url, key) as client:
        made = client.request("POST", "/v1/scripts", {"name": "b", "source": "Log(1)"})
        assert made["group"] == "default"
        changed = client.request("PUT", "/v1/scripts/b", {"group": "beta"})
        assert changed["group"] == "beta"
        listed = client.request("GET", "/v1/scripts")["scripts"]
        assert [(s["name"], s["group"]) for s in listed] == [("b", "beta")]
        with pytest.raises(BadRequest, match="worker group is 1 to 64"):
            client.request("PUT", "/v1/scripts/b", {"group": "no spaces"})
        body = {"name": "c", "source": "Log(2)", "group": "beta"}
        made = client.request("POST", "/v1/scripts", body)
        assert made["group"] == "beta"
        ids = [client.submit_job(script_name=n).id for n in ("b", "c")]
    assert {cluster.wait(i).worker for i in ids} == {beta}


def test_a_single_node_refuses_a_group(aft_home):
    with Instance(aft_home) as instance:
        _, key = ApiKeyStore(instance.store).create("ci", ["127.0.0.1"], scope="admin")
        ScriptStore(instance.store).add("s", 'Log("x")')
    serve = ServeProcess(aft_home, "--http").start()
    try:
        with AftClient(serve.url, key) as client:
            with pytest.raises(BadRequest, match="group needs a cluster"):
                client.submit_job(script_name="s", group="beta")
            with pytest.raises(BadRequest, match="group needs a cluster"):
                client.request("POST", "/v1/scripts", {"name": "t", "source": "", "group": "b"})
            assert client.request("GET", "/v1/scripts/s")["group"] == "default"
            with pytest.raises(ScriptNotFound):  # the refused one was not stored
                client.request("GET", "/v1/scripts/t")
    finally:
        serve.stop()


def test_a_node_with_another_master_key_is_refused(cluster):
    home = cluster.base / "stranger"
    home.mkdir()  # no copy of the cluster's master.key: a new one is made
    done = subprocess.run(
        [aft_command(), "worker", "--group", "default"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**cluster.env, "AFT_HOME": str(home)},
    )
    assert done.returncode != 0
    assert "is not the one this database was set up with" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_halt_reaches_the_job_on_its_worker_node(cluster):
    cluster.serve("serve1")
    cluster.worker("w1")
    job = submit(cluster, 'Log("wait"); WaitForHaltSignal(); Log("bye")')
    deadline = time.monotonic() + 30
    while not cluster.queue.log(job.id)[0]:
        assert time.monotonic() < deadline, "the job never logged"
        time.sleep(0.05)
    cluster.queue.request_halt(job.id)
    done = cluster.wait(job.id, timeout=20)
    assert done.state is JobState.HALTED
    assert [ln.text for ln in cluster.queue.log(job.id)[0]][:2] == ["wait", "bye"]
    spin = submit(cluster, 'Log("spin"); while (true) {}')
    while not cluster.queue.log(spin.id)[0]:
        assert time.monotonic() < deadline + 30, "the spinning job never logged"
        time.sleep(0.05)
    cluster.queue.request_halt(spin.id)
    killed = cluster.wait(spin.id, timeout=20)  # grace is 3 s, then the kill
    assert killed.state is JobState.HALTED and "killed" in (killed.error or "")
    after = cluster.wait(submit(cluster, 'Log("fresh process")').id)  # a new job process
    assert after.state is JobState.SUCCEEDED and after.worker == killed.worker
    cluster.instance.scripts.add("leashed", 'Log("spin"); while (true) {}', max_run_seconds=1)
    script = cluster.instance.scripts.get("leashed")
    leashed = cluster.queue.submit(script.source, script_name=script.name, script_id=script.id)
    timed_out = cluster.wait(leashed.id, timeout=30)  # 1 s, then the halt, then 3 s grace
    assert timed_out.state is JobState.HALTED
    assert (timed_out.error or "").startswith("halted: it ran past its maximum run time; killed")


def test_with_two_serve_nodes_a_dead_workers_job_is_reaped_and_retried_once(cluster):
    job = submit(cluster, "Log(1)", retries=3, retry_backoff=3600, group="nobody-serves-this")
    assert cluster.queue.claim_id(job.id, "ghost:1")  # a worker that then died silently
    cluster.serve("serve1")
    cluster.serve("serve2")
    lost = cluster.wait(job.id, timeout=30)
    assert lost.state is JobState.INTERRUPTED
    time.sleep(2)  # both reapers have had several turns
    retries = cluster.instance.store.query(
        "SELECT id, grp, attempt FROM jobs WHERE retry_of = ?", (job.id,)
    )
    assert len(retries) == 1 and retries[0][1:] == ("nobody-serves-this", 2)
    assert cluster.queue.get(retries[0][0]).state is JobState.QUEUED  # its backoff is an hour


def test_with_two_serve_nodes_a_schedule_fires_once_per_tick(cluster):
    """Both nodes' schedulers race for every tick of a once-a-second schedule: each tick
    makes one job. With one node stopped, the other goes on firing."""
    ScriptStore(cluster.instance.store).add("tick", "Log(1)")
    schedules = ScheduleStore(cluster.instance.store)
    first, second = cluster.serve("serve1"), cluster.serve("serve2")
    start = time.time()
    schedules.add("every-second", "tick", "* * * * * *", overlap="allow")
    time.sleep(5)
    first.stop()
    stopped = time.time()
    time.sleep(3)
    schedules.disable("every-second")
    end = time.time()
    second.stop()
    created = [
        c for (c,) in cluster.instance.store.query(
            "SELECT created FROM jobs WHERE trigger = 'cron' ORDER BY created"
        )
    ]  # fmt: skip
    ticks = int(end) - int(start)  # whole seconds that began while it was enabled
    # At most one job per tick (a loaded machine may lose a few ticks, never add any) ...
    assert ticks // 2 <= len(created) <= ticks, (ticks, created)
    gaps = [b - a for a, b in zip(created, created[1:], strict=False)]
    assert min(gaps) > 0.05, gaps  # ... and a tick fired twice makes two jobs ms apart
    assert sum(c > stopped + 0.5 for c in created) >= 2  # the remaining node fired alone


def test_a_node_without_a_broker_refuses_a_cluster_database(cluster):
    """A node that would run every group's jobs in its own pool, and take the cluster's
    running jobs for its own after a restart, does not start."""
    first = cluster.worker("w1")  # the first node with a broker marks the database
    since, node = ClusterQueue.membership(cluster.instance.store)
    assert node == f"worker {first}" and since <= time.time()
    env = {**cluster.env, "AFT_HOME": str(cluster.node_home("single"))}
    del env["AFT_BROKER_URL"]
    refused = subprocess.run(
        [aft_command(), "serve", "--http", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert refused.returncode == 1, refused.stdout
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "belongs to a cluster" in refused.stderr and "AFT_BROKER_URL" in refused.stderr
    assert "broker_url" in refused.stderr


def test_recovery_after_a_crash_leaves_other_nodes_running_jobs_alone(tmp_path, cluster_urls):  # noqa: F811
    """Two nodes without a broker share one database (no cluster): one is killed with -9
    and restarted; its own job ends interrupted, the other node's job runs on."""
    env = {**os.environ, "AFT_DATABASE_URL": cluster_urls.database_url}
    env.pop("AFT_HOME", None)
    env.pop("AFT_BROKER_URL", None)
    with _open_instance(tmp_path / "admin", cluster_urls.database_url) as admin:
        admin.settings.set("concurrency", 1)  # each node runs one job at a time
        queue = admin.jobs
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            shutil.copy(tmp_path / "admin" / "master.key", tmp_path / name / "master.key")
        waiting = 'Log("up"); WaitForHaltSignal(); Log("halted")'
        a = ServeProcess(tmp_path / "a", "--http", env=env).start()
        b = ServeProcess(tmp_path / "b", "--http", env=env)
        try:
            on_a = queue.submit(waiting, script_name="on a")
            _wait_running(queue, on_a.id)
            b.start()
            on_b = queue.submit(waiting, script_name="on b")  # a is busy: b takes it
            _wait_running(queue, on_b.id)
            assert queue.get(on_a.id).worker != queue.get(on_b.id).worker
            b.stop(signal.SIGKILL)
            b.start()  # recovers from the crash
            lost = queue.get(on_b.id)
            assert lost.state is JobState.INTERRUPTED and "service stopped" in (lost.error or "")
            time.sleep(1)
            assert queue.get(on_a.id).state is JobState.RUNNING  # not a's to lose
            queue.request_halt(on_a.id)
            deadline = time.monotonic() + 30
            while not queue.get(on_a.id).state.is_final:
                assert time.monotonic() < deadline, "the job on a never ended"
                time.sleep(0.1)
            assert queue.get(on_a.id).state is JobState.HALTED
            assert [ln.text for ln in queue.log(on_a.id)[0]][:2] == ["up", "halted"]
        finally:
            b.stop()
            a.stop()


def test_recovery_on_a_shared_database_takes_only_this_hosts_dead_processes(cluster):
    """``recover(host=...)``: a job of a live process stays, one of a process that is gone
    (or whose id a younger process now has) ends interrupted, another host's stays."""
    queue = cluster.queue
    host = socket.gethostname()
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(ended.stdout)
    jobs = {}
    for name, worker in {
        "alive": f"{host}:{os.getpid()}",
        "dead": f"{host}:{dead_pid}",
        "reused": f"{host}:{os.getpid()}",
        "elsewhere": f"another-host:{dead_pid}",
    }.items():
        jobs[name] = submit(cluster, "Log(1)").id
        assert queue.claim_id(jobs[name], worker)
    cluster.instance.store.execute("UPDATE jobs SET started = 1 WHERE id = ?", (jobs["reused"],))
    recovered = JobQueue(cluster.instance.store).recover("gone", host=host)
    assert sorted(recovered) == sorted([jobs["dead"], jobs["reused"]])
    states = {name: queue.get(job_id).state for name, job_id in jobs.items()}
    assert states == {
        "alive": JobState.RUNNING,
        "dead": JobState.INTERRUPTED,
        "reused": JobState.INTERRUPTED,
        "elsewhere": JobState.RUNNING,
    }


def _wait_running(queue, job_id: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while queue.get(job_id).state is not JobState.RUNNING:
        assert time.monotonic() < deadline, f"{job_id} never started"
        time.sleep(0.05)


def test_move_to_postgres_says_how_to_become_a_cluster(aft_home, run_aft, postgres_server):  # noqa: F811
    from tests.servers.cluster import fresh_database

    with Instance(aft_home):
        pass  # a single node's home, on SQLite
    moved = run_aft("move-to-postgres", fresh_database(postgres_server))
    assert moved.returncode == 0, moved.stderr
    assert "broker_url" in moved.stdout and "AFT_BROKER_URL" in moved.stdout
    assert "docs/cluster.md" in moved.stdout
