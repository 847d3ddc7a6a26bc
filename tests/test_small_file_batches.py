"""Batches of small files: many files in flight on one SFTP session, from one thread.

A client's Upload or Download of small files sends each file's requests as soon as the
replies they wait for arrive (:meth:`aft.vfs.sftp.SftpVfs.write_many` and ``read_many``),
against a real OpenSSH sshd, and keeps every guarantee of a file sent alone: no rename
before the file is written and closed, no partial file under a final name when the
connection is cut, each file's outcome logged once, and the same batch run again completes.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Any

import pytest

import aft.vfs.base
import aft.vfs.disk
import aft.vfs.sftp
from aft.exceptions import VfsConnectionError, VfsIntegrityError, VfsNotFound
from aft.models import FileInfo
from aft.vfs import _paramiko_adapter as adapter
from aft.vfs.base import SMALL_FILE, TEMP_MARKER
from tests.script_helpers import errors, js, texts
from tests.test_batch_transfers import (
    assert_cut_short,
    copied_alone,
    ends,
    final_files,
    make_files,
    run,
)
from tests.test_journal import records, run_job
from tests.test_syncjs_vfs import sftp_client

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from delay_line import DelayLine  # noqa: E402


def sftp_vfs(server: Any, port: int | None = None) -> aft.vfs.sftp.SftpVfs:
    return aft.vfs.sftp.SftpVfs(
        server.host,
        server.user,
        port=port or server.port,
        password=server.password,
        host_key=server.host_key_sha256,
    )


class Watched:
    """Counts a batch's opens and the files it has ended, and what it asked in between."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.opens = self.ended = self.most = 0
        self.requests: list[tuple[str, str]] = []  # (request, remote path)
        self.hooks: dict[int, Any] = {}  # on the n-th open (from 1), call this first
        send_open, send_rename = adapter.send_open, adapter.send_rename
        write_many, read_many = aft.vfs.sftp.SftpVfs.write_many, aft.vfs.sftp.SftpVfs.read_many

        def counted_open(sftp: Any, owner: Any, path: str, *, write: bool) -> int:
            self.opens += 1
            if self.opens in self.hooks:
                self.hooks[self.opens]()
            self.most = max(self.most, self.opens - self.ended)
            self.requests.append(("open", path))
            return send_open(sftp, owner, path, write=write)

        def counted_rename(sftp: Any, owner: Any, src: str, dst: str, **how: bool) -> int:
            self.requests.append(("rename", dst))
            return send_rename(sftp, owner, src, dst, **how)

        def counted(method: Any) -> Any:
            def each(*args: Any, **kwargs: Any) -> Any:
                for result in method(*args, **kwargs):
                    self.ended += 1
                    yield result

            return each

        monkeypatch.setattr(adapter, "send_open", counted_open)
        monkeypatch.setattr(adapter, "send_rename", counted_rename)
        monkeypatch.setattr(aft.vfs.sftp.SftpVfs, "write_many", counted(write_many))
        monkeypatch.setattr(aft.vfs.sftp.SftpVfs, "read_many", counted(read_many))


@pytest.mark.parametrize("direction", ["Upload", "Download"])
def test_small_files_move_in_one_batch_and_big_ones_alone(
    instance: Any,
    sshd_server: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    direction: str,
) -> None:
    src, dst = ends(sshd_server, tmp_path, direction)
    files = make_files(src, 40, 3000)
    files |= {"empty.dat": b"", "edge.dat": os.urandom(SMALL_FILE)}
    files["big.dat"] = os.urandom(SMALL_FILE + 1)
    for name in ("empty.dat", "edge.dat", "big.dat"):
        (src / name).write_bytes(files[name])
    watched, pumped = Watched(monkeypatch), copied_alone(monkeypatch)
    call = f"c.{direction}({js(str(src) + '/*.dat')}, {js(dst)})"
    r = run(instance, sftp_client(sshd_server) + f"c.Connect(); Log('result ' + {call});")
    assert "result true" in texts(r), errors(r)
    assert final_files(dst) == files
    assert not [name for name in os.listdir(dst) if TEMP_MARKER in name]
    assert watched.ended == len(files) - 1 and pumped == [SMALL_FILE + 1]  # big.dat alone
    assert watched.most > 4  # more in flight than threads would be
    for name in files:  # each file's outcome, once
        assert len([t for t in texts(r) if f"/{name} -> " in t]) == 1, name
    if direction == "Upload":  # each rename only after its file's open, write and close
        opened = {path for kind, path in watched.requests if kind == "open"}
        renamed = [path for kind, path in watched.requests if kind == "rename"]
        assert sorted(renamed) == sorted(str(dst / n) for n in files if n != "big.dat")
        assert all(TEMP_MARKER in path for path in opened)


def test_each_small_file_is_journaled_with_its_checksum(
    instance: Any, sshd_server: Any, tmp_path: Path
) -> None:
    remote = sshd_server.new_dir()
    files = make_files(tmp_path, 5, 2000)
    job_id, r = run_job(
        instance,
        sftp_client(sshd_server)
        + f"c.Connect(); Log('result ' + c.Upload({js(str(tmp_path) + '/*.dat')}, {js(remote)}));",
    )
    assert "result true" in texts(r), errors(r)
    found = records(instance, job_id)
    assert sorted((t.dst_path, t.sha256, t.bytes, t.outcome) for t in found) == sorted(
        (f"{remote}/{n}", hashlib.sha256(d).hexdigest(), len(d), "ok") for n, d in files.items()
    )
    assert all(t.started <= t.finished for t in found)


@pytest.mark.parametrize("in_flight", [1, 3])
def test_the_files_in_flight_setting_bounds_a_batch_of_small_files(
    instance: Any,
    sshd_server: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    in_flight: int,
) -> None:
    remote = sshd_server.new_dir()
    files = make_files(tmp_path / "local", 8, 500)
    watched = Watched(monkeypatch)
    instance.settings.set("transfer_files_in_flight", in_flight)
    call = f"c.Upload({js(str(tmp_path / 'local') + '/*.dat')}, {js(remote)})"
    r = instance.executor().run(sftp_client(sshd_server) + f"c.Connect(); Log('result ' + {call});")
    assert "result true" in texts(r), errors(r)
    assert final_files(remote) == files
    assert watched.most == in_flight


def test_a_batch_of_small_files_holds_a_bounded_number_of_bytes(
    instance: Any, sshd_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote = sshd_server.new_dir()
    files = make_files(tmp_path / "local", 12, 3000)
    watched = Watched(monkeypatch)
    monkeypatch.setattr(aft.vfs.sftp, "SMALL_FILES_BYTES", 7000)  # room for a third file
    call = f"c.Upload({js(str(tmp_path / 'local') + '/*.dat')}, {js(remote)})"
    r = run(instance, sftp_client(sshd_server) + f"c.Connect(); Log('result ' + {call});")
    assert "result true" in texts(r), errors(r)
    assert final_files(remote) == files
    assert watched.most == 3


def test_a_file_the_batch_cannot_read_fails_alone_naming_its_path(
    instance: Any, sshd_server: Any, tmp_path: Path
) -> None:
    remote = sshd_server.new_dir()
    files = make_files(remote, 6, 1000)
    (remote / "f002.dat").chmod(0)  # the server's user may not read it
    local = tmp_path / "local"
    call = f"c.Download({js(str(remote) + '/*.dat')}, {js(local)})"
    r = run(instance, sftp_client(sshd_server) + f"c.Connect(); Log('result ' + {call});")
    assert "result false" in texts(r)
    del files["f002.dat"]
    assert final_files(local) == files
    assert errors(r) == [f"Download: {remote}/f002.dat: {remote}/f002.dat: Permission denied"]


#: More than one request of the largest size a connection asks for.
BIG = aft.vfs.sftp.MAX_BLOCK + 70_000


def test_a_batch_on_a_new_handle_writes_requests_of_its_connections_size(
    sshd_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote, writes = sshd_server.new_dir(), []
    send_write = adapter.send_write

    def counted(sftp: Any, owner: Any, handle: bytes, offset: int, data: bytes) -> int:
        writes.append(len(data))
        return send_write(sftp, owner, handle, offset, data)

    monkeypatch.setattr(adapter, "send_write", counted)
    with sftp_vfs(sshd_server) as vfs:  # not connected before the batch
        assert list(vfs.write_many([(f"{remote}/a", b"a" * 200_000)])) == [(f"{remote}/a", None)]
        size = vfs._sizes[1]
    assert size > aft.vfs.sftp.BLOCK and writes == [200_000]  # one request, not 32 KiB ones


def test_write_many_reports_each_file_and_leaves_nothing_of_a_failed_one(
    sshd_server: Any,
) -> None:
    remote = sshd_server.new_dir()
    (remote / "taken").mkdir()
    with sftp_vfs(sshd_server) as vfs:
        results = dict(
            vfs.write_many(
                [
                    (f"{remote}/a", b"a" * BIG),  # more than one write request
                    (f"{remote}/missing/b", b"b"),
                    (f"{remote}/taken", b"c"),  # the rename meets a folder
                    (f"{remote}/d", b""),
                ],
                in_flight=2,
            )
        )
        assert results[f"{remote}/a"] is None and results[f"{remote}/d"] is None
        assert isinstance(results[f"{remote}/missing/b"], VfsNotFound)
        assert str(results[f"{remote}/taken"]).startswith(f"{remote}/taken: ")
        assert (remote / "a").read_bytes() == b"a" * BIG and (remote / "d").read_bytes() == b""
        assert sorted(os.listdir(remote)) == ["a", "d", "taken"]  # no temporary file left
        got = dict(
            (info.path, data)
            for info, data in vfs.read_many(
                [
                    FileInfo(f"{remote}/a", False, BIG, 0),
                    FileInfo(f"{remote}/d", False, 0, 0),
                    FileInfo(f"{remote}/a", False, BIG - 1, 0),
                    FileInfo(f"{remote}/none", False, 1, 0),
                ]
            )
        )
        assert got[f"{remote}/d"] == b""
        assert isinstance(got[f"{remote}/a"], VfsIntegrityError)  # the last one asked wins
        assert isinstance(got[f"{remote}/none"], VfsNotFound)


def test_a_batch_stopped_early_leaves_no_temporary_file(sshd_server: Any) -> None:
    remote = sshd_server.new_dir()
    with sftp_vfs(sshd_server) as vfs:
        batch = vfs.write_many(((f"{remote}/f{n}", b"x" * 5000) for n in range(40)), in_flight=8)
        done = [next(batch) for _ in range(3)]  # and the next files started meanwhile
        batch.close()
        assert [error for _, error in done] == [None] * 3
        assert vfs.stat(done[0][0]).size == 5000  # the session still works
    names = os.listdir(remote)
    assert not [name for name in names if TEMP_MARKER in name] and 1 <= len(names) < 40
    assert all((remote / name).read_bytes() == b"x" * 5000 for name in names)


def test_read_many_reads_a_file_of_many_requests(sshd_server: Any) -> None:
    remote = sshd_server.new_dir()
    data = os.urandom(3 * aft.vfs.sftp.MAX_BLOCK + 7)
    (remote / "f").write_bytes(data)
    with sftp_vfs(sshd_server) as vfs:
        [(info, got)] = list(vfs.read_many([FileInfo(f"{remote}/f", False, len(data), 0)]))
    assert got == data


@pytest.mark.parametrize("direction", ["Upload", "Download"])
def test_a_cut_batch_of_small_files_leaves_no_partial_file_and_a_retry_completes(
    instance: Any,
    sshd_server: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    direction: str,
) -> None:
    src, dst = ends(sshd_server, tmp_path, direction)
    files = make_files(src, 30, 5000)
    line, watched = cut_midway(sshd_server, monkeypatch)
    client = sftp_client(sshd_server, Host=f"127.0.0.1:{line.port}")
    call = f"Log('result ' + c.{direction}({js(str(src) + '/*.dat')}, {js(dst)}));"
    try:
        r = run(instance, client + "c.Connect();" + call)
    finally:
        line.close()
    assert_cut_short(r, files, dst)
    if direction == "Download":
        assert not [name for name in os.listdir(dst) if TEMP_MARKER in name]
    watched.hooks.clear()
    with DelayLine(sshd_server.port, 0, port=line.port):
        again = run(instance, client + "c.Connect();" + call)
    assert "result true" in texts(again), errors(again)
    assert final_files(dst) == files


def cut_midway(server: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[DelayLine, Watched]:
    """A line to ``server`` that drops every connection at a batch's 20th open (some files
    done, others in flight), with ``copy_file`` giving up at the first drop."""
    line = DelayLine(server.port, 0).start()
    watched = Watched(monkeypatch)
    watched.hooks[20] = line.cut
    monkeypatch.setattr(aft.vfs.base, "copy_file", refuse_retries(aft.vfs.base.copy_file))
    return line, watched


def refuse_retries(copy_file: Any) -> Any:
    """``copy_file`` that gives up at the first dropped connection (a cut line stays cut)."""

    def once(*args: Any, **kwargs: Any) -> Any:
        return copy_file(*args, **{**kwargs, "retries": 0})

    return once


@pytest.mark.parametrize("direction", ["Upload", "Download"])
def test_a_batch_of_small_files_keeps_times_and_deletes_sources_as_told(
    instance: Any, sshd_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, direction: str
) -> None:
    src, dst = ends(sshd_server, tmp_path, direction)
    files = make_files(src, 12, 3000)
    for n, name in enumerate(files):
        os.utime(src / name, (1_000_000_000 + n, 1_000_000_000 + n))
    watched = Watched(monkeypatch)
    options = (
        f"c.Options.AdjustTimeOn{direction} = true; c.Options.DeleteSourceAfter{direction} = true;"
    )
    call = f"c.{direction}({js(str(src) + '/*.dat')}, {js(dst)})"
    r = run(instance, sftp_client(sshd_server) + f"c.Connect(); {options} Log('result ' + {call});")
    assert "result true" in texts(r), errors(r)
    assert final_files(dst) == files and os.listdir(src) == []
    assert [(dst / name).stat().st_mtime for name in files] == [
        1_000_000_000 + n for n in range(len(files))
    ]
    assert watched.ended == len(files)  # all in the batch, its replies waited for between calls


# ---- the library's copy_tree ----------------------------------------------------------


def tree_ends(server: Any, direction: str, port: int | None = None) -> tuple[Any, Any]:
    """The source and destination VFSs of a tree copied as an Upload or Download would
    move it: the disk and the SFTP server (through ``port`` if given), both at ``/``."""
    disk, remote = aft.vfs.disk.DiskVfs("/"), sftp_vfs(server, port)
    return (disk, remote) if direction == "Upload" else (remote, disk)


@pytest.mark.parametrize("direction", ["Upload", "Download"])
def test_copy_tree_moves_small_files_in_one_batch_and_big_ones_alone(
    sshd_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, direction: str
) -> None:
    """Between a disk and an SFTP server, copy_tree sends a tree's small files, sub-folders
    included, through the server's batch of small files (each opened once) and only its
    big file alone; every file arrives whole, no temporary name stays."""
    src, dst = ends(sshd_server, tmp_path, direction)
    files = make_files(src / "tree", 20, 3000)
    below = make_files(src / "tree" / "sub", 3, 100)
    big = os.urandom(SMALL_FILE + 1)
    (src / "tree" / "big.bin").write_bytes(big)
    watched = Watched(monkeypatch)
    alone = copied_alone(monkeypatch)
    source, target = tree_ends(sshd_server, direction)
    try:
        assert aft.vfs.base.copy_tree(source, str(src / "tree"), target, str(dst / "copy")) == 24
    finally:
        target.close()
        source.close()
    assert final_files(dst / "copy" / "sub") == below
    assert {p.name: p.read_bytes() for p in (dst / "copy").glob("*.*")} == {**files, "big.bin": big}
    assert alone == [len(big)]
    assert watched.opens == 23
    assert not [p for p in (dst / "copy").rglob("*") if TEMP_MARKER in p.name]


@pytest.mark.parametrize("direction", ["Upload", "Download"])
def test_copy_tree_cut_in_its_batch_keeps_no_partial_file_and_a_retry_completes(
    sshd_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, direction: str
) -> None:
    """The connection cut while copy_tree's batch has files in flight: copy_tree fails as
    the connection did, what arrived is whole, and the same copy run again completes."""
    src, dst = ends(sshd_server, tmp_path, direction)
    files = make_files(src, 30, 5000)
    line, watched = cut_midway(sshd_server, monkeypatch)
    source, target = tree_ends(sshd_server, direction, line.port)
    try:
        with pytest.raises(VfsConnectionError):
            aft.vfs.base.copy_tree(source, str(src), target, str(dst))
    finally:
        line.close()
        source.close()
        target.close()
    got = final_files(dst)
    assert got and len(got) < len(files)
    assert all(files[name] == data for name, data in got.items())  # none partial
    if direction == "Download":
        assert not [name for name in os.listdir(dst) if TEMP_MARKER in name]
    watched.hooks.clear()
    with DelayLine(sshd_server.port, 0, port=line.port):
        source, target = tree_ends(sshd_server, direction, line.port)
        try:
            assert aft.vfs.base.copy_tree(source, str(src), target, str(dst)) == len(files)
        finally:
            source.close()
            target.close()
    assert final_files(dst) == files


def test_copy_tree_stops_at_a_file_the_batch_cannot_place_and_names_it(
    sshd_server: Any, tmp_path: Path
) -> None:
    """A folder on the server where a small file of the tree goes: copy_tree fails naming
    that file's path (not a temporary name), and leaves no temporary file."""
    local, remote = tmp_path / "local", sshd_server.new_dir()
    make_files(local, 3, 1000)
    (remote / "f001.dat").mkdir()
    source, target = tree_ends(sshd_server, "Upload")
    try:
        with pytest.raises(aft.vfs.base.VfsError, match=f"^{remote}/f001.dat: "):
            aft.vfs.base.copy_tree(source, str(local), target, str(remote))
    finally:
        target.close()
    assert not [name for name in os.listdir(remote) if TEMP_MARKER in name]
    assert (remote / "f001.dat").is_dir()
