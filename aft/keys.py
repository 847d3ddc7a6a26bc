"""ApiKeyStore: REST API keys, kept only as hashes, each with an IP allowlist and a scope.

A key is 32 random bytes written in base58 (44 characters), shown once at creation.
Keys carry that much entropy, so a single SHA-256 is the right hash: a slow password
hash guards low-entropy secrets and would only slow down every request here.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterable

import attrs

from aft import audit
from aft._store import Store
from aft.exceptions import ApiKeyNotFound, AuthError, BadRequest, Forbidden
from aft.models import name_problem
from aft.roles import NEEDS, ROLES, allows, needed

#: A key's scope is its role (see :mod:`aft.roles`).
SCOPES = ROLES
_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_KEY_BYTES = 32
_KEY_CHARS = 44  # 58**44 > 2**256, so every 32-byte key fits
_USE_RECORD_EVERY = 1.0  # seconds between writes of last_used
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_COLUMNS = "id, name, scope, allow, created, last_used, revoked"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@attrs.frozen
class ApiKey:
    """An API key's record; never the key itself nor its hash.

    Attributes:
        id: short, stable and not secret (``key_`` and 12 hex digits).
        name: what the administrator called it; unique among keys not revoked (any case).
        scope: its role: ``viewer`` (read), ``run`` (start jobs, read and halt the jobs
            it started), ``operator`` (read, start and halt any job) or ``admin``.
        allow: the networks it may be used from, normalised (``127.0.0.1/32``).
        created: Unix seconds.
        last_used: Unix seconds of the last successful verification (to about a second).
        revoked: True once revoked; a revoked key never verifies again.
    """

    id: str
    name: str
    scope: str
    allow: tuple[str, ...]
    created: float
    last_used: float | None
    revoked: bool


def _base58(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    out = ""
    while number:
        number, digit = divmod(number, 58)
        out = _ALPHABET[digit] + out
    return out.rjust(_KEY_CHARS, _ALPHABET[0])  # fixed width: leading zero digits


def _hash(key: str) -> str:
    # surrogatepass: any header text hashes (to nothing known) instead of raising.
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _network(entry: object) -> Network:
    if not isinstance(entry, str):
        raise BadRequest(f"{entry!r} is not an IP address or CIDR")
    try:
        net = ipaddress.ip_network(entry.strip(), strict=False)
    except ValueError:
        raise BadRequest(f"{entry!r} is not an IP address or CIDR") from None
    if isinstance(net, ipaddress.IPv6Network) and net.subnet_of(_MAPPED):
        # ::ffff:10.0.0.0/104 is 10.0.0.0/8: keep one spelling of each network.
        return ipaddress.IPv4Network((int(net.network_address) & 0xFFFFFFFF, net.prefixlen - 96))
    return net


def parse_allowlist(allow: Iterable[str]) -> tuple[str, ...]:
    """Validate and normalise an allowlist of addresses and CIDRs, IPv4 or IPv6.

    Args:
        allow: e.g. ``["127.0.0.1", "10.0.0.0/8", "::1", "2001:db8::/32"]``.

    Returns:
        The networks as text, host bits cleared, IPv4-mapped IPv6 written as IPv4.

    Raises:
        BadRequest: an empty list, or an entry that is no address or CIDR.
    """
    if isinstance(allow, (str, bytes)):
        raise BadRequest("an allowlist is a list of addresses or CIDRs, not one string")
    networks = tuple(str(_network(entry)) for entry in allow)
    if not networks:
        raise BadRequest("an API key needs an allowlist of at least one address or CIDR")
    return networks


def _admits(allow: tuple[str, ...], address: object) -> bool:
    if not isinstance(address, str):
        return False
    try:
        ip = ipaddress.ip_address(address.split("%")[0])  # drop an IPv6 zone (fe80::1%eth0)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped  # a dual-stack socket reports 127.0.0.1 as ::ffff:127.0.0.1
    for entry in allow:
        net = ipaddress.ip_network(entry)
        if net.version == ip.version and ip in net:
            return True
    return False


class ApiKeyStore:
    """API keys of the instance.

    Args:
        store: the instance database.
        clock: the time source (Unix seconds), for tests.
    """

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock

    def create(self, name: str, allow: Iterable[str], scope: str = "run") -> tuple[ApiKey, str]:
        """Make a key.

        Args:
            name: 1 to 200 printable characters, unique (any case) among keys not revoked.
            allow: addresses and CIDRs it may be used from (see :func:`parse_allowlist`).
            scope: ``viewer``, ``run``, ``operator`` or ``admin``.

        Returns:
            The record, and the key itself: shown this once, only its hash is kept.

        Raises:
            BadRequest: a bad or taken name, a bad scope or allowlist.
        """
        problem = name_problem(name, "API key")
        if problem:
            raise BadRequest(problem)
        if scope not in SCOPES:
            raise BadRequest(f"scope is one of {', '.join(SCOPES)}, not {scope!r}")
        networks = parse_allowlist(allow)
        key = _base58(secrets.token_bytes(_KEY_BYTES))
        key_id = "key_" + secrets.token_hex(6)
        with self._store.transaction() as db:
            taken = db.execute(
                "SELECT 1 FROM api_keys WHERE name = ? COLLATE NOCASE AND revoked = 0", (name,)
            ).fetchone()
            if taken:
                raise BadRequest(
                    f"an API key named {name!r} exists already: revoke it or choose another name"
                )
            db.execute(
                "INSERT INTO api_keys (id, name, hash, scope, allow, created)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (key_id, name, _hash(key), scope, json.dumps(networks), self._clock()),
            )
            audit.record(db, "api_key.create", name, id=key_id, scope=scope, allow=networks)
        return self.get(key_id), key

    def verify(self, key: str, remote_addr: str, need: str = "run") -> ApiKey:
        """The record of ``key`` if it may be used from ``remote_addr`` for ``need``.

        The key is looked up by its hash, so no comparison touches the key itself; no
        message holds it. ``last_used`` is written at most about once a second per key.

        Args:
            key: the ``X-API-Key`` header ("" or None when absent).
            remote_addr: the peer address of the request's socket.
            need: what the route needs, one of :data:`aft.roles.NEEDS`.

        Returns:
            The key's record.

        Raises:
            AuthError: no key, an unknown or a revoked key (HTTP 401).
            Forbidden: an address outside the allowlist, or a scope too small (HTTP 403).
            ValueError: ``need`` is not a need (a bug in the caller).
        """
        if need not in NEEDS:
            raise ValueError(f"need is one of {', '.join(NEEDS)}, not {need!r}")
        if not key or not isinstance(key, str):
            raise AuthError("an X-API-Key header is required")
        digest = _hash(key)
        rows = self._store.query(f"SELECT {_COLUMNS}, hash FROM api_keys WHERE hash = ?", (digest,))
        if not rows or not hmac.compare_digest(rows[0][-1], digest):
            self._refused("", "unknown API key", remote_addr)
            raise AuthError("unknown or revoked API key")
        record = _record(rows[0][:-1])
        if record.revoked:
            self._refused(record.name, f"revoked API key {record.id}", remote_addr)
            raise AuthError("unknown or revoked API key")
        if not _admits(record.allow, remote_addr):
            self._refused(record.name, f"API key {record.id} used from outside", remote_addr)
            raise Forbidden(f"API key {record.name!r} is not allowed from {remote_addr}")
        if not allows(record.scope, need):
            self._refused(record.name, f"API key {record.id} lacks {need}", remote_addr)
            raise Forbidden(
                f"API key {record.name!r} has scope {record.scope}; this needs {needed(need)}"
            )
        now = self._clock()
        if record.last_used is None or abs(now - record.last_used) >= _USE_RECORD_EVERY:
            try:
                self._store.execute(
                    "UPDATE api_keys SET last_used = ? WHERE id = ?", (now, record.id)
                )
            except sqlite3.OperationalError:
                pass  # database busy: last_used is bookkeeping, never a reason to refuse
            record = attrs.evolve(record, last_used=now)
        return record

    def _refused(self, name: str, reason: str, address: str) -> None:
        # Never the key: an unknown one may be another system's secret sent here by mistake.
        audit.record_now(self._store, "auth.refused", name, reason=reason, address=address)

    def get(self, id_or_name: str) -> ApiKey:
        """A key's record by id, or by name in any case (the live key before revoked ones).

        Raises:
            ApiKeyNotFound: no key has this id or name.
        """
        rows = self._store.query(
            f"SELECT {_COLUMNS} FROM api_keys WHERE id = ? OR name = ? COLLATE NOCASE"
            " ORDER BY id = ? DESC, revoked, created DESC LIMIT 1",
            (id_or_name, id_or_name, id_or_name),
        )
        if not rows:
            raise ApiKeyNotFound(f"no API key {id_or_name!r}")
        return _record(rows[0])

    def list(self) -> list[ApiKey]:
        """Every key's record, revoked ones too, oldest first; never a key or a hash."""
        rows = self._store.query(f"SELECT {_COLUMNS} FROM api_keys ORDER BY created, id")
        return [_record(row) for row in rows]

    def revoke(self, id_or_name: str) -> ApiKey:
        """Revoke a key: it fails verification from now on. Revoking twice is harmless.

        Returns:
            The revoked key's record.

        Raises:
            ApiKeyNotFound: no key has this id or name.
        """
        record = self.get(id_or_name)
        with self._store.transaction() as db:
            db.execute("UPDATE api_keys SET revoked = 1 WHERE id = ?", (record.id,))
            audit.record(db, "api_key.revoke", record.name, id=record.id)
        return attrs.evolve(record, revoked=True)


def _record(row: tuple) -> ApiKey:  # type: ignore[type-arg]
    key_id, name, scope, allow, created, last_used, revoked = row
    return ApiKey(key_id, name, scope, tuple(json.loads(allow)), created, last_used, bool(revoked))
