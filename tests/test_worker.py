"""The worker pool with real worker processes on a real instance database."""

from __future__ import annotations

import os
import signal
import time

import pytest

from aft.exceptions import JobWaitTimeout
from aft.models import JobState
from aft.worker import WorkerPool


def wait_final(queue, job_id, timeout=20.0):
    return queue.wait(job_id, timeout=timeout, poll=0.02)


@pytest.fixture
def pool(instance):
    queue = instance.jobs
    pool = WorkerPool(instance.home, queue, concurrency=2, grace=1.0, memory_mb=512)
    pool.start()
    yield pool, queue
    pool.stop()


def submit(pool_and_queue, source, **kwargs):
    pool, queue = pool_and_queue
    job = queue.submit(source, script_name="t.syncjs", **kwargs)
    pool.notify()
    return job


def test_jobs_run_with_params_and_logs(pool):
    _, queue = pool
    job = submit(pool, 'Log("hi " + Param("who") + " " + JobID())', params={"who": "ops"})
    done = wait_final(queue, job.id)
    assert done.state is JobState.SUCCEEDED and done.exit_code == 0
    assert [ln.text for ln in queue.log(job.id)[0]] == [f"hi ops {job.id}"]


def test_failures_are_recorded_with_line(pool):
    _, queue = pool
    job = submit(pool, "Log(1);\nnull.x;")
    done = wait_final(queue, job.id)
    assert done.state is JobState.FAILED and done.error_line == 2 and "null" in done.error


def test_endless_loop_is_halted_then_killed_within_5s(pool):
    _, queue = pool
    busy = submit(pool, 'Log("spin"); while (true) {}')
    polite = submit(pool, 'Log("wait"); WaitForHaltSignal(); Log("bye")')
    while len(queue.log(busy.id)[0]) == 0 or len(queue.log(polite.id)[0]) == 0:
        time.sleep(0.02)
    asked = time.monotonic()
    queue.request_halt(busy.id)
    queue.request_halt(polite.id)
    pool[0].notify()
    busy_done, polite_done = wait_final(queue, busy.id), wait_final(queue, polite.id)
    assert time.monotonic() - asked < 5
    assert busy_done.state is JobState.HALTED and "killed" in busy_done.error
    assert polite_done.state is JobState.HALTED
    assert [ln.text for ln in queue.log(polite.id)[0]][:2] == ["wait", "bye"]
    after = submit(pool, 'Log("still working")')  # the pool replaced the killed worker
    assert wait_final(queue, after.id).state is JobState.SUCCEEDED


def test_memory_hog_is_stopped_by_the_limit(pool):
    _, queue = pool
    hog = submit(pool, "var a = []; while (true) { a.push(new Array(1e6).fill(1.5)); }")
    done = wait_final(queue, hog.id, timeout=60)
    assert done.state is JobState.FAILED and "out of memory" in done.error
    after = submit(pool, 'Log("fine")')
    assert wait_final(queue, after.id).state is JobState.SUCCEEDED


def test_a_dead_worker_interrupts_its_job_and_retries(pool):
    _, queue = pool
    job = submit(pool, 'Log("up"); Sleep(60000)', retries=1, retry_backoff=0)
    while not queue.log(job.id)[0]:
        time.sleep(0.02)
    worker_pid = int(queue.get(job.id).worker.rsplit(":", 1)[1])
    os.kill(worker_pid, signal.SIGKILL)
    done = wait_final(queue, job.id)
    assert done.state is JobState.INTERRUPTED and "died" in done.error
    retry = next(j for j in queue.list()[0] if j.retry_of == job.id)
    assert retry.attempt == 2
    queue.request_halt(retry.id)
    pool[0].notify()
    assert wait_final(queue, retry.id).state is JobState.HALTED


def test_stop_halts_running_jobs(instance):
    queue = instance.jobs
    pool = WorkerPool(instance.home, queue, concurrency=1, grace=1.0)
    pool.start()
    job = queue.submit('Log("x"); while (true) {}', script_name="t")
    pool.notify()
    while not queue.log(job.id)[0]:
        time.sleep(0.02)
    started = time.monotonic()
    pool.stop()
    assert time.monotonic() - started < 5
    assert queue.get(job.id).state is JobState.INTERRUPTED


def test_waiting_for_a_job_that_does_not_end_times_out(instance):
    job = instance.jobs.submit('Log("never run: no pool")', script_name="t.syncjs")
    started = time.monotonic()
    with pytest.raises(JobWaitTimeout, match=r"still queued after 0.3s"):
        instance.jobs.wait(job.id, timeout=0.3)
    assert time.monotonic() - started < 2
