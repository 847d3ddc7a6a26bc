"""Throwaway Redis and PostgreSQL servers on 127.0.0.1 for the cluster tests.

``redis_server`` runs ``redis-server --port N --save ''``; ``postgres_server`` runs
``initdb`` and ``pg_ctl`` from Debian's ``/usr/lib/postgresql/*/bin`` in a temporary
directory (as ``nobody`` when the tests run as root: PostgreSQL refuses root), with trust
authentication on 127.0.0.1 only. Both are session-wide; ``cluster_urls`` gives each test
a fresh database and an empty broker. A missing server fails the tests with the reason
(``scripts/install-test-deps`` installs both): never a skip.

:class:`TcpProxy` sits between a node and a server on 127.0.0.1 and cuts the path on
demand: ``blackhole`` keeps every connection open and forwards nothing (a partition
that a firewall makes silently), ``refuse`` refuses new connections and resets the
open ones (a server or route that is down).
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import pytest

if TYPE_CHECKING:
    from aft.instance import Instance

START_TIMEOUT = 30.0


class ServerMissing(RuntimeError):
    """A server the cluster tests need is not installed or did not start."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class ClusterUrls:
    """A fresh database and an empty broker for one test.

    Attributes:
        database_url: ``postgresql://`` URL of a database of its own.
        broker_url: ``redis://`` URL of the flushed broker.
    """

    database_url: str
    broker_url: str

    def env(self, **extra: str) -> dict[str, str]:
        """Environment variables that put an aft node into this cluster."""
        return {"AFT_DATABASE_URL": self.database_url, "AFT_BROKER_URL": self.broker_url, **extra}


@contextlib.contextmanager
def running_redis() -> Iterator[str]:
    """Run a Redis server; yields its ``redis://127.0.0.1:PORT/0`` URL.

    Raises:
        ServerMissing: redis-server is not installed or does not start.
    """
    exe = shutil.which("redis-server")
    if exe is None:
        raise ServerMissing("redis-server is missing: run scripts/install-test-deps")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_port(port, proc, "redis-server")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.contextmanager
def running_postgres() -> Iterator[str]:
    """Run a PostgreSQL server; yields its ``postgresql://aft@127.0.0.1:PORT`` base URL.

    Raises:
        ServerMissing: PostgreSQL is not installed or does not start.
    """
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise ServerMissing("PostgreSQL is missing: run scripts/install-test-deps")
    bindir = os.path.dirname(found[-1])
    root = tempfile.mkdtemp(prefix="aft-pg-")
    as_user: list[str] = []
    if os.geteuid() == 0:  # postgres will not run as root
        shutil.chown(root, "nobody", "nogroup")
        as_user = ["runuser", "-u", "nobody", "--"]
    data = os.path.join(root, "data")
    port = free_port()

    def run(*cmd: str) -> None:
        done = subprocess.run([*as_user, *cmd], capture_output=True, text=True, cwd=root)
        if done.returncode:
            raise ServerMissing(f"{cmd[0]} failed: {done.stdout}{done.stderr}")

    try:
        run(f"{bindir}/initdb", "-D", data, "-U", "aft", "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        options += " -c max_connections=200"
        run(f"{bindir}/pg_ctl", "-D", data, "-o", options, "-l", f"{root}/log", "-w", "start")
        yield f"postgresql://aft@127.0.0.1:{port}"
    finally:
        subprocess.run(
            [*as_user, f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"],
            capture_output=True,
            cwd=root,
        )
        shutil.rmtree(root, ignore_errors=True)


def fresh_database(base_url: str) -> str:
    """Create an empty database on the server at ``base_url``; returns its URL."""
    import psycopg

    name = "t_" + secrets.token_hex(6)
    with psycopg.connect(f"{base_url}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"{base_url}/{name}"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """A Redis server's URL, for the session."""
    try:
        with running_redis() as url:
            yield url
    except ServerMissing as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server's base URL (no database), for the session."""
    try:
        with running_postgres() as url:
            yield url
    except ServerMissing as exc:
        pytest.fail(str(exc))


@pytest.fixture
def cluster_urls(redis_server: str, postgres_server: str) -> ClusterUrls:
    """A database of this test's own and the session's broker, emptied."""
    import redis

    redis.Redis.from_url(redis_server).flushall()
    return ClusterUrls(fresh_database(postgres_server), redis_server)


@pytest.fixture(name="instance")
def postgres_instance(
    aft_home: Path, cluster_urls: ClusterUrls, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Instance]:
    """An instance whose database is a fresh PostgreSQL database (no broker). A test
    module that imports it runs the library-level tests it imports on PostgreSQL."""
    from aft._pgstore import PostgresStore
    from aft.instance import Instance

    monkeypatch.setenv("AFT_DATABASE_URL", cluster_urls.database_url)
    with Instance(aft_home) as inst:
        assert isinstance(inst.store, PostgresStore)
        yield inst


class TcpProxy:
    """A TCP proxy on 127.0.0.1 to ``127.0.0.1:target``, whose path can be cut.

    Modes (:meth:`set_mode`): ``forward`` relays both ways; ``blackhole`` keeps every
    connection (new ones are left in the listen queue) and relays nothing, so what is sent
    waits in the kernel's buffers as if the packets were lost until the path heals;
    ``refuse`` closes the listening socket (connecting is refused) and resets the open
    connections. Back in ``forward``, what waited is relayed.

    Args:
        target: the server's port.
    """

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = free_port()
        self.mode = "forward"
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._listener: socket.socket | None = None
        self._closed = False
        self._listen()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def url(self, url: str) -> str:
        """``url`` (``scheme://user@127.0.0.1:target/...``) through this proxy."""
        parts = urlsplit(url)
        netloc = parts.netloc.replace(f":{self.target}", f":{self.port}")
        return urlunsplit(parts._replace(netloc=netloc))

    def set_mode(self, mode: str) -> None:
        assert mode in ("forward", "blackhole", "refuse")
        with self._lock:
            self.mode = mode
            if mode == "refuse":
                if self._listener is not None:
                    self._listener.close()
                    self._listener = None
                for pair in self._pairs:
                    for sock in pair:
                        _reset(sock)
                self._pairs.clear()
            elif self._listener is None:
                self._listen()

    def close(self) -> None:
        self._closed = True
        self.set_mode("refuse")
        self._thread.join(5)

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.1)
        self._listener = listener

    def _accept(self) -> None:
        while not self._closed:
            with self._lock:
                listener = self._listener if self.mode == "forward" else None
            if listener is None:
                time.sleep(0.05)
                continue
            try:
                client, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            try:
                server = socket.create_connection(("127.0.0.1", self.target), 5)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                if self.mode == "refuse":
                    _reset(client)
                    _reset(server)
                    continue
                self._pairs.append((client, server))
            for source, sink in ((client, server), (server, client)):
                source.settimeout(0.1)
                threading.Thread(target=self._relay, args=(source, sink), daemon=True).start()

    def _relay(self, source: socket.socket, sink: socket.socket) -> None:
        while not self._closed:
            if self.mode == "blackhole":
                time.sleep(0.05)
                continue
            try:
                data = source.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            while self.mode == "blackhole" and not self._closed:
                time.sleep(0.05)  # read just before the cut: it waits too
            if self.mode == "refuse":
                break
            try:
                sink.sendall(data)
            except OSError:
                break
        with self._lock:
            for pair in [p for p in self._pairs if source in p]:
                self._pairs.remove(pair)
                for sock in pair:
                    _reset(sock)


def _reset(sock: socket.socket) -> None:
    """Close ``sock`` with a reset (RST), not an orderly end."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


@contextlib.contextmanager
def tcp_proxy(target: int) -> Iterator[TcpProxy]:
    """A :class:`TcpProxy` to ``127.0.0.1:target``, closed afterwards."""
    proxy = TcpProxy(target)
    try:
        yield proxy
    finally:
        proxy.close()


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    """Wait until ``port`` accepts connections.

    Raises:
        ServerMissing: the server exited or did not listen in time.
    """
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerMissing(f"{what} exited at start (code {proc.returncode})")
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise ServerMissing(f"{what} not listening after {START_TIMEOUT}s")
