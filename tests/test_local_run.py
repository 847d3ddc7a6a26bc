"""A run of ``aft run`` recorded as a job, in the library: its log in batches, its end,
recovery after a crash, who started a job. Run on SQLite here and on PostgreSQL by
tests/test_cluster_store.py."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from aft.audit import cli_actor
from aft.jobs import LocalRun
from aft.models import JobState, LogLevel, LogLine, RunResult


def test_log_lines_reach_the_job_in_batches_in_order(instance):
    job_id = instance.jobs.start_here(
        "Log(1)", script_name="a.syncjs", params={}, worker="here:1", started_by="cli:me"
    )
    writes = []
    append = instance.jobs.append_log
    instance.jobs.append_log = lambda job, lines: writes.append(len(lines)) or append(job, lines)
    run = LocalRun(instance.jobs, job_id, "here:1", every=0.05, batch=100)
    run.log(LogLine(time.time(), LogLevel.INFO, "quiet line"))
    deadline = time.monotonic() + 10
    while not instance.jobs.log(job_id)[0] and time.monotonic() < deadline:
        time.sleep(0.02)  # a quiet script's line still arrives, on the timer
    assert [ln.text for ln in instance.jobs.log(job_id)[0]] == ["quiet line"]
    with run:
        for n in range(250):
            run.log(LogLine(time.time(), LogLevel.INFO, f"line {n}"))
        run.finish(RunResult(JobState.SUCCEEDED, 0, ()))
    texts = [ln.text for ln in instance.jobs.log(job_id, limit=1000)[0]]
    assert texts == ["quiet line"] + [f"line {n}" for n in range(250)]
    assert len(writes) <= 6 and sum(writes) == 251
    job = instance.jobs.get(job_id)
    assert (job.state, job.trigger, job.started_by) == (JobState.SUCCEEDED, "cli", "cli:me")


def test_a_run_that_raises_is_recorded_failed(instance):
    job_id = instance.jobs.start_here("x", script_name="a.syncjs", params={}, worker="here:1")
    with pytest.raises(RuntimeError), LocalRun(instance.jobs, job_id, "here:1"):
        raise RuntimeError("engine   broke")
    job = instance.jobs.get(job_id)
    assert (job.state, job.error) == (JobState.FAILED, "engine broke")


def test_recovery_spares_a_live_cli_run_and_ends_a_dead_one(instance):
    host = socket.gethostname()
    dead = subprocess.Popen(["true"])
    dead.wait()
    live = instance.jobs.start_here("x", script_name="a", params={}, worker=f"{host}:{os.getpid()}")
    gone = instance.jobs.start_here("x", script_name="b", params={}, worker=f"{host}:{dead.pid}")
    assert instance.jobs.recover() == [gone]
    assert instance.jobs.get(live).state is JobState.RUNNING


def test_a_job_records_who_started_it_and_its_retries_keep_it(instance):
    job = instance.jobs.submit("Log(1)", script_name="s", retries=1)
    assert job.started_by == cli_actor() and job.trigger == "api"
    scheduled = instance.jobs.submit("Log(1)", script_name="s", started_by="schedule:hourly")
    assert instance.jobs.get(scheduled.id).started_by == "schedule:hourly"
    instance.jobs.claim("w:1")
    instance.jobs.finish(job.id, RunResult(JobState.FAILED, 1, (), error="x"))
    (retry,) = [j for j in instance.jobs.list()[0] if j.retry_of == job.id]
    assert retry.started_by == cli_actor()


def test_the_batching_thread_leaves_the_signals_to_the_main_thread(instance):
    # A SIGTERM that landed on it would leave the main thread asleep in its select, deaf to
    # the halt, until the supervisor killed the run.
    job_id = instance.jobs.start_here("x", script_name="a.syncjs", params={}, worker="here:1")
    with LocalRun(instance.jobs, job_id, "here:1") as run:
        status = open(f"/proc/self/task/{run._thread.native_id}/status").read()
        mine = open(f"/proc/self/task/{threading.get_native_id()}/status").read()
        run.finish(RunResult(JobState.SUCCEEDED, 0, ()))

    def blocked(text):
        (line,) = [ln for ln in text.splitlines() if ln.startswith("SigBlk:")]
        return int(line.split()[1], 16)

    for signum in (signal.SIGINT, signal.SIGTERM):
        assert blocked(status) & (1 << (signum - 1))
        assert not blocked(mine) & (1 << (signum - 1))
