"""The gate: the one thread that faces clients until their request has arrived whole.

cheroot gives each connection a worker thread from its first byte on, so sixteen clients
that send a header line every few seconds (or open a TLS connection and say nothing)
hold every thread and the service stops answering. The gate takes that part over: it
accepts on the public socket, finishes TLS handshakes and reads each request's head and
its ``Content-Length`` body (up to :data:`MAX_BODY`) without blocking, with a deadline,
a size cap and a limit on the connections one address may have waiting; only a complete
request is handed to cheroot's workers, which then never wait on a client. A kept-alive
connection comes back to the gate between requests (:class:`GatedServer`), so waiting
for a client's next request holds no thread either.

cheroot itself listens only on a private Unix socket nobody connects to; the gate hands
it connections through these of its public names: ``Server.process_conn`` and
``Server.put_conn``, ``Server.ssl_adapter`` (``context``, ``get_environ``),
``HTTPConnection(server, sock, makefile)`` with its ``rfile``, ``remote_addr``,
``remote_port`` and ``ssl_env`` attributes, and ``cheroot.makefile.StreamReader`` (with
``has_data``) and ``MakeFile``. ``tests/test_gate.py`` checks them.
"""

from __future__ import annotations

import io
import logging
import selectors
import socket
import ssl
import threading
import time
from typing import Any

from cheroot import wsgi
from cheroot.makefile import MakeFile, StreamReader
from cheroot.server import HTTPConnection

log = logging.getLogger("aft.server")

#: Seconds a client has to send a request's head and body, from its connection on.
REQUEST_SECONDS = 10.0
#: Connections one client address may have waiting for their request at once.
WAITING_PER_ADDRESS = 64
#: Connections waiting at once in all (the rest are closed at once).
WAITING_IN_ALL = 4096
#: The largest request head read.
MAX_HEAD = 64 * 1024
#: The largest body read before the request is handed over (the routes refuse more).
MAX_BODY = 1024 * 1024
#: A client whose TLS handshakes fail (a browser that does not trust the self-signed
#: certificate fails every connection) is logged once per this many seconds.
TLS_REFUSAL_LOG_SECONDS = 3600.0

_TLS_HANDSHAKE = 0x16  # the first byte of a TLS ClientHello record
_PLAIN_ON_TLS = (
    b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 51\r\n\r\nThis port speaks HTTPS: use https:// in the address."
)
_TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
_HEAD_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n"
    b"Content-Length: 0\r\n\r\n"
)


class GatedServer(wsgi.Server):  # type: ignore[misc]
    """cheroot's WSGI server whose kept-alive connections go back to the gate."""

    gate: Gate | None = None

    def put_conn(self, conn: Any) -> None:
        if self.ready and self.gate is not None:
            self.gate.keep(conn)
        else:
            conn.close()


class _Seeded(io.RawIOBase):
    """A socket's reader that first gives back what the gate has read already."""

    def __init__(self, sock: socket.socket, head: bytes) -> None:
        self._sock = sock
        self._head = memoryview(head)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        return self._sock.recv_into(buffer)


class _SeededReader(StreamReader):  # type: ignore[misc]
    def __init__(self, sock: socket.socket, head: bytes, bufsize: int) -> None:
        super(StreamReader, self).__init__(_Seeded(sock, head), bufsize)  # skip its SocketIO
        self.bytes_read = 0


class _Waiting:
    """A connection whose request has not arrived whole yet."""

    def __init__(
        self, sock: socket.socket, address: str, port: int, tls: bool, conn: Any = None
    ) -> None:
        self.sock = sock
        self.conn = conn  # a kept-alive connection's, for its next request
        self.address = address
        self.port = port
        self.deadline = time.monotonic() + REQUEST_SECONDS
        self.checked = not tls  # plain HTTP on the TLS port is answered, not handshaken
        self.handshaking = tls
        self.data = bytearray()
        self.needed: int | None = None  # head plus body, once the head is known

    def complete(self) -> bool:
        """True once the head (and a Content-Length body within the cap) has arrived."""
        if self.needed is None:
            end = self.data.find(b"\r\n\r\n")
            if end < 0:
                return False
            length = _content_length(bytes(self.data[:end]))
            # A body over the cap is not waited for: the route refuses it from its length.
            self.needed = end + 4 + (length if length <= MAX_BODY else 0)
        return len(self.data) >= self.needed


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            value = value.strip()
            return int(value) if value.isdigit() else 0
    return 0


class Gate:
    """Accepts on ``listener`` and hands complete requests to ``server``'s workers.

    Args:
        listener: the bound, listening public socket.
        server: a prepared :class:`GatedServer` (its kept-alive connections come here).
        context: the TLS context for HTTPS, or None for plain HTTP.
    """

    def __init__(
        self, listener: socket.socket, server: GatedServer, context: ssl.SSLContext | None
    ):
        self._listener = listener
        self._server = server
        self._context = context
        server.gate = self
        self._returning: list[Any] = []
        self._lock = threading.Lock()
        self._wake_read, self._wake_write = socket.socketpair()
        self._selector = selectors.DefaultSelector()
        self._waiting_by_address: dict[str, int] = {}
        self._tls_refusals: dict[str, float] = {}  # address -> when last logged
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="aft-gate", daemon=True)

    def start(self) -> None:
        self._listener.setblocking(False)
        self._wake_read.setblocking(False)
        self._wake_write.setblocking(False)
        self._selector.register(self._listener, selectors.EVENT_READ, None)
        self._selector.register(self._wake_read, selectors.EVENT_READ, self._wake_read)
        self._thread.start()

    def keep(self, conn: Any) -> None:
        """Take a kept-alive connection back after an answer (from a worker thread)."""
        if conn.rfile.has_data():  # its next request is here already
            self._server.process_conn(conn)
            return
        with self._lock:
            self._returning.append(conn)
        try:
            self._wake_write.send(b"!")
        except OSError:  # the wake-up is already pending
            pass

    def stop(self) -> None:
        """Stop accepting and close every connection still waiting."""
        self._stopping.set()
        self._thread.join(5)
        for key in list(self._selector.get_map().values()):
            if isinstance(key.data, _Waiting):
                key.data.sock.close()
        for conn in self._returning:
            conn.close()
        self._selector.close()
        self._listener.close()
        self._wake_read.close()
        self._wake_write.close()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            for key, _ in self._selector.select(timeout=0.25):
                try:
                    if key.data is None:
                        self._accept()
                    elif key.data is self._wake_read:
                        self._take_back()
                    else:
                        self._advance(key.data)
                except Exception:  # one connection's trouble never stops the gate
                    log.exception("aft: a connection failed at the gate")
                    if isinstance(key.data, _Waiting):
                        self._drop(key.data)
            self._expire()

    def _take_back(self) -> None:
        try:
            while self._wake_read.recv(4096):
                pass
        except BlockingIOError:
            pass
        with self._lock:
            returning, self._returning = self._returning, []
        for conn in returning:
            sock = conn.socket
            sock.setblocking(False)
            address = str(conn.remote_addr or "")
            self._waiting_by_address[address] = self._waiting_by_address.get(address, 0) + 1
            entry = _Waiting(sock, address, int(conn.remote_port or 0), False, conn)
            self._selector.register(sock, selectors.EVENT_READ, entry)

    def _accept(self) -> None:
        for _ in range(64):  # then let the waiting ones move too
            try:
                sock, peer = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # out of descriptors, or the peer went already
                return
            # An answer written in two parts must not wait for the client's delayed ACK.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            address, port = str(peer[0]), int(peer[1])
            waiting = self._waiting_by_address.get(address, 0)
            if waiting >= WAITING_PER_ADDRESS or len(self._selector.get_map()) > WAITING_IN_ALL:
                sock.close()
                continue
            sock.setblocking(False)
            self._waiting_by_address[address] = waiting + 1
            entry = _Waiting(sock, address, port, self._context is not None)
            self._selector.register(sock, selectors.EVENT_READ, entry)

    def _advance(self, entry: _Waiting) -> None:
        try:
            if not entry.checked:  # the first byte says whether this is TLS at all
                first = entry.sock.recv(1, socket.MSG_PEEK)
                if not first:
                    self._drop(entry)
                    return
                if first[0] != _TLS_HANDSHAKE:
                    self._answer(entry, _PLAIN_ON_TLS)
                    return
                entry.checked = True
                assert self._context is not None
                entry.sock = self._rewrap(entry)
            if entry.handshaking:
                entry.sock.do_handshake()  # type: ignore[attr-defined]
                entry.handshaking = False
            while not entry.complete():
                chunk = entry.sock.recv(65536)
                if not chunk:
                    self._drop(entry)
                    return
                entry.data += chunk
                if entry.needed is None and len(entry.data) > MAX_HEAD:
                    self._answer(entry, _HEAD_TOO_LARGE)
                    return
        except ssl.SSLWantReadError:
            self._selector.modify(entry.sock, selectors.EVENT_READ, entry)
            return
        except ssl.SSLWantWriteError:
            self._selector.modify(entry.sock, selectors.EVENT_WRITE, entry)
            return
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:  # a failed handshake or a reset: the client's trouble, not ours
            if entry.handshaking and isinstance(exc, ssl.SSLError):
                self._tls_refused(entry.address, exc)
            self._drop(entry)
            return
        self._hand_over(entry)

    def _tls_refused(self, address: str, exc: ssl.SSLError) -> None:
        """Log a client's failed TLS handshake, once per :data:`TLS_REFUSAL_LOG_SECONDS`."""
        now = time.monotonic()
        last = self._tls_refusals.get(address)
        if last is not None and now - last < TLS_REFUSAL_LOG_SECONDS:
            return
        if len(self._tls_refusals) >= WAITING_IN_ALL:
            self._tls_refusals.clear()
        self._tls_refusals[address] = now
        log.warning(
            "aft: TLS handshakes from %s fail (%s): a browser does so until it trusts this"
            " service's certificate; logged again in %d minutes if it goes on",
            address,
            exc.reason or exc,
            TLS_REFUSAL_LOG_SECONDS // 60,
        )

    def _rewrap(self, entry: _Waiting) -> socket.socket:
        """The waiting socket as a TLS server socket (its handshake still to do)."""
        assert self._context is not None
        self._selector.unregister(entry.sock)
        tls = self._context.wrap_socket(entry.sock, server_side=True, do_handshake_on_connect=False)
        self._selector.register(tls, selectors.EVENT_READ, entry)
        return tls

    def _hand_over(self, entry: _Waiting) -> None:
        self._forget(entry)
        sock = entry.sock
        sock.setblocking(True)
        sock.settimeout(self._server.timeout)
        head = bytes(entry.data)

        def makefile(s: socket.socket, mode: str = "r", bufsize: int = io.DEFAULT_BUFFER_SIZE):
            if "r" in mode:
                return _SeededReader(s, head, bufsize)
            return MakeFile(s, mode, bufsize)

        if entry.conn is not None:  # a kept-alive connection's next request
            entry.conn.rfile = _SeededReader(sock, head, io.DEFAULT_BUFFER_SIZE)
            self._server.process_conn(entry.conn)
            return
        conn = HTTPConnection(self._server, sock, makefile)
        conn.remote_addr, conn.remote_port = entry.address, entry.port
        adapter = self._server.ssl_adapter
        conn.ssl_env = adapter.get_environ(sock) if self._context is not None else {}
        self._server.process_conn(conn)

    def _answer(self, entry: _Waiting, reply: bytes) -> None:
        try:
            entry.sock.send(reply)
        except OSError:
            pass
        self._drop(entry)

    def _drop(self, entry: _Waiting) -> None:
        self._forget(entry)
        try:
            (entry.conn or entry.sock).close()
        except OSError:
            pass

    def _forget(self, entry: _Waiting) -> None:
        try:
            self._selector.unregister(entry.sock)
        except (KeyError, ValueError):
            return
        left = self._waiting_by_address.get(entry.address, 1) - 1
        if left > 0:
            self._waiting_by_address[entry.address] = left
        else:
            self._waiting_by_address.pop(entry.address, None)

    def _expire(self) -> None:
        now = time.monotonic()
        for key in list(self._selector.get_map().values()):
            entry = key.data
            if isinstance(entry, _Waiting) and entry.deadline < now:
                if entry.data:
                    self._answer(entry, _TIMED_OUT)
                else:
                    self._drop(entry)  # an idle kept-alive connection, or one that said nothing
