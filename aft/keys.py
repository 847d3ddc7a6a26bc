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
import time

import attrs

from aft._store import Store
from aft.exceptions import ApiKeyNotFound, AuthError, BadRequest, Forbidden

SCOPES = ("run", "admin")
_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_USE_RECORD_EVERY = 1.0  # seconds between writes of last_used


@attrs.frozen
class ApiKey:
    """An API key's record (never the key itself)."""

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
    return out.rjust(44, _ALPHABET[0])


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def parse_allowlist(allow: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Normalise addresses and CIDRs (IPv4 and IPv6). Raises BadRequest."""
    if isinstance(allow, str) or not allow:
        raise BadRequest("an API key needs an allowlist of at least one address or CIDR")
    networks = []
    for entry in allow:
        try:
            networks.append(str(ipaddress.ip_network(str(entry).strip(), strict=False)))
        except ValueError:
            raise BadRequest(f"{entry!r} is not an IP address or CIDR") from None
    return tuple(networks)


def _admits(allow: tuple[str, ...], address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    candidates = [ip]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        candidates.append(ip.ipv4_mapped)  # ::ffff:127.0.0.1 is 127.0.0.1
    return any(
        candidate in ipaddress.ip_network(net)
        for net in allow
        for candidate in candidates
        if candidate.version == ipaddress.ip_network(net).version
    )


class ApiKeyStore:
    """API keys of the instance.

    Args:
        store: the instance database.
    """

    def __init__(self, store: Store) -> None:
        self._store = store

    def create(
        self, name: str, allow: list[str] | tuple[str, ...], scope: str = "run"
    ) -> tuple[ApiKey, str]:
        """Make a key; returns its record and the key itself (shown this once, never stored)."""
        if (
            not isinstance(name, str)
            or not name.strip()
            or len(name) > 200
            or not name.isprintable()
        ):
            raise BadRequest("an API key name is 1 to 200 printable characters")
        if scope not in SCOPES:
            raise BadRequest(f"scope is one of {', '.join(SCOPES)}, not {scope!r}")
        networks = parse_allowlist(allow)
        key = _base58(secrets.token_bytes(32))
        key_id = "key_" + secrets.token_hex(6)
        self._store.execute(
            "INSERT INTO api_keys (id, name, hash, scope, allow, created)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (key_id, name, _hash(key), scope, json.dumps(networks), time.time()),
        )
        return self.get(key_id), key

    def verify(self, key: str, remote_addr: str, need_scope: str = "run") -> ApiKey:
        """The record of ``key`` if it may be used from ``remote_addr`` for ``need_scope``.

        Raises:
            AuthError: no key, an unknown or a revoked key (HTTP 401).
            Forbidden: an address outside the allowlist, or a scope too small (HTTP 403).
        """
        if not key:
            raise AuthError("an X-API-Key header is required")
        digest = _hash(key)
        rows = self._store.query(f"SELECT {_COLUMNS}, hash FROM api_keys WHERE hash = ?", (digest,))
        if not rows or not hmac.compare_digest(rows[0][-1], digest) or rows[0][6]:
            raise AuthError("unknown or revoked API key")
        record = _record(rows[0][:-1])
        if not _admits(record.allow, remote_addr):
            raise Forbidden(f"API key {record.name!r} is not allowed from {remote_addr}")
        if need_scope == "admin" and record.scope != "admin":
            raise Forbidden(f"API key {record.name!r} has scope {record.scope}; this needs admin")
        now = time.time()
        if record.last_used is None or now - record.last_used > _USE_RECORD_EVERY:
            self._store.execute("UPDATE api_keys SET last_used = ? WHERE id = ?", (now, record.id))
        return record

    def get(self, id_or_name: str) -> ApiKey:
        """A key's record by id or name (case-insensitive). Raises ApiKeyNotFound."""
        rows = self._store.query(
            f"SELECT {_COLUMNS} FROM api_keys WHERE id = ? OR name = ? COLLATE NOCASE"
            " ORDER BY revoked, created DESC",
            (id_or_name, id_or_name),
        )
        if not rows:
            raise ApiKeyNotFound(f"no API key {id_or_name!r}")
        return _record(rows[0])

    def list(self) -> list[ApiKey]:
        rows = self._store.query(f"SELECT {_COLUMNS} FROM api_keys ORDER BY created")
        return [_record(row) for row in rows]

    def revoke(self, id_or_name: str) -> ApiKey:
        """Revoke a key: it fails verification from now on. Raises ApiKeyNotFound."""
        record = self.get(id_or_name)
        self._store.execute("UPDATE api_keys SET revoked = 1 WHERE id = ?", (record.id,))
        return self.get(record.id)


_COLUMNS = "id, name, scope, allow, created, last_used, revoked"


def _record(row: tuple) -> ApiKey:  # type: ignore[type-arg]
    key_id, name, scope, allow, created, last_used, revoked = row
    return ApiKey(key_id, name, scope, tuple(json.loads(allow)), created, last_used, bool(revoked))
