"""The SFTP VFS against a real OpenSSH sshd: the contract, host-key pinning, logins, faults."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import signal
import socket
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paramiko
import pytest
from paramiko.sftp import CMD_EXTENDED, CMD_INIT, CMD_STAT

from aft.exceptions import (
    VfsConnectionError,
    VfsError,
    VfsHostKeyError,
    VfsIsADirectory,
    VfsNotFound,
    VfsPermission,
)
from aft.vfs import _paramiko_adapter as adapter
from aft.vfs import open_vfs
from aft.vfs.base import TEMP_MARKER, Vfs, copy_file
from aft.vfs.disk import DiskVfs
from aft.vfs.sftp import (
    BLOCK,
    IN_FLIGHT,
    LANES,
    READ_AHEAD,
    SPREAD_AT,
    SftpVfs,
    host_key_fingerprint,
)
from tests.servers.sshd import SshdServer, _descendants, running_sshd
from tests.vfs.contract import VfsContract, VfsFactory, names, payload

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from delay_line import DelayLine  # noqa: E402

MiB = 1024 * 1024


def open_sftp(server: SshdServer, path: Path | str, **payload_: Any) -> SftpVfs:
    vfs = open_vfs("SFTP", server.target(path), payload_ or {"pass": server.password})
    assert isinstance(vfs, SftpVfs)
    return vfs


def sftp_through(
    server: SshdServer, port: int, *, password: str | None = None, key: str | None = None
) -> SftpVfs:
    """A VFS of ``server``'s user reached through ``port`` (its own, or a relay's)."""
    return SftpVfs(
        "127.0.0.1",
        server.user,
        port=port,
        password=password,
        key=key,
        host_key=server.host_key_sha256,
    )


@pytest.fixture
def sftp_factory(sshd_server: SshdServer) -> Iterator[VfsFactory]:
    made: list[Vfs] = []

    def make() -> SftpVfs:
        made.append(open_sftp(sshd_server, sshd_server.new_dir()))
        return made[-1]  # type: ignore[return-value]

    yield make
    for vfs in made:
        vfs.close()


class TestSftpContract(VfsContract):
    supports = frozenset({"chmod", "chtimes", "truncate", "symlink"})

    @pytest.fixture
    def vfs_factory(self, sftp_factory: VfsFactory) -> VfsFactory:
        return sftp_factory


@pytest.fixture
def sftp(sftp_factory: VfsFactory) -> SftpVfs:
    return sftp_factory()  # type: ignore[return-value]


def local(vfs: SftpVfs, path: str = "/") -> Path:
    """The server's file for a VFS path (the server runs on this machine)."""
    return Path(vfs.base + path)


# ---- logins and host keys -----------------------------------------------------------


@pytest.mark.parametrize("login", ["password", "ed25519 key", "encrypted RSA PEM key"])
def test_logins(sshd_server: SshdServer, login: str) -> None:
    credentials = {
        "password": {"pass": sshd_server.password},
        "ed25519 key": {"key": sshd_server.key_pem},
        "encrypted RSA PEM key": {
            "key": sshd_server.rsa_key_pem,
            "keyPass": sshd_server.rsa_key_pass,
        },
    }[login]
    with open_sftp(sshd_server, sshd_server.new_dir(), **credentials) as vfs:
        vfs.write_bytes("/f", b"x")
        assert names(vfs) == ["f"]


def test_an_encrypted_key_needs_its_passphrase(sshd_server: SshdServer) -> None:
    with pytest.raises(VfsError, match="keyPass"):
        open_sftp(sshd_server, "/", key=sshd_server.rsa_key_pem)
    with pytest.raises(VfsError, match="cannot be loaded") as caught:
        open_sftp(sshd_server, "/", key=sshd_server.rsa_key_pem, keyPass="wrong")
    assert "PRIVATE KEY" not in str(caught.value) and caught.value.__cause__ is None


def _messages(exc: BaseException | None) -> str:
    """The text of an exception and everything chained to it."""
    seen = ""
    while exc is not None:
        seen += f"{exc!s} {exc!r} "
        exc = exc.__cause__ or exc.__context__
    return seen


def test_wrong_password_is_a_connection_error_that_hides_it(sshd_server: SshdServer) -> None:
    wrong = "Wr0ng-" + os.urandom(8).hex()
    vfs = open_sftp(sshd_server, "/", **{"pass": wrong})
    with pytest.raises(VfsConnectionError, match="login .* failed") as caught:
        vfs.listdir("/")
    assert wrong not in _messages(caught.value)
    assert wrong not in repr(vfs) and sshd_server.password not in repr(vfs)
    with pytest.raises(VfsConnectionError, match="login .* failed"):
        vfs.makedirs("/")  # creates nothing, but still finds out the server refuses us


def _failed_logins(server: SshdServer) -> int:
    return server.log.read_text(errors="replace").count("Failed password")


@pytest.mark.parametrize("pin", [None, "SHA256:" + "A" * 43, "bad"])
def test_a_missing_or_wrong_pin_is_refused_before_login(
    sshd_server: SshdServer, pin: str | None
) -> None:
    target = sshd_server.target(sshd_server.root, hostKeySHA256=pin)  # type: ignore[arg-type]
    before = _failed_logins(sshd_server)
    with pytest.raises(VfsHostKeyError) as caught:
        SftpVfs.from_target(target, {"pass": "not-the-password"}).listdir("/")
    if pin != "bad":  # a malformed pin is refused without connecting
        assert sshd_server.host_key_sha256 in str(caught.value)
    # A wrong password with the right pin marks the log: then exactly one failure is there.
    with pytest.raises(VfsConnectionError):
        open_sftp(sshd_server, "/", **{"pass": "not-the-password"}).listdir("/")
    deadline = time.monotonic() + 10
    while _failed_logins(sshd_server) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _failed_logins(sshd_server) == before + 1  # the refused connection sent no password


def test_pin_formats(sshd_server: SshdServer) -> None:
    blob = base64.b64decode(sshd_server.host_public_key.split()[1])
    sha256 = sshd_server.host_key_sha256.removeprefix("SHA256:")
    md5 = hashlib.md5(blob).hexdigest()
    sha1 = hashlib.sha1(blob)
    pins = {
        "hostKeySHA256": [sshd_server.host_key_sha256, sha256, sha256 + "=", "sha256:" + sha256],
        "hostKeyMD5": [
            ":".join(md5[i : i + 2] for i in range(0, 32, 2)),
            md5.upper(),
            "MD5:" + md5,
        ],
        "hostKeySHA1": [sha1.hexdigest(), "SHA1:" + base64.b64encode(sha1.digest()).decode()],
    }
    for param, values in pins.items():
        for value in values:
            query = {"hostKeySHA256": None, param: value}
            target = sshd_server.target(sshd_server.root, **query)  # type: ignore[arg-type]
            with SftpVfs.from_target(target, {"pass": sshd_server.password}) as vfs:
                assert vfs.isdir("/"), (param, value)


def test_host_key_fingerprint_is_what_ssh_keygen_prints(sshd_server: SshdServer) -> None:
    assert host_key_fingerprint(sshd_server.host, sshd_server.port) == sshd_server.host_key_sha256


def test_unreachable_server_is_a_connection_error(sshd_server: SshdServer) -> None:
    with pytest.raises(VfsConnectionError, match="cannot connect"):
        host_key_fingerprint("127.0.0.1", 1)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("sftp://u:secret@h/x?hostKeySHA256=" + "A" * 43, "must not hold a password"),
        ("sftp://u@h/x?hostKeySHA256=" + "A" * 43 + "&cipher=x", "unknown SFTP target parameter"),
        ("sftp://u@h/x?hostKeySHA256=" + "A" * 43 + "&hostKeyMD5=" + "0" * 32, "one host key pin"),
        ("ftp://u@h/x", "sftp://user@host"),
        ("sftp://u@h:99999/x", "bad port"),
        ("sftp://h/x", "needs a host and a user"),
        ("sftp://u@h/x?hostKeyMD5=abcd", "not a valid MD5"),
    ],
)
def test_bad_targets(target: str, message: str) -> None:
    with pytest.raises(VfsError, match=message) as caught:
        SftpVfs.from_target(target, {"pass": "p"})
    assert "secret" not in str(caught.value)


def test_target_parts() -> None:
    pin = "SHA256:ab+/cd" + "A" * 37
    vfs = SftpVfs.from_target(
        f"sftp://bob%40corp@Example.com:2222/in%20box/?hostKeySHA256={pin}", {"pass": "pw"}
    )
    assert (vfs.user, vfs.host, vfs.port, vfs.base) == ("bob@corp", "example.com", 2222, "/in box")
    assert repr(vfs) == "SftpVfs('sftp://bob@corp@example.com:2222/in box')"
    with pytest.raises(VfsError, match="password or a key"):
        SftpVfs.from_target(f"sftp://bob@h/?hostKeySHA256={pin}", {})


# ---- connecting --------------------------------------------------------------------


def test_connect_looks_at_the_root_in_the_round_trip_of_the_limits(
    sshd_server: SshdServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new connection asks the request sizes and stats the root together: connect()
    makes no request of its own, and learns the server's sizes all the same."""
    vfs = open_sftp(sshd_server, sshd_server.new_dir())
    try:
        with monkeypatch.context() as patched:
            patched.setattr(SftpVfs, "stat", lambda *_: pytest.fail("a stat of its own"))
            vfs.connect()
        assert vfs._sizes[0] > BLOCK and vfs._sizes[1] > BLOCK  # OpenSSH states its limits
        twin = vfs.sibling()  # a session on the connection already open: a stat of its own
        twin.connect()
        twin.close()
    finally:
        vfs.close()


@pytest.mark.parametrize("relayed", [False, True], ids=["direct", "through a TCP relay"])
def test_the_first_session_opens_without_waiting_for_a_delayed_acknowledgement(
    sshd_server: SshdServer, monkeypatch: pytest.MonkeyPatch, relayed: bool
) -> None:
    """sshd answers the first channel open right behind its host-key announcement, and
    Nagle's rule holds that answer until the announcement is acknowledged: the client
    answers the announcement at once, so neither its kernel nor a relay's (a jump host, a
    TCP proxy) waits its 40 ms before acknowledging."""
    took: list[float] = []
    real = adapter.open_sftp

    def timed(*args: Any) -> Any:
        started = time.perf_counter()
        try:
            return real(*args)
        finally:
            took.append(time.perf_counter() - started)

    monkeypatch.setattr(adapter, "open_sftp", timed)
    with contextlib.ExitStack() as stack:
        port = stack.enter_context(DelayLine(sshd_server.port, 0)).port if relayed else None
        for _ in range(3):
            vfs = sftp_through(sshd_server, port or sshd_server.port, password=sshd_server.password)
            vfs.connect()
            vfs.close()
    assert min(took) < 0.025, took


def test_a_session_sends_its_first_requests_behind_its_init(
    sshd_server: SshdServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's VERSION is read with the first reply, not waited for before the first
    requests: a new connection's limits and stat of the root go out behind the INIT."""
    events: list[object] = []
    real_send = adapter.FastSftpClient._send_packet
    real_version = adapter.FastSftpClient._read_version

    def send(self: Any, kind: int, msg: Any) -> Any:
        events.append(kind)
        return real_send(self, kind, msg)

    def read_version(self: Any) -> Any:
        events.append("VERSION read")
        return real_version(self)

    monkeypatch.setattr(adapter.FastSftpClient, "_send_packet", send)
    monkeypatch.setattr(adapter.FastSftpClient, "_read_version", read_version)
    vfs = open_sftp(sshd_server, sshd_server.new_dir())
    try:
        vfs.connect()
        assert events == [CMD_INIT, CMD_EXTENDED, CMD_STAT, "VERSION read"]
        assert vfs.stat("/").is_dir  # later requests are answered as before
        assert adapter.offers(vfs._client(), adapter.POSIX_RENAME)
    finally:
        vfs.close()


@pytest.mark.parametrize("login", ["password", "key"])
def test_the_login_request_follows_the_service_request_at_once(
    sshd_server: SshdServer, monkeypatch: pytest.MonkeyPatch, login: str
) -> None:
    """The login request goes out before the server accepts the login service, a round
    trip sooner, and the login works as before."""
    from paramiko.common import MSG_SERVICE_ACCEPT, cMSG_SERVICE_REQUEST, cMSG_USERAUTH_REQUEST

    events: list[str] = []
    send, read = adapter.FastPacketizer.send_message, adapter.FastPacketizer.read_message

    def sending(self: Any, data: Any) -> None:
        kind = data.asbytes()[:1]
        if kind in (cMSG_SERVICE_REQUEST, cMSG_USERAUTH_REQUEST):
            events.append("service request" if kind == cMSG_SERVICE_REQUEST else "login")
        send(self, data)

    def reading(self: Any) -> Any:
        kind, message = read(self)
        if kind == MSG_SERVICE_ACCEPT:
            events.append("accepted")
        return kind, message

    monkeypatch.setattr(adapter.FastPacketizer, "send_message", sending)
    monkeypatch.setattr(adapter.FastPacketizer, "read_message", reading)
    with DelayLine(sshd_server.port, 0.05) as line:  # the answer comes well after a signature
        vfs = sftp_through(
            sshd_server,
            line.port,
            password=sshd_server.password if login == "password" else None,
            key=sshd_server.key_pem if login == "key" else None,
        )
        try:
            vfs.connect()
            assert events == ["service request", "login", "accepted"], events
        finally:
            vfs.close()


def test_a_pipelined_login_does_not_wait_for_a_delayed_acknowledgement(
    sshd_server: SshdServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sshd answers the login right behind its acceptance of the login service, and
    Nagle's rule holds that answer until the acceptance is acknowledged: the client
    answers the acceptance at once, so the login takes two round trips (the service
    request and the login, sent together; the acknowledgement), not three."""
    took: list[float] = []
    real = SftpVfs._authenticate

    def timed(self: SftpVfs, transport: Any) -> None:
        started = time.perf_counter()
        try:
            real(self, transport)
        finally:
            took.append(time.perf_counter() - started)

    monkeypatch.setattr(SftpVfs, "_authenticate", timed)
    with DelayLine(sshd_server.port, 0.02) as line:
        for _ in range(3):
            vfs = sftp_through(sshd_server, line.port, key=sshd_server.key_pem)
            vfs.connect()
            vfs.close()
    assert min(took) < 2.5 * 0.02, sorted(took)


def test_the_login_request_waits_where_it_could_differ() -> None:
    """Not pipelined for a server that is not OpenSSH, nor for an RSA key before the
    server has named the signature algorithms it takes."""
    transport = types.SimpleNamespace(remote_version="SSH-2.0-OpenSSH_9.6", server_extensions={})
    handler = adapter.PipelinedAuthHandler.__new__(adapter.PipelinedAuthHandler)
    handler.transport = transport
    handler.auth_method, handler.private_key = "password", None
    assert handler._can_pipeline()
    handler.auth_method, handler.private_key = "publickey", paramiko.ECDSAKey.generate()
    assert handler._can_pipeline()
    handler.private_key = paramiko.RSAKey.generate(1024)
    assert not handler._can_pipeline()
    transport.server_extensions = {"server-sig-algs": b"rsa-sha2-256"}
    assert handler._can_pipeline()
    transport.remote_version = "SSH-2.0-OtherServer_1.0"
    handler.auth_method = "password"
    assert not handler._can_pipeline()


def test_a_server_that_does_not_speak_sftp_fails_the_connect_in_one_line(
    sshd_server: SshdServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's answer to INIT is read with the first reply: when it is no VERSION,
    connect() says so as a connection error, not as paramiko's own exception."""

    def not_a_version(self: Any) -> Any:
        raise paramiko.SFTPError("Incompatible sftp protocol")

    monkeypatch.setattr(adapter.FastSftpClient, "_read_version", not_a_version)
    vfs = open_sftp(sshd_server, sshd_server.new_dir())
    with pytest.raises(VfsConnectionError, match="cannot connect to SFTP server .*Incompatible"):
        vfs.connect()
    vfs.close()


def test_connect_to_a_missing_root_names_it(sshd_server: SshdServer) -> None:
    vfs = open_sftp(sshd_server, sshd_server.new_dir() / "not-there")
    try:
        with pytest.raises(VfsNotFound, match="^/: "):
            vfs.connect()
        twin = vfs.sibling()  # on the connection opened above, by a stat of its own
        with pytest.raises(VfsNotFound, match="^/: "):
            twin.connect()
        twin.close()
        vfs.mkdir("/")  # the connection is fine: the root can be made
        vfs.connect()
    finally:
        vfs.close()


# ---- server-side errors ------------------------------------------------------------


def test_read_only_directory_gives_permission_errors(sftp: SftpVfs, tmp_path: Path) -> None:
    locked = local(sftp, "/ro")
    locked.mkdir()
    (locked / "f").write_bytes(b"x")
    locked.chmod(0o555)  # owned by root: the SFTP user may not write in it
    disk = DiskVfs(tmp_path)
    disk.write_bytes("/src", b"data")
    for call in (
        lambda: sftp.write_bytes("/ro/new", b"x"),
        lambda: sftp.open_write("/ro/new"),
        lambda: sftp.mkdir("/ro/sub"),
        lambda: sftp.remove("/ro/f"),
        lambda: sftp.rename("/ro/f", "/moved"),
        lambda: copy_file(disk, "/src", sftp, "/ro/copy"),
    ):
        with pytest.raises(VfsPermission, match="^/ro|^rename /ro"):
            call()
    assert sorted(os.listdir(locked)) == ["f"]


def test_aes_gcm_is_chosen_when_the_server_offers_it(sftp: SftpVfs) -> None:
    """OpenSSH's defaults offer AES-GCM: it is negotiated both ways, with no separate MAC."""
    sftp.listdir("/")
    transport = sftp._transport
    assert transport is not None
    assert (transport.local_cipher, transport.remote_cipher) == ("aes128-gcm@openssh.com",) * 2


def test_a_server_without_aes_gcm_gets_the_next_cipher(tmp_path: Path) -> None:
    with running_sshd(ciphers="aes256-ctr") as server:
        vfs = open_sftp(server, server.new_dir())
        try:
            vfs.write_bytes("/f", payload(MiB))
            assert vfs.read_bytes("/f") == payload(MiB)
            assert vfs._transport is not None and vfs._transport.local_cipher == "aes256-ctr"
        finally:
            vfs.close()


def test_a_failed_write_is_reported(sshd_server: SshdServer) -> None:
    """Writes are pipelined, yet a write the server refuses (here: a full disk) is an error."""
    vfs = open_sftp(sshd_server, "/dev")
    with pytest.raises(VfsError, match="^/full: ") as caught:
        with vfs.open_write("/full") as f:
            f.write(b"x" * MiB)
    assert not isinstance(caught.value, VfsConnectionError)
    assert vfs.isdir("/")  # the connection is still good


def test_closing_a_read_early_leaves_the_connection_usable(sftp: SftpVfs) -> None:
    sftp.write_bytes("/big", payload(8 * MiB))
    sftp.write_bytes("/small", b"small")
    started = time.monotonic()
    for _ in range(3):
        with sftp.open_read("/big", 1000) as f:
            assert f.read(10) == payload(8 * MiB)[1000:1010]
    assert sftp.read_bytes("/small") == b"small"
    assert time.monotonic() - started < 5


def test_reads_past_the_size_seen_at_open(sftp: SftpVfs) -> None:
    sftp.write_bytes("/grows", b"a" * 100)
    with sftp.open_read("/grows") as f:
        assert f.read(50) == b"a" * 50
        with open(local(sftp, "/grows"), "ab") as more:
            more.write(b"b" * 70_000)
        assert f.read() == b"a" * 50 + b"b" * 70_000


def test_a_read_looks_at_its_file_in_the_round_trip_of_the_open(
    sftp: SftpVfs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The size comes with the open, so no stat of the open file waits before the
    read-ahead is asked for; a directory is still refused."""
    import paramiko

    sftp.write_bytes("/big", payload(3 * MiB))
    sftp.mkdir("/dir")
    monkeypatch.setattr(paramiko.SFTPFile, "stat", lambda *_: pytest.fail("a stat of its own"))
    with sftp.open_read("/big") as f:
        assert f.read() == payload(3 * MiB)
    with sftp.open_read("/big", MiB) as f:
        assert f.read() == payload(3 * MiB)[MiB:]
    with pytest.raises(VfsIsADirectory, match="^/dir: "):
        sftp.open_read("/dir")


def test_a_read_whose_stat_is_refused_asks_the_open_file(
    sftp: SftpVfs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that refuses the stat by path (here: a stat of a missing file instead)
    still gives the file: its size comes from the open handle."""
    from aft.vfs import _paramiko_adapter as adapter

    sftp.write_bytes("/f", payload(MiB + 5))
    sftp.mkdir("/dir")
    send_stat = adapter.send_stat
    monkeypatch.setattr(adapter, "send_stat", lambda s, o, path: send_stat(s, o, path + ".no"))
    with sftp.open_read("/f") as f:
        assert f.read() == payload(MiB + 5)
    with pytest.raises(VfsIsADirectory, match="^/dir: "):
        sftp.open_read("/dir")


def test_a_copy_stops_where_a_short_read_showed_the_end(
    sftp: SftpVfs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aft.vfs import _paramiko_adapter as adapter

    sftp.write_bytes("/small", b"s" * 16_384)
    sftp.write_bytes("/empty", b"")
    send_read, reads = adapter.send_read, []

    def counted(*args: Any) -> int:
        reads.append(args[3])  # the offset
        return send_read(*args)

    monkeypatch.setattr(adapter, "send_read", counted)
    disk = DiskVfs(str(tmp_path))
    copy_file(sftp, "/small", disk, "/small")
    assert (tmp_path / "small").read_bytes() == b"s" * 16_384
    assert reads == [0]  # its short answer ended the file: no read past it
    reads.clear()
    copy_file(sftp, "/empty", disk, "/empty")
    assert (tmp_path / "empty").read_bytes() == b"" and reads == [0]


# ---- dropped connections ------------------------------------------------------------


def kill_connection(server: SshdServer, vfs: SftpVfs) -> None:
    """SIGKILL the sshd processes serving ``vfs``'s connection (found by its socket).

    Does nothing when the connection is already gone.
    """
    transport = vfs._transport
    if transport is None or not transport.is_active():
        return
    try:
        client_port = transport.sock.getsockname()[1]  # type: ignore[union-attr]
    except OSError:  # closed by paramiko in the meantime
        return
    wanted = f"0100007F:{server.port:04X} 0100007F:{client_port:04X}"
    with open("/proc/net/tcp") as f:
        inodes = {line.split()[9] for line in f if " ".join(line.split()[1:3]) == wanted}
    assert inodes, "no server socket for this connection"
    killed = 0
    for pid in _descendants(server.pid):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            links = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in fds}
        except OSError:
            continue
        if any(f"socket:[{inode}]" in links for inode in inodes):
            os.kill(pid, signal.SIGKILL)
            killed += 1
    assert killed, "no sshd process holds the connection"


class _Tripwire(DiskVfs):
    """A Disk VFS that calls ``trip`` after the first chunk read from or written to it."""

    def __init__(self, root: Path, trip: Any, times: int) -> None:
        super().__init__(root)
        self.trip, self.times = trip, times

    def _arm(self, f: Any, method: str) -> Any:
        inner = getattr(f, method)

        def hooked(*args: Any) -> Any:
            result = inner(*args)
            if self.times > 0:
                self.times -= 1
                self.trip()
            return result

        setattr(f, method, hooked)
        return f

    def open_read(self, path: str, offset: int = 0) -> Any:
        return self._arm(super().open_read(path, offset), "read")

    def open_write(self, path: str) -> Any:
        return self._arm(super().open_write(path), "write")


@pytest.mark.parametrize("direction", ["upload", "download"])
@pytest.mark.parametrize("kills", [1, 100])
def test_connection_killed_mid_transfer(
    sshd_server: SshdServer, sftp: SftpVfs, tmp_path: Path, direction: str, kills: int
) -> None:
    """One kill: the retry reconnects and the copy arrives whole. A kill on every attempt:
    VfsConnectionError. Never a partial or temporary file under any name."""
    # more than a reader asks for ahead: a kill always leaves some of the file to fetch
    data = payload(READ_AHEAD + 8 * MiB, seed=3)
    killed: list[object] = []  # connections already killed, so a later chunk kills the next one

    def trip() -> None:
        if sftp._transport is not None and all(sftp._transport is not k for k in killed):
            killed.append(sftp._transport)
            kill_connection(sshd_server, sftp)

    disk = _Tripwire(tmp_path, trip, times=0)
    (disk.write_bytes if direction == "upload" else sftp.write_bytes)("/src", data)
    sftp.isdir("/")  # connected
    disk.times = kills
    src, dst = (disk, sftp) if direction == "upload" else (sftp, disk)
    if kills == 1:
        copy_file(src, "/src", dst, "/dst", retries=2, backoff=0.05)
        assert dst.read_bytes("/dst") == data
        assert names(dst) == ["dst"]
    else:
        with pytest.raises(VfsConnectionError, match="dst|src"):
            copy_file(src, "/src", dst, "/dst", retries=2, backoff=0.05)
        assert names(dst) == []
    assert not any(TEMP_MARKER in name for name in os.listdir(local(sftp)) + os.listdir(tmp_path))


def test_the_next_call_reconnects_after_a_drop(sshd_server: SshdServer, sftp: SftpVfs) -> None:
    sftp.write_bytes("/f", b"x")
    kill_connection(sshd_server, sftp)
    try:
        sftp.listdir("/")
    except VfsConnectionError as exc:
        assert "lost" in str(exc)
    assert sftp.read_bytes("/f") == b"x"


def test_a_file_of_a_dropped_connection_leaves_the_new_one_alone(
    sshd_server: SshdServer, sftp: SftpVfs
) -> None:
    sftp.write_bytes("/f", payload(32 * MiB))  # more than a reader keeps in flight
    reader = sftp.open_read("/f")
    kill_connection(sshd_server, sftp)
    with pytest.raises(VfsConnectionError):
        while reader.read(MiB):
            pass
    assert sftp.isdir("/")
    current = sftp._transport
    with pytest.raises(VfsConnectionError):
        reader.read(MiB)
    reader.close()
    assert sftp.isdir("/") and sftp._transport is current


def test_the_receive_buffer_hands_over_bytes_in_order() -> None:
    """The SFTP channel's receive buffer: partial reads, timeouts, close (no server needed)."""
    from paramiko.buffered_pipe import PipeTimeout

    from aft.vfs._paramiko_adapter import ChunkPipe

    pipe = ChunkPipe()
    with pytest.raises(PipeTimeout):
        pipe.read(10, timeout=0.0)
    start = time.monotonic()
    with pytest.raises(PipeTimeout):
        pipe.read(10, timeout=0.05)
    assert time.monotonic() - start >= 0.05
    for piece in (b"abc", b"defgh", b"ij"):
        pipe.feed(piece)
    assert len(pipe) == 10 and pipe.read_ready()
    assert pipe.read(2) == b"ab"
    assert pipe.read(4) == b"cdef"
    assert pipe.read(100) == b"ghij"
    assert not pipe.read_ready()
    pipe.feed(b"rest")
    pipe.close()
    assert pipe.empty() == b"rest"
    assert pipe.read(5) == b""  # closed and drained: the end of the stream


def _listener(reply: bytes | None) -> tuple[Any, int]:
    """A TCP server on 127.0.0.1 that says ``reply`` to each client (None: nothing)."""
    import socket
    import threading

    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            held.append(conn)
            if reply is not None:
                conn.sendall(reply)
                conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return server, server.getsockname()[1]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (None, "timed out waiting for the SSH banner after 1s"),
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", "no SSH banner: is it an SSH server"),
    ],
)
def test_a_server_that_is_not_ssh_is_named_so(reply, expected):
    server, port = _listener(reply)
    try:
        started = time.monotonic()
        with pytest.raises(VfsConnectionError, match=expected):
            host_key_fingerprint("127.0.0.1", port, timeout=1)
        assert time.monotonic() - started < 5
    finally:
        server.close()


def test_a_closed_port_is_refused():
    import socket

    with socket.socket() as unused:  # bound, never listening: connections are refused
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
        with pytest.raises(VfsConnectionError, match=f"127.0.0.1:{port}: refused$"):
            host_key_fingerprint("127.0.0.1", port, timeout=1)


# ---- a big file written over several sessions ---------------------------------------------


def _spread_writer(sftp: SftpVfs, path: str) -> Any:
    """A writer of ``path`` that has written past SPREAD_AT with every lane open."""
    f = sftp.open_write(path)
    f.write(payload(SPREAD_AT + MiB, seed=7))
    for future in list(f._opening):  # type: ignore[attr-defined]
        future.result()
    f.write(payload(MiB, seed=8))
    assert len(f._lanes) == LANES  # type: ignore[attr-defined]
    return f


def test_a_big_file_is_written_over_several_sessions(sftp: SftpVfs) -> None:
    with _spread_writer(sftp, "/big") as f:
        f.write(payload(9 * MiB, seed=9))
    expected = payload(SPREAD_AT + MiB, seed=7) + payload(MiB, seed=8) + payload(9 * MiB, seed=9)
    assert sftp.read_bytes("/big") == expected
    assert sftp.listdir("/")  # the file's session still serves the VFS


def test_the_close_of_a_spread_file_does_not_wait_for_the_other_sessions(
    sftp: SftpVfs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file's own close goes out before the other sessions' statuses are waited
    for, so they arrive in the same round trip; the file is whole all the same."""
    from aft.vfs import _paramiko_adapter as adapter
    from aft.vfs.sftp import _Lane

    events: list[str] = []
    send_close, drain = adapter.send_close, _Lane.drain

    def closing(*args: Any) -> int:
        events.append("close")
        return send_close(*args)

    def draining(lane: Any) -> None:
        events.append("drain")
        drain(lane)

    with _spread_writer(sftp, "/big"):
        monkeypatch.setattr(adapter, "send_close", closing)
        monkeypatch.setattr(_Lane, "drain", draining)
    assert events[0] == "close" and events.count("drain") == LANES
    assert sftp.read_bytes("/big") == payload(SPREAD_AT + MiB, seed=7) + payload(MiB, seed=8)


def test_a_failed_write_on_another_session_is_reported(sftp: SftpVfs) -> None:
    """The server refuses the writes of one lane (its handle is made unknown to it)."""
    with pytest.raises(VfsError, match="^/big: ") as caught:
        with _spread_writer(sftp, "/big") as f:
            f._lanes[-1].remote = b"not a handle"
            f.write(payload(8 * MiB))
    assert not isinstance(caught.value, VfsConnectionError)
    assert sftp.isdir("/")


def test_a_connection_killed_while_writes_are_spread(
    sshd_server: SshdServer, sftp: SftpVfs
) -> None:
    with pytest.raises(VfsConnectionError, match="^/big: .*lost"):
        with _spread_writer(sftp, "/big") as f:
            kill_connection(sshd_server, sftp)
            f.write(payload(16 * MiB))
    sftp.write_bytes("/small", b"after")  # the next call reconnects
    assert sftp.read_bytes("/small") == b"after"


def test_sessions_still_opening_at_close_are_closed_once_open(sftp: SftpVfs) -> None:
    f = sftp.open_write("/f")
    f.write(payload(SPREAD_AT + MiB))
    opening = list(f._opening)  # type: ignore[attr-defined]
    f.close()
    assert sftp.read_bytes("/f") == payload(SPREAD_AT + MiB)
    lanes = [future.result() for future in opening]
    deadline = time.monotonic() + 10
    while not all(lane.sftp.get_channel().closed for lane in lanes):
        assert time.monotonic() < deadline, "a session opened after the close stays open"
        time.sleep(0.01)


def _sessions_opened(sftp: SftpVfs, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records, per session opened for lanes, whether the file was open for writing yet."""
    events: list[str] = []
    open_session, open_write = SftpVfs._open_session, SftpVfs.open_write

    def opening(self: SftpVfs, connection: Any) -> Any:
        events.append("session")
        return open_session(self, connection)

    def writing(self: SftpVfs, path: str) -> Any:
        events.append("open_write")
        return open_write(self, path)

    monkeypatch.setattr(SftpVfs, "_open_session", opening)
    monkeypatch.setattr(SftpVfs, "open_write", writing)
    return events


def test_a_big_file_announced_has_its_lanes_sessions_opened_before_it(
    sftp: SftpVfs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """prepare_write opens the lanes' sessions at once; the file then takes them (no
    session more is opened) and is written whole over them."""
    events = _sessions_opened(sftp, monkeypatch)
    sftp.prepare_write(SPREAD_AT + 8 * MiB)
    data = payload(SPREAD_AT + 8 * MiB, seed=3)
    with sftp.open_write("/big") as f:
        f.write(data[:SPREAD_AT])
        f.write(data[SPREAD_AT : SPREAD_AT + MiB])
        for future in list(f._opening):  # type: ignore[attr-defined]
            future.result()
        f.write(data[SPREAD_AT + MiB :])
        assert len(f._lanes) == LANES  # type: ignore[attr-defined]
    assert events == ["session"] * (LANES - 1) + ["open_write"]
    assert sftp.read_bytes("/big") == data


def test_a_small_file_announced_opens_no_session(
    sftp: SftpVfs, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = _sessions_opened(sftp, monkeypatch)
    sftp.prepare_write(IN_FLIGHT - 1)
    sftp.write_bytes("/small", b"x" * 1000)
    assert events == ["open_write"]


def test_sessions_announced_and_not_taken_close_with_the_handle(sftp: SftpVfs) -> None:
    sftp.prepare_write(64 * MiB)
    spare = list(sftp._spare)
    sessions = [future.result() for future in spare]
    transport = sessions[0].get_channel().get_transport()
    sftp.close()
    deadline = time.monotonic() + 10
    while transport.is_active() or not all(s.get_channel().closed for s in sessions):
        assert time.monotonic() < deadline, "a session opened for a file not written stays open"
        time.sleep(0.01)
    assert not sftp._pool._connections
