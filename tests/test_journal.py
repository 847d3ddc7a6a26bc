"""The transfer journal and live progress, against real servers (OpenSSH sshd, SeaweedFS S3)
and a real ``aft serve`` over a socket."""

from __future__ import annotations

import hashlib
import json
import os
import pty
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from aft.executor import Executor
from aft.instance import Instance
from aft.journal import Journal, Progress, Tracker, Transfer, TransferLog
from aft.models import RunResult
from aft.vfs.base import copy_file, copy_tree
from aft.vfs.disk import DiskVfs
from tests.conftest import aft_command
from tests.script_helpers import js, texts
from tests.service_helpers import ServeProcess
from tests.test_service import prepare
from tests.test_syncjs_vfs import sftp_client


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def run_job(instance: Any, source: str, *, transfers: bool = True) -> tuple[str, RunResult]:
    """Run ``source`` as a recorded job with a journal; its id and result."""
    job_id = instance.jobs.start_here(source, script_name="t.syncjs", params={}, worker="w:1")
    tracker = instance.jobs.tracker(job_id, transfers=transfers)
    try:
        result = Executor(vfs_library=instance.vfs).run(source, job_id=job_id, progress=tracker)
    finally:
        tracker.close()
    return job_id, result


def records(instance: Any, job_id: str) -> list[Any]:
    return TransferLog(instance.store).list(job_id=job_id, limit=1000)[0]


def test_a_script_leaves_one_record_per_file_with_its_sha256(
    instance: Any, sshd_server: Any, s3_server: Any, s3_bucket: str, tmp_path: Path
) -> None:
    local, back = tmp_path / "out", tmp_path / "back"
    local.mkdir()
    back.mkdir()
    data = {name: os.urandom(1000 + n * 70_000) for n, name in enumerate(["a", "b", "c"])}
    for name, content in data.items():
        (local / f"{name}.dat").write_bytes(content)
    remote = sshd_server.new_dir()
    source = (
        sftp_client(sshd_server) + f"c.Connect(); c.Upload({js(local)} + '/*.dat', {js(remote)});"
        f"c.Download({js(remote)} + '/a.dat', {js(back)});"
        f"c.DelFile({js(remote)} + '/b.dat');"
        f"var d = new VirtualFS(VfsTypeDisk, {js(local)});"
        f"var s = new VirtualFS(VfsTypeS3, {js(s3_server.target(s3_bucket))},"
        f" {js(s3_server.payload)});"
        "d.CopyToVFS('/c.dat', s, '/x/c.dat'); s.Remove('/x/c.dat');"
        "var bad = d.CopyToVFS('/missing.dat', s, '/y.dat');"
    )
    job_id, result = run_job(instance, source)
    assert result.ok, (result.error, texts(result))
    found = records(instance, job_id)
    by = {(r.op, r.src_path, r.dst_path): r for r in found}
    assert len(found) == 8, [(r.op, r.src_path, r.dst_path, r.outcome) for r in found]
    for name, content in data.items():
        up = by[("upload", f"{local}/{name}.dat", f"{remote}/{name}.dat")]
        assert (up.bytes, up.sha256, up.outcome, up.attempt) == (
            len(content),
            sha(content),
            "ok",
            1,
        )
        assert up.src == "local" and str(sshd_server.port) in up.dst
        assert up.job_id == job_id and up.started <= up.finished
    down = by[("download", f"{remote}/a.dat", f"{back}/a.dat")]
    assert (down.bytes, down.sha256, down.dst) == (len(data["a"]), sha(data["a"]), "local")
    assert by[("delete", f"{remote}/b.dat", "")].outcome == "ok"
    copied = by[("copy", "/c.dat", "/x/c.dat")]
    assert copied.sha256 == sha(data["c"]) and copied.src == str(local)
    assert copied.dst == s3_server.target(s3_bucket).partition("?")[0]
    assert by[("delete", "/x/c.dat", "")].outcome == "ok"
    failed = by[("copy", "/missing.dat", "/y.dat")]
    assert failed.outcome == "failed" and "missing.dat" in failed.error and not failed.sha256
    assert texts(result)[-1].startswith("transferred 6 files (1 failed), ")


def test_a_file_that_fails_in_a_batch_is_recorded_failed_with_its_error(
    instance: Any, sshd_server: Any, tmp_path: Path
) -> None:
    local = tmp_path / "out"
    local.mkdir()
    (local / "ok.txt").write_text("fine")
    (local / "dir.txt").write_text("blocked")
    remote = sshd_server.new_dir()
    (remote / "dir.txt").mkdir()  # the target is a folder: that file cannot go
    source = sftp_client(sshd_server) + (
        f"c.Connect(); var sent = c.Upload({js(local)} + '/*.txt', {js(remote)}); Log(sent);"
    )
    job_id, result = run_job(instance, source)
    assert "false" in texts(result)
    by = {r.src_path: r for r in records(instance, job_id)}
    assert by[f"{local}/ok.txt"].outcome == "ok"
    blocked = by[f"{local}/dir.txt"]
    assert (blocked.op, blocked.outcome) == ("upload", "failed")
    assert "is a directory" in blocked.error


def test_a_run_that_moves_no_file_starts_no_writer_thread(instance: Any) -> None:
    import threading

    job = instance.jobs.submit('Log("x")', script_name="t.syncjs")
    tracker = instance.jobs.tracker(job.id)
    result = instance.executor().run('Log("x")', progress=tracker, job_id=job.id)
    assert result.ok and "aft-journal" not in [t.name for t in threading.enumerate()]
    tracker.journal.close()
    assert instance.jobs.progress(job.id) is None


def test_with_the_journal_off_nothing_is_recorded_but_progress_is(
    instance: Any, tmp_path: Path
) -> None:
    (tmp_path / "a").write_bytes(b"x" * 5000)
    source = f"CopyFile({js(tmp_path / 'a')}, {js(tmp_path / 'b')});"
    job_id, result = run_job(instance, source, transfers=False)
    assert result.ok and records(instance, job_id) == []
    progress = instance.jobs.progress(job_id)
    assert progress["filesDone"] == 1 and progress["bytes"] == 5000


def test_copy_tree_reports_progress_to_a_callback(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    for n in range(5):
        (src / "sub" / f"{n}.bin").write_bytes(b"y" * 1000)
    seen: list[Progress] = []
    with DiskVfs(str(tmp_path)) as vfs:
        assert copy_tree(vfs, "/src", vfs, "/dst", progress=seen.append) == 5
    last = seen[-1]
    assert (last.files_done, last.files_total, last.bytes, last.current) == (5, 5, 5000, None)
    assert all(p.files_total == 5 for p in seen)
    assert "5/5 files" in last.line()


def test_executor_run_reports_progress_to_a_callback(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"z" * 3000)
    seen: list[Progress] = []
    r = Executor().run(
        f"CopyFile({js(tmp_path / 'a')}, {js(tmp_path / 'b')});", progress=seen.append
    )
    assert r.ok and seen[-1].files_done == 1 and seen[-1].bytes == 3000
    assert not any(t.startswith("transferred") for t in texts(r))  # not a job: no summary


def test_a_tracker_is_refused_an_unknown_operation() -> None:
    with pytest.raises(ValueError, match="op must be one of"):
        Tracker(op="teleport")


SLOW_COPY = """
var d = new VirtualFS(VfsTypeDisk, Param("dir"));
for (var i = 0; i < 40; i++) { d.CopyToVFS("/a.bin", d, "/copy" + i + ".bin"); Sleep(60); }
"""


def test_rest_and_cli_read_the_journal_and_a_running_jobs_progress(
    aft_home: Path, tmp_path: Path, run_aft: Any
) -> None:
    keys = prepare(aft_home)
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "a.bin").write_bytes(b"q" * 10_000)
    with Instance(aft_home) as instance:
        instance.scripts.add("slow", SLOW_COPY)
    proc = ServeProcess(aft_home).start()
    try:
        admin, runner = proc.client(keys["admin"]), proc.client(keys["run"])
        body = {"scriptName": "slow", "params": {"dir": str(folder)}}
        job_id = runner.request("POST", "/v1/jobs", body)["jobId"]
        follower, terminal = following(aft_home, job_id)
        first = second = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and second is None:
            got = runner.request("GET", f"/v1/jobs/{job_id}")
            if got["status"] == "running" and got["progress"]:
                if first is None:
                    first = got["progress"]
                elif got["progress"]["filesDone"] > first["filesDone"]:
                    second = got["progress"]
            time.sleep(0.3)
        assert first and second, (first, second)
        assert second["bytes"] > first["bytes"] and second["currentFile"] in (None, "/a.bin")
        while got["status"] == "running" and time.monotonic() < deadline + 20:
            time.sleep(0.1)
            got = runner.request("GET", f"/v1/jobs/{job_id}")
        assert got["status"] == "succeeded"
        assert got["progress"]["filesDone"] == 40 and got["progress"]["currentFile"] is None
        drawn, printed = read_all(follower, terminal)
        assert "\r\x1b[K" in drawn and " files, " in drawn, drawn  # progress, on stderr
        assert "transferred 40 files" in printed and "\x1b[K" not in printed  # the log

        pages, cursor = [], None
        while True:
            query = {"job": job_id, "limit": 15, **({"cursor": cursor} if cursor else {})}
            page = runner.request("GET", "/v1/transfers", query=query)
            pages.append(page["transfers"])
            cursor = page["nextCursor"]
            if cursor is None:
                break
        assert [len(p) for p in pages] == [15, 15, 10]
        every = [r for p in pages for r in p]
        assert len({r["seq"] for r in every}) == 40
        assert {r["sha256"] for r in every} == {sha(b"q" * 10_000)}
        one = runner.request("GET", f"/v1/jobs/{job_id}/transfers", query={"path": "/copy3?.bin"})
        assert sorted(r["dstPath"] for r in one["transfers"]) == [
            f"/copy{n}.bin" for n in range(30, 40)
        ]
        typed = runner.transfers(job=job_id)  # the same through the typed client
        assert [r.seq for r in typed.transfers] == [r["seq"] for r in every]
        assert typed.next_cursor is None and typed.transfers[0].job_id == job_id
        mine = runner.job_transfers(job_id, path="/copy3?.bin")
        assert sorted(r.dst_path for r in mine.transfers) == sorted(
            r["dstPath"] for r in one["transfers"]
        )
        assert admin.transfers(failed=True).transfers == []
        none = admin.request("GET", "/v1/transfers", query={"failed": "true"})
        assert none["transfers"] == []
        try:
            runner.request("GET", "/v1/transfers")
            raise AssertionError("a run key read every job's transfers")
        except Exception as exc:
            assert "its own jobs only" in str(exc)
        try:
            admin.request("GET", "/v1/transfers", query={"since": "yesterday"})
            raise AssertionError("a bad since was accepted")
        except Exception as exc:
            assert "since must be a Unix time" in str(exc)
        log = [line.text for line in runner.job_log(job_id).lines]
        assert log[-1].startswith("transferred 40 files, 400000 bytes")
    finally:
        proc.stop()

    listed = run_aft("transfers", "list", "--job", job_id, "--json")
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert len(rows) == 40 and rows[0]["bytes"] == 10_000 and rows[0]["jobId"] == job_id
    csv = run_aft("transfers", "list", "--job", job_id, "--csv", "--path", "*copy7.bin")
    assert csv.stdout.splitlines()[0].startswith("seq,job_id,op,src,src_path,dst,dst_path,bytes")
    assert len(csv.stdout.splitlines()) == 2 and "/copy7.bin" in csv.stdout
    assert run_aft("transfers", "list", "--failed").stdout == ""
    both = run_aft("transfers", "list", "--json", "--csv")
    assert both.returncode == 2 and "not both" in both.stderr


def following(aft_home: Path, job_id: str) -> tuple[subprocess.Popen[bytes], int]:
    """``aft jobs log JOB --follow`` with stderr on a pseudo-terminal, stdout on a pipe."""
    main, other = pty.openpty()
    proc = subprocess.Popen(
        [aft_command(), "jobs", "log", job_id, "--follow"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=other,
        env={**os.environ, "AFT_HOME": str(aft_home)},
    )
    os.close(other)
    return proc, main


def read_all(proc: subprocess.Popen[bytes], terminal: int) -> tuple[str, str]:
    """What ``proc`` wrote to the terminal and to stdout, once it has ended."""
    drawn = b""
    while select.select([terminal], [], [], 30)[0]:
        try:
            chunk = os.read(terminal, 65536)
        except OSError:  # the other side closed
            break
        if not chunk:
            break
        drawn += chunk
    assert proc.stdout is not None
    printed = proc.stdout.read()
    assert proc.wait(30) == 0, (drawn, printed)
    os.close(terminal)
    return drawn.decode(errors="replace"), printed.decode()


def run_under(aft_home: Path, script: Path, terminal: bool) -> str:
    """``aft run`` with stderr on a pseudo-terminal (or a pipe); what stderr got."""
    env = {**os.environ, "AFT_HOME": str(aft_home)}
    if not terminal:
        done = subprocess.run(
            [aft_command(), "run", str(script)], capture_output=True, env=env, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stderr.decode()
    main, other = pty.openpty()
    proc = subprocess.Popen(
        [aft_command(), "run", str(script)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=other,
        env=env,
    )
    os.close(other)
    out = b""
    while True:
        ready, _, _ = select.select([main], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the other side closed
            break
        if not chunk:
            break
        out += chunk
    assert proc.wait(30) == 0, out
    os.close(main)
    return out.decode(errors="replace")


def test_aft_run_draws_a_progress_line_on_a_terminal_only(
    aft_home: Path, tmp_path: Path, run_aft: Any
) -> None:
    run_aft("settings", "set", "allow_cli_run", "true")
    (tmp_path / "a.bin").write_bytes(b"p" * 4096)
    script = tmp_path / "copy.syncjs"
    script.write_text(
        f"var d = new VirtualFS(VfsTypeDisk, {js(tmp_path)});"
        "for (var i = 0; i < 3; i++) { d.CopyToVFS('/a.bin', d, '/b' + i + '.bin'); }"
        "Log('done');"
    )
    shown = run_under(aft_home, script, terminal=True)
    assert "\r\x1b[K3/" not in shown  # no total is known for single copies
    assert "\r\x1b[K3 files, 12.0 KiB" in shown, shown
    assert "transferred 3 files, 12288 bytes" in shown
    piped = run_under(aft_home, script, terminal=False)
    assert "\x1b[K" not in piped and "\r" not in piped
    assert "done" in piped and "transferred 3 files, 12288 bytes" in piped


def test_the_journal_writes_in_batches_and_pages_by_cursor_with_filters(instance: Any) -> None:
    job_id = instance.jobs.start_here("x", script_name="t", params={}, worker="w:1")
    journal = Journal(instance.store, job_id, every=60, batch=1000)
    tracker = Tracker(journal=journal, job_id=job_id)
    for n in range(25):
        record = tracker.start("src", f"/in/{n:02d}.csv", "dst", f"/out/{n:02d}.csv", op="upload")
        record.add(b"%d" % n)
        record.end(None if n % 5 else RuntimeError(f"broken {n}"))
    tracker.note("delete", "src", "/in/gone.txt")
    log = TransferLog(instance.store)
    assert log.list(job_id=job_id)[0] == []  # waiting in memory, not yet written
    journal.flush()
    seen, cursor = [], None
    while True:
        page, cursor = log.list(job_id=job_id, limit=10, cursor=cursor)
        seen.append(len(page))
        if cursor is None:
            break
    assert seen == [10, 10, 6]
    failed, _ = log.list(job_id=job_id, failed=True)
    assert [r.error for r in failed] == [f"broken {n}" for n in (0, 5, 10, 15, 20)]
    assert all(not r.sha256 for r in failed)
    ok = log.list(job_id=job_id, path="/out/1?.csv")[0]
    assert [r.dst_path for r in ok] == [f"/out/1{n}.csv" for n in range(10)]
    assert ok[1].sha256 == sha(b"11") and ok[1].bytes == 2
    pages, cursor = [], None
    while True:  # the glob filter pages by cursor as well
        page, cursor = log.list(path="*.csv", limit=7, cursor=cursor)
        pages.append(len(page))
        if cursor is None:
            break
    assert pages == [7, 7, 7, 4]
    every = log.list(job_id=job_id, limit=100)[0]
    middle = every[12].started
    assert all(r.started >= middle for r in log.list(since=middle, limit=100)[0])
    assert all(r.started < middle for r in log.list(until=middle, limit=100)[0])
    tracker.close()
    assert instance.jobs.progress(job_id)["filesDone"] == 25


def test_a_failed_write_keeps_the_records_for_the_next_one(instance: Any) -> None:
    store, failures = instance.store, [RuntimeError("database is locked")]

    class Flaky:  # the instance's store, whose first write transaction fails
        def transaction(self) -> Any:
            if failures:
                raise failures.pop()
            return store.transaction()

        def __getattr__(self, name: str) -> Any:
            return getattr(store, name)

    journal = Journal(Flaky(), "job_x", every=60)  # type: ignore[arg-type]
    tracker = Tracker(journal=journal, job_id="job_x")
    tracker.start("a", "/f", "b", "/g").end()
    with pytest.raises(RuntimeError, match="locked"):
        journal.flush()
    tracker.close()
    assert [r.src_path for r in TransferLog(store).list(job_id="job_x")[0]] == ["/f"]


def test_progress_moves_within_a_big_file(
    sshd_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import aft.journal
    from aft.vfs import open_vfs

    monkeypatch.setattr(aft.journal, "PROGRESS_EVERY", 0.01)
    remote = sshd_server.new_dir()
    data = os.urandom(64 * 1024 * 1024)  # long enough over SFTP for several reports
    (remote / "big.bin").write_bytes(data)
    seen: list[Progress] = []
    sftp = open_vfs("SFTP", sshd_server.target(remote), {"pass": sshd_server.password})
    with sftp, DiskVfs(str(tmp_path)) as disk:
        copy_file(sftp, "/big.bin", disk, "/big.bin", progress=seen.append)
    during = [p for p in seen if p.files_done == 0]
    assert len(during) >= 2, seen  # told while the file was on its way
    assert all(p.current == "/big.bin" for p in during)
    assert [p.bytes for p in during] == sorted(p.bytes for p in during)
    # The last report during the file may come after its last chunk, before it is done.
    assert 0 < during[0].bytes < during[-1].bytes <= len(data)
    assert (seen[-1].files_done, seen[-1].bytes, seen[-1].current) == (1, len(data), None)
    assert (tmp_path / "big.bin").read_bytes() == data


def test_an_encrypted_upload_records_the_bytes_as_stored(
    instance: Any, sshd_server: Any, tmp_path: Path
) -> None:
    (tmp_path / "plain.txt").write_bytes(b"secret numbers " * 1000)
    remote = sshd_server.new_dir()
    source = sftp_client(sshd_server) + (
        "c.Options.OTFE = true; c.Options.OTFEKey = 'correct horse battery staple';"
        f"c.Connect(); Log(c.Upload({js(tmp_path / 'plain.txt')}, {js(remote)}));"
    )
    job_id, result = run_job(instance, source)
    assert "true" in texts(result), texts(result)
    (record,) = records(instance, job_id)
    stored = (remote / "plain.txt").read_bytes()
    assert (record.op, record.outcome) == ("upload", "ok")
    assert (record.bytes, record.sha256) == (len(stored), sha(stored))


def test_deltree_skips_and_script_writes_each_leave_their_own_records(
    instance: Any, sshd_server: Any, s3_server: Any, s3_bucket: str, tmp_path: Path
) -> None:
    local = tmp_path / "out"
    local.mkdir()
    (local / "a.txt").write_text("first")
    remote = sshd_server.new_dir()
    (remote / "a.txt").write_text("there already")  # NeverOverwrite: a.txt is skipped
    (remote / "tree" / "sub").mkdir(parents=True)
    (remote / "tree" / "one.bin").write_bytes(b"1" * 10)
    (remote / "tree" / "sub" / "two.bin").write_bytes(b"2" * 20)
    for path in [remote / "tree", *(remote / "tree").rglob("*")]:
        shutil.chown(path, sshd_server.user, sshd_server.user)
    source = sftp_client(sshd_server) + (
        f"c.Connect(); c.Upload({js(local)} + '/a.txt', {js(remote)});"
        f"c.DelTree({js(remote)} + '/tree');"
        f"var s = new VirtualFS(VfsTypeS3, {js(s3_server.target(s3_bucket))},"
        f" {js(s3_server.payload)});"
        "s.WriteFileAsText('/w/note.txt', 'hello'); s.WriteFileAsBytes('/w/raw', [1, 2, 3]);"
        "s.WriteFileAsText('/w/note.txt', 'J', 0, FromStart);"
        "s.RemoveAll('/w');"
    )
    job_id, result = run_job(instance, source)
    assert result.ok, (result.error, texts(result))
    found = [
        (r.op, r.src, r.src_path, r.dst_path, r.bytes, r.outcome) for r in records(instance, job_id)
    ]
    bucket = s3_server.target(s3_bucket).partition("?")[0]
    assert found[0] == ("upload", "local", f"{local}/a.txt", f"{remote}/a.txt", 0, "skipped")
    skipped = records(instance, job_id)[0]
    assert "exists" in skipped.error and not skipped.sha256
    deletes = sorted(f[2] for f in found if f[0] == "delete" and f[2].startswith(str(remote)))
    assert deletes == [f"{remote}/tree/one.bin", f"{remote}/tree/sub/two.bin"]
    assert [f[4] for f in found if f[2] == f"{remote}/tree/sub/two.bin"] == [20]
    writes = [r for r in records(instance, job_id) if r.op == "write"]
    assert [(w.src, w.src_path, w.dst, w.dst_path, w.bytes) for w in writes] == [
        ("script", "", bucket, "/w/note.txt", 5),
        ("script", "", bucket, "/w/raw", 3),
        ("script", "", bucket, "/w/note.txt", 5),
    ]
    assert [w.sha256 for w in writes] == [sha(b"hello"), sha(b"\1\2\3"), sha(b"Jello")]
    removed = sorted(f[2] for f in found if f[0] == "delete" and f[2].startswith("/w"))
    assert removed == ["/w/note.txt", "/w/raw"]
    progress = instance.jobs.progress(job_id)
    assert progress["filesDone"] == 1 + 3  # the skipped file counts as done, as do the writes


def journal(instance: Any, job_id: str, started: list[float]) -> None:
    """Write a record per time in ``started`` for ``job_id``, as a run's journal would."""
    with Journal(instance.store, job_id) as writer:
        for n, when in enumerate(started):
            where = ("local", f"/in/{job_id}/{n}", "local", f"/out/{n}")
            writer.add(
                Transfer(0, job_id, "copy", *where, n, "ab" * 32, "", when, when, "ok", "", 1)
            )


def unguard_transfers(store: Any) -> None:
    """Take the transfer journal's append-only triggers away, as a hand edit would."""
    if type(store).__name__ == "PostgresStore":
        store.execute("ALTER TABLE transfers DISABLE TRIGGER USER")
    else:
        store.execute("DROP TRIGGER transfers_no_update")
        store.execute("DROP TRIGGER transfers_no_delete")


def test_transfer_records_are_chained_and_an_edit_or_a_deletion_is_named(
    instance: Any, run_aft: Any
) -> None:
    import threading

    now = time.time()
    writers = [
        threading.Thread(target=journal, args=(instance, f"job_{n}", [now] * 300)) for n in range(3)
    ]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    found = instance.audit.verify_transfers()
    assert (found.ok, found.entries) == (True, 900), found.problem  # three writers, one chain
    for statement in ("UPDATE transfers SET bytes = 1", "DELETE FROM transfers"):
        with pytest.raises(Exception, match="the transfer journal is append-only"):
            instance.store.execute(statement)
    unguard_transfers(instance.store)
    instance.store.execute("UPDATE transfers SET bytes = 999 WHERE seq = 3")
    changed = "transfer record 3 was changed: its content does not match its hash"
    assert instance.audit.verify_transfers().problem == changed
    done = run_aft("audit", "verify")
    assert (done.returncode, done.stderr) == (
        1,
        f"aft: error: the transfer journal is broken: {changed}\n",
    )
    instance.store.execute("DELETE FROM transfers WHERE seq = 3")
    assert instance.audit.verify_transfers().problem == (
        "transfer record 3 was removed: transfer record 4 comes after transfer record 2"
    )
    instance.store.execute("DELETE FROM transfers WHERE seq = 900")
    assert instance.audit.verify_transfers().entries == 2  # a cut tail: compare the head


def test_recording_and_chaining_a_record_costs_little(instance: Any) -> None:
    started = time.perf_counter()
    journal(instance, "job_speed", [time.time()] * 5000)
    per_record = (time.perf_counter() - started) / 5000
    assert instance.audit.verify_transfers().entries == 5000
    assert per_record < 200e-6, f"{per_record * 1e6:.1f} µs a record"


def test_records_written_before_the_chain_are_counted_apart_and_only_first(
    instance: Any, run_aft: Any
) -> None:
    legacy = "INSERT INTO transfers (seq, job_id, op, src, src_path, dst, dst_path, bytes, sha256,"
    legacy += " checksum, started, finished, outcome, error, attempt) VALUES"
    legacy += " (?, 'job_old', 'copy', 'local', '/a', 'local', '/b', 1, '', '', 1, 1, 'ok', '', 1)"
    for seq in (1, 2):  # as an older aft wrote them: no prev, no hash
        instance.store.execute(legacy, (seq,))
    journal(instance, "job_new", [time.time()] * 3)
    found = instance.audit.verify_transfers()
    assert (found.ok, found.entries, found.unchained) == (True, 3, 2)
    done = run_aft("audit", "verify")
    assert done.stdout.splitlines()[1].endswith(
        "(2 older, written before it was chained, not covered)"
    )
    unguard_transfers(instance.store)
    instance.store.execute("UPDATE transfers SET prev = '', hash = '' WHERE seq = 4")
    assert instance.audit.verify_transfers().problem == (
        "transfer record 4 was changed: its content does not match its hash"
    )


def test_a_file_a_tree_deletion_cannot_delete_is_recorded_failed(
    instance: Any, sshd_server: Any
) -> None:
    remote = sshd_server.new_dir()
    (remote / "tree" / "locked").mkdir(parents=True)
    (remote / "tree" / "locked" / "kept.bin").write_bytes(b"k" * 7)  # root's: not deletable
    shutil.chown(remote / "tree", sshd_server.user, sshd_server.user)
    source = sftp_client(sshd_server) + f"c.Connect(); Log(c.DelTree({js(remote)} + '/tree'));"
    job_id, result = run_job(instance, source)
    assert "false" in texts(result)
    [failed] = records(instance, job_id)
    assert (failed.op, failed.src_path, failed.bytes, failed.outcome) == (
        "delete",
        f"{remote}/tree/locked/kept.bin",
        7,
        "failed",
    )
    assert "Permission denied" in failed.error
