"""The SFTP VFS against a server without OpenSSH's extensions (SFTP version 3 alone).

Many servers are not OpenSSH: no ``posix-rename@openssh.com``, so a rename cannot
replace a file and aft removes the old file first, and no ``limits@openssh.com``, so
requests stay at 32 KiB. The whole VFS contract holds there too, and a batch of small
files sends each file once (never failing in the batch to be sent again alone).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aft.exceptions import VfsError, VfsIntegrityError
from aft.models import FileInfo
from aft.vfs.base import TEMP_MARKER, Vfs
from aft.vfs.sftp import SftpVfs
from tests.script_helpers import errors, js, texts
from tests.servers.plain_sftpd import PlainSftpServer
from tests.test_batch_transfers import copied_alone, final_files, make_files, run
from tests.test_syncjs_vfs import sftp_client
from tests.vfs.contract import VfsContract, VfsFactory


def plain_vfs(server: PlainSftpServer, base: str = "/") -> SftpVfs:
    return SftpVfs(
        server.host,
        server.user,
        port=server.port,
        base=base,
        password=server.password,
        host_key=server.host_key_sha256,
    )


@pytest.fixture
def plain_factory(plain_sftpd: PlainSftpServer) -> Iterator[VfsFactory]:
    made: list[Vfs] = []

    def make() -> SftpVfs:
        folder = plain_sftpd.root / secrets.token_hex(4)
        folder.mkdir()
        made.append(plain_vfs(plain_sftpd, "/" + folder.name))
        made[-1].connect()
        return made[-1]  # type: ignore[return-value]

    yield make
    for vfs in made:
        vfs.close()


class TestPlainSftpContract(VfsContract):
    supports = frozenset({"chmod", "chtimes", "truncate"})

    @pytest.fixture
    def vfs_factory(self, plain_factory: VfsFactory) -> VfsFactory:
        return plain_factory


def test_a_batch_of_small_files_sends_each_once_and_replaces_existing_files(
    instance: Any,
    plain_sftpd: PlainSftpServer,
    tmp_path: Path,
) -> None:
    files = make_files(tmp_path, 12, 3000)
    remote = plain_sftpd.root / "in"
    remote.mkdir()
    for name in list(files)[:5]:  # these are replaced
        (remote / name).write_bytes(b"an older version")
    client = sftp_client(plain_sftpd) + "c.Options.UploadPolicy = AlwaysOverwrite;"
    call = f"c.Upload({js(str(tmp_path) + '/*.dat')}, '/in')"
    r = run(instance, client + f"c.Connect(); Log('result ' + {call});")
    assert "result true" in texts(r), errors(r)
    assert final_files(remote) == files
    assert not [name for name in os.listdir(remote) if TEMP_MARKER in name]
    for name in files:  # written once, through a temporary name: no failure sent again
        opened = [path for path in plain_sftpd.opens if name in path]
        assert len(opened) == 1 and TEMP_MARKER in opened[0], (name, opened)


def test_a_batch_download_reads_each_file_once(
    instance: Any,
    plain_sftpd: PlainSftpServer,
    tmp_path: Path,
) -> None:
    files = make_files(plain_sftpd.root / "out", 12, 3000)
    call = f"c.Download('/out/*.dat', {js(str(tmp_path / 'down'))})"
    r = run(instance, sftp_client(plain_sftpd) + f"c.Connect(); Log('result ' + {call});")
    assert "result true" in texts(r), errors(r)
    assert final_files(tmp_path / "down") == files
    assert sorted(plain_sftpd.opens) == sorted(f"/out/{name}" for name in files)


def test_a_batch_file_whose_name_is_taken_by_a_folder_fails_naming_it(
    plain_sftpd: PlainSftpServer,
) -> None:
    (plain_sftpd.root / "taken").mkdir()
    (plain_sftpd.root / "taken" / "inside").write_bytes(b"kept")
    vfs = plain_vfs(plain_sftpd)
    try:
        outcomes = dict(vfs.write_many([("/taken", b"data"), ("/free", b"more")]))
    finally:
        vfs.close()
    assert outcomes["/free"] is None
    error = outcomes["/taken"]
    assert isinstance(error, VfsError) and "/taken" in str(error)
    assert TEMP_MARKER not in str(error)
    assert sorted(os.listdir(plain_sftpd.root)) == ["free", "taken"]  # no temporary file
    assert (plain_sftpd.root / "taken" / "inside").read_bytes() == b"kept"


def test_versioned_uploads_and_a_big_file_replace_files_there(
    instance: Any,
    plain_sftpd: PlainSftpServer,
    tmp_path: Path,
) -> None:
    """Every replacing rename goes through SFTP version 3's rename: kept versions move up
    one by one, and a big file written over several sessions replaces the old one."""
    big = os.urandom(3_000_000)
    (tmp_path / "big.bin").write_bytes(big)
    (plain_sftpd.root / "in").mkdir()
    (plain_sftpd.root / "in" / "big.bin").write_bytes(b"the old one")
    script = (
        sftp_client(plain_sftpd) + "c.Connect(); c.Options.UploadPolicy = AlwaysOverwrite;"
        "c.Options.VersionedUpload = true; c.Options.VersionsToKeepRemote = 2;"
    )
    for n in range(1, 5):
        script += f"WriteTextFile({js(str(tmp_path / 'f'))}, 'v{n}');"
        script += f"Log('result ' + c.Upload({js(str(tmp_path / 'f'))}, '/in'));"
    script += f"Log('result ' + c.Upload({js(str(tmp_path / 'big.bin'))}, '/in'));"
    r = run(instance, script)
    assert texts(r).count("result true") == 5, errors(r)
    kept = {p.name: p.read_bytes() for p in (plain_sftpd.root / "in").iterdir()}
    assert kept == {
        "f": b"v4",
        "f.~1~": b"v3",
        "f.~2~": b"v2",
        "big.bin": big,
        "big.bin.~1~": b"the old one",
    }


SIZES = (0, 5000, 10_000, 10_001, 25_000, 100_000, 1024 * 1024)


def test_read_many_asks_again_what_a_server_answered_short(
    plain_sftpd: PlainSftpServer,
) -> None:
    """Reads answered 10,000 bytes at most: each file is opened once more for the rest,
    never sent alone; one that grew or shrank since it was listed still fails."""
    plain_sftpd.read_cap = 10_000
    files = {f"/f{n}": os.urandom(size) for n, size in enumerate(SIZES)}
    for path, data in files.items():
        (plain_sftpd.root / path[1:]).write_bytes(data)
    listed = [FileInfo(path, False, len(data), 0) for path, data in files.items()]
    changed = [FileInfo("/f4", False, 20_000, 0), FileInfo("/f4", False, 30_000, 0)]
    vfs = plain_vfs(plain_sftpd)
    try:
        got = list(vfs.read_many(listed + changed))
    finally:
        vfs.close()
    read = {info.path: data for info, data in got if info.size == len(files[info.path])}
    assert read == files
    failed = [(info.size, data) for info, data in got if info.size != len(files[info.path])]
    assert sorted(size for size, _ in failed) == [20_000, 30_000]
    assert all(isinstance(error, VfsIntegrityError) for _, error in failed)
    # each file once, and once more for the rest when longer than an answer; /f4 listed
    # as 20,000 bytes: the rest, which shows more; as 30,000: the rest, then the end
    expected = {path: 1 if len(data) <= 10_000 else 2 for path, data in files.items()}
    expected["/f4"] += 2 + 3
    assert {path: plain_sftpd.opens.count(path) for path in files} == expected


def test_a_batch_download_from_a_server_that_answers_short_sends_no_file_alone(
    instance: Any,
    plain_sftpd: PlainSftpServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plain_sftpd.read_cap = 10_000
    alone = copied_alone(monkeypatch)
    files = {f"f{n}.dat": os.urandom(size) for n, size in enumerate(SIZES)}
    (plain_sftpd.root / "out").mkdir()
    for name, data in files.items():
        (plain_sftpd.root / "out" / name).write_bytes(data)
    call = f"c.Download('/out/*.dat', {js(str(tmp_path / 'down'))})"
    r = run(instance, sftp_client(plain_sftpd) + f"c.Connect(); Log('result ' + {call});")
    assert "result true" in texts(r), errors(r)
    assert final_files(tmp_path / "down") == files
    assert alone == []
    for name, data in files.items():
        assert plain_sftpd.opens.count(f"/out/{name}") == (1 if len(data) <= 10_000 else 2)
