"""The paramiko internals that :mod:`aft.vfs.sftp` needs for speed, and the only user of them.

Everything else in aft talks to paramiko through its public API. Each name below is
private (``_name``) or undocumented in paramiko; :data:`PRIVATE_NAMES` lists them for
``tests/test_adapters.py``, which fails naming the missing one when an upgrade drops it,
and ``setup.cfg`` pins paramiko below its next major version. The effects quoted are
for 256 MiB over a loopback OpenSSH sshd (aes128-ctr, hmac-sha2-256), where a download
receives about 7,900 SSH packets of 32 KiB and 1,030 SFTP replies of 255 KiB.

The SFTP request layer (``paramiko.SFTPClient``): :class:`aft.vfs.sftp.SftpFile` keeps a
bounded pipeline of reads or writes in flight. paramiko's own prefetch reads the whole
rest of a file when it is closed early, and its pipelined writes drop a failed write's
status, so neither is used. This pipeline is what keeps a big transfer level with
OpenSSH's ``sftp`` (see ``benchmarks/results.md``).

- ``SFTPClient._async_request``: send a read or write without waiting for its reply
  (:func:`send_read`, :func:`send_write`).
- ``SFTPClient._read_response``: read one reply and hand it to its request's owner
  (:func:`read_reply`).
- ``SFTPFile._async_response``: the method ``_read_response`` calls on that owner;
  :class:`ReplyReceiver` implements it.
- ``SFTPClient._convert_status``: a status reply as paramiko's exception
  (:func:`reply_result`).
- ``SFTPClient._async_request`` also sends the ``limits@openssh.com`` request
  (:func:`send_extended`), to move 256 KiB per request instead of 32 KiB where the server
  allows it, in the round trip of the stat of the root at login.
- ``Channel.remote_chanid``, ``Channel._event_pending``, ``Channel._wait_for_event``,
  ``Transport._send_user_message`` and ``paramiko.common.cMSG_CHANNEL_REQUEST``: the
  subsystem request of :func:`open_sftp`, sent as ``Channel.invoke_subsystem`` sends it
  but without waiting; ``SFTPClient._send_version`` (which paramiko's ``__init__`` calls),
  ``_send_packet``, ``_read_packet``, ``CMD_INIT`` and ``CMD_VERSION``: the version
  exchange that follows it at once (:class:`FastSftpClient`, which also keeps the names
  of the extensions the server offers: :func:`offers`). A round trip less for
  every session where the server grants the channel a window when it opens it; OpenSSH's
  sshd grants none until the subsystem runs, so there the INIT waits for that answer.
  The server's VERSION is read by the first ``_read_packet`` (overridden), so a session's
  first requests follow its INIT at once: another round trip less for every session.
- ``SFTPFile._close``: close a file read to its end without waiting for the reply, with
  paramiko's own bookkeeping, so the server's handle is never closed twice
  (:func:`close_without_waiting`).
- ``SFTPClient._async_request`` also sends the close of a file written over several
  sessions before their last writes are acknowledged, its status kept
  (:func:`send_close`, ``CMD_CLOSE``), and the stat of a file together with its open
  (:func:`send_stat`; ``SFTPAttributes._from_msg`` reads the reply, ``CMD_STAT`` and
  ``CMD_ATTRS`` are its packet types): a round trip less for each.
- ``SFTPClient._async_request`` also carries the batches of small files
  (:meth:`aft.vfs.sftp.SftpVfs.write_many` and ``read_many``): many files' opens, closes,
  renames and removes in flight on one session from one thread (:func:`send_open`,
  :func:`send_close_handle`, :func:`send_rename`, :func:`send_remove`; ``CMD_OPEN``,
  ``CMD_HANDLE``, ``CMD_REMOVE``, ``CMD_RENAME`` and the open flags ``SFTP_FLAG_READ``,
  ``SFTP_FLAG_WRITE``, ``SFTP_FLAG_CREATE``, ``SFTP_FLAG_TRUNC``). Four
  threads each sending one file's requests and waiting for their replies spent most of
  their time handing the interpreter lock and paramiko's locks to each other: 1,000
  files of 16 KiB up took 0.93-1.23 s that way, 0.44-0.52 s pipelined from one thread.
- ``SFTPFile.handle`` and ``SFTPFile.sftp`` (undocumented attributes): the server's handle
  of an open file and its session (:func:`file_session`).
- ``paramiko.sftp.CMD_READ``, ``CMD_WRITE``, ``CMD_DATA``, ``CMD_STATUS``,
  ``CMD_EXTENDED``, ``CMD_EXTENDED_REPLY`` and ``paramiko.sftp.int64`` (undocumented
  module names): the packet types and the 64-bit offset marker ``_async_request`` takes.

The receive path, on aft's own connections only:

- ``Channel.in_buffer`` (undocumented attribute) is replaced by a :class:`ChunkPipe`
  before the server can send anything; it subclasses ``paramiko.buffered_pipe.BufferedPipe``
  (undocumented module) and takes over its ``_lock``, ``_cv``, ``_event`` and ``_closed``,
  and raises its ``PipeTimeout``. paramiko's buffer is one array that every read shifts
  down and converts back to bytes: passing 256 MiB through it with 1 MiB waiting costs
  450 ms of CPU, against 15 ms for the queue of packets.
- ``SFTPClient._read_all``, which paramiko's ``_read_packet`` calls for every reply, is
  overridden in :class:`FastSftpClient` to gather a reply with one join instead of
  repeated ``+=``; it reads ``SFTPClient.sock`` (undocumented attribute). For 1,024
  replies of 255 KiB that arrive in 8 pieces each: 246 ms with ``+=``, 8 ms joined.
- ``Packetizer.read_message`` compares each packet's MAC with
  ``paramiko.util.constant_time_bytes_eq``, a Python loop: 4.5 us a packet against
  0.07 us for ``hmac.compare_digest``, about 35 ms of a 256 MiB download (one
  ``read_message`` of a 32 KiB packet: 51 us stock, 45 us with the C comparison; of a
  1 KiB packet: 17 us and 10.5 us). :class:`FastPacketizer`, which aft passes to
  its own ``Transport`` (public ``packetizer_class`` argument), runs paramiko's
  ``read_message`` code with its ``util`` global replaced by :class:`_FastCompareUtil`:
  same result, constant time, in C. ``paramiko.util`` itself is never changed, so any
  other user of paramiko in the process is untouched.

Together the three took a 256 MiB download from 0.72 s to 0.59 s (median) when they
were added.

The login: paramiko sends its login request (``USERAUTH_REQUEST``) only once the server
has accepted the request for the login service, a round trip later, though the request
does not depend on that answer. :class:`PipelinedAuthHandler`, a
``paramiko.AuthHandler``, sends it right behind the service request: its
``_request_auth`` (which sends the service request) goes on with what
``_parse_service_accept`` would send on the answer, and that method, called by the
answer through ``_client_handler_table``, then does nothing. It reads the handler's
``auth_method`` and ``private_key`` and the transport's ``server_extensions``
(undocumented attributes) to pipeline only where the request is the one paramiko would
send after the answer: an OpenSSH server (which handles a connection's packets in
order, the service request first), a password, or a key whose signature algorithm does
not depend on the server's ``EXT_INFO`` (any but RSA, or RSA once that is read).
:func:`auth_publickey` and :func:`auth_password` are paramiko's ``Transport`` methods
with their module's ``AuthHandler`` name replaced by it (``paramiko.transport`` is not
changed). One round trip less for every connection.

The set-up of a connection: right after accepting the user, OpenSSH's sshd announces its
host keys (a global request that wants no answer) and then answers the channel open;
Nagle's rule holds that answer back until the announcement is acknowledged, and the
kernel that receives the announcement delays its acknowledgement (up to 40 ms on Linux)
because nothing goes back meanwhile. OpenSSH's ``sftp`` waits those 40 ms. Until the
first channel request (the packet that follows the first channel's opening),
:class:`FastPacketizer` answers a global request that wants no answer with an
``SSH_MSG_IGNORE``, whose packet carries the acknowledgement at once: from this host,
and from any hop that ends TCP on the way (a jump host, a TCP proxy), where an option on
this host's socket could not reach. ``paramiko.common.MSG_GLOBAL_REQUEST`` and
``cMSG_IGNORE`` are undocumented module names. A connection that opens a session took
43 ms less on loopback, 21 ms less through a TCP proxy with a 20 ms round trip. The
same holds for the login: with the login request sent ahead (see above), sshd answers it
right behind its acceptance of the login service, so the acceptance is answered with an
``SSH_MSG_IGNORE`` too; sshd then sends the login's success and its announcement
together, and the channel opens in one round trip. Through the 20 ms proxy, from the
service request to the channel open answered: 88 ms before, 65 ms with both.

:class:`FastPacketizer` also times the login service's request (``ssh-userauth``, sent
as ``paramiko.common.cMSG_SERVICE_REQUEST`` and accepted as ``MSG_SERVICE_ACCEPT``, both
undocumented module names), which the server answers without work: one round trip of
the connection, read through ``Transport.packetizer`` (an undocumented attribute) by
:func:`login_round_trip`, a second sample beside the one SFTP request
:mod:`aft.vfs.sftp` times.
"""

from __future__ import annotations

import hmac
import socket
import struct
import sys
import threading
import time
import types
from collections import deque
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

# paramiko imports invoke (a task runner; 40 ms of a 110 ms import) only to run the
# ``Match exec`` lines of an OpenSSH client config, which aft never reads, and goes
# without it when it is missing. Unless this process has imported invoke already, it is
# hidden while paramiko is imported (and importable again after): in this process
# paramiko.SSHConfig then refuses ``Match exec``, as it does wherever invoke is not
# installed.
_HIDE_INVOKE = "invoke" not in sys.modules
if _HIDE_INVOKE:
    sys.modules["invoke"] = None  # type: ignore[assignment]
try:
    import paramiko
    import paramiko.file
    import paramiko.util
    from paramiko.buffered_pipe import BufferedPipe, PipeTimeout
    from paramiko.common import (
        MSG_GLOBAL_REQUEST,
        MSG_SERVICE_ACCEPT,
        cMSG_CHANNEL_REQUEST,
        cMSG_IGNORE,
        cMSG_SERVICE_REQUEST,
    )
    from paramiko.sftp import (
        CMD_ATTRS,
        CMD_CLOSE,
        CMD_DATA,
        CMD_EXTENDED,
        CMD_EXTENDED_REPLY,
        CMD_HANDLE,
        CMD_INIT,
        CMD_OPEN,
        CMD_READ,
        CMD_REMOVE,
        CMD_RENAME,
        CMD_STAT,
        CMD_STATUS,
        CMD_VERSION,
        CMD_WRITE,
        SFTP_FLAG_CREATE,
        SFTP_FLAG_READ,
        SFTP_FLAG_TRUNC,
        SFTP_FLAG_WRITE,
        int64,
    )
finally:
    if _HIDE_INVOKE:
        del sys.modules["invoke"]


#: The OpenSSH extension that renames a file over an existing one.
POSIX_RENAME = "posix-rename@openssh.com"


class PrivateName(NamedTuple):
    """One private or undocumented paramiko name this module relies on.

    Attributes:
        owner: the dotted path of the module or class that holds it.
        name: the attribute's name.
        kind: ``"callable"``, ``"class"``, ``"attribute"`` (of the module or class) or
            ``"instance attribute"`` (set up by the owner's ``__init__``).
        used_by: the dotted path of the paramiko function that must still look the name
            up, for a name paramiko calls on an object aft supplies; else ``""``.
    """

    owner: str
    name: str
    kind: Literal["callable", "class", "attribute", "instance attribute"]
    used_by: str = ""


#: Every private or undocumented paramiko name used here (see the module docstring).
PRIVATE_NAMES: tuple[PrivateName, ...] = (
    PrivateName("paramiko.SFTPClient", "_async_request", "callable"),
    PrivateName("paramiko.SFTPClient", "_read_response", "callable"),
    PrivateName(
        "paramiko.SFTPFile", "_async_response", "callable", "paramiko.SFTPClient._read_response"
    ),
    PrivateName("paramiko.SFTPClient", "_convert_status", "callable"),
    PrivateName("paramiko.SFTPFile", "_close", "callable"),
    PrivateName("paramiko.SFTPFile", "handle", "instance attribute"),
    PrivateName("paramiko.SFTPFile", "sftp", "instance attribute"),
    PrivateName("paramiko.sftp", "CMD_READ", "attribute"),
    PrivateName("paramiko.sftp", "CMD_WRITE", "attribute"),
    PrivateName("paramiko.sftp", "CMD_DATA", "attribute"),
    PrivateName("paramiko.sftp", "CMD_STATUS", "attribute"),
    PrivateName("paramiko.sftp", "CMD_EXTENDED", "attribute"),
    PrivateName("paramiko.sftp", "CMD_EXTENDED_REPLY", "attribute"),
    PrivateName("paramiko.sftp", "CMD_STAT", "attribute"),
    PrivateName("paramiko.sftp", "CMD_ATTRS", "attribute"),
    PrivateName("paramiko.SFTPAttributes", "_from_msg", "callable"),
    PrivateName("paramiko.sftp", "CMD_CLOSE", "attribute"),
    PrivateName("paramiko.sftp", "int64", "class"),
    PrivateName("paramiko.sftp", "CMD_OPEN", "attribute"),
    PrivateName("paramiko.sftp", "CMD_HANDLE", "attribute"),
    PrivateName("paramiko.sftp", "CMD_REMOVE", "attribute"),
    PrivateName("paramiko.sftp", "CMD_RENAME", "attribute"),
    PrivateName("paramiko.sftp", "SFTP_FLAG_READ", "attribute"),
    PrivateName("paramiko.sftp", "SFTP_FLAG_WRITE", "attribute"),
    PrivateName("paramiko.sftp", "SFTP_FLAG_CREATE", "attribute"),
    PrivateName("paramiko.sftp", "SFTP_FLAG_TRUNC", "attribute"),
    PrivateName("paramiko.sftp", "CMD_INIT", "attribute"),
    PrivateName("paramiko.sftp", "CMD_VERSION", "attribute"),
    PrivateName("paramiko.common", "cMSG_CHANNEL_REQUEST", "attribute"),
    PrivateName("paramiko.Channel", "remote_chanid", "instance attribute"),
    PrivateName("paramiko.Channel", "_event_pending", "callable"),
    PrivateName("paramiko.Channel", "_wait_for_event", "callable"),
    PrivateName("paramiko.Transport", "_send_user_message", "callable"),
    PrivateName("paramiko.SFTPClient", "_send_version", "callable", "paramiko.SFTPClient.__init__"),
    PrivateName("paramiko.SFTPClient", "_send_packet", "callable"),
    PrivateName(
        "paramiko.SFTPClient", "_read_packet", "callable", "paramiko.SFTPClient._read_response"
    ),
    PrivateName("paramiko.Channel", "in_buffer", "instance attribute"),
    PrivateName("paramiko.buffered_pipe", "BufferedPipe", "class"),
    PrivateName("paramiko.buffered_pipe", "PipeTimeout", "class"),
    PrivateName("paramiko.buffered_pipe.BufferedPipe", "_lock", "instance attribute"),
    PrivateName("paramiko.buffered_pipe.BufferedPipe", "_cv", "instance attribute"),
    PrivateName("paramiko.buffered_pipe.BufferedPipe", "_event", "instance attribute"),
    PrivateName("paramiko.buffered_pipe.BufferedPipe", "_closed", "instance attribute"),
    PrivateName("paramiko.SFTPClient", "_read_all", "callable", "paramiko.SFTPClient._read_packet"),
    PrivateName("paramiko.SFTPClient", "sock", "instance attribute"),
    PrivateName("paramiko.Packetizer", "read_message", "callable"),
    PrivateName("paramiko.common", "cMSG_SERVICE_REQUEST", "attribute"),
    PrivateName("paramiko.common", "MSG_SERVICE_ACCEPT", "attribute"),
    PrivateName("paramiko.common", "MSG_GLOBAL_REQUEST", "attribute"),
    PrivateName("paramiko.common", "cMSG_IGNORE", "attribute"),
    PrivateName("paramiko.Transport", "packetizer", "instance attribute"),
    PrivateName(
        "paramiko.AuthHandler", "_request_auth", "callable", "paramiko.AuthHandler.auth_publickey"
    ),
    PrivateName(
        "paramiko.AuthHandler", "_request_auth", "callable", "paramiko.AuthHandler.auth_password"
    ),
    PrivateName(
        "paramiko.AuthHandler",
        "_parse_service_accept",
        "callable",
        "paramiko.AuthHandler._client_handler_table.fget",
    ),
    PrivateName("paramiko.transport", "AuthHandler", "class", "paramiko.Transport.auth_publickey"),
    PrivateName("paramiko.transport", "AuthHandler", "class", "paramiko.Transport.auth_password"),
    PrivateName("paramiko.Transport", "server_extensions", "instance attribute"),
    PrivateName("paramiko.AuthHandler", "auth_method", "instance attribute"),
    PrivateName("paramiko.AuthHandler", "private_key", "instance attribute"),
    PrivateName("paramiko.packet", "util", "attribute", "paramiko.Packetizer.read_message"),
    PrivateName(
        "paramiko.util", "constant_time_bytes_eq", "callable", "paramiko.Packetizer.read_message"
    ),
)


# ---- the MAC comparison -----------------------------------------------------------------


class _FastCompareUtil:
    """``paramiko.util`` as :class:`FastPacketizer` sees it: the MAC comparison in C.

    Every other name is looked up on ``paramiko.util`` at the time of use.
    """

    def __init__(self) -> None:
        self.constant_time_bytes_eq: Callable[[bytes, bytes], bool] = hmac.compare_digest

    def __getattr__(self, name: str) -> Any:
        return getattr(paramiko.util, name)


def _with_globals(function: types.FunctionType, **names: Any) -> types.FunctionType:
    """A copy of ``function`` (the same code) that sees ``names`` as globals over its own."""
    copy = types.FunctionType(
        function.__code__,
        {**function.__globals__, **names},
        function.__name__,
        function.__defaults__,
        function.__closure__,
    )
    copy.__kwdefaults__ = function.__kwdefaults__
    copy.__qualname__ = function.__qualname__
    copy.__doc__ = function.__doc__
    return copy


class FastPacketizer(paramiko.Packetizer):
    """paramiko's packetizer, whose received MACs are compared by ``hmac.compare_digest``,
    which answers the server's announcements and its acceptance of the login service
    with an ignored packet until the first channel is open, and which times the login
    service's round trip (see the module docstring).

    Give it to a ``paramiko.Transport`` as ``packetizer_class``; only that transport
    changes.
    """

    _read_message = _with_globals(paramiko.Packetizer.read_message, util=_FastCompareUtil())

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock)
        self._opening = True  # until the first channel request
        self._service_asked: float | None = None  # when the service request went out
        #: seconds from the service request to its acceptance (see :func:`login_round_trip`)
        self.service_round_trip: float | None = None

    def read_message(self) -> tuple[int, paramiko.Message]:
        kind, message = self._read_message()
        if kind == MSG_SERVICE_ACCEPT and self._service_asked and not self.service_round_trip:
            self.service_round_trip = time.monotonic() - self._service_asked
        if kind in (MSG_GLOBAL_REQUEST, MSG_SERVICE_ACCEPT) and self._opening:
            ignored = paramiko.Message()  # allowed at any time, even in a key exchange
            ignored.add_byte(cMSG_IGNORE)
            ignored.add_string(b"")
            self.send_message(ignored)
        return kind, message

    def send_message(self, data: paramiko.Message) -> None:
        if self._opening:  # asbytes() copies the packet (a whole write's): only early on
            kind = data.asbytes()[:1]
            if kind == cMSG_SERVICE_REQUEST and self._service_asked is None:
                self._service_asked = time.monotonic()
            elif kind == cMSG_CHANNEL_REQUEST:
                self._opening = False
        super().send_message(data)


class PipelinedAuthHandler(paramiko.AuthHandler):
    """paramiko's client authentication, whose login request follows the request for the
    login service at once rather than after the server accepts it (see the module
    docstring). Only where the request is the one paramiko would send after the answer:
    to an OpenSSH server, with a password or a key whose signature algorithm does not
    depend on what the server names in its ``EXT_INFO`` (any key but RSA, or RSA once
    that has been read)."""

    _answered = False  # the login request went out with the service request

    def _request_auth(self) -> None:
        # decided before the service request goes out: its answer, read by the
        # transport's thread, may come before the login request is built and signed
        self._answered = self._can_pipeline()
        super()._request_auth()
        if self._answered:
            accepted = paramiko.Message()
            accepted.add_string("ssh-userauth")
            accepted.rewind()
            super()._parse_service_accept(accepted)

    def _parse_service_accept(self, m: paramiko.Message) -> None:
        if not self._answered:
            super()._parse_service_accept(m)

    def _can_pipeline(self) -> bool:
        transport = self.transport
        if not transport.remote_version.startswith("SSH-2.0-OpenSSH_"):
            return False
        if self.auth_method == "password":
            return True
        return self.auth_method == "publickey" and (
            not isinstance(self.private_key, paramiko.RSAKey)
            or "server-sig-algs" in transport.server_extensions
        )


#: ``Transport.auth_publickey`` and ``auth_password`` as paramiko has them, with the
#: handler that pipelines the login request (call with the transport first).
auth_publickey = _with_globals(paramiko.Transport.auth_publickey, AuthHandler=PipelinedAuthHandler)
auth_password = _with_globals(paramiko.Transport.auth_password, AuthHandler=PipelinedAuthHandler)


def login_round_trip(transport: paramiko.Transport) -> float | None:
    """Seconds the server took to accept the login service (``ssh-userauth``), a request it
    answers without any work: one round trip of the connection, or None when the
    transport's packetizer is not a :class:`FastPacketizer` (or has not seen it)."""
    packetizer = transport.packetizer
    return packetizer.service_round_trip if isinstance(packetizer, FastPacketizer) else None


# ---- the receive buffer -----------------------------------------------------------------


class ChunkPipe(BufferedPipe):
    """A channel's receive buffer as a queue of the packets' bytes.

    paramiko's own buffer is one array that every read shifts down (a copy of all it
    holds, per read) and converts back to bytes; with a wide window that costs more than
    the decryption. This one hands over whole packets without copying them.
    """

    def __init__(self) -> None:
        super().__init__()
        self._chunks: deque[bytes] = deque()
        self._size = 0

    def __len__(self) -> int:
        with self._lock:
            return self._size

    def feed(self, data: bytes) -> None:
        with self._lock:
            if self._event is not None:
                self._event.set()
            self._chunks.append(bytes(data))
            self._size += len(data)
            self._cv.notify_all()

    def read_ready(self) -> bool:
        with self._lock:
            return self._size > 0

    def set_event(self, event: threading.Event) -> None:
        with self._lock:
            self._event = event
            if self._closed or self._size:
                event.set()
            else:
                event.clear()

    def read(self, nbytes: int, timeout: float | None = None) -> bytes:
        with self._lock:
            deadline = None if timeout is None else time.monotonic() + timeout
            while not self._size and not self._closed:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise PipeTimeout()
                self._cv.wait(left)
            return self._take(nbytes)

    def empty(self) -> bytes:
        with self._lock:
            return self._take(self._size)

    def _take(self, limit: int) -> bytes:
        pieces, need = [], limit
        while self._chunks and need > 0:
            first = self._chunks[0]
            if len(first) <= need:
                pieces.append(self._chunks.popleft())
                need -= len(first)
            else:
                pieces.append(first[:need])
                self._chunks[0] = first[need:]
                need = 0
        self._size -= limit - need
        if not self._size and self._event is not None and not self._closed:
            self._event.clear()
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)


class FastSftpClient(paramiko.SFTPClient):
    """paramiko's SFTP client, gathering each reply in one join instead of repeated ``+=``,
    whose version exchange goes out right behind the subsystem request (see :func:`open_sftp`)
    and is answered with its first requests (see :meth:`_send_version`), and which keeps
    the extensions the server names in it (see :func:`offers`).
    """

    _extensions: frozenset[bytes] | None = None  # None: VERSION not read yet

    def _send_version(self) -> int:
        """Send INIT and take the subsystem request's answer (raising if refused); the
        server's VERSION is read before the first reply (:meth:`_read_packet`), so the
        session's first requests go out behind the INIT, a round trip sooner. An SFTP
        server handles a session's packets in order, the INIT first (OpenSSH's refuses
        any other packet before it). Returns the version aft speaks (paramiko logs it)."""
        init = paramiko.Message()
        init.add_int(3)  # the SFTP version paramiko speaks
        self._send_packet(CMD_INIT, init)
        self.sock._wait_for_event()
        return 3

    def _read_version(self) -> frozenset[bytes]:
        kind, data = super()._read_packet()
        if kind != CMD_VERSION:
            raise paramiko.SFTPError("Incompatible sftp protocol")
        extensions = self._extensions = _extension_names(data[4:])
        return extensions

    def _read_packet(self) -> tuple[int, bytes]:
        if self._extensions is None:
            self._read_version()
        result: tuple[int, bytes] = super()._read_packet()
        return result

    @property
    def extensions(self) -> frozenset[bytes]:
        """The names of the extensions the server's VERSION packet offers (read now if
        no reply has come yet)."""
        return self._read_version() if self._extensions is None else self._extensions

    def _read_all(self, n: int) -> bytes:
        pieces = []
        while n > 0:
            piece = self.sock.recv(n)
            if not piece:
                raise EOFError()
            pieces.append(piece)
            n -= len(piece)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def _extension_names(pairs: bytes) -> frozenset[bytes]:
    """The names of the (name, data) string pairs that follow the version in a VERSION
    packet; a malformed tail ends the list."""
    strings, at = [], 0
    while at + 4 <= len(pairs):
        (size,) = struct.unpack_from(">I", pairs, at)
        at += 4 + size
        if at > len(pairs):
            break
        strings.append(pairs[at - size : at])
    return frozenset(strings[: len(strings) // 2 * 2 : 2])  # each name with its data


def offers(sftp: paramiko.SFTPClient, extension: str) -> bool:
    """Whether the server named ``extension`` (such as ``posix-rename@openssh.com``) in
    its VERSION packet; False for a session not opened by :func:`open_sftp`."""
    return extension.encode() in getattr(sftp, "extensions", frozenset())


def open_sftp(
    transport: paramiko.Transport, window_size: int, max_packet_size: int
) -> paramiko.SFTPClient:
    """An SFTP session on a new channel of ``transport`` that receives through a ChunkPipe.

    Args:
        transport: an authenticated transport.
        window_size, max_packet_size: what the channel offers the server.

    Returns:
        A :class:`FastSftpClient`.

    The subsystem request is not waited for: the SFTP version exchange follows it at once,
    as OpenSSH's ``sftp`` does (its ``ssh -s sftp`` passes the INIT on as soon as the
    channel is open), and the request's answer is checked before the version's. That saves
    a round trip for every session opened on a server that grants a new channel a window;
    OpenSSH's sshd opens a session channel with a window of 0 and grants one (2 MiB) only
    when the subsystem runs, so there the INIT goes out only once that answer arrives, as
    with OpenSSH's own client.
    """
    channel = transport.open_session(window_size=window_size, max_packet_size=max_packet_size)
    channel.in_buffer = ChunkPipe()  # before the server can send anything on it
    request = paramiko.Message()  # paramiko's Channel.invoke_subsystem, without the wait
    request.add_byte(cMSG_CHANNEL_REQUEST)
    request.add_int(channel.remote_chanid)
    request.add_string("subsystem")
    request.add_boolean(True)
    request.add_string("sftp")
    channel._event_pending()
    transport._send_user_message(request)
    return FastSftpClient(channel)


# ---- the request layer ------------------------------------------------------------------


def send_extended(sftp: paramiko.SFTPClient, owner: ReplyReceiver, name: str, *args: str) -> int:
    """Send the extended request ``name`` with its string ``args`` without waiting; returns
    its request number. Its reply goes to ``owner``; see :func:`extended_reply` (or
    :func:`reply_result` for a request answered with a status)."""
    num: int = sftp._async_request(owner, CMD_EXTENDED, name, *args)
    return num


def extended_reply(kind: int, msg: paramiko.Message) -> paramiko.Message | None:
    """The message of an extended reply after its type; None for any other reply (a
    status: the server does not offer the request)."""
    return msg if kind == CMD_EXTENDED_REPLY else None


class ReplyReceiver:
    """The owner of asynchronous requests: paramiko hands it the reply to each.

    paramiko holds only a weak reference to the owner while a request is outstanding;
    replies that arrive after it is gone are dropped.
    """

    def on_reply(self, kind: int, msg: paramiko.Message, num: int) -> None:
        """Take the reply of type ``kind`` to request ``num``; see :func:`reply_result`."""
        raise NotImplementedError

    def _async_response(self, t: int, msg: paramiko.Message, num: int) -> None:
        self.on_reply(t, msg, num)


def file_session(handle: paramiko.SFTPFile) -> tuple[paramiko.SFTPClient, bytes]:
    """The session an open paramiko file belongs to and the server's handle for it."""
    return handle.sftp, handle.handle


def close_without_waiting(handle: paramiko.SFTPFile) -> None:
    """Send the close of ``handle`` and return at once (its reply is dropped on arrival)."""
    handle._close(async_=True)


def send_close(handle: paramiko.SFTPFile, owner: ReplyReceiver) -> int:
    """Send the close of ``handle`` without waiting; returns the request number. Its
    status goes to ``owner`` (see :func:`reply_result`); paramiko takes the file as
    closed, so it never sends a close of its own."""
    paramiko.file.BufferedFile.close(handle)  # the bookkeeping SFTPFile._close does first
    return send_close_handle(handle.sftp, owner, handle.handle)


def send_stat(sftp: paramiko.SFTPClient, owner: ReplyReceiver, path: str) -> int:
    """Ask for the attributes of ``path`` without waiting; returns the request number.
    Its reply goes to ``owner``; see :func:`attrs_reply`."""
    num: int = sftp._async_request(owner, CMD_STAT, path)
    return num


def attrs_reply(
    sftp: paramiko.SFTPClient, kind: int, msg: paramiko.Message
) -> paramiko.SFTPAttributes | Exception:
    """What a reply to a stat says: the attributes, or the exception paramiko raises
    for its status (an ``OSError``), or an ``SFTPError`` for a reply of another type."""
    if kind == CMD_ATTRS:
        return paramiko.SFTPAttributes._from_msg(msg)
    result = reply_result(sftp, kind, msg)
    if isinstance(result, Exception):
        return result
    return paramiko.SFTPError(f"unexpected SFTP reply type {kind} to a stat")


def send_read(
    sftp: paramiko.SFTPClient, owner: ReplyReceiver, handle: bytes, offset: int, length: int
) -> int:
    """Ask for ``length`` bytes at ``offset`` without waiting; returns the request number."""
    num: int = sftp._async_request(owner, CMD_READ, handle, int64(offset), length)
    return num


def send_write(
    sftp: paramiko.SFTPClient, owner: ReplyReceiver, handle: bytes, offset: int, data: bytes
) -> int:
    """Write ``data`` at ``offset`` without waiting; returns the request number."""
    num: int = sftp._async_request(owner, CMD_WRITE, handle, int64(offset), data)
    return num


def send_open(sftp: paramiko.SFTPClient, owner: ReplyReceiver, path: str, *, write: bool) -> int:
    """Open ``path`` without waiting, to read it or to write it (created, or emptied);
    returns the request number. Its reply goes to ``owner``; see :func:`handle_reply`."""
    flags = SFTP_FLAG_WRITE | SFTP_FLAG_CREATE | SFTP_FLAG_TRUNC if write else SFTP_FLAG_READ
    num: int = sftp._async_request(owner, CMD_OPEN, path, flags, paramiko.SFTPAttributes())
    return num


def handle_reply(sftp: paramiko.SFTPClient, kind: int, msg: paramiko.Message) -> bytes | Exception:
    """What a reply to an open says: the server's handle, or the exception paramiko raises
    for its status (an ``OSError``), or an ``SFTPError`` for a reply of another type."""
    if kind == CMD_HANDLE:
        handle: bytes = msg.get_binary()
        return handle
    result = reply_result(sftp, kind, msg)
    if isinstance(result, Exception):
        return result
    return paramiko.SFTPError(f"unexpected SFTP reply type {kind} to an open")


def send_close_handle(sftp: paramiko.SFTPClient, owner: ReplyReceiver, handle: bytes) -> int:
    """Close the server's ``handle`` (from :func:`handle_reply`) without waiting; returns
    the request number. Its status goes to ``owner`` (see :func:`reply_result`)."""
    num: int = sftp._async_request(owner, CMD_CLOSE, handle)
    return num


def send_rename(
    sftp: paramiko.SFTPClient, owner: ReplyReceiver, src: str, dst: str, *, replace: bool = True
) -> int:
    """Rename ``src`` to ``dst`` without waiting; returns the request number. Its status
    goes to ``owner`` (see :func:`reply_result`).

    ``replace``: replacing ``dst`` (``posix-rename@openssh.com``: see :func:`offers`; a
    server without it answers with an "unsupported" status); else SFTP version 3's own
    rename, which fails when ``dst`` exists.
    """
    if replace:
        return send_extended(sftp, owner, POSIX_RENAME, src, dst)
    num: int = sftp._async_request(owner, CMD_RENAME, src, dst)
    return num


def send_remove(sftp: paramiko.SFTPClient, owner: ReplyReceiver, path: str) -> int:
    """Remove the file ``path`` without waiting; returns the request number. Its status
    goes to ``owner`` (see :func:`reply_result`)."""
    num: int = sftp._async_request(owner, CMD_REMOVE, path)
    return num


def read_reply(sftp: paramiko.SFTPClient) -> None:
    """Wait for the next reply and hand it to its owner's :meth:`ReplyReceiver.on_reply`."""
    sftp._read_response()


def reply_result(
    sftp: paramiko.SFTPClient, kind: int, msg: paramiko.Message
) -> bytes | Exception | None:
    """What a reply to a read or write says.

    Returns:
        The data of a data reply; ``b""`` for an end-of-file status; None for success; the
        exception paramiko raises for a failure status (an ``OSError``), or an
        ``SFTPError`` for a reply of another type.
    """
    if kind == CMD_DATA:
        data: bytes = msg.get_string()
        return data
    if kind != CMD_STATUS:
        return paramiko.SFTPError(f"unexpected SFTP reply type {kind}")
    try:
        sftp._convert_status(msg)
    except EOFError:
        return b""
    except OSError as exc:
        return exc
    return None
