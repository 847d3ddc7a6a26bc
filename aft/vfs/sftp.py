"""The SFTP VFS, on paramiko, with a mandatory host-key pin.

Profile: target ``sftp://user@host:port/base/path?hostKeySHA256=<fingerprint>`` (or
``hostKeySHA1`` / ``hostKeyMD5``), payload ``{"pass": ...}`` and/or
``{"key": "<PEM>", "keyPass": ...}``. The connection opens on first use; after it drops
(:class:`VfsConnectionError`) the next call opens a new one.

A host key is checked before any credential is sent. The pin may be written as OpenSSH
prints it (``SHA256:base64``, with or without the prefix and ``=`` padding; MD5 and SHA1
as colon-separated hex), and :func:`host_key_fingerprint` tells what to pin.

File data moves through :class:`SftpFile`: a bounded pipeline of read or write requests
on paramiko's request layer; a big file written goes over several sessions of the
connection, each with its own window. (paramiko's own prefetch reads the whole rest of a
file when it is closed early, and its pipelined writes drop a failed write's status, so
neither is used.) That layer, and the faster receive path of aft's connections, are
paramiko internals: :mod:`aft.vfs._paramiko_adapter` holds every use of them. AES-GCM is
offered first (:data:`FIRST_CIPHERS`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import functools
import hashlib
import hmac
import io
import socket
import stat as stat_mod
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO, cast

from aft.exceptions import (
    VfsConnectionError,
    VfsDirectoryNotEmpty,
    VfsError,
    VfsExists,
    VfsHostKeyError,
    VfsIntegrityError,
    VfsIsADirectory,
    VfsNotADirectory,
    VfsNotFound,
    VfsPermission,
    VfsUnsupported,
)
from aft.models import FileInfo
from aft.vfs import _paramiko_adapter as adapter
from aft.vfs._paramiko_adapter import paramiko  # imported there, without invoke
from aft.vfs.base import Vfs, normalize, temp_name, vfs_error
from aft.vfs.sftp_schema import SftpSchema

#: Bytes per SFTP read or write request: what every server takes, and the most we ask
#: of one that states larger limits (limits@openssh.com).
BLOCK = 32 * 1024
MAX_BLOCK = 256 * 1024
#: Bytes a file being written keeps in flight per session (as 8 to 64 requests).
IN_FLIGHT = 8 * 1024 * 1024
#: Bytes a file being read keeps asked for ahead of its reader: READ_AHEAD, or its share
#: of READ_BUDGET when more files are read at once (never under 8 requests). 64 MiB at
#: 20 ms round trip read in 0.31 s with 8 MiB ahead, 0.26 s with 16 MiB.
READ_AHEAD = 16 * 1024 * 1024
READ_BUDGET = 64 * 1024 * 1024
#: A file written past SPREAD_AT bytes also writes over LANES - 1 more sessions of its
#: connection: a server grants each session its own window (OpenSSH: 2 MiB), which caps
#: one session at 2 MiB per round trip (100 MB/s at 20 ms). 64 MiB at 20 ms round trip
#: was written in 0.49 s with 4 lanes from 4 MiB, 0.40 s with 8 from 1 MiB.
SPREAD_AT = 1024 * 1024
LANES = 8
#: Sessions a handle and its siblings put on one connection before opening another:
#: OpenSSH's default MaxSessions. A server that allows fewer refuses the next session,
#: and the connection is then known to be full at what it holds.
SESSIONS_PER_CONNECTION = 10
#: Files in flight in a batch of small files (:meth:`SftpVfs.write_many`, ``read_many``)
#: when not told: enough to cover three round trips of the connection, from 16 near the
#: server up to 64 across the internet (see :meth:`SftpVfs.batch_width`).
SMALL_FILES_IN_FLIGHT = (16, 64)
#: Bytes of file data a batch of small files holds in flight at most (files start while
#: it holds less).
SMALL_FILES_BYTES = 16 * 1024 * 1024
#: A server that answers reads short: passes over a file of a batch (each asking what the
#: ones before left out) before it goes alone, and the smallest read asked.
READ_PASSES = 4
MIN_READ = 512
#: SSH channel window and packet size we offer: room for the whole pipeline.
WINDOW = 32 * 1024 * 1024
PACKET = 256 * 1024
#: Ciphers tried first: AES-GCM (authenticated encryption, one pass in C with AES-NI) moves
#: a big file with about half the CPU of paramiko's first choice, AES-CTR with a separate
#: HMAC-SHA2-256, on both sides. Every other cipher follows in paramiko's order.
FIRST_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")
_KEY_CLASSES = (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey)


def fingerprint(key: paramiko.PKey) -> str:
    """The key's SHA-256 fingerprint as OpenSSH prints it: ``SHA256:<base64, unpadded>``."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def parse_pin(algorithm: str, text: str) -> bytes:
    """The digest a host-key pin names.

    Args:
        algorithm: ``"sha256"``, ``"sha1"`` or ``"md5"``.
        text: base64 (``SHA256:`` prefix and padding optional) or hex (colons optional).

    Raises:
        VfsHostKeyError: when ``text`` is no fingerprint of that kind.
    """
    size = hashlib.new(algorithm, usedforsecurity=False).digest_size
    value = text.strip()
    if value.lower().startswith(algorithm + ":"):
        value = value[len(algorithm) + 1 :]
    hexdigits = value.replace(":", "")
    try:
        if len(hexdigits) == 2 * size:
            return bytes.fromhex(hexdigits)
        digest = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (ValueError, binascii.Error):
        digest = b""
    if len(digest) != size:
        raise VfsHostKeyError(f"not a valid {algorithm.upper()} host key fingerprint: {text!r}")
    return digest


class _StepTimeout(Exception):
    """A step of connecting (the SSH banner, the key exchange) did not finish in time."""


@contextlib.contextmanager
def _connection_errors(where: str, timeout: float) -> Iterator[None]:
    """Translate failures to connect or log in to ``where`` into VfsConnectionError that
    says what happened: refused, no answer, no SSH banner in time, not an SSH server,
    login refused, no SFTP spoken."""
    started = time.monotonic()
    try:
        yield
    except VfsError:
        raise
    except paramiko.AuthenticationException as exc:
        raise VfsConnectionError(f"SFTP login to {where} failed: {exc}") from None
    except ConnectionRefusedError:
        raise VfsConnectionError(f"cannot connect to SFTP server {where}: refused") from None
    except socket.gaierror as exc:
        raise VfsConnectionError(f"cannot find SFTP server {where}: {exc.strerror}") from None
    except _StepTimeout as exc:
        raise VfsConnectionError(
            f"cannot connect to SFTP server {where}: timed out waiting for {exc} after {timeout:g}s"
        ) from None
    except TimeoutError:
        raise VfsConnectionError(
            f"cannot connect to SFTP server {where}: timed out connecting after {timeout:g}s"
        ) from None
    except (paramiko.SSHException, paramiko.SFTPError, EOFError, OSError) as exc:
        reason = str(exc) or type(exc).__name__
        if "banner" in reason or "No existing session" in reason:
            if time.monotonic() - started >= timeout * 0.9:
                reason = f"timed out waiting for the SSH banner after {timeout:g}s"
            else:
                reason = "no SSH banner: is it an SSH server?"
        raise VfsConnectionError(f"cannot connect to SFTP server {where}: {reason}") from exc


def _open_transport(host: str, port: int, timeout: float) -> paramiko.Transport:
    """An SSH transport to ``host:port`` after key exchange, before authentication."""
    with _connection_errors(f"{host}:{port}", timeout):
        sock = socket.create_connection((host, port), timeout=timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            transport = paramiko.Transport(
                sock,
                default_window_size=WINDOW,
                default_max_packet_size=PACKET,
                packetizer_class=adapter.FastPacketizer,
            )
        except BaseException:
            sock.close()
            raise
        transport.banner_timeout = transport.auth_timeout = timeout
        options = transport.get_security_options()
        offered = [name for name in FIRST_CIPHERS if name in options.ciphers]
        options.ciphers = (*offered, *(n for n in options.ciphers if n not in offered))
        try:
            transport.start_client(timeout=timeout)
            if not transport.is_active():
                raise paramiko.SSHException("No existing session")
            if transport.host_key is None:  # start_client stopped waiting, the thread goes on
                raise _StepTimeout(
                    "the key exchange" if transport.remote_version else "the SSH banner"
                )
        except BaseException:
            transport.close()
            raise
    return transport


def host_key_fingerprint(host: str, port: int = 22, timeout: float = 15.0) -> str:
    """The SHA-256 fingerprint of the host key an SFTP server presents, to check and pin.

    Nothing is trusted or stored: this only reports what the server says.

    Raises:
        VfsConnectionError: when the server cannot be reached.
    """
    transport = _open_transport(host, port, timeout)
    try:
        with _connection_errors(f"{host}:{port}", timeout):
            return fingerprint(transport.get_remote_server_key())
    finally:
        transport.close()


def _load_key(pem: str, password: str | None) -> paramiko.PKey:
    for cls in _KEY_CLASSES:
        try:
            return cls.from_private_key(io.StringIO(pem), password=password)
        except paramiko.PasswordRequiredException:
            raise VfsError(
                "the SFTP private key is encrypted: give its passphrase as keyPass"
            ) from None
        except (paramiko.SSHException, ValueError, TypeError):
            continue
    raise VfsError(
        "the SFTP private key cannot be loaded: not an Ed25519, ECDSA or RSA key, or wrong keyPass"
    )


class _Limits(adapter.ReplyReceiver):
    """The reply to a ``limits@openssh.com`` request: the read and write request sizes
    the server takes (BLOCK when it does not say)."""

    def __init__(self) -> None:
        self.sizes: tuple[int, int] | None = None

    def on_reply(self, kind: int, msg: paramiko.Message, num: int) -> None:
        msg = adapter.extended_reply(kind, msg)
        if msg is None:  # not offered
            self.sizes = (BLOCK, BLOCK)
            return
        msg.get_int64()  # packet length
        read, write = msg.get_int64(), msg.get_int64()  # 0 = no limit
        self.sizes = (min(read or MAX_BLOCK, MAX_BLOCK), min(write or MAX_BLOCK, MAX_BLOCK))


class _Attrs(adapter.ReplyReceiver):
    """The reply to a stat sent without waiting: the attributes or the error."""

    def __init__(self, sftp: paramiko.SFTPClient) -> None:
        self._sftp = sftp
        self.attrs: paramiko.SFTPAttributes | Exception | None = None

    def on_reply(self, kind: int, msg: paramiko.Message, num: int) -> None:
        self.attrs = adapter.attrs_reply(self._sftp, kind, msg)


def _alive(sftp: paramiko.SFTPClient) -> bool:
    channel = sftp.get_channel()
    return not channel.closed and channel.get_transport().is_active()


def _info(path: str, attrs: paramiko.SFTPAttributes) -> FileInfo:
    is_dir = stat_mod.S_ISDIR(attrs.st_mode or 0)
    return FileInfo(path, is_dir, 0 if is_dir else attrs.st_size or 0, attrs.st_mtime or 0)


def _status_error(exc: OSError, what: str) -> VfsError:
    """The aft error for an SFTP status reply (paramiko raises it as an OSError)."""
    if exc.errno is not None:
        return vfs_error(exc, what)
    text = str(exc) or "failure"
    return (VfsUnsupported if text == "Operation unsupported" else VfsError)(f"{what}: {text}")


class _Connection:
    """One SSH connection of a :class:`_Connections`: its transport once open, the
    request sizes its server takes, and the sessions on it or being opened."""

    def __init__(self) -> None:
        self.transport: paramiko.Transport | None = None
        self.sizes = (BLOCK, BLOCK)
        self.round_trip = 0.0  # seconds: the smaller of the login's and the first request's
        self.ready = threading.Event()
        self.failed = False
        self.sessions = 0  # open or being opened
        self.room = SESSIONS_PER_CONNECTION

    def usable(self) -> bool:
        return not self.failed and (self.transport is None or self.transport.is_active())


class _Connections:
    """The SSH connections a handle and its siblings share.

    Each session goes on the first connection with room (a server limits the sessions of
    one connection: OpenSSH's MaxSessions, 10 by default); only when every one is full is
    another opened, by the session that needs it, while the next sessions wait for it. So
    a batch of 16 files in flight logs in twice, not 16 times, and opens few connections
    at once (a server drops those past MaxStartups, OpenSSH: 10, before they log in). A
    connection closes when its last session does.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connections: list[_Connection] = []

    def session(
        self, connect: Callable[[_Connection], paramiko.SFTPClient], timeout: float, where: str
    ) -> tuple[_Connection, paramiko.SFTPClient]:
        """A new SFTP session on a connection with room; when none has room, on a new
        connection that ``connect`` opens (filling in the :class:`_Connection` it is given
        and returning its first session).

        Raises:
            VfsConnectionError: the connection waited for did not open in ``timeout``
                seconds, or the server (``where``) refuses sessions.
        """
        refusals = 0
        while True:
            connection, opener = self._claim()
            if opener:
                try:
                    sftp = connect(connection)
                except BaseException:
                    connection.failed = True
                    self.release(connection)
                    raise
                finally:
                    connection.ready.set()
                return connection, sftp
            if not connection.ready.wait(timeout):
                self.release(connection)
                raise VfsConnectionError(
                    f"cannot connect to SFTP server {where}: timed out after {timeout:g}s"
                )
            if connection.transport is None:
                self.release(connection)
                continue  # that connection did not open: claim again (perhaps opening one)
            try:
                sftp = adapter.open_sftp(connection.transport, WINDOW, PACKET)
            except (paramiko.SSHException, EOFError, OSError):
                refusals += 1
                with self._lock:
                    held = connection.sessions - 1
                    connection.room = min(connection.room, held)
                self.release(connection)
                if (held == 0 and connection.transport.is_active()) or refusals > 3:
                    raise VfsConnectionError(
                        f"SFTP server {where} refuses to open a session"
                    ) from None
                continue
            return connection, sftp

    def _claim(self) -> tuple[_Connection, bool]:
        """A connection with room, a session counted on it; True when it is new (the
        caller opens it)."""
        with self._lock:
            for connection in self._connections:
                if connection.sessions < connection.room and connection.usable():
                    connection.sessions += 1
                    return connection, False
            connection = _Connection()
            connection.sessions = 1
            self._connections.append(connection)
            return connection, True

    def lane(self, connection: _Connection) -> bool:
        """Count one more session on ``connection`` if it has room (a big file's lane)."""
        with self._lock:
            if connection.sessions >= connection.room or not connection.usable():
                return False
            connection.sessions += 1
            return True

    def release(self, connection: _Connection) -> None:
        """One session of ``connection`` is closed (or was never opened); the connection
        closes with its last one."""
        with self._lock:
            connection.sessions -= 1
            last = connection.sessions <= 0
            if last and connection in self._connections:
                self._connections.remove(connection)
        if last and connection.transport is not None:
            with contextlib.suppress(Exception):
                connection.transport.close()


class SftpVfs(SftpSchema, Vfs):
    """A directory on an SFTP server as a VFS.

    Args:
        host, port, user: the server and the login.
        base: the server directory that becomes ``/``.
        password, key, key_pass: credentials; ``key`` is a private key's text (PEM or
            OpenSSH format), tried before the password.
        host_key: the pinned fingerprint of the server's host key (mandatory to connect).
        host_key_algorithm: the pin's hash: ``"sha256"``, ``"sha1"`` or ``"md5"``.
        timeout: seconds to wait for the server, per connection step or request.

    An instance is for one thread at a time.

    Raises:
        VfsError: for a missing credential or a key that cannot be loaded.
        VfsHostKeyError: for a malformed pin.
    """

    def __init__(
        self,
        host: str,
        user: str,
        *,
        port: int = 22,
        base: str = "/",
        password: str | None = None,
        key: str | None = None,
        key_pass: str | None = None,
        host_key: str | None = None,
        host_key_algorithm: str = "sha256",
        timeout: float = 30.0,
    ) -> None:
        if not host or not user:
            raise VfsError("an SFTP VFS needs a host and a user")
        if password is None and not key:
            raise VfsError(f"the SFTP VFS for {user}@{host} needs a password or a key")
        self.host, self.port, self.user, self.timeout = host, port, user, timeout
        self.base = normalize(base)
        self._base = self.base.rstrip("/")
        self._password = password
        self._pkey = _load_key(key, key_pass) if key else None
        self._pin = (
            (host_key_algorithm, parse_pin(host_key_algorithm, host_key)) if host_key else None
        )
        #: The connections this handle and its siblings share, this handle's among them.
        self._pool = _Connections()
        self._connection: _Connection | None = None
        self._sftp: paramiko.SFTPClient | None = None
        #: The root as the connection this handle opened last saw it at login.
        self._root_seen: FileInfo | VfsError | None = None
        #: Sessions being opened for the lanes of a big file about to be written
        #: (see :meth:`prepare_write`), until it takes them or this handle closes.
        self._spare: list[Future[paramiko.SFTPClient]] = []

    @classmethod
    def from_target(cls, target: str, payload: dict[str, Any]) -> SftpVfs:
        """Open ``sftp://user@host:port/base/path?hostKeySHA256=...`` with its payload."""
        fields = cls.parse_target(target)
        algorithm, pin = cls.pin(fields) or ("sha256", None)
        return cls(
            fields["host"],
            fields["user"],
            port=int(fields["port"] or 22),
            base=fields["path"],
            password=payload.get("pass"),
            key=payload.get("key"),
            key_pass=payload.get("keyPass"),
            host_key=pin,
            host_key_algorithm=algorithm,
            timeout=float(fields["timeout"] or 30),
        )

    def __repr__(self) -> str:
        return f"SftpVfs('sftp://{self.user}@{self.host}:{self.port}{self.base}')"

    # ---- the connection ----------------------------------------------------------

    @property
    def _where(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"

    def _client(self) -> paramiko.SFTPClient:
        """The SFTP session, opened (again) when there is none or it dropped."""
        if self._sftp is None or not _alive(self._sftp):
            self.close()
            self._connection, self._sftp = self._pool.session(
                self._connect, self.timeout, self._where
            )
            self._sftp.get_channel().settimeout(self.timeout)
        return self._sftp

    def _connect(self, connection: _Connection) -> paramiko.SFTPClient:
        """Open ``connection``: log in, open a session, ask the request sizes and look at
        the root, both in one round trip (timed); the session is returned. What the root
        is, or the error it gave, waits for :meth:`connect`."""
        transport = _open_transport(self.host, self.port, self.timeout)
        try:
            with _connection_errors(self._where, self.timeout):
                self._check_host_key(transport.get_remote_server_key())
                self._authenticate(transport)
                sftp = adapter.open_sftp(transport, WINDOW, PACKET)
                sftp.get_channel().settimeout(self.timeout)
                asked, limits = time.monotonic(), _Limits()
                adapter.send_extended(sftp, limits, "limits@openssh.com")
                try:  # its reply goes to ``limits`` on the way
                    self._root_seen = _info("/", sftp.stat(self._remote("/")))
                except (TimeoutError, ConnectionError):
                    raise
                except OSError as exc:  # a status reply
                    self._root_seen = _status_error(exc, "/")
                while limits.sizes is None:  # a server may answer out of order
                    adapter.read_reply(sftp)
                # the smaller of two samples: one can be stretched by a busy machine
                samples = [time.monotonic() - asked, adapter.login_round_trip(transport)]
                connection.round_trip = min(t for t in samples if t is not None)
                connection.sizes = limits.sizes
        except BaseException:
            transport.close()
            raise
        connection.transport = transport
        return sftp

    def connect(self) -> None:
        """As :meth:`Vfs.connect`; a new connection looks at the root in the round trip
        that asks the server's request sizes, so this costs no round trip of its own."""
        self._root_seen = None
        self._client()
        seen, self._root_seen = self._root_seen, None
        if seen is None:  # the session is on a connection opened before
            self.stat("/")
        elif isinstance(seen, VfsError):
            raise seen

    def batch_width(self) -> int | None:
        """Files in flight for a batch: 4 near the server, up to 64 across the internet.

        Each small file costs two or three round trips, one after another (open, write and
        close, rename), and about a millisecond of work here: enough files in flight to
        cover three round trips of this connection keep it busy, and near the server more
        only contend for the work. 200 files of 16 KiB at 20 ms round trip took 1.09 s
        with 16 in flight, 0.81 s with 32, 0.70 s with 64; on loopback, whole aft runs of
        1,000 took 1.63 s down and 1.51 s up with 4, 1.87 s and 1.58 s with 16.
        """
        try:
            self._client()
        except VfsError:
            return None  # the batch's first file will say why
        assert self._connection is not None
        return max(4, min(64, round(3000 * self._connection.round_trip)))

    @property
    def _transport(self) -> paramiko.Transport | None:
        """The connection this handle's session is on, if it has one."""
        return self._connection.transport if self._connection is not None else None

    @property
    def _sizes(self) -> tuple[int, int]:
        """The read and write request sizes of this handle's connection."""
        return self._connection.sizes if self._connection is not None else (BLOCK, BLOCK)

    def sibling(self) -> SftpVfs:
        """A handle for another thread: its own SFTP session, on a connection it shares
        with this handle and its other siblings (see :class:`_Connections`).

        Its session opens on first use; closing it closes that session only (and the
        connection, when it was the connection's last).
        """
        twin = copy.copy(self)
        twin._sftp = twin._connection = None
        twin._spare = []
        return twin

    def _check_host_key(self, key: paramiko.PKey) -> None:
        actual = fingerprint(key)
        where = f"{self.host}:{self.port}"
        if self._pin is None:
            raise VfsHostKeyError(
                f"refusing {where}: no host key pin; the server presents {actual} "
                f"(check it, then add hostKeySHA256={actual} to the target)"
            )
        algorithm, pinned = self._pin
        if not hmac.compare_digest(
            hashlib.new(algorithm, key.asbytes(), usedforsecurity=False).digest(), pinned
        ):
            raise VfsHostKeyError(
                f"refusing {where}: its host key does not match the pinned "
                f"{algorithm.upper()} fingerprint; the server presents {actual}"
            )

    def _authenticate(self, transport: paramiko.Transport) -> None:
        tried = []
        if self._pkey is not None:
            tried.append("key")
            with contextlib.suppress(paramiko.AuthenticationException):
                adapter.auth_publickey(transport, self.user, self._pkey)
        if not transport.is_authenticated() and self._password is not None:
            tried.append("password")
            with contextlib.suppress(paramiko.AuthenticationException):
                adapter.auth_password(transport, self.user, self._password)
        if not transport.is_authenticated():
            raise VfsConnectionError(
                f"SFTP login to {self._where} failed: the server refused the {' and '.join(tried)}"
            )

    def close(self) -> None:
        """Close the session, and the connection when no sibling uses it (the next call
        reopens)."""
        sftp, connection = self._sftp, self._connection
        self._sftp = self._connection = None
        spare, self._spare = self._spare, []
        for future in spare:  # on ``connection``: see prepare_write
            future.add_done_callback(functools.partial(self._drop_spare, connection))
        if sftp is not None:
            with contextlib.suppress(Exception):
                sftp.close()
        if connection is not None:
            self._pool.release(connection)

    @contextlib.contextmanager
    def _errors(
        self,
        what: str,
        explain: Callable[[VfsError], VfsError | None] | None = None,
        sftp: paramiko.SFTPClient | None = None,
    ) -> Iterator[None]:
        """Translate paramiko's errors met on ``sftp`` (default: the current session).

        ``explain`` may replace the error of a vague status reply with a precise one.
        """
        try:
            yield
        except VfsError:
            raise
        except (
            paramiko.SSHException,
            paramiko.SFTPError,
            EOFError,
            TimeoutError,
            ConnectionError,
        ) as exc:
            raise self._lost(what, exc, sftp) from exc
        except OSError as exc:  # a status reply, unless the session is gone
            client = sftp or self._sftp
            if client is None or not _alive(client):
                raise self._lost(what, exc, sftp) from exc
            error = _status_error(exc, what)
            raise (explain and explain(error) or error) from exc

    def _lost(
        self, what: str, exc: BaseException, sftp: paramiko.SFTPClient | None
    ) -> VfsConnectionError:
        if sftp is None or sftp is self._sftp:
            self.close()  # the next call reconnects
        reason = str(exc) or type(exc).__name__
        return VfsConnectionError(f"{what}: connection to {self._where} lost ({reason})")

    # ---- paths -------------------------------------------------------------------

    def _remote(self, vpath: str) -> str:
        return self._base + vpath if vpath != "/" else self.base

    def _explain(self, vpath: str, expect: str) -> Callable[[VfsError], VfsError | None]:
        """An ``explain`` for :meth:`_errors`: what the entry at ``vpath`` says went wrong.

        ``expect`` is what the operation needed there: ``"absent"``, ``"file"``, ``"dir"``
        or ``"empty"`` (an empty directory).
        """

        def explain(error: VfsError) -> VfsError | None:
            if type(error) not in (VfsError, VfsNotFound):
                return None
            try:
                info = self.lstat(vpath)
            except VfsError:
                return None
            if expect == "absent":
                return VfsExists(f"{vpath}: already exists")
            if expect == "file" and info.is_dir:
                return VfsIsADirectory(f"{vpath}: is a directory")
            if expect in ("dir", "empty") and not info.is_dir:
                return VfsNotADirectory(f"{vpath}: not a directory")
            if expect == "empty" and self.listdir(vpath):
                return VfsDirectoryNotEmpty(f"{vpath}: directory not empty")
            return None

        return explain

    def _call(self, method: str, path: str, *args: Any, expect: str = "") -> Any:
        """Run ``SFTPClient.<method>(remote path, *args)`` with errors translated."""
        vpath = normalize(path)
        with self._errors(vpath, self._explain(vpath, expect) if expect else None):
            return getattr(self._client(), method)(self._remote(vpath), *args)

    # ---- primitives --------------------------------------------------------------

    def stat(self, path: str) -> FileInfo:
        return _info(normalize(path), self._call("stat", path))

    def lstat(self, path: str) -> FileInfo:
        return _info(normalize(path), self._call("lstat", path))

    def listdir(self, path: str) -> list[FileInfo]:
        vpath = normalize(path)
        prefix = vpath.rstrip("/") + "/"
        return [
            self._listed(prefix + attrs.filename, attrs)
            for attrs in self._call("listdir_attr", vpath, expect="dir")
            if "/" not in attrs.filename and "\0" not in attrs.filename
        ]

    def _listed(self, vpath: str, attrs: paramiko.SFTPAttributes) -> FileInfo:
        if not stat_mod.S_ISLNK(attrs.st_mode or 0):
            return _info(vpath, attrs)
        with contextlib.suppress(VfsError):  # see aft.vfs.disk: a link lists as its file
            target = self._call("stat", vpath)
            if stat_mod.S_ISREG(target.st_mode or 0):
                return _info(vpath, target)
        return FileInfo(vpath, False, 0, attrs.st_mtime or 0)

    def open_read(self, path: str, offset: int = 0) -> BinaryIO:
        """A reader of ``path``. The file is looked at in the round trip that opens it, so
        the first read asks for the whole read-ahead; where that look fails (a server may
        refuse a stat by path), the first block is asked for with the size of the open
        file instead."""
        vpath = normalize(path)
        with self._errors(vpath):
            sftp = self._client()
            seen = _Attrs(sftp)
            adapter.send_stat(sftp, seen, self._remote(vpath))
        handle = self._call("open", vpath, "rb", expect="file")  # the stat is answered first
        reader = SftpFile(self, vpath, handle, self._sizes[0], offset, 0)
        with self._errors(vpath):
            try:
                while seen.attrs is None:  # a server may answer out of order
                    adapter.read_reply(sftp)
                attrs = seen.attrs
                if isinstance(attrs, Exception):
                    reader.ask_first()
                    attrs = handle.stat()
                if stat_mod.S_ISDIR(attrs.st_mode or 0):
                    raise VfsIsADirectory(f"{vpath}: is a directory")
            except BaseException:
                with contextlib.suppress(Exception):
                    reader.close()
                raise
        reader.sized(attrs.st_size or 0, stat_mod.S_ISREG(attrs.st_mode or 0))
        return cast(BinaryIO, reader)

    def open_write(self, path: str) -> BinaryIO:
        vpath = normalize(path)
        handle = self._call("open", vpath, "wb", expect="file")
        return cast(BinaryIO, SftpFile(self, vpath, handle, self._sizes[1]))

    def prepare_write(self, size: int) -> None:
        """As :meth:`Vfs.prepare_write`: a file of :data:`IN_FLIGHT` bytes or more, which
        is written over lanes (see :class:`SftpFile`), has their sessions opened now, in
        the background, so that they are ready by the time its first bytes are sent
        rather than a few round trips later; only its ``OPEN`` is left to them then.
        (A smaller file is sent in about the round trips a session takes to open, and
        many such files in a batch would hold sessions its other files need.) Sessions
        it does not take are closed with this handle."""
        if size < IN_FLIGHT or self._spare:
            return
        try:
            self._client()
        except VfsError:
            return  # the write will say why
        connection = self._connection
        assert connection is not None
        pool = ThreadPoolExecutor(LANES - 1)
        self._spare = [pool.submit(self._open_session, connection) for _ in range(LANES - 1)]
        pool.shutdown(wait=False)  # the threads end once their session is open

    def _open_session(self, connection: _Connection) -> paramiko.SFTPClient:
        """A new session of ``connection``, counted on it until closed; ChannelException
        when the connection has no room for one."""
        if not self._pool.lane(connection):
            raise paramiko.ChannelException(0, "no room for another session")
        assert connection.transport is not None
        try:
            sftp = adapter.open_sftp(connection.transport, WINDOW, PACKET)
            sftp.get_channel().settimeout(self.timeout)
        except BaseException:
            self._pool.release(connection)
            raise
        return sftp

    def _drop_spare(
        self, connection: _Connection | None, future: Future[paramiko.SFTPClient]
    ) -> None:
        """Close a session :meth:`prepare_write` opened on ``connection``, once open."""
        if connection is not None and not future.cancelled() and future.exception() is None:
            with contextlib.suppress(Exception):
                future.result().close()
            self._pool.release(connection)

    def _open_lane(
        self,
        connection: _Connection,
        vpath: str,
        session: Future[paramiko.SFTPClient] | None = None,
    ) -> _Lane:
        """The file ``vpath``, which exists, opened for writing on ``session`` (one of
        :meth:`prepare_write`'s) or else on a new session of ``connection``;
        ChannelException when the connection has no room for one."""
        sftp = session.result() if session is not None else self._open_session(connection)
        try:
            handle = sftp.open(self._remote(vpath), "r+")
        except BaseException:
            sftp.close()
            self._pool.release(connection)
            raise
        return _Lane(sftp, handle, lambda: self._pool.release(connection))

    def mkdir(self, path: str) -> None:
        self._call("mkdir", path, expect="absent")

    def remove(self, path: str) -> None:
        self._call("remove", path, expect="file")

    def rmdir(self, path: str) -> None:
        if normalize(path) == "/":
            raise VfsPermission("cannot remove the VFS root")
        self._call("rmdir", path, expect="empty")

    def rename(self, src: str, dst: str) -> None:
        src, dst = normalize(src), normalize(dst)
        if "/" in (src, dst):
            raise VfsPermission("cannot rename or replace the VFS root")
        if src == dst:  # nothing to do, once it is there
            self.stat(src)
            return
        what = f"rename {src} -> {dst}"
        with contextlib.suppress(VfsUnsupported):  # (named in the VERSION, yet refused)
            with self._errors(what):
                sftp = self._client()
                if adapter.offers(sftp, adapter.POSIX_RENAME):
                    sftp.posix_rename(self._remote(src), self._remote(dst))
                    return
        # SFTP version 3 alone: its rename fails onto an existing file, removed first,
        # unless that may be the source itself: a name that differs only in case (such
        # servers often keep their files on a case-insensitive disk)
        if src.casefold() != dst.casefold() and self.exists(dst) and not self.isdir(dst):
            self.remove(dst)
        with self._errors(what):
            self._client().rename(self._remote(src), self._remote(dst))

    # ---- optional operations -----------------------------------------------------

    def chmod(self, path: str, mode: int) -> None:
        self._call("chmod", path, mode)

    def chown(self, path: str, uid: int, gid: int) -> None:
        if uid == -1 or gid == -1:  # SFTP sets both at once: keep the one not given
            info = self._call("stat", path)
            uid, gid = (info.st_uid if uid == -1 else uid), (info.st_gid if gid == -1 else gid)
        self._call("chown", path, uid, gid)

    def chtimes(self, path: str, atime: float, mtime: float) -> None:
        self._call("utime", path, (atime, mtime))

    def truncate(self, path: str, size: int) -> None:
        self._call("truncate", path, size, expect="file")

    def symlink(self, target: str, link: str) -> None:
        """Create ``link`` pointing at the VFS path ``target``."""
        vlink = normalize(link)
        with self._errors(vlink, self._explain(vlink, "absent")):
            self._client().symlink(self._remote(normalize(target)), self._remote(vlink))

    # ---- batches of small files ---------------------------------------------------------

    def write_many(
        self,
        files: Iterable[tuple[str, bytes]],
        *,
        use_temp_name: bool = True,
        in_flight: int | None = None,
    ) -> Iterator[tuple[str, VfsError | None]]:
        """As :meth:`Vfs.write_many`, on this handle's session (see :meth:`_in_flight`):
        each file's open, then its writes and its close together, then (once the close
        succeeded) the rename from its temporary name. After a dropped connection, the
        temporary files of the files in flight are removed on a new connection when one
        opens at once."""

        def requests() -> Iterator[_Request]:
            for path, data in files:
                vpath = normalize(path)
                file = _Request(vpath, temp_name(vpath) if use_temp_name else vpath)
                file.data, file.size = data, len(data)
                yield file

        def opened(sftp: paramiko.SFTPClient, file: _Request, handle: bytes) -> None:
            data, file.data = file.data, b""
            write_size = self._sizes[1]  # (the connection's, open by now)
            for offset in range(0, len(data), write_size):
                chunk = data[offset : offset + write_size]
                adapter.send_write(sftp, file, handle, offset, chunk)
                file.waiting += 1
            adapter.send_close_handle(sftp, file, handle)
            file.waiting += 1

        def replied(sftp: paramiko.SFTPClient, file: _Request, result: object, num: int) -> bool:
            if isinstance(result, Exception) and file.error is None and num != file.ignored:
                file.error = _failure(result, file.path)
            file.waiting -= 1
            if file.waiting:
                return False
            if file.step == "remove" or file.error is None and file.step == "rename":
                return True
            if file.error is None and file.temp == file.path:
                return True
            if file.error is None:  # all written and closed: now, and only now, its name
                temp, final = self._remote(file.temp), self._remote(file.path)
                replace = adapter.offers(sftp, adapter.POSIX_RENAME)
                file.step, file.waiting = "rename", 1 if replace else 2
                if not replace:  # SFTP version 3's rename fails onto an existing file:
                    # that goes first, as in :meth:`rename` (its outcome does not count)
                    file.ignored = adapter.send_remove(sftp, file, final)
                adapter.send_rename(sftp, file, temp, final, replace=replace)
            else:  # nothing of it may stay
                file.step, file.waiting = "remove", 1
                adapter.send_remove(sftp, file, self._remote(file.temp))
            return False

        for file in self._in_flight(requests(), in_flight, True, opened, replied):
            yield file.path, file.error

    def read_many(
        self, files: Iterable[FileInfo], *, in_flight: int | None = None
    ) -> Iterator[tuple[FileInfo, bytes | VfsError]]:
        """As :meth:`Vfs.read_many`, on this handle's session (see :meth:`_in_flight`):
        each file's open, then its reads (one past its listed size, to see its end) and
        its close together.

        A server may answer a read short inside a file (SFTP allows it; OpenSSH never
        does): the file is then opened again for what is missing, in pieces of the
        longest answer it gave, and for the byte past its listed size on its own, up to
        :data:`READ_PASSES` times while each pass brings more. A file still incomplete,
        or longer than listed, has changed since it was listed.
        """

        def opened(sftp: paramiko.SFTPClient, file: _Request, handle: bytes) -> None:
            read_size = self._sizes[0]  # (open by now)
            longest = max(map(len, file.chunks.values()), default=read_size)
            step = max(MIN_READ, min(read_size, longest))
            file.reads = {}
            # a server that answered short may answer so at the end too: the byte past the
            # listed size is asked on its own, to see the end (or that the file grew)
            again = [*file.missing, (file.size, file.size + 1)] if file.missing else []
            for start, end in again or [(0, file.size + 1)]:
                for offset in range(start, end, step):
                    length = min(step, end - offset)
                    file.reads[adapter.send_read(sftp, file, handle, offset, length)] = offset
            adapter.send_close_handle(sftp, file, handle)
            file.waiting, file.passes = len(file.reads) + 1, file.passes + 1

        def replied(sftp: paramiko.SFTPClient, file: _Request, result: object, num: int) -> bool:
            if isinstance(result, Exception):
                file.error = file.error or _failure(result, file.path)
            elif num in file.reads and isinstance(result, bytes) and result:
                file.chunks[file.reads[num]] = result
            file.waiting -= 1
            if file.waiting or file.error is not None:
                return not file.waiting
            missing = _gaps(file.chunks, file.size)
            if not missing or missing == file.missing or file.passes >= READ_PASSES:
                return True
            # answered short: the rest on a new handle (the close went with the reads)
            file.missing, file.step = missing, "open"
            adapter.send_open(sftp, file, self._remote(file.path), write=False)
            return False

        def outcome(file: _Request) -> bytes | VfsError:
            if file.error is not None:
                return file.error
            data = b"".join(file.chunks[offset] for offset in sorted(file.chunks))
            if _gaps(file.chunks, file.size) or len(data) != file.size:
                return VfsIntegrityError(
                    f"{file.path}: changed since it was listed ({file.size} bytes)"
                )
            return data

        requests = (_Request(normalize(info.path), "", info) for info in files)
        for file in self._in_flight(requests, in_flight, False, opened, replied):
            assert file.info is not None
            yield file.info, outcome(file)

    def _in_flight(
        self,
        requests: Iterator[_Request],
        in_flight: int | None,
        write: bool,
        opened: Callable[[paramiko.SFTPClient, _Request, bytes], None],
        replied: Callable[[paramiko.SFTPClient, _Request, object, int], bool],
    ) -> Iterator[_Request]:
        """Keep up to ``in_flight`` of ``requests`` (files) in flight on this handle's one
        session, from this thread alone, each request sent as soon as the reply it waits
        for arrives; yields each file once it has ended (its ``error`` set if it failed).

        Each file is opened (to ``write``, or read); once its handle arrives ``opened``
        sends what follows; ``replied`` takes each later reply (what
        :func:`~aft.vfs._paramiko_adapter.reply_result` says, and its request's number)
        and sends what follows, True once the file has ended. ``requests`` is read as room
        frees up. ``in_flight`` None: enough files to cover three round trips of the
        connection (:data:`SMALL_FILES_IN_FLIGHT`); a file starts only while those in flight
        hold less than :data:`SMALL_FILES_BYTES`.
        """
        sftp = self._client()
        width = in_flight or self._small_files_in_flight()
        arrived: deque[tuple[_Request, int, paramiko.Message, int]] = deque()
        active: set[_Request] = set()  # held here: paramiko keeps only weak references
        bytes_held = 0  # the sizes of the files in ``active``

        def advance(file: _Request, kind: int, msg: paramiko.Message, num: int) -> bool:
            if file.step != "open":
                return replied(sftp, file, adapter.reply_result(sftp, kind, msg), num)
            handle = adapter.handle_reply(sftp, kind, msg)
            if isinstance(handle, Exception):
                file.error = _failure(handle, file.path)
                return True
            file.step = "transfer"
            opened(sftp, file, handle)
            return False

        more = True
        while True:
            while more and len(active) < width and bytes_held < SMALL_FILES_BYTES:
                file = next(requests, None)
                if file is None:
                    more = False
                    break
                file.arrived = arrived
                with self._in_batch(sftp, active):
                    adapter.send_open(sftp, file, self._remote(file.temp or file.path), write=write)
                active.add(file)
                bytes_held += file.size
            if not active:
                return
            with self._in_batch(sftp, active):
                if not arrived:  # (a call between two yields may have taken replies)
                    adapter.read_reply(sftp)
                ended = [reply[0] for reply in _drain(arrived) if advance(*reply)]
            for file in ended:
                active.discard(file)
                bytes_held -= file.size
                try:
                    yield file
                except GeneratorExit:  # the caller stops early: nothing half-sent stays
                    self._remove_written(active)
                    raise

    def _small_files_in_flight(self) -> int:
        assert self._connection is not None
        least, most = SMALL_FILES_IN_FLIGHT
        return max(least, min(most, round(3000 * self._connection.round_trip)))

    @contextlib.contextmanager
    def _in_batch(self, sftp: paramiko.SFTPClient, active: set[_Request]) -> Iterator[None]:
        """Around a batch's requests and replies: a dropped connection raises
        VfsConnectionError, once the temporary files of the files in flight are removed
        on a new connection (when one opens at once)."""
        try:
            with self._errors(f"{len(active)} files in flight", sftp=sftp):
                yield
        except VfsConnectionError:
            self._remove_written(active)
            raise

    def _remove_written(self, active: set[_Request]) -> None:
        """Remove what the files of a batch that did not end wrote (a temporary name, or
        a name written to directly once its open was answered), on this handle's session
        or a new one when it opens at once; an error leaves the rest as it is. (The server
        takes requests in order: one sent after a file's rename finds nothing left.)"""
        left = [f.temp for f in active if f.temp and (f.temp != f.path or f.step != "open")]
        if left:
            with contextlib.suppress(VfsError):
                self._client()
                for temp in left:
                    with contextlib.suppress(VfsNotFound):
                        self.remove(temp)


class _Request(adapter.ReplyReceiver):
    """One file of a batch of small files: where it is in its requests; each reply is
    queued on ``arrived`` (by :meth:`SftpVfs._in_flight`) for the batch's loop."""

    __slots__ = (
        "path", "temp", "info", "size", "step", "waiting", "ignored", "error", "data", "reads",
        "chunks", "missing", "passes", "arrived",
    )  # fmt: skip

    def __init__(self, path: str, temp: str, info: FileInfo | None = None) -> None:
        self.path, self.temp, self.info = path, temp, info
        self.size = info.size if info is not None else 0
        self.step = "open"
        self.waiting = 0
        self.ignored = -1  # the number of a request whose failure does not count
        self.error: VfsError | None = None
        self.data = b""
        self.reads: dict[int, int] = {}  # request number -> offset
        self.chunks: dict[int, bytes] = {}  # offset -> data
        self.missing: list[tuple[int, int]] = []  # (start, end): asked again
        self.passes = 0  # reads of the file
        self.arrived: deque[tuple[_Request, int, paramiko.Message, int]] = deque()

    def on_reply(self, kind: int, msg: paramiko.Message, num: int) -> None:
        self.arrived.append((self, kind, msg, num))


def _gaps(chunks: dict[int, bytes], size: int) -> list[tuple[int, int]]:
    """The (start, end) ranges of the first ``size`` bytes that ``chunks`` (offset -> data)
    leave out."""
    gaps, at = [], 0
    for offset in sorted(chunks):
        if offset > at:
            gaps.append((at, min(offset, size)))
        at = max(at, offset + len(chunks[offset]))
    if at < size:
        gaps.append((at, size))
    return [(start, end) for start, end in gaps if start < end]


def _drain(
    arrived: deque[tuple[_Request, int, paramiko.Message, int]],
) -> Iterator[tuple[_Request, int, paramiko.Message, int]]:
    while arrived:
        yield arrived.popleft()


def _failure(exc: Exception, path: str) -> VfsError:
    """The aft error for a failed reply to a request about ``path``."""
    if isinstance(exc, OSError):
        return _status_error(exc, path)
    return VfsError(f"{path}: {exc}")


class _Lane(adapter.ReplyReceiver):
    """One session's share of a file's writes: its session, the file's handle there, the
    writes awaiting their status and the first that failed."""

    def __init__(
        self,
        sftp: paramiko.SFTPClient,
        handle: paramiko.SFTPFile,
        release: Callable[[], None] = lambda: None,
    ) -> None:
        self.sftp, self.handle, self._release = sftp, handle, release
        self.remote = adapter.file_session(handle)[1]
        self.pending: dict[int, int] = {}  # request number -> offset (-1: the close)
        self.error: Exception | None = None

    def on_reply(self, kind: int, msg: paramiko.Message, num: int) -> None:
        """paramiko hands over the status of each write of this lane."""
        if self.pending.pop(num, None) is None:
            return
        result = adapter.reply_result(self.sftp, kind, msg)
        if isinstance(result, Exception) and self.error is None:
            self.error = result

    def drain(self) -> None:
        """Wait for the status of every write sent."""
        while self.pending:
            adapter.read_reply(self.sftp)

    def close(self) -> None:
        """Close the handle and the session, waiting for neither."""
        with contextlib.suppress(Exception):
            adapter.close_without_waiting(self.handle)
        with contextlib.suppress(Exception):
            self.sftp.close()
        self._release()

    @staticmethod
    def close_when_open(future: Future[_Lane]) -> None:
        """Close the lane a background open brings, if it brings one."""
        if not future.cancelled() and future.exception() is None:
            future.result().close()


#: The files being read now, which share READ_BUDGET.
_READERS: weakref.WeakSet[SftpFile] = weakref.WeakSet()


class SftpFile(io.IOBase, adapter.ReplyReceiver):
    """An open remote file, read or written through a bounded pipeline of requests.

    Reading keeps up to :data:`READ_AHEAD` bytes (its share of :data:`READ_BUDGET`) of
    requests of ``block`` bytes ahead of the caller (none starting past the size seen at
    open, so closing early costs little); writing keeps up to :data:`IN_FLIGHT` bytes
    unacknowledged per session and ``close`` waits for every status, so a failed write
    is always reported. Past :data:`SPREAD_AT` bytes, writes go round the file's own
    session and up to ``LANES - 1`` more of its connection, opened meanwhile in the
    background (a connection with no room for more sessions just gives fewer). Errors
    are aft errors.

    Args:
        vfs, vpath: the VFS and the path, for errors.
        handle: the file paramiko opened.
        block: bytes per request.
        offset: where reading starts.
        size: the file's size when opened for reading; None when writing.
    """

    def __init__(
        self,
        vfs: SftpVfs,
        vpath: str,
        handle: paramiko.SFTPFile,
        block: int,
        offset: int = 0,
        size: int | None = None,
    ) -> None:
        super().__init__()
        self._vfs, self._vpath, self._handle = vfs, vpath, handle
        self._sftp, self._remote_handle = adapter.file_session(handle)
        self._block, self._depth = block, max(8, min(64, IN_FLIGHT // block))
        self._reading = size is not None
        if self._reading:
            _READERS.add(self)
        self._pos = offset  # reading: next byte for the caller; writing: next byte to send
        self._next = offset  # reading: next offset to ask for
        self._end = size or 0
        self._regular = False  # reading: a disk file, whose short reads end it (see sized)
        self._eof = -1  # reading: where a short read showed the end to be (see at_end)
        self._asked: dict[int, int] = {}  # reading: offset -> length, until taken
        self._pending: dict[int, int] = {}  # request number -> offset
        self._ready: dict[int, bytes | Exception] = {}  # reading: offset -> data (b"" at EOF)
        self._buffer = b""
        #: writing: the sessions written over, this file's own first; more being opened
        self._lanes = [] if self._reading else [_Lane(self._sftp, handle)]
        self._opening: list[Future[_Lane]] = []
        self._sent = 0  # writing: requests sent

    def readable(self) -> bool:
        return self._reading

    def writable(self) -> bool:
        return not self._reading

    def tell(self) -> int:
        return self._pos - len(self._buffer)

    # ---- replies (see aft.vfs._paramiko_adapter) -------------------------------

    def on_reply(self, kind: int, msg: paramiko.Message, num: int) -> None:
        """paramiko hands over each reply to a read this object asked for."""
        offset = self._pending.pop(num, None)
        if offset is None:
            return
        result = adapter.reply_result(self._sftp, kind, msg)
        self._ready[offset] = result if result is not None else b""

    # ---- reading -----------------------------------------------------------------

    def ask_first(self) -> None:
        """Ask for the first block before the size is known (see :meth:`sized`)."""
        self._ask(self._next, self._block)
        self._next += self._block

    def sized(self, size: int, regular: bool) -> None:
        """The file's size, once known: reading ahead stops there. For a ``regular`` file
        a read the server answers short has met the end (see :attr:`at_end`)."""
        self._end, self._regular = size, regular

    @property
    def at_end(self) -> bool:
        """Whether the reader stands where a short read of a disk file showed the end.

        The SFTP draft guarantees that a read of a disk file is whole up to its end, so a
        copy that has all the bytes it expected may stop here, without the round trip of
        one more read. (:meth:`read` asks again: the file may have grown since.)
        """
        return self._pos - len(self._buffer) == self._eof

    def _ask(self, offset: int, length: int) -> None:
        num = adapter.send_read(self._sftp, self, self._remote_handle, offset, length)
        self._pending[num] = offset
        self._asked[offset] = length

    def _take(self) -> bytes:
        """The next piece of the file at the caller's position; b"" at the end."""
        ahead = min(READ_AHEAD, READ_BUDGET // max(1, len(_READERS)))
        depth = max(8, ahead // self._block)
        while len(self._pending) < depth and self._next < self._end:
            # whole blocks, the last one too: its short answer shows where the file ends
            self._ask(self._next, self._block)
            self._next += self._block
        if self._pos not in self._asked:  # past the size seen at open
            self._ask(self._pos, self._block)
            self._next = max(self._next, self._pos + self._block)
        while self._pos not in self._ready:
            adapter.read_reply(self._sftp)
        data = self._ready[self._pos]
        if isinstance(data, Exception):
            raise data
        del self._ready[self._pos]
        asked = self._asked.pop(self._pos)
        if 0 < len(data) < asked and self._pos + len(data) < self._end:
            # a short reply inside the size seen at open: ask for the rest now. At that
            # size the next call asks afresh, so a file that grew meanwhile is read on.
            self._ask(self._pos + len(data), asked - len(data))
        elif len(data) < asked and self._regular:
            self._eof = self._pos + len(data)
        self._pos += len(data)
        return data

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (all the rest when negative); fewer only at the end.

        A bounded read that reaches the size seen at open returns what it has: whether
        the file goes on is asked by the next call (a round trip), not by this one too.
        """
        if not self._reading:
            raise io.UnsupportedOperation("not open for reading")
        pieces: list[bytes] = []
        have = 0
        with self._vfs._errors(self._vpath, sftp=self._sftp):
            while size is None or size < 0 or have < size:
                if not self._buffer:
                    if pieces and size is not None and size >= 0 and self._pos >= self._end:
                        break  # at the size seen at open: the next call looks for more
                    self._buffer = self._take()
                    if not self._buffer:
                        break
                piece = self._buffer if size is None or size < 0 else self._buffer[: size - have]
                self._buffer = self._buffer[len(piece) :]
                pieces.append(piece)
                have += len(piece)
        return b"".join(pieces)

    # ---- writing -----------------------------------------------------------------

    def _raise_error(self) -> None:
        for lane in self._lanes:
            if lane.error is not None:
                error, lane.error = lane.error, None
                raise error

    def _spread(self) -> None:
        """Start opening the other lanes (once), and take on those that are open."""
        if not self._opening and len(self._lanes) == 1:
            connection = self._vfs._connection
            if connection is None:  # the handle was closed meanwhile: no more lanes
                return
            spare, self._vfs._spare = self._vfs._spare, []  # on this connection: see close
            sessions = [*spare, *[None] * (LANES - 1 - len(spare))]
            pool = ThreadPoolExecutor(LANES - 1)
            self._opening = [
                pool.submit(self._vfs._open_lane, connection, self._vpath, session)
                for session in sessions
            ]
            pool.shutdown(wait=False)  # the threads end once their lane is open
        for future in [f for f in self._opening if f.done()]:
            self._opening.remove(future)
            if future.exception() is None:  # a refused session only means fewer lanes
                self._lanes.append(future.result())

    def write(self, data: Any) -> int:
        """Send all of ``data``; a failure may surface on a later call or on close."""
        if self._reading:
            raise io.UnsupportedOperation("not open for writing")
        view = memoryview(data).cast("B")
        with self._vfs._errors(self._vpath, sftp=self._sftp):
            for start in range(0, len(view), self._block):
                if self._pos >= SPREAD_AT and (self._opening or len(self._lanes) == 1):
                    self._spread()
                lane = self._lanes[self._sent % len(self._lanes)]
                while len(lane.pending) >= self._depth:
                    adapter.read_reply(lane.sftp)
                self._raise_error()
                chunk = bytes(view[start : start + self._block])
                num = adapter.send_write(lane.sftp, lane, lane.remote, self._pos, chunk)
                lane.pending[num] = self._pos
                self._pos += len(chunk)
                self._sent += 1
        return len(view)

    def _close_lanes(self) -> None:
        """Wait for the writes over the other lanes, then close their handles and sessions
        (the closes' own replies are not waited for: every write's status is)."""
        extra, self._lanes[1:] = self._lanes[1:], []
        for future in self._opening:  # not taken on: no write went there, none waits
            future.add_done_callback(_Lane.close_when_open)
        self._opening = []
        try:
            for lane in extra:
                lane.drain()
                if lane.error is not None:
                    raise lane.error
        finally:
            for lane in extra:
                lane.close()

    def close(self) -> None:
        """Close the handle; after writing, report a failed write.

        Writing, the close request follows the outstanding writes at once (the server
        handles one file's requests in order) and their statuses arrive while it waits,
        the other sessions' too: one round trip in all.
        Reading, nothing is waited for: late replies are dropped.
        """
        if self.closed:
            return
        try:
            with self._vfs._errors(self._vpath, sftp=self._sftp):
                if self._reading:
                    _READERS.discard(self)
                    self._pending.clear()
                    self._ready.clear()
                    adapter.close_without_waiting(self._handle)
                    return
                own = self._lanes[0]
                try:  # the close follows this session's writes at once, and need not
                    # wait for the other sessions' statuses: the file is whole when all
                    # of them are in, whichever comes first
                    own.pending[adapter.send_close(self._handle, own)] = -1
                finally:
                    try:
                        self._close_lanes()
                    finally:
                        own.drain()
                self._raise_error()
        finally:
            super().close()
