"""The FTP VFS against real pyftpdlib servers: plain FTP, explicit TLS and implicit TLS."""

from __future__ import annotations

import calendar
import secrets
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aft.exceptions import VfsConnectionError, VfsError, VfsNotFound
from aft.vfs import open_vfs
from aft.vfs.base import TEMP_MARKER, Vfs, copy_file
from aft.vfs.disk import DiskVfs
from aft.vfs.ftp import FtpVfs, _parse_list
from tests.servers.ftpd import FtpServer
from tests.vfs.contract import VfsContract, VfsFactory, names, payload


def _fresh_base(server: FtpServer) -> str:
    name = f"t-{secrets.token_hex(4)}"
    (server.root / name).mkdir()
    return f"/{name}"


class _FtpContract(VfsContract):
    """The contract over one kind of FTP connection (``tls``) to one server fixture."""

    supports = frozenset({"chmod", "chtimes"})
    tls = "none"
    server_fixture = "ftp_server"

    @pytest.fixture
    def vfs_factory(self, request: pytest.FixtureRequest) -> Iterator[VfsFactory]:
        server: FtpServer = request.getfixturevalue(self.server_fixture)
        made: list[Vfs] = []

        def make() -> Vfs:
            made.append(
                open_vfs("FTP", server.target(_fresh_base(server), self.tls), server.payload)
            )
            return made[-1]

        yield make
        for vfs in made:
            vfs.close()

    def test_chtimes(self, vfs: Vfs) -> None:
        """As the contract's, for files only: pyftpdlib refuses MFMT on a directory."""
        vfs.write_bytes("/f", b"x")
        vfs.chtimes("/f", 1_500_000_000, 1_600_000_000)
        assert vfs.stat("/f").mtime == 1_600_000_000
        assert {i.name: i.mtime for i in vfs.listdir("/")}["f"] == 1_600_000_000
        with pytest.raises(VfsNotFound):
            vfs.chtimes("/missing", 1, 1)


class TestFtpContract(_FtpContract):
    pass


class TestFtpsExplicitContract(_FtpContract):
    tls = "explicit"


class TestFtpsImplicitContract(_FtpContract):
    tls = "implicit"
    server_fixture = "ftps_implicit_server"


# ---- targets ------------------------------------------------------------------------


def test_from_target_reads_every_part() -> None:
    vfs = FtpVfs.from_target(
        "ftp://b%40ob@files.example:2121/in%20box/x?tls=explicit&insecure=true&timeout=5",
        {"pass": "pw"},
    )
    assert repr(vfs) == "<FtpVfs ftp://b@ob@files.example:2121/in box/x tls=explicit>"
    assert (vfs._user, vfs._insecure, vfs._timeout) == ("b@ob", True, 5.0)
    assert FtpVfs.from_target("ftp://h?tls=implicit", {})._port == 990
    assert FtpVfs.from_target("ftp://h", {})._port == 21


@pytest.mark.parametrize(
    "target",
    [
        "sftp://h/",
        "ftp:///nohost",
        "ftp://u:secret@h/",
        "ftp://h/?tls=maybe",
        "ftp://h/?insecure=perhaps",
        "ftp://h/?colour=blue",
        "ftp://h:99999/",
    ],
)
def test_bad_targets_are_refused(target: str) -> None:
    with pytest.raises(VfsError) as caught:
        FtpVfs.from_target(target, {"pass": "pw"})
    assert "secret" not in str(caught.value)


def test_a_batch_near_the_server_keeps_four_files_in_flight(ftp_server: FtpServer) -> None:
    vfs = open_vfs("FTP", ftp_server.target("/", "explicit"), ftp_server.payload)
    with vfs:
        assert vfs.batch_width() == 4  # loopback: each file's own work decides
    far = open_vfs("FTP", "ftp://u@127.0.0.1:1/", {"pass": "x"})
    assert far.batch_width() is None  # no connection: the batch's first file says why


# ---- authentication and TLS ---------------------------------------------------------


def test_wrong_password_is_a_connection_error_that_hides_it(ftp_server: FtpServer) -> None:
    wrong = "Wr0ng-" + secrets.token_hex(8)
    vfs = open_vfs("FTP", ftp_server.target("/", "explicit"), {"pass": wrong})
    with pytest.raises(VfsConnectionError, match="refused") as caught:
        vfs.listdir("/")
    assert wrong not in str(caught.value) and wrong not in repr(caught.value)
    assert wrong not in repr(vfs)
    vfs.close()


@pytest.mark.parametrize("fixture", ["ftp_server", "ftps_implicit_server"])
def test_untrusted_certificate_is_refused_unless_insecure(
    request: pytest.FixtureRequest, fixture: str
) -> None:
    server: FtpServer = request.getfixturevalue(fixture)
    tls = "implicit" if server.mode == "implicit" else "explicit"
    untrusted = server.target("/", tls).split("&cafile=")[0]  # the system's CAs only
    with pytest.raises(VfsConnectionError, match="certificate"):
        open_vfs("FTP", untrusted, server.payload).listdir("/")
    with open_vfs("FTP", untrusted + "&insecure=true", server.payload) as vfs:
        vfs.listdir("/")


def test_certificate_for_another_host_name_is_refused(ftp_server: FtpServer) -> None:
    target = ftp_server.target("/", "explicit").replace("@127.0.0.1:", "@localhost:")
    with pytest.raises(VfsConnectionError, match="certificate"):
        open_vfs("FTP", target, ftp_server.payload).listdir("/")


def test_explicit_tls_protects_the_data_connections(ftp_server: FtpServer) -> None:
    with open_vfs(
        "FTP", ftp_server.target(_fresh_base(ftp_server), "explicit"), ftp_server.payload
    ) as vfs:
        vfs.write_bytes("/f", b"secret data")
        assert isinstance(vfs, FtpVfs)
        ((ftp, _),) = vfs._idle
        assert isinstance(ftp.sock, ssl.SSLSocket) and ftp._prot_p  # type: ignore[attr-defined]


# ---- LIST instead of MLSD -------------------------------------------------------------


def test_listing_and_stat_without_mlst(ftp_server: FtpServer) -> None:
    """Against a server without MLST, LIST, SIZE, MDTM and CWD give the same answers."""
    target = ftp_server.target(_fresh_base(ftp_server))
    with (
        open_vfs("FTP", target, ftp_server.payload) as modern,
        open_vfs("FTP", target, ftp_server.payload) as legacy,
    ):
        modern.makedirs("/d/sub")
        modern.write_bytes("/d/file name.txt", b"12345")
        legacy.stat("/")  # connect, learn the server's features, then forget MLST
        legacy._feats -= {"MLST"}  # type: ignore[attr-defined]
        expected = {i.path: i for i in modern.walk("/")}
        walked = {i.path: i for i in legacy.walk("/")}
        assert walked.keys() == expected.keys()
        for path, info in expected.items():
            assert (walked[path].is_dir, walked[path].size) == (info.is_dir, info.size)
            assert abs(walked[path].mtime - info.mtime) < 120  # LIST shows minutes
        assert legacy.stat("/d/file name.txt") == expected["/d/file name.txt"]  # SIZE and MDTM
        assert legacy.stat("/d/sub").is_dir
        with pytest.raises(VfsNotFound):
            legacy.stat("/d/missing")


def test_parse_list_lines() -> None:
    assert _parse_list("drwxr-xr-x   2 ftp ftp     4096 Jan 02  2020 some dir") == (
        "some dir",
        True,
        0,
        1577923200.0,
    )
    assert _parse_list("-rw-r--r--   1 1000 1000 12 Mar 04 2021 a.txt")[:3] == ("a.txt", False, 12)  # type: ignore[index]
    assert _parse_list("lrwxrwxrwx 1 u g 7 Jan 02 2020 link -> target")[0] == "link"  # type: ignore[index]
    evening, morning = (
        calendar.timegm((2020, 1, 2, 22, 30, 0)),
        calendar.timegm((2020, 1, 2, 9, 5, 0)),
    )
    assert _parse_list("01-02-20  10:30PM       <DIR>          Dir Name") == (
        "Dir Name",
        True,
        0,
        evening,
    )
    assert _parse_list("01-02-2020  09:05AM             123 f.bin") == (
        "f.bin",
        False,
        123,
        morning,
    )
    assert _parse_list("total 12") is None


# ---- dropped connections --------------------------------------------------------------


def test_dropped_connection_raises_then_the_next_call_reconnects(
    ftp_server_factory: Callable[..., FtpServer],
) -> None:
    server = ftp_server_factory("plain")
    (server.root / "f").write_bytes(b"x")
    vfs = open_vfs("FTP", server.target("/"), server.payload)
    assert names(vfs) == ["f"]
    server.stop()
    with pytest.raises(VfsConnectionError):
        vfs.listdir("/")
    with pytest.raises(VfsConnectionError):
        vfs.listdir("/")
    ftp_server_factory("plain", root=server.root, port=server.port, password=server.password)
    assert names(vfs) == ["f"]
    vfs.close()


def _kill_when_growing(server: FtpServer, folder: Path, size: int) -> threading.Thread:
    """Kill ``server`` once a temporary file in ``folder`` holds ``size`` bytes."""

    def watch() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for entry in folder.iterdir():
                if TEMP_MARKER in entry.name and entry.stat().st_size >= size:
                    server.stop()
                    return
            time.sleep(0.005)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("direction", ["upload", "download"])
def test_server_killed_mid_transfer(
    ftp_server_factory: Callable[..., FtpServer], tmp_path: Path, direction: str
) -> None:
    """copy_file fails loudly and leaves nothing under the final name."""
    server = ftp_server_factory("plain", rate=2 * 1024 * 1024)  # 8 MiB take about 4 s
    ftp = open_vfs("FTP", server.target("/"), server.payload)
    disk = DiskVfs(tmp_path)
    data = payload(8 * 1024 * 1024)
    if direction == "upload":
        disk.write_bytes("/src.bin", data)
        watcher = _kill_when_growing(server, server.root, 1024 * 1024)
        with pytest.raises(VfsConnectionError):
            copy_file(disk, "/src.bin", ftp, "/dst.bin", retries=1, backoff=0)
        assert not (server.root / "dst.bin").exists()
    else:
        (server.root / "src.bin").write_bytes(data)
        watcher = _kill_when_growing(server, tmp_path, 1024 * 1024)
        with pytest.raises(VfsConnectionError):
            copy_file(ftp, "/src.bin", disk, "/dst.bin", retries=1, backoff=0)
        assert names(disk) == []  # neither the final name nor the temporary one
    watcher.join(5)
    assert server.process.poll() is not None, "the transfer ended before the server was killed"
    ftp.close()
