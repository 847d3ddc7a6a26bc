"""An SFTP server without OpenSSH's extensions, on 127.0.0.1: the ``plain_sftpd`` fixture.

Many SFTP servers are not OpenSSH and offer none of its ``@openssh.com`` requests (no
``posix-rename``, no ``limits``): SFTP version 3 alone, where a rename fails when its
target exists. This one is paramiko's own SFTP server (``paramiko.SFTPServer``, a second
implementation of the protocol) serving a temporary folder, with password login and a
fresh host key. It counts the files opened, so a test can tell a file sent once from one
sent twice.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paramiko
import pytest
from paramiko.sftp import SFTP_FAILURE, SFTP_NO_SUCH_FILE, SFTP_OK

from aft.vfs.sftp import fingerprint


@dataclass
class PlainSftpServer:
    """How to reach the server, and what it was asked.

    Attributes:
        host, port, user, password: where it listens and the one login it takes.
        host_key_sha256: its host key's fingerprint (``SHA256:...``).
        root: the folder served as ``/``.
        opens: each path opened, in order (as the client named it).
        read_cap: when set, no read is answered with more bytes (as some servers do,
            whatever they were asked).
    """

    host: str
    port: int
    user: str
    password: str
    host_key_sha256: str
    root: Path
    opens: list[str] = field(default_factory=list)
    read_cap: int | None = None


class _Login(paramiko.ServerInterface):
    def __init__(self, server: PlainSftpServer) -> None:
        self._server = server

    def get_allowed_auths(self, username: str) -> str:
        return "password"

    def check_auth_password(self, username: str, password: str) -> int:
        wanted = (self._server.user, self._server.password)
        if (username, password) == wanted:
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED


class _Handle(paramiko.SFTPHandle):
    def __init__(self, flags: int, server: PlainSftpServer) -> None:
        super().__init__(flags)
        self._server = server

    def read(self, offset: int, length: int) -> Any:
        return super().read(offset, min(length, self._server.read_cap or length))

    def stat(self) -> Any:
        return paramiko.SFTPAttributes.from_stat(os.fstat(self.readfile.fileno()))


class _Files(paramiko.SFTPServerInterface):
    """The served folder: paths are taken under ``root``; no ``posix_rename``."""

    def __init__(self, login: _Login, server: PlainSftpServer) -> None:
        super().__init__(login)
        self._server = server

    def _local(self, path: str) -> str:
        return str(self._server.root) + self.canonicalize(path)

    def canonicalize(self, path: str) -> str:
        return os.path.normpath("/" + path).replace("//", "/")

    def _attrs(self, path: str, follow: bool = True) -> Any:
        try:
            info = os.stat(path) if follow else os.lstat(path)
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)
        attrs = paramiko.SFTPAttributes.from_stat(info)
        attrs.filename = os.path.basename(path)
        return attrs

    def list_folder(self, path: str) -> Any:
        local = self._local(path)
        try:
            names = os.listdir(local)
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)
        return [self._attrs(os.path.join(local, name), follow=False) for name in names]

    def stat(self, path: str) -> Any:
        return self._attrs(self._local(path))

    def lstat(self, path: str) -> Any:
        return self._attrs(self._local(path), follow=False)

    def open(self, path: str, flags: int, attr: Any) -> Any:
        self._server.opens.append(self.canonicalize(path))
        try:
            fd = os.open(self._local(path), flags | getattr(os, "O_BINARY", 0), 0o644)
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)
        mode = "r+b" if flags & os.O_RDWR else "wb" if flags & os.O_WRONLY else "rb"
        handle = _Handle(flags, self._server)
        handle.readfile = handle.writefile = os.fdopen(fd, mode)
        return handle

    def remove(self, path: str) -> int:
        return self._call(os.remove, self._local(path))

    def rename(self, oldpath: str, newpath: str) -> int:
        """SFTP version 3: an error when the target exists."""
        if os.path.lexists(self._local(newpath)):
            return SFTP_FAILURE
        return self._call(os.rename, self._local(oldpath), self._local(newpath))

    def mkdir(self, path: str, attr: Any) -> int:
        return self._call(os.mkdir, self._local(path))

    def rmdir(self, path: str) -> int:
        return self._call(os.rmdir, self._local(path))

    def chattr(self, path: str, attr: Any) -> int:
        local = self._local(path)
        if not os.path.lexists(local):
            return SFTP_NO_SUCH_FILE
        try:
            if attr._flags & attr.FLAG_SIZE:  # (paramiko's set_file_attr empties the file first)
                os.truncate(local, attr.st_size)
                attr._flags &= ~attr.FLAG_SIZE
            paramiko.SFTPServer.set_file_attr(local, attr)
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)
        return SFTP_OK

    @staticmethod
    def _call(function: Any, *args: str) -> int:
        try:
            function(*args)
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)
        return SFTP_OK


@contextlib.contextmanager
def running_plain_sftpd() -> Iterator[PlainSftpServer]:
    """Serve a fresh temporary folder for the block."""
    key = paramiko.ECDSAKey.generate()
    listener = socket.create_server(("127.0.0.1", 0))
    with tempfile.TemporaryDirectory(prefix="aft-plain-sftpd-") as root:
        server = PlainSftpServer(
            "127.0.0.1",
            listener.getsockname()[1],
            "plain",
            secrets.token_urlsafe(12),
            fingerprint(key),
            Path(root),
        )
        transports: list[paramiko.Transport] = []

        def serve() -> None:
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:  # the listener was closed: the block ended
                    return
                transport = paramiko.Transport(conn)
                transport.add_server_key(key)
                transport.set_subsystem_handler("sftp", paramiko.SFTPServer, _Files, server)
                transports.append(transport)
                with contextlib.suppress(paramiko.SSHException, EOFError, OSError):
                    transport.start_server(server=_Login(server))

        thread = threading.Thread(target=serve, name="plain-sftpd", daemon=True)
        thread.start()
        try:
            yield server
        finally:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the accept (a close alone does not)
            listener.close()
            for transport in transports:
                transport.close()
            thread.join(5)


@pytest.fixture
def plain_sftpd() -> Iterator[PlainSftpServer]:
    """A fresh :func:`running_plain_sftpd` for one test."""
    with running_plain_sftpd() as server:
        yield server
