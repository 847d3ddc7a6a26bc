"""The urllib3 internals that HttpCli (:mod:`aft.syncjs.net_host`) needs, and the only user.

Each name below is private (``_name``) or undocumented in urllib3; :data:`PRIVATE_NAMES`
lists them for ``tests/test_adapters.py``, which fails naming the missing one when an
upgrade drops it, and ``setup.cfg`` pins urllib3 below its next major version. None of
them is patched: each is overridden in a subclass that only the pools made here use.

- ``HTTPConnection._new_conn`` (inherited by ``HTTPSConnection``), which ``connect`` calls
  to open the TCP socket, hands each new socket to a callback. A halt or a script's
  timeout shuts a request's sockets down, so a request blocked in connect, the TLS
  handshake or a read ends at once; urllib3 offers no public hook that sees the socket
  before the request blocks on it (no speed involved: this is how a halt is prompt).
- ``HTTPSConnectionPool._validate_conn``, which ``_make_request`` calls before each
  request, connects early and warns ``InsecureRequestWarning`` when the certificate was
  not verified. For a request that asked for ``InsecureSkipVerify`` the pool made here
  connects the same way without the warning (the script chose it), through the base
  ``HTTPConnectionPool._validate_conn``, instead of changing the process-wide
  ``warnings`` filters. :data:`VALIDATE_CONN_NAMES` is what urllib3's method used when
  this was written; the test fails when it changes, so the copy is checked again.
- ``HTTPConnectionPool.ConnectionCls`` and ``PoolManager.pool_classes_by_scheme``
  (undocumented attributes, used the same way by urllib3's own ``contrib.socks``) put
  those classes in a pool manager.
- ``urllib3._base_connection.BaseHTTPConnection`` (private module): the type of the
  connection ``_validate_conn`` takes. It exists for type checkers only, so mypy checks it
  and :data:`PRIVATE_NAMES` leaves it out.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, NamedTuple

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

if TYPE_CHECKING:
    from urllib3._base_connection import BaseHTTPConnection


class PrivateName(NamedTuple):
    """One private or undocumented urllib3 name this module relies on.

    Attributes:
        owner: the dotted path of the module or class that holds it.
        name: the attribute's name.
        kind: ``"callable"``, ``"class"``, ``"attribute"`` (of the module or class) or
            ``"instance attribute"`` (set up by the owner's ``__init__``).
        used_by: the dotted path of the urllib3 function that must still look the name up,
            for a name urllib3 calls on an object aft supplies; else ``""``.
    """

    owner: str
    name: str
    kind: Literal["callable", "class", "attribute", "instance attribute"]
    used_by: str = ""


#: Every private or undocumented urllib3 name used here (see the module docstring).
PRIVATE_NAMES: tuple[PrivateName, ...] = (
    PrivateName(
        "urllib3.connection.HTTPConnection",
        "_new_conn",
        "callable",
        "urllib3.connection.HTTPConnection.connect",
    ),
    PrivateName(
        "urllib3.connection.HTTPSConnection",
        "_new_conn",
        "callable",
        "urllib3.connection.HTTPSConnection.connect",
    ),
    PrivateName(
        "urllib3.connectionpool.HTTPSConnectionPool",
        "_validate_conn",
        "callable",
        "urllib3.connectionpool.HTTPConnectionPool._make_request",
    ),
    PrivateName("urllib3.connectionpool.HTTPConnectionPool", "_validate_conn", "callable"),
    PrivateName("urllib3.connectionpool.HTTPConnectionPool", "ConnectionCls", "attribute"),
    PrivateName("urllib3.PoolManager", "pool_classes_by_scheme", "instance attribute"),
)

#: The names urllib3's ``HTTPSConnectionPool._validate_conn`` uses, as of urllib3 2.8;
#: :class:`_QuietHttpsPool` does the same minus the warning.
VALIDATE_CONN_NAMES = frozenset(
    {
        "super",
        "_validate_conn",
        "is_closed",
        "connect",
        "is_verified",
        "proxy_is_verified",
        "warnings",
        "warn",
        "host",
        "InsecureRequestWarning",
    }
)


class _QuietHttpsPool(HTTPSConnectionPool):
    """An HTTPS pool for requests that skip certificate checks on purpose: no warning."""

    def _validate_conn(self, conn: BaseHTTPConnection) -> None:
        HTTPConnectionPool._validate_conn(self, conn)
        if conn.is_closed:  # connect early, as urllib3 does
            conn.connect()


def pool_manager(
    on_socket: Callable[[socket.socket], object], *, verify: bool
) -> urllib3.PoolManager:
    """A PoolManager whose every new socket is first handed to ``on_socket``.

    Args:
        on_socket: called with each socket right after it connects (before TLS).
        verify: check certificates; when False they are not checked and no
            ``InsecureRequestWarning`` is issued (the process's warning filters are left
            alone).

    Returns:
        The manager; ``clear()`` it when done.
    """

    class Http(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            sock = super()._new_conn()
            on_socket(sock)
            return sock

    class Https(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            sock = super()._new_conn()
            on_socket(sock)
            return sock

    class HttpPool(HTTPConnectionPool):
        ConnectionCls = Http

    class HttpsPool(HTTPSConnectionPool):
        ConnectionCls = Https

    class QuietHttpsPool(_QuietHttpsPool):
        ConnectionCls = Https

    pools = urllib3.PoolManager(cert_reqs="CERT_REQUIRED" if verify else "CERT_NONE")
    pools.pool_classes_by_scheme = {
        "http": HttpPool,
        "https": HttpsPool if verify else QuietHttpsPool,
    }
    return pools
