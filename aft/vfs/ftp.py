"""FTP and FTPS (explicit or implicit TLS) on the standard library's :mod:`ftplib`.

Target ``ftp://user@host:port/base/path?tls=none|explicit|implicit&insecure=false``,
payload ``{"pass": ...}``. The base path is absolute on the server (``ftp://h/`` is
the server's ``/``); the port defaults to 21, or 990 for implicit TLS. Other query
options:

- ``cafile=/path/ca.pem``: trust the CA certificates in this PEM file instead of
  the system's store (for a private CA or a self-signed server certificate).
- ``timeout=60``: seconds to wait for the server to connect or answer (the connect
  timeout too) before it counts as gone.

TLS: ``explicit`` upgrades the control connection with ``AUTH TLS``; ``implicit``
speaks TLS from the first byte. Both protect data connections (``PROT P``), which
resume the control connection's TLS session as servers like vsftpd require. The
server certificate and host name are verified unless ``insecure=true``.

Connections are opened lazily and pooled (a stream holds one while open, so a copy
between two paths of the same server works). A broken connection raises
:class:`~aft.exceptions.VfsConnectionError` and is dropped; the next call reconnects.
"""

from __future__ import annotations

import calendar
import contextlib
import copy
import ftplib
import functools
import io
import posixpath
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from aft.exceptions import (
    VfsConnectionError,
    VfsDirectoryNotEmpty,
    VfsError,
    VfsExists,
    VfsIsADirectory,
    VfsNotADirectory,
    VfsNotFound,
    VfsPathError,
    VfsPermission,
    VfsUnsupported,
)
from aft.models import FileInfo
from aft.vfs.base import CHUNK_SIZE, Field, Vfs, VfsSchema, join, normalize

TLS_CHOICES = (
    ("none", "None (plain FTP)"),
    ("explicit", "Explicit (AUTH TLS)"),
    ("implicit", "Implicit (FTPS, port 990)"),
)
TLS_MODES = tuple(mode for mode, _ in TLS_CHOICES)
#: A pooled connection idle longer than this (seconds) is checked with NOOP before reuse.
_IDLE_CHECK = 15.0
_MAX_IDLE = 2

# What an operation expects of its path; decides what a refusal (550...) means.
_ANY, _FILE, _DIR, _EMPTY_DIR, _NEW, _WRITE = "any", "file", "dir", "empty dir", "new", "write"
_REFUSALS = ("550", "553", "501")


class _ExplicitTLS(ftplib.FTP_TLS):
    """``FTP_TLS`` whose data connections resume the control connection's TLS session."""

    def ntransfercmd(
        self, cmd: str, rest: int | str | None = None
    ) -> tuple[socket.socket, int | None]:
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:  # type: ignore[attr-defined]
            try:
                conn = self.context.wrap_socket(  # type: ignore[attr-defined]
                    conn, server_hostname=self.host, session=getattr(self.sock, "session", None)
                )
            except BaseException:
                conn.close()
                raise
        return conn, size


class _ImplicitTLS(_ExplicitTLS):
    """FTPS with implicit TLS: the control connection is TLS from its first byte."""

    def connect(
        self,
        host: str = "",
        port: int = 0,
        timeout: float = -999,
        source_address: tuple[str, int] | None = None,
    ) -> str:
        self.host = host or self.host
        self.port = port or self.port
        if timeout != -999:
            self.timeout = timeout
        raw = socket.create_connection(
            (self.host, self.port),
            self.timeout,
            source_address=source_address or self.source_address,
        )
        try:
            self.sock = self.context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]
        except BaseException:
            raw.close()
            raise
        self.af = self.sock.family
        self.file = self.sock.makefile("r", encoding=self.encoding)
        self.welcome = self.getresp()
        return self.welcome


class FtpSchema(VfsSchema):
    """An FTP profile: target ``ftp://user@host:port/base?tls=...``, payload ``{"pass"}``."""

    type_name = "FTP"
    summary = "FTP, or FTPS with explicit or implicit TLS"
    noun = "an FTP target"
    shape = "ftp://user@host:port/path"
    schemes = ("ftp",)
    target_fields = (
        Field("host", "Host", part="host", kind="host", required=True,
              placeholder="ftp.example.com"),
        Field("port", "Port", part="port", kind="port", placeholder="21",
              help="Empty: 21, or 990 with implicit TLS."),
        Field("user", "User", part="user", placeholder="anonymous"),
        Field("path", "Base folder", part="path", kind="path", default="/", placeholder="/"),
        Field("tls", "TLS", kind="choice", default="none", initial="explicit",
              choices=TLS_CHOICES),
        Field("insecure", "Accept any certificate", kind="flag", default="false",
              help="Only for testing: the server's certificate is not checked.",
              about="certificate"),
        Field("cafile", "CA certificates", advanced=True, placeholder="/etc/ssl/private-ca.pem",
              help="A PEM file on the machine that runs aft, trusted instead of the system's CAs."),
        Field("timeout", "Timeout (seconds)", kind="number", default="60", advanced=True,
              about="timeout",
              help="Seconds to wait for the server to connect or answer before giving up."),
    )  # fmt: skip
    payload_fields = (Field("pass", "Password", secret=True, about="password|login as"),)


class FtpVfs(FtpSchema, Vfs):
    """A directory tree on an FTP or FTPS server.

    Args:
        host: server name or address.
        port: server port; None for 21 (990 with implicit TLS).
        user: login name.
        password: login password (never shown in messages or ``repr``).
        base: absolute server directory that is this VFS's root.
        tls: ``"none"``, ``"explicit"`` or ``"implicit"``.
        insecure: accept any server certificate (no chain or host name check).
        cafile: PEM file of CA certificates to trust instead of the system's.
        timeout: socket timeout in seconds.
    """

    def __init__(
        self,
        host: str,
        port: int | None = None,
        *,
        user: str = "anonymous",
        password: str = "",
        base: str = "/",
        tls: str = "none",
        insecure: bool = False,
        cafile: str | None = None,
        timeout: float = 60.0,
    ) -> None:
        if tls not in TLS_MODES:
            raise VfsError(f"FTP tls must be one of {', '.join(TLS_MODES)}, not {tls!r}")
        self._host = host
        self._port = port or (990 if tls == "implicit" else 21)
        self._user = user
        self._password = password
        self._base = normalize(base)
        self._tls = tls
        self._insecure = insecure
        self._cafile = cafile
        self._timeout = timeout
        self._context: ssl.SSLContext | None = None
        self._feats: frozenset[str] | None = None
        self._round_trip: float | None = None  # seconds, timed on a connection's last step
        self._idle: list[tuple[ftplib.FTP, float]] = []
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def from_target(cls, target: str, payload: dict[str, Any]) -> FtpVfs:
        """Open ``ftp://user@host:port/base?tls=...&insecure=...&cafile=...&timeout=...``."""
        fields = cls.parse_target(target)
        return cls(
            fields["host"],
            int(fields["port"]) if fields["port"] else None,
            user=fields["user"] or "anonymous",
            password=str(payload.get("pass", "")),
            base=fields["path"],
            tls=fields["tls"],
            insecure=fields["insecure"] == "true",
            cafile=fields["cafile"] or None,
            timeout=float(fields["timeout"]),
        )

    def __repr__(self) -> str:
        return f"<FtpVfs ftp://{self._user}@{self._host}:{self._port}{self._base} tls={self._tls}>"

    # ---- connections ----------------------------------------------------------------

    def _connect(self) -> ftplib.FTP:
        ftp: ftplib.FTP
        if self._tls == "none":
            ftp = ftplib.FTP(timeout=self._timeout)
        else:
            if self._context is None:
                self._context = ssl.create_default_context(cafile=self._cafile)
                if self._insecure:
                    self._context.check_hostname = False
                    self._context.verify_mode = ssl.CERT_NONE
            tls_class = _ImplicitTLS if self._tls == "implicit" else _ExplicitTLS
            ftp = tls_class(context=self._context, timeout=self._timeout)
        try:
            ftp.connect(self._host, self._port)
            ftp.login(self._user, self._password)
            if isinstance(ftp, ftplib.FTP_TLS):
                ftp.prot_p()
            if self._feats is None:
                self._feats = _features(ftp)
            if "UTF8" in self._feats:
                with contextlib.suppress(ftplib.error_perm):
                    ftp.sendcmd("OPTS UTF8 ON")
            asked = time.monotonic()
            ftp.voidcmd("TYPE I")
            self._round_trip = time.monotonic() - asked
        except BaseException:
            ftp.close()
            raise
        return ftp

    def batch_width(self) -> int | None:
        """Files in flight for a batch: 4 near the server, up to 64 across the internet.

        Each file in flight is a connection of its own, and each file a data connection
        with its TLS handshake: near the server that work decides, and more at once only
        costs (200 x 16 KiB over FTPS on loopback, whole aft runs: 0.73 s with 4, 0.79 s
        with 8, 1.27 s with 16). Far from it, a file's six or so round trips decide, and
        two files in flight per millisecond of round trip keep the connection busy.
        """
        if self._round_trip is None:
            try:
                with self._session():
                    pass
            except VfsError:
                return None  # the batch's first file will say why
        return max(4, min(64, round(2000 * (self._round_trip or 0))))

    def _acquire(self) -> ftplib.FTP:
        while True:
            with self._lock:
                if self._closed:
                    raise VfsError(f"{self!r} is closed")
                if not self._idle:
                    break
                ftp, since = self._idle.pop()
            if time.monotonic() - since < _IDLE_CHECK:
                return ftp
            try:
                ftp.voidcmd("NOOP")
                return ftp
            except ftplib.all_errors:
                ftp.close()
        try:
            return self._connect()
        except Exception as exc:
            raise self._error(exc) from exc

    def _release(self, ftp: ftplib.FTP, healthy: bool) -> None:
        with self._lock:
            if (
                healthy
                and ftp.sock is not None
                and not self._closed
                and len(self._idle) < _MAX_IDLE
            ):
                self._idle.append((ftp, time.monotonic()))
                return
        ftp.close()

    @contextlib.contextmanager
    def _session(self, path: str = "", *, handover: bool = False) -> Iterator[ftplib.FTP]:
        """Borrow a connection; translate what goes wrong; drop it if it broke.

        With ``handover`` the caller passes the connection on (to a stream) on success.
        """
        ftp = self._acquire()
        try:
            yield ftp
        except Exception as exc:
            err = self._error(exc, path)
            self._release(ftp, healthy=not isinstance(err, VfsConnectionError))
            if err is exc:
                raise
            raise err from exc
        except BaseException:
            self._release(ftp, healthy=False)
            raise
        if not handover:
            self._release(ftp, healthy=True)

    def _error(self, exc: BaseException, path: str = "") -> VfsError:
        """Translate an ftplib, socket or TLS error: the one place that does."""
        if isinstance(exc, VfsError):
            return exc
        where = f"{path}: " if path else ""
        server = f"{self._host}:{self._port}"
        text = str(exc)
        if self._password:
            text = text.replace(self._password, "***")
        code = text[:3]
        if isinstance(exc, ftplib.error_perm):
            if code == "530":
                return VfsConnectionError(
                    f"FTP login as {self._user!r} on {server} refused: {text}"
                )
            if code == "550":
                return VfsNotFound(f"{where}{text}")
            if code in ("553", "532"):
                return VfsPermission(f"{where}{text}")
            if code in ("500", "502", "504"):
                return VfsUnsupported(f"{where}the FTP server does not support this: {text}")
            return VfsError(f"{where}{text}")
        if isinstance(exc, ftplib.error_temp) and code not in ("421", "425", "426"):
            return VfsError(f"{where}{text}")
        if isinstance(exc, ssl.SSLCertVerificationError):
            return VfsConnectionError(
                f"TLS certificate of {server} not accepted ({exc.verify_message}); "
                "trust its CA with cafile=... or, at your own risk, insecure=true"
            )
        if isinstance(exc, TimeoutError):
            return VfsConnectionError(
                f"FTP connection to {server} failed: no answer within {self._timeout:g}s"
            )
        if isinstance(exc, (OSError, EOFError, ftplib.Error)):
            closed = "connection closed by the server" if isinstance(exc, EOFError) else ""
            reason = text or closed or type(exc).__name__
            return VfsConnectionError(f"FTP connection to {server} failed: {reason}")
        return VfsError(f"{where}{type(exc).__name__}: {text}")

    def _refusal(self, ftp: ftplib.FTP, exc: ftplib.error_perm, path: str, want: str) -> VfsError:
        """Explain why the server refused an operation on ``path`` (550 means many things)."""
        if str(exc)[:3] not in _REFUSALS:
            return self._error(exc, path)
        path = normalize(path)
        parent = posixpath.dirname(path)
        try:
            info = self._lookup(ftp, path)
            above = self._lookup(ftp, parent) if info is None and want in (_NEW, _WRITE) else None
            busy = (
                want == _EMPTY_DIR and info is not None and info.is_dir and self._entries(ftp, path)
            )
        except (VfsError, ftplib.Error, OSError, EOFError):
            return self._error(exc, path)
        if info is None:
            if want not in (_NEW, _WRITE):
                return VfsNotFound(f"{path}: no such file or directory")
            if above is None:
                return VfsNotFound(f"{parent}: no such directory")
            if not above.is_dir:
                return VfsNotADirectory(f"{parent}: not a directory")
        elif want == _NEW:
            return VfsExists(f"{path}: already exists")
        elif info.is_dir and want in (_FILE, _WRITE):
            return VfsIsADirectory(f"{path}: is a directory")
        elif not info.is_dir and want in (_DIR, _EMPTY_DIR):
            return VfsNotADirectory(f"{path}: not a directory")
        elif busy:
            return VfsDirectoryNotEmpty(f"{path}: directory not empty")
        return VfsPermission(f"{path}: refused by the server: {self._error(exc)}")

    # ---- protocol helpers -------------------------------------------------------------

    def _abs(self, path: str) -> str:
        path = normalize(path)
        if "\r" in path or "\n" in path:
            raise VfsPathError(f"FTP paths cannot hold line breaks: {path!r}")
        return posixpath.join(self._base, path[1:]) if path != "/" else self._base

    def _cmd(self, ftp: ftplib.FTP, cmd: str, path: str, want: str) -> str:
        try:
            return ftp.voidcmd(f"{cmd} {self._abs(path)}")
        except ftplib.error_perm as exc:
            raise self._refusal(ftp, exc, path, want) from exc

    def _transfer(
        self,
        ftp: ftplib.FTP,
        cmd: str,
        path: str,
        want: str,
        rest: int | None = None,
        release: Callable[[bool], None] | None = None,
    ) -> _DataStream:
        try:
            conn = ftp.transfercmd(f"{cmd} {self._abs(path)}", rest)
        except ftplib.error_perm as exc:
            raise self._refusal(ftp, exc, path, want) from exc
        return _DataStream(self, ftp, conn, path, writing=cmd == "STOR", release=release)

    def _entries(self, ftp: ftplib.FTP, path: str) -> list[FileInfo]:
        mlsd = "MLST" in (self._feats or ())
        with self._transfer(ftp, "MLSD" if mlsd else "LIST", path, _DIR) as stream:
            text = stream.read().decode(ftp.encoding, "surrogateescape")
        parse = _parse_mlsx if mlsd else _parse_list
        entries = (parse(line) for line in text.splitlines())
        return [
            FileInfo(join(path, name), is_dir, size, mtime)
            for name, is_dir, size, mtime in filter(None, entries)
            if name not in ("", ".", "..") and "/" not in name
        ]

    def _lookup(self, ftp: ftplib.FTP, path: str) -> FileInfo | None:
        """``path``'s entry, or None when it does not exist."""
        path = normalize(path)
        where = self._abs(path)
        feats = self._feats or frozenset()
        if "MLST" in feats:
            try:
                reply = ftp.sendcmd(f"MLST {where}")
            except ftplib.error_perm as exc:
                if str(exc)[:3] in _REFUSALS:
                    return None
                raise
            fact_line = next((line for line in reply.splitlines()[1:] if line.startswith(" ")), "")
            entry = _parse_mlsx(fact_line[1:])
            if entry is None:
                raise ftplib.error_proto(f"unreadable MLST reply: {reply!r}")
            _, is_dir, size, mtime = entry
            return FileInfo(path, is_dir, size, mtime)
        if "SIZE" in feats:
            with contextlib.suppress(ftplib.error_perm):
                size = int(ftp.sendcmd(f"SIZE {where}").split()[1])
                return FileInfo(path, False, size, self._mdtm(ftp, where))
        with contextlib.suppress(ftplib.error_perm):
            ftp.voidcmd(f"CWD {where}")
            return FileInfo(path, True)
        if path == "/":
            return None
        try:
            siblings = self._entries(ftp, posixpath.dirname(path))
        except (VfsNotFound, VfsNotADirectory, VfsPermission):
            return None
        return next((info for info in siblings if info.path == path), None)

    def _mdtm(self, ftp: ftplib.FTP, where: str) -> float:
        if "MDTM" not in (self._feats or ()):
            return 0.0
        try:
            return _parse_time(ftp.sendcmd(f"MDTM {where}").split()[1])
        except (ftplib.error_perm, IndexError, ValueError):
            return 0.0

    # ---- primitives ---------------------------------------------------------------------

    def stat(self, path: str) -> FileInfo:
        with self._session(path) as ftp:
            info = self._lookup(ftp, path)
        if info is None:
            raise VfsNotFound(f"{normalize(path)}: no such file or directory")
        return info

    def listdir(self, path: str) -> list[FileInfo]:
        with self._session(path) as ftp:
            return self._entries(ftp, path)

    def open_read(self, path: str, offset: int = 0) -> BinaryIO:
        if offset > 0:  # servers differ on a restart point at or past the end
            info = self.stat(path)
            if not info.is_dir and offset >= info.size:
                return io.BytesIO(b"")
        with self._session(path, handover=True) as ftp:
            raw = self._transfer(
                ftp,
                "RETR",
                path,
                _FILE,
                rest=offset or None,
                release=functools.partial(self._release, ftp),
            )
        return io.BufferedReader(raw, CHUNK_SIZE)  # type: ignore[return-value]

    def open_write(self, path: str) -> BinaryIO:
        with self._session(path, handover=True) as ftp:
            raw = self._transfer(
                ftp, "STOR", path, _WRITE, release=functools.partial(self._release, ftp)
            )
        return io.BufferedWriter(raw, 256 * 1024)  # type: ignore[return-value]

    def mkdir(self, path: str) -> None:
        if normalize(path) == "/":
            raise VfsExists("/: already exists")
        with self._session(path) as ftp:
            self._cmd(ftp, "MKD", path, _NEW)

    def remove(self, path: str) -> None:
        with self._session(path) as ftp:
            self._cmd(ftp, "DELE", path, _FILE)

    def rmdir(self, path: str) -> None:
        if normalize(path) == "/":
            raise VfsPermission("/: the root cannot be removed")
        with self._session(path) as ftp:
            self._cmd(ftp, "RMD", path, _EMPTY_DIR)

    def rename(self, src: str, dst: str) -> None:
        src, dst = normalize(src), normalize(dst)
        with self._session(src) as ftp:
            if src == dst:
                if self._lookup(ftp, src) is None:
                    raise VfsNotFound(f"{src}: no such file or directory")
                return
            try:
                self._rename(ftp, src, dst)
                return
            except ftplib.error_perm as exc:
                source, target = self._lookup(ftp, src), self._lookup(ftp, dst)
                if source is None:
                    raise VfsNotFound(f"{src}: no such file or directory") from exc
                if target is None or target.is_dir or source.is_dir:
                    raise self._refusal(ftp, exc, dst, _WRITE) from exc
            self._cmd(ftp, "DELE", dst, _FILE)  # the server would not replace the file
            try:
                self._rename(ftp, src, dst)
            except ftplib.error_perm as exc:
                raise self._refusal(ftp, exc, dst, _WRITE) from exc

    def _rename(self, ftp: ftplib.FTP, src: str, dst: str) -> None:
        reply = ftp.sendcmd(f"RNFR {self._abs(src)}")
        if not reply.startswith("3"):
            raise ftplib.error_reply(reply)
        ftp.voidcmd(f"RNTO {self._abs(dst)}")

    # ---- optional operations ------------------------------------------------------------

    def chmod(self, path: str, mode: int) -> None:
        """Set permission bits with ``SITE CHMOD`` (where the server offers it)."""
        with self._session(path) as ftp:
            self._cmd(ftp, f"SITE CHMOD {mode & 0o7777:o}", path, _ANY)

    def chtimes(self, path: str, atime: float, mtime: float) -> None:
        """Set the modification time with ``MFMT`` (the access time is ignored)."""
        with self._session(path) as ftp:
            if "MFMT" not in (self._feats or ()):
                raise VfsUnsupported(f"the FTP server {self._host} cannot set times (no MFMT)")
            stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(int(mtime)))
            self._cmd(ftp, f"MFMT {stamp}", path, _ANY)

    def sibling(self) -> FtpVfs:
        """A handle for another thread: the same server, its own connections."""
        twin = copy.copy(self)
        twin._idle, twin._lock, twin._closed = [], threading.Lock(), False
        return twin

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for ftp, _ in idle:
            try:
                ftp.quit()
            except ftplib.all_errors:
                ftp.close()


class _DataStream(io.RawIOBase):
    """One FTP data connection (``RETR``, ``STOR``, ``MLSD``...).

    Closing it ends the transfer and reads the server's verdict, so a failed upload
    raises on ``close()``. ``release(healthy)`` is called once, when the control
    connection is free again (streams opened for the caller own their connection).
    """

    def __init__(
        self,
        vfs: FtpVfs,
        ftp: ftplib.FTP,
        conn: socket.socket,
        path: str,
        *,
        writing: bool,
        release: Callable[[bool], None] | None,
    ) -> None:
        super().__init__()
        self._vfs, self._ftp, self._conn, self._path = vfs, ftp, conn, path
        self._writing = writing
        self._release = release
        self._eof = False
        self._done = False

    def readable(self) -> bool:
        return not self._writing

    def writable(self) -> bool:
        return self._writing

    def readinto(self, buffer: Any) -> int:
        try:
            count = self._conn.recv_into(buffer)
        except OSError as exc:
            raise self._fail(exc) from exc
        self._eof = self._eof or (count == 0 and len(buffer) > 0)
        return count

    def write(self, data: Any) -> int:
        try:
            self._conn.sendall(data)
        except OSError as exc:
            raise self._fail(exc) from exc
        return memoryview(data).nbytes

    def close(self) -> None:
        if self.closed:
            return
        try:
            self._finish()
        finally:
            super().close()

    def _finish(self) -> None:
        if self._done:
            return
        if not (self._writing or self._eof):
            # Closed before the end: the reply to an aborted transfer varies by server,
            # so drop the control connection rather than guess.
            self._conn.close()
            self._end(healthy=False)
            return
        try:
            if isinstance(self._conn, ssl.SSLSocket):
                self._conn.unwrap()
            self._conn.close()
            self._ftp.voidresp()
        except Exception as exc:
            err = self._vfs._error(exc, self._path)
            self._end(healthy=not isinstance(err, VfsConnectionError))
            raise err from exc
        self._end(healthy=True)

    def _fail(self, exc: Exception) -> VfsError:
        self._conn.close()
        self._end(healthy=False)
        return self._vfs._error(exc, self._path)

    def _end(self, healthy: bool) -> None:
        if self._done:
            return
        self._done = True
        if self._release is not None:
            self._release(healthy)
        elif not healthy:  # a listing inside a session: make the session drop the connection
            self._ftp.close()


def _features(ftp: ftplib.FTP) -> frozenset[str]:
    try:
        reply = ftp.sendcmd("FEAT")
    except ftplib.error_perm:
        return frozenset()
    return frozenset(line.split()[0].upper() for line in reply.splitlines()[1:-1] if line.strip())


def _parse_time(stamp: str) -> float:
    """``YYYYMMDDHHMMSS[.sss]`` (UTC, as MDTM and MLSx send it) as Unix seconds."""
    seconds = calendar.timegm(time.strptime(stamp[:14], "%Y%m%d%H%M%S"))
    return seconds + (float("0" + stamp[14:]) if stamp[14:15] == "." else 0.0)


_Entry = tuple[str, bool, int, float]


def _parse_mlsx(line: str) -> _Entry | None:
    """``type=file;size=5;modify=20240101120000; name`` (one MLSD line) as an entry."""
    facts_text, sep, name = line.partition(" ")
    if not sep:
        return None
    facts = {}
    for fact in facts_text.split(";"):
        key, _, value = fact.partition("=")
        facts[key.lower()] = value
    kind = facts.get("type", "file").lower()
    if kind in ("cdir", "pdir"):
        return None
    try:
        mtime = _parse_time(facts["modify"]) if "modify" in facts else 0.0
        size = int(facts.get("size", 0))
    except ValueError:
        mtime, size = 0.0, 0
    is_dir = kind == "dir"
    return name, is_dir, 0 if is_dir else size, mtime


_MONTHS = {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}
_DOS_LINE = re.compile(
    r"^(\d\d)-(\d\d)-(\d\d(?:\d\d)?)\s+(\d\d?):(\d\d)([AP]M)\s+(<DIR>|\d+)\s+(.+)$", re.I
)


def _parse_list(line: str) -> _Entry | None:
    """One ``LIST`` line in Unix (``ls -l``) or DOS/IIS format as an entry."""
    if match := _DOS_LINE.match(line):
        month, day, year, hour, minute, half, size, name = match.groups()
        year_n = int(year)
        if year_n < 100:
            year_n += 2000 if year_n < 70 else 1900
        hour_n = int(hour) % 12 + (12 if half.upper() == "PM" else 0)
        mtime = calendar.timegm((year_n, int(month), int(day), hour_n, int(minute), 0))
        is_dir = size.upper() == "<DIR>"
        return name, is_dir, 0 if is_dir else int(size), float(mtime)
    fields = line.split(None, 8)
    if len(fields) != 9 or fields[0][:1] not in "-dlbcps" or fields[5].lower() not in _MONTHS:
        return None
    mode, _, _, _, size, month, day, clock_or_year, name = fields
    if mode.startswith("l"):
        name = name.split(" -> ", 1)[0]
    try:
        month_n, day_n = _MONTHS[month.lower()], int(day)
        if ":" in clock_or_year:
            hour, minute = map(int, clock_or_year.split(":"))
            now = time.gmtime()
            year = now.tm_year
            mtime = calendar.timegm((year, month_n, day_n, hour, minute, 0))
            if mtime > time.time() + 86400:  # "Dec 31 23:59" seen in January: last year
                mtime = calendar.timegm((year - 1, month_n, day_n, hour, minute, 0))
        else:
            mtime = calendar.timegm((int(clock_or_year), month_n, day_n, 0, 0, 0))
        size_n = int(size)
    except ValueError:
        return None
    is_dir = mode.startswith("d")
    return name, is_dir, 0 if is_dir else size_n, float(mtime)
