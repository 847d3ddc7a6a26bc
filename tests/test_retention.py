"""Retention: the purge of old jobs, transfer records and audit entries, with a checkpoint
that keeps both hash chains verifiable. Run on PostgreSQL by tests/test_journal_pg.py."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from aft.models import JobState, LogLevel, LogLine, RunResult
from aft.retention import Retention
from tests.service_helpers import ServeProcess
from tests.test_journal import journal, unguard_transfers
from tests.test_service import prepare

DAY = 86400.0


def old_job(instance: Any, days: float, lines: int = 3) -> str:
    """A finished job with ``lines`` log lines that ended ``days`` ago."""
    job_id = instance.jobs.start_here("Log(1)", script_name="t.syncjs", params={}, worker="w:1")
    now = time.time()
    instance.jobs.append_log(
        job_id, [LogLine(now, LogLevel.INFO, f"line {n}") for n in range(lines)]
    )
    instance.jobs.finish(job_id, RunResult(JobState.SUCCEEDED, 0, ()))
    instance.store.execute("UPDATE jobs SET finished = ? WHERE id = ?", (now - days * DAY, job_id))
    return job_id


def test_a_purge_deletes_what_is_too_old_and_both_chains_still_verify(
    instance: Any, run_aft: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = time.time()
    old_a, old_b, young = old_job(instance, 40), old_job(instance, 31), old_job(instance, 1)
    running = instance.jobs.start_here("Log(1)", script_name="r", params={}, worker="w:1")
    instance.store.execute("UPDATE jobs SET started = ? WHERE id = ?", (now - 90 * DAY, running))
    # 5 old records, 3 young, then 1 old again: only the first 5 can go (a chain's head).
    journal(instance, old_a, [now - 40 * DAY] * 5 + [now] * 3 + [now - 40 * DAY])
    instance.settings.set("job_retention_days", 30)
    instance.settings.set("transfer_retention_days", 30)
    head = instance.store.query("SELECT hash FROM transfers WHERE seq = 5")[0][0]

    dry = run_aft("purge", "--dry-run")
    assert (dry.returncode, dry.stdout) == (
        0,
        "would purge 2 jobs (6 log lines), 5 transfer records, 0 audit entries\n",
    )
    assert len(instance.jobs.list(limit=100)[0]) == 4  # a dry run deletes nothing

    def stopped(self: Retention, table: str) -> None:
        raise RuntimeError("stopped")

    with monkeypatch.context() as patch:  # stopped after its checkpoint, before deleting it
        patch.setattr(Retention, "_delete_head", stopped)
        with pytest.raises(RuntimeError):
            Retention(instance.store, batch=2).purge()
    assert instance.store.query("SELECT COUNT(*) FROM transfers") == [(9,)]
    assert instance.audit.verify_transfers()[:2] == (True, 4)  # from the checkpoint on
    assert Retention(instance.store, batch=2).purge() == (0, 0, 0, 0, False)  # finishes it
    assert {j.id for j in instance.jobs.list(limit=100)[0]} == {young, running}
    assert instance.store.query("SELECT COUNT(*) FROM job_logs WHERE job_id = ?", (old_b,)) == [
        (0,)
    ]
    assert [r[0] for r in instance.store.query("SELECT seq FROM transfers ORDER BY seq")] == [
        6, 7, 8, 9
    ]  # fmt: skip
    checkpoint = instance.audit.list(limit=100)[0][-1]
    assert (checkpoint.action, checkpoint.actor) == ("retention.purge", "system:retention")
    assert checkpoint.detail == {
        "transfers": {"from": 1, "to": 5, "count": 5, "lastHash": head},
        "jobs": {
            "count": 2,
            "logLines": 6,
            "finishedBefore": checkpoint.detail["jobs"]["finishedBefore"],
        },
    }
    assert abs(checkpoint.detail["jobs"]["finishedBefore"] - (now - 30 * DAY)) < 60
    assert instance.audit.verify().ok
    assert instance.audit.verify_transfers()[:2] == (True, 4)
    assert Retention(instance.store).purge() == (0, 0, 0, 0, False)  # nothing more to do
    assert Retention(instance.store).purge(dry_run=True) == (0, 0, 0, 0, True)
    assert run_aft("audit", "verify").returncode == 0

    unguard_transfers(instance.store)
    instance.store.execute("UPDATE transfers SET error = 'x' WHERE seq = 8")
    assert instance.audit.verify_transfers().problem == (
        "transfer record 8 was changed: its content does not match its hash"
    )
    instance.store.execute("UPDATE transfers SET error = '' WHERE seq = 8")
    instance.store.execute("DELETE FROM transfers WHERE seq = 6")  # the first after the checkpoint
    assert instance.audit.verify_transfers().problem == (
        "transfer record 6 was removed: transfer record 7 comes after transfer record 5"
    )


def test_audit_entries_go_only_when_asked_and_the_chains_go_on_after_a_full_purge(
    instance: Any,
) -> None:
    job_id = old_job(instance, 0)
    journal(instance, job_id, [time.time()] * 4)
    for n in range(3):
        instance.settings.set("concurrency", n + 1)
    instance.settings.set("transfer_retention_days", 30)
    later = Retention(instance.store, clock=lambda: time.time() + 31 * DAY)
    assert later.purge() == (0, 0, 4, 0, False)  # audit_retention_days 0: the trail stays
    assert len(instance.audit.list(limit=100)[0]) == 5
    instance.settings.set("audit_retention_days", 30)
    assert later.purge() == (0, 0, 0, 6, False)
    entries = instance.audit.list(limit=100)[0]
    assert [e.action for e in entries] == ["retention.purge"]
    assert entries[0].detail["audit"]["to"] == entries[0].seq - 1
    assert instance.audit.verify()[:2] == (True, 1)
    journal(instance, job_id, [time.time()] * 2)  # the journal goes on from its mark
    assert [r[0] for r in instance.store.query("SELECT seq FROM transfers ORDER BY seq")] == [5, 6]
    assert instance.audit.verify_transfers()[:2] == (True, 2)
    instance.settings.set("allow_exec", True)
    assert instance.audit.verify()[:2] == (True, 2)


def test_the_service_purges_by_itself(aft_home: Path) -> None:
    prepare(aft_home)
    from aft.instance import Instance

    with Instance(aft_home) as instance:
        gone, kept = old_job(instance, 3), old_job(instance, 0)
        instance.settings.set("job_retention_days", 2)
    proc = ServeProcess(aft_home).start()
    try:
        with Instance(aft_home) as instance:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                ids = {j.id for j in instance.jobs.list(limit=100)[0]}
                if gone not in ids:
                    break
                time.sleep(0.2)
            assert ids == {kept}
    finally:
        proc.stop()
