"""JobQueue on a real SQLite database."""

from __future__ import annotations

import threading

import pytest

from aft.exceptions import JobAlreadyEnded, JobNotFound
from aft.jobs import JobQueue
from aft.models import JobState, LogLevel, LogLine, RunResult


@pytest.fixture
def queue(instance):
    return JobQueue(instance.store)


def result(state=JobState.SUCCEEDED, code=0, error=None):
    return RunResult(state, code, (), error, None)


def test_submit_persists_and_snapshots_the_source(queue, instance):
    job = queue.submit("Log(1)", script_name="one", params={"a": "b"}, trigger="api")
    assert job.state is JobState.QUEUED and job.params == {"a": "b"} and job.attempt == 1
    again = JobQueue(instance.store).get(job.id)
    assert again == job and queue.source(job.id) == "Log(1)"


def test_claim_is_oldest_first_and_exclusive(queue):
    first = queue.submit("1", script_name="a")
    second = queue.submit("2", script_name="b")
    assert queue.claim("w1").id == first.id
    assert queue.claim("w2").id == second.id
    assert queue.claim("w3") is None
    assert queue.get(first.id).state is JobState.RUNNING and queue.get(first.id).worker == "w1"


def test_concurrent_claims_never_share_a_job(queue):
    ids = {queue.submit("x", script_name="s").id for _ in range(60)}
    claimed: list[str] = []

    def worker(name):
        while (job := queue.claim(name)) is not None:
            claimed.append(job.id)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(ids)


def test_finish_once_only(queue):
    job = queue.submit("x", script_name="s")
    queue.claim("w")
    assert queue.finish(job.id, result())
    assert not queue.finish(job.id, result(JobState.FAILED, 1, "late"))
    assert queue.get(job.id).state is JobState.SUCCEEDED


def test_log_pages_by_offset(queue):
    job = queue.submit("x", script_name="s")
    queue.append_log(job.id, [LogLine(1.0, LogLevel.INFO, "a"), LogLine(2.0, LogLevel.WARN, "b")])
    queue.append_log(job.id, [LogLine(3.0, LogLevel.ERROR, "c")])
    lines, nxt = queue.log(job.id)
    assert [ln.text for ln in lines] == ["a", "b", "c"] and nxt == 3
    lines, nxt = queue.log(job.id, 2)
    assert [ln.text for ln in lines] == ["c"] and nxt == 3
    assert queue.log(job.id, 3) == ([], 3)
    with pytest.raises(JobNotFound):
        queue.log("job_nope")


def test_retry_policy_on_failure_with_backoff(queue):
    job = queue.submit("x", script_name="s", retries=2, retry_backoff=10)
    queue.claim("w")
    queue.finish(job.id, result(JobState.FAILED, 1, "boom"))
    retry = next(j for j in queue.list()[0] if j.retry_of == job.id)
    assert retry.attempt == 2 and retry.state is JobState.QUEUED
    assert retry.not_before >= retry.created + 10
    assert queue.claim("w") is None  # the backoff has not passed


def test_no_retry_after_success_or_halt_or_last_attempt(queue):
    for state in (JobState.SUCCEEDED, JobState.HALTED):
        job = queue.submit("x", script_name="s", retries=3)
        queue.claim("w")
        queue.finish(job.id, result(state))
    last = queue.submit("x", script_name="s", retries=0)
    queue.claim("w")
    queue.finish(last.id, result(JobState.FAILED, 1, "x"))
    assert all(j.retry_of is None for j in queue.list()[0])


def test_recover_marks_running_interrupted_and_keeps_queued(queue):
    running = queue.submit("x", script_name="s", retries=1)
    queued = queue.submit("y", script_name="s")
    queue.claim("w")
    assert queue.recover() == [running.id]
    assert queue.get(running.id).state is JobState.INTERRUPTED
    assert queue.get(queued.id).state is JobState.QUEUED
    retry = next(j for j in queue.list()[0] if j.retry_of == running.id)
    assert retry.state is JobState.QUEUED


def test_halt_queued_running_and_ended(queue):
    queued = queue.submit("x", script_name="s")
    assert queue.request_halt(queued.id).state is JobState.HALTED
    running = queue.submit("x", script_name="s")
    queue.claim("w")
    asked = queue.request_halt(running.id)
    assert asked.state is JobState.RUNNING and asked.halt_requested
    assert queue.halt_requests() == [(running.id, "w", asked.halt_requested)]
    queue.finish(running.id, result(JobState.HALTED, 1))
    with pytest.raises(JobAlreadyEnded):
        queue.request_halt(running.id)
    with pytest.raises(JobNotFound):
        queue.request_halt("job_missing")


def test_list_filters_and_cursor(queue):
    for i in range(5):
        queue.submit("x", script_name="Alpha" if i % 2 else "beta", api_key_id=f"k{i % 2}")
    jobs, cursor = queue.list(limit=2)
    assert len(jobs) == 2 and cursor is not None
    rest, end = queue.list(limit=10, cursor=cursor)
    assert len(rest) == 3 and end is None
    assert {j.id for j in jobs}.isdisjoint(j.id for j in rest)
    assert len(queue.list(script="ALPHA")[0]) == 2
    assert len(queue.list(api_key_id="k0")[0]) == 3
    assert queue.list(state="running")[0] == []
    assert queue.counts()["queued"] == 5


def test_a_log_page_is_capped_in_characters_as_well_as_lines(queue):
    job = queue.submit("x", script_name="s")
    queue.append_log(job.id, [LogLine(1.0, LogLevel.INFO, "y" * 1000) for _ in range(50)])
    lines, next_offset = queue.log(job.id, 0, limit=40, max_chars=10_500)
    assert (len(lines), next_offset) == (10, 10)
    lines, next_offset = queue.log(job.id, next_offset, limit=15)
    assert (len(lines), next_offset) == (15, 25)
    lines, _ = queue.log(job.id, 0, max_chars=10)  # one line always comes, however long
    assert len(lines) == 1


def test_list_filters_by_trigger_in_the_query(queue):
    cron = queue.submit("c", script_name="s", trigger="cron")
    newer = [queue.submit("a", script_name="s", trigger="api").id for _ in range(30)]
    jobs, cursor = queue.list(trigger="cron", limit=5)
    assert [j.id for j in jobs] == [cron.id] and cursor is None
    page, cursor = queue.list(trigger="api", limit=25)
    assert [j.id for j in page] == newer[:4:-1] and cursor is not None
    rest, end = queue.list(trigger="api", limit=25, cursor=cursor)
    assert [j.id for j in rest] == newer[4::-1] and end is None
    assert queue.list(trigger="ui") == ([], None)
