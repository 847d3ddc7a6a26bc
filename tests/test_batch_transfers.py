"""Batches with several files in flight, against a real OpenSSH sshd.

A client's Upload and Download send several files at once, on SFTP sessions that share
a few SSH connections, and keep every guarantee of a file sent alone: a connection cut in the
middle leaves no partial file under a final name, each file's outcome is logged once, and
the same batch run again completes.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import aft.vfs.base
import aft.vfs.memory
import aft.vfs.sftp
from aft.executor import Executor
from aft.models import RunResult
from aft.vfs.base import SMALL_FILE, TEMP_MARKER, TRANSFER_WORKERS
from tests.script_helpers import errors, js, texts
from tests.test_syncjs_vfs import sftp_client

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from delay_line import DelayLine  # noqa: E402

#: A file too big for a batch of small files: it moves alone, on its own thread.
LARGE = SMALL_FILE + 4000


def run(instance: Any, source: str, files_in_flight: int | None = None) -> RunResult:
    return Executor(vfs_library=instance.vfs, files_in_flight=files_in_flight).run(source)


def ends(server: Any, tmp_path: Path, direction: str) -> tuple[Path, Path]:
    """The source and destination folders of an Upload or Download: a new folder on the
    server and a local one (made)."""
    remote, local = server.new_dir(), tmp_path / "local"
    local.mkdir(exist_ok=True)
    return (local, remote) if direction == "Upload" else (remote, local)


def make_files(folder: Path, count: int, size: int) -> dict[str, bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {f"f{n:03d}.dat": os.urandom(size) for n in range(count)}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return files


def final_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if TEMP_MARKER not in p.name}


def copied_alone(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the files copied one by one from now on (each ``_pump``'s ``expect``),
    in order: files moved by a batch of small files are not in it."""
    sizes: list[int] = []
    pump = aft.vfs.base._pump

    def counted_pump(reader: Any, writer: Any, expect: int = -1) -> int:
        sizes.append(expect)
        return pump(reader, writer, expect)

    monkeypatch.setattr(aft.vfs.base, "_pump", counted_pump)
    return sizes


def most_at_once(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """From now on, the most files copied one by one at the same time (``[most]``): each
    ``_pump`` lingers 50 ms, long enough for others to start were they allowed."""
    busy, most, lock = [0], [0], threading.Lock()
    pump = aft.vfs.base._pump

    def counted_pump(reader: Any, writer: Any, expect: int = -1) -> int:
        with lock:
            busy[0] += 1
            most[0] = max(most[0], busy[0])
        time.sleep(0.05)
        try:
            return pump(reader, writer, expect)
        finally:
            with lock:
                busy[0] -= 1

    monkeypatch.setattr(aft.vfs.base, "_pump", counted_pump)
    return most


@pytest.mark.parametrize("direction", ["Upload", "Download"])
def test_a_batch_keeps_several_files_in_flight_on_shared_connections(
    instance: Any,
    sshd_server: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    direction: str,
) -> None:
    src, dst = ends(sshd_server, tmp_path, direction)
    files = make_files(src, 3 * TRANSFER_WORKERS, LARGE)  # one at a time each: threads
    most = most_at_once(monkeypatch)
    connect = aft.vfs.sftp._open_transport
    connections: list[object] = []

    def counted_connect(*args: Any) -> Any:
        connections.append(args)
        return connect(*args)

    monkeypatch.setattr(aft.vfs.sftp, "_open_transport", counted_connect)
    call = f"c.{direction}({js(str(src) + '/*.dat')}, {js(dst)})"
    source = sftp_client(sshd_server) + f"c.Connect(); Log('result ' + {call});"
    r = run(instance, source, TRANSFER_WORKERS)
    assert "result true" in texts(r), errors(r)
    assert final_files(dst) == files
    assert not [name for name in os.listdir(dst) if TEMP_MARKER in name]
    assert 1 < most[0] <= TRANSFER_WORKERS
    # the sessions share connections, 10 (OpenSSH's MaxSessions) to one
    assert len(connections) == -(-TRANSFER_WORKERS // aft.vfs.sftp.SESSIONS_PER_CONNECTION)


@pytest.mark.parametrize("in_flight", [1, 3])
def test_the_files_in_flight_setting_bounds_a_batch(
    instance: Any,
    sshd_server: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    in_flight: int,
) -> None:
    remote = sshd_server.new_dir()
    files = make_files(tmp_path / "local", 8, LARGE)
    most = most_at_once(monkeypatch)
    instance.settings.set("transfer_files_in_flight", in_flight)
    call = f"c.Upload({js(str(tmp_path / 'local') + '/*.dat')}, {js(remote)})"
    source = sftp_client(sshd_server) + f"c.Connect(); Log('result ' + {call});"
    r = instance.executor().run(source)
    assert "result true" in texts(r), errors(r)
    assert final_files(remote) == files
    assert most[0] == in_flight


def test_files_in_flight_below_zero_is_refused(instance: Any) -> None:
    from aft.exceptions import InvalidSetting

    with pytest.raises(InvalidSetting, match="transfer_files_in_flight takes 0 to 256, not -1"):
        instance.settings.set("transfer_files_in_flight", -1)
    with pytest.raises(ValueError, match="files_in_flight must be 1 or more, not 0"):
        Executor(files_in_flight=0)
    with pytest.raises(ValueError, match="workers must be 1 or more, not 0"):
        aft.vfs.base.copy_tree(
            aft.vfs.memory.MemoryVfs("a"), "/", aft.vfs.memory.MemoryVfs("b"), "/", workers=0
        )


def scheduled(
    jobs: int, fail: set[int], consume: float
) -> tuple[list[tuple[int, float]], list[int]]:
    """Run ``jobs`` jobs of 50 ms two at a time through in_parallel, the ones in ``fail``
    failing at once and stopping the batch, with a consumer that takes ``consume``
    seconds over each result; returns (job, seconds from the start) in the order the jobs
    started, and the jobs in the order the consumer took them."""
    memory = aft.vfs.memory.MemoryVfs("scheduling")
    began = time.monotonic()
    started: list[tuple[int, float]] = []
    taken: list[int] = []
    failed: list[int] = []

    def work(_src: Any, _dst: Any, job: int) -> None:
        started.append((job, time.monotonic() - began))
        if job in fail:
            raise aft.vfs.base.VfsError(f"job {job} fails")
        time.sleep(0.05)

    results = aft.vfs.base.in_parallel(
        memory, memory, list(range(jobs)), work, workers=2, stop=lambda: bool(failed)
    )
    for job, error in results:
        taken.append(job)
        time.sleep(consume)
        if error is not None:
            failed.append(job)
    return started, taken


def test_a_batch_does_not_wait_for_its_consumer_to_start_the_next_file() -> None:
    """Each thread takes its next file when it is free: a slow consumer (200 ms a
    result) does not hold 8 files of 50 ms, two at a time, to its pace."""
    started, taken = scheduled(8, fail=set(), consume=0.2)
    assert sorted(job for job, _ in started) == list(range(8)) == sorted(taken)
    assert started[-1][1] < 0.4  # at the consumer's pace the last would start after 0.6 s


def test_a_failure_holds_back_new_files_until_the_consumer_has_seen_it() -> None:
    """With a stop that looks at failures, no file starts between a failure and the
    consumer's look at it, however slow the consumer."""
    started, taken = scheduled(10, fail={0}, consume=0.3)
    assert 0 in taken and len(started) <= 2, started
    assert sorted(taken) == sorted(job for job, _ in started)


def test_a_consumer_that_stops_early_leaves_no_thread_running() -> None:
    memory = aft.vfs.memory.MemoryVfs("scheduling")
    started: list[int] = []

    def work(_src: Any, _dst: Any, job: int) -> None:
        started.append(job)
        time.sleep(0.05)

    results = aft.vfs.base.in_parallel(memory, memory, list(range(50)), work, workers=4)
    next(results)
    results.close()  # what a caller's break does
    count = len(started)
    time.sleep(0.2)
    assert count < 50 and len(started) == count
    assert not [t for t in threading.enumerate() if t.name.startswith("aft-batch")]


def test_by_default_each_connection_says_how_many_files_it_takes() -> None:
    from aft.settings import SETTINGS

    assert SETTINGS["transfer_files_in_flight"].default == 0
    memory = aft.vfs.memory.MemoryVfs("a")
    assert aft.vfs.base.batch_width(memory, memory) == TRANSFER_WORKERS


def sftp_through(line: DelayLine, sshd_server: Any) -> aft.vfs.sftp.SftpVfs:
    """An SFTP VFS on ``sshd_server`` that reaches it through the delay line ``line``."""
    return aft.vfs.sftp.SftpVfs(
        "127.0.0.1",
        sshd_server.user,
        port=line.port,
        password=sshd_server.password,
        host_key=sshd_server.host_key_sha256,
    )


@pytest.mark.parametrize("rtt, widths", [(0, range(4, 33)), (0.02, range(56, 65))])
def test_an_sftp_connection_far_away_asks_for_more_files_in_flight(
    sshd_server: Any, rtt: float, widths: range
) -> None:
    """4 files near the server, about 60 at 20 ms. A busy machine can stretch a timed
    round trip (a loopback one measured 6.7 ms under a full test run): near asks for
    well under far's width, and a measured round trip is never shorter than the line's."""
    with DelayLine(sshd_server.port, rtt) as line:
        vfs = sftp_through(line, sshd_server)
        with vfs:
            asked = vfs.batch_width()
            assert asked in widths
            assert aft.vfs.base.batch_width(vfs, aft.vfs.memory.MemoryVfs("m")) == asked


def test_a_connection_times_its_login_as_a_second_round_trip(sshd_server: Any) -> None:
    """The server accepts the login service without work: a second sample of the round
    trip beside the first SFTP request's, never shorter than the line's, and the width
    comes from the smaller of the two."""
    with DelayLine(sshd_server.port, 0.02) as line:
        vfs = sftp_through(line, sshd_server)
        with vfs:
            vfs.batch_width()
            login = aft.vfs._paramiko_adapter.login_round_trip(vfs._transport)
            assert login is not None and 0.02 <= login < 1.0
            assert vfs._connection is not None and vfs._connection.round_trip <= login


@pytest.mark.parametrize("max_sessions, connections", [(None, 2), (4, 4)])
def test_a_batch_opens_a_connection_only_when_the_others_are_full(
    instance: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    max_sessions: int | None,
    connections: int,
) -> None:
    from tests.servers.sshd import running_sshd

    limits = f"MaxSessions {max_sessions}\n" if max_sessions else ""  # "": OpenSSH's 10
    files = make_files(tmp_path / "local", 3 * TRANSFER_WORKERS, LARGE)
    connect, opened = aft.vfs.sftp._open_transport, []

    def counted_connect(*args: Any) -> Any:
        opened.append(args)
        return connect(*args)

    monkeypatch.setattr(aft.vfs.sftp, "_open_transport", counted_connect)
    with running_sshd(limits=limits) as server:
        remote = server.new_dir()
        call = f"c.Upload({js(str(tmp_path / 'local') + '/*.dat')}, {js(remote)})"
        source = sftp_client(server) + f"c.Connect(); Log('result ' + {call});"
        r = run(instance, source, TRANSFER_WORKERS)
        assert "result true" in texts(r), errors(r)
        assert final_files(remote) == files
    # 16 sessions at 10 (or, once the server refuses the fifth, 4) per connection; a
    # refusal met by several sessions at once may cost one connection more.
    assert connections <= len(opened) <= connections + 1


@pytest.mark.parametrize("direction", ["Upload", "Download"])
def test_a_missing_destination_folder_is_made(
    instance: Any, sshd_server: Any, tmp_path: Path, direction: str
) -> None:
    remote, local = sshd_server.new_dir(), tmp_path / "local"
    src, dst = (
        (local, remote / "new" / "deep")
        if direction == "Upload"
        else (remote, local / "new" / "deep")
    )
    files = make_files(src, 3, 1000)
    call = f"c.{direction}({js(str(src) + '/*.dat')}, {js(dst)})"
    r = run(instance, sftp_client(sshd_server) + f"c.Connect(); Log('result ' + {call});")
    assert "result true" in texts(r), errors(r)
    assert final_files(dst) == files


def test_stop_on_transfer_error_sends_nothing_after_the_first_failure(
    instance: Any, sshd_server: Any, tmp_path: Path
) -> None:
    remote = sshd_server.new_dir()
    make_files(tmp_path, 2 * TRANSFER_WORKERS, 1000)
    (remote / "f003.dat").mkdir()  # the fourth file cannot be written
    r = run(
        instance,
        sftp_client(sshd_server) + "c.Connect(); c.Options.StopOnTransferError = true;"
        f"Log('result ' + c.Upload({js(str(tmp_path) + '/*.dat')}, {js(remote)}));",
    )
    assert "result false" in texts(r)
    assert sorted(os.listdir(remote)) == ["f000.dat", "f001.dat", "f002.dat", "f003.dat"]
    assert len(errors(r)) == 1 and "f003.dat" in errors(r)[0]


def test_a_cut_connection_leaves_no_partial_file_and_a_retry_completes(
    instance: Any, sshd_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote, local = sshd_server.new_dir(), tmp_path / "local"
    files = make_files(local, TRANSFER_WORKERS + 4, LARGE)
    line = DelayLine(sshd_server.port, 0).start()
    pump, rename, renamed = aft.vfs.base._pump, aft.vfs.sftp.SftpVfs.rename, [0]

    def counted_rename(self: Any, src: str, dst: str) -> None:
        rename(self, src, dst)
        renamed[0] += 1

    def cut_in_the_middle(reader: Any, writer: Any, expect: int = -1) -> int:
        if renamed[0] >= 2:  # two files are complete, others on their way
            writer.write(reader.read(1000))  # this one half sent ...
            line.cut()  # ... when the network goes
        return pump(reader, writer, expect)

    monkeypatch.setattr(aft.vfs.base, "_pump", cut_in_the_middle)
    monkeypatch.setattr(aft.vfs.sftp.SftpVfs, "rename", counted_rename)
    client = sftp_client(sshd_server, Host=f"127.0.0.1:{line.port}")
    upload = f"Log('result ' + c.Upload({js(str(local) + '/*.dat')}, {js(remote)}));"
    try:
        r = run(instance, client + "c.Connect();" + upload)
    finally:
        line.close()
    assert_cut_short(r, files, remote)
    monkeypatch.setattr(aft.vfs.base, "_pump", pump)
    with DelayLine(sshd_server.port, 0, port=line.port):
        again = run(instance, client + "c.Connect();" + upload)
    assert "result true" in texts(again), errors(again)
    assert final_files(remote) == files


def assert_cut_short(r: RunResult, files: dict[str, bytes], dst: Path) -> None:
    """The run of a batch cut by a dropped connection failed; some of ``files`` reached
    ``dst``, none partial, and each file's outcome was logged once."""
    assert "result false" in texts(r)
    sent = final_files(dst)
    assert sent and len(sent) < len(files)
    assert all(files[name] == data for name, data in sent.items())  # none partial
    for name in files:
        outcomes = [t for t in texts(r) if f"/{name}" in t]
        assert len(outcomes) == 1, (name, outcomes)
        # (a file whose rename was done but its reply lost is reported failed, yet complete)
        assert "-> " not in outcomes[0] or name in sent, outcomes[0]


def test_a_download_cut_in_the_middle_keeps_no_partial_file_and_a_retry_completes(
    instance: Any, sshd_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote, local = sshd_server.new_dir(), tmp_path / "local"
    files = make_files(remote, TRANSFER_WORKERS + 4, LARGE)
    line = DelayLine(sshd_server.port, 0).start()
    pump, copy_file, done = aft.vfs.base._pump, aft.vfs.base.copy_file, [0]

    def counted_copy(*args: Any, **kwargs: Any) -> Any:
        result = copy_file(*args, **kwargs)
        done[0] += 1
        return result

    def cut_in_the_middle(reader: Any, writer: Any, expect: int = -1) -> int:
        if done[0] >= 2:  # two files are complete, others on their way on shared sessions
            writer.write(reader.read(1000))  # this one half received ...
            line.cut()  # ... when the network goes
        return pump(reader, writer, expect)

    monkeypatch.setattr(aft.vfs.base, "_pump", cut_in_the_middle)
    monkeypatch.setattr(aft.vfs.base, "copy_file", counted_copy)
    client = sftp_client(sshd_server, Host=f"127.0.0.1:{line.port}")
    download = f"Log('result ' + c.Download({js(str(remote) + '/*.dat')}, {js(local)}));"
    try:
        r = run(instance, client + "c.Connect();" + download)
    finally:
        line.close()
    assert "result false" in texts(r)
    got = final_files(local)
    assert got and len(got) < len(files)
    assert all(files[name] == data for name, data in got.items())  # none partial
    assert not [name for name in os.listdir(local) if TEMP_MARKER in name]
    for name in files:  # each file's outcome, once
        outcomes = [t for t in texts(r) if f"/{name}" in t]
        assert len(outcomes) == 1, (name, outcomes)
        assert ("-> " in outcomes[0]) == (name in got), outcomes[0]
    monkeypatch.setattr(aft.vfs.base, "_pump", pump)
    with DelayLine(sshd_server.port, 0, port=line.port):
        again = run(instance, client + "c.Connect();" + download)
    assert "result true" in texts(again), errors(again)
    assert final_files(local) == files


def test_a_single_file_looks_up_its_target_not_its_folder(
    instance: Any, sshd_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote, local = sshd_server.new_dir(), tmp_path / "local"
    make_files(remote, 3, 100)
    old = (remote / "f000.dat").read_bytes()
    new = make_files(local, 4, 200)
    listdir, listed = aft.vfs.sftp.SftpVfs.listdir, []

    def counted_listdir(self: Any, path: str) -> Any:
        listed.append(path)
        return listdir(self, path)

    monkeypatch.setattr(aft.vfs.sftp.SftpVfs, "listdir", counted_listdir)
    r = run(
        instance,
        sftp_client(sshd_server) + "c.Connect();"
        f"Log('kept ' + c.Upload({js(str(local / 'f000.dat'))}, {js(remote)}));"
        f"Log('sent ' + c.Upload({js(str(local / 'f003.dat'))}, {js(remote)}));",
    )
    assert "kept true" in texts(r) and "sent true" in texts(r), errors(r)
    assert any("skipped" in t and "f000.dat" in t for t in texts(r))  # NeverOverwrite
    assert (remote / "f000.dat").read_bytes() == old
    assert (remote / "f003.dat").read_bytes() == new["f003.dat"]
    assert listed == []


def test_a_single_big_file_is_announced_before_its_target_is_looked_at(
    instance: Any, sshd_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The destination opens the sessions a big file is written over (prepare_write)
    while the policy's look at the target takes its round trip, not after it."""
    remote, local = sshd_server.new_dir(), tmp_path / "local"
    data = make_files(local, 1, aft.vfs.sftp.IN_FLIGHT)["f000.dat"]
    events: list[str] = []
    sftp_vfs = aft.vfs.sftp.SftpVfs
    prepare, stat = sftp_vfs.prepare_write, sftp_vfs.stat

    def preparing(self: Any, size: int) -> None:
        events.append(f"prepare {size}")
        prepare(self, size)

    def looking(self: Any, path: str) -> Any:
        events.append(f"stat {path}")
        return stat(self, path)

    monkeypatch.setattr(sftp_vfs, "prepare_write", preparing)
    monkeypatch.setattr(sftp_vfs, "stat", looking)
    r = run(
        instance,
        sftp_client(sshd_server) + "c.Connect();"
        f"Log('sent ' + c.Upload({js(str(local / 'f000.dat'))}, {js(remote)}));",
    )
    assert "sent true" in texts(r), errors(r)
    looked = [e for e in events if e.startswith("stat ") and e.endswith("/f000.dat")]
    assert events.index(f"prepare {len(data)}") < events.index(looked[0])
    assert (remote / "f000.dat").read_bytes() == data
