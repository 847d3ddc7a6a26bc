"""aft from a Python program: queued jobs followed by their handle, an in-process worker
pool and the embedded service, as the README shows them."""

from __future__ import annotations

import re
import time

import pytest

from aft import Instance, JobState, QueuedJob, WorkerPool
from aft.exceptions import JobWaitTimeout
from tests.conftest import REPO


def readme_block(marker: str) -> str:
    """The README's Python block that contains ``marker``."""
    blocks = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    found = [block for block in blocks if marker in block]
    assert len(found) == 1, f"{len(found)} README blocks contain {marker!r}"
    return found[0]


def test_a_queued_job_is_followed_to_its_result(instance):
    with WorkerPool.for_instance(instance, concurrency=1) as pool:
        job = instance.jobs.submit(
            'Log("hi " + Param("who")); Log.Warn("w"); Exit(3)',
            script_name="t.syncjs",
            params={"who": "ops"},
        )
        assert isinstance(job, QueuedJob) and job.state is JobState.QUEUED
        pool.notify()
        ended = job.wait(timeout=30)
        result = job.result(timeout=1)
    assert ended.id == job.id and ended.state is JobState.FAILED
    assert result.state is JobState.FAILED and result.exit_code == 3
    assert [line.text for line in result.log] == ["hi ops", "w", "Exit(3)"]
    assert result.error == "Exit(3)"
    assert job.state is JobState.QUEUED  # the record as queued does not change


def test_waiting_for_a_job_nobody_runs_times_out(instance):
    job = instance.jobs.submit('Log("never run")', script_name="t.syncjs")
    with pytest.raises(JobWaitTimeout, match="still queued after 0.2s"):
        job.wait(timeout=0.2)
    with pytest.raises(JobWaitTimeout):
        job.result(timeout=0.2)


def test_a_pool_refuses_a_concurrency_below_one(instance):
    with pytest.raises(ValueError, match="concurrency must be 1 or more"):
        WorkerPool.for_instance(instance, concurrency=0)


def test_a_pool_takes_the_instance_settings(instance):
    instance.settings.set("halt_grace_seconds", 0)
    instance.settings.set("concurrency", 1)
    with WorkerPool.for_instance(instance):
        job = instance.jobs.submit('Log("spin"); while (true) {}', script_name="t.syncjs")
        while not instance.jobs.log(job.id)[0]:
            time.sleep(0.02)
        asked = time.monotonic()
        instance.jobs.request_halt(job.id)
        ended = job.wait(timeout=10)
    assert ended.state is JobState.HALTED
    assert time.monotonic() - asked < 2.5  # killed at once (no grace), not after 3 s


def test_the_readme_stopping_example(aft_home):
    exec(readme_block("HaltSignal()"), {})


def test_the_readme_worker_pool_example(aft_home, capsys):
    exec(readme_block("WorkerPool.for_instance"), {})
    assert capsys.readouterr().out == "JobState.SUCCEEDED ['hi pool']\n"


def test_the_readme_embedded_service_example(aft_home, capsys):
    exec(readme_block("port=0"), {})
    assert capsys.readouterr().out == "JobState.SUCCEEDED\n"
    with Instance(aft_home) as instance:  # the service has stopped: its port is closed
        assert instance.jobs.counts().get("succeeded") == 1


def test_a_queued_job_equals_its_record(instance):
    job = instance.jobs.submit('Log("x")', script_name="t.syncjs")
    again = instance.jobs.get(job.id)
    assert again == job and job == again and not (job != again)
    assert job.record() == again and type(job.record()) is type(again)
    assert job != instance.jobs.submit('Log("x")', script_name="t.syncjs")
    from aft._serde import to_json

    assert to_json(job) == to_json(again) and to_json(job)["jobId"] == job.id


def test_the_instance_executor_takes_the_halt_grace_setting(instance):
    instance.settings.set("halt_grace_seconds", 0)
    started = time.monotonic()
    result = instance.executor().run("while (true) {}", timeout=0.5)
    assert result.state is JobState.HALTED and "killed" in (result.error or "")
    assert time.monotonic() - started < 2.5  # killed at the timeout, not 3 s later
