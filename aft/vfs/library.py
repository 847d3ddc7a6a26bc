"""The VFS Library: named connection profiles whose credentials are encrypted at rest.

A profile is ``name`` (unique, case-insensitive), ``type`` (Disk, SFTP, FTP, S3, Azure,
GCP, R2FS), ``target`` (a URL-like locator holding no secret) and ``payload`` (a JSON object
of credentials, sealed with the instance master key and never returned by the public
methods except to open a connection).
"""

from __future__ import annotations

import json
import time
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from aft import audit
from aft._store import Store
from aft.exceptions import VfsConfigError, VfsExists, VfsNotFound, VfsPathError
from aft.models import name_problem
from aft.secrets_store import MasterKey
from aft.vfs import backend_class, schema_class
from aft.vfs.base import Vfs

#: Words of the REST API under /v1/vfs/ that a profile's name would shadow.
RESERVED_NAMES = ("hostkey", "test", "types")


class VfsProfile(NamedTuple):
    """A VFS Library entry, without its payload. (A NamedTuple, like aft.models: every
    ``aft run`` opens the library, and attrs would double its start-up time.)"""

    name: str
    type: str
    target: str
    created: float
    updated: float


def check_target(type_name: str, target: str) -> None:
    """Refuse a target that does not fit its type, by the rules of the type's backend (an
    SFTP target, for one, must pin the server's host key). No target holds a password.

    Raises:
        VfsError: unknown type.
        VfsPathError: a malformed target.
    """
    schema = schema_class(type_name)
    if not isinstance(target, str) or not target or "\x00" in target:
        raise VfsPathError("a VFS target is a non-empty string")
    try:
        password = urlsplit(target).password
    except ValueError:
        password = None  # a malformed URL: the backend says what is wrong with it
    if password is not None:
        raise VfsPathError("a target holds no password: put credentials in the payload")
    schema.check_target(target)


class VfsLibrary:
    """Named VFS profiles.

    Args:
        store: the instance database.
        key: the instance master key (encrypts payloads).
    """

    def __init__(self, store: Store, key: MasterKey) -> None:
        self._store = store
        self._key = key

    def add(
        self,
        name: str,
        type_name: str,
        target: str,
        payload: dict[str, Any] | None = None,
        *,
        replace: bool = False,
    ) -> VfsProfile:
        """Store a profile. Raises VfsExists when the name is taken (unless ``replace``)."""
        problem = name_problem(name, "VFS", reserved=RESERVED_NAMES)
        if problem:
            raise VfsConfigError(problem)
        check_target(type_name, target)
        payload = payload or {}
        if not isinstance(payload, dict):
            raise VfsConfigError("a VFS payload is a JSON object")
        warnings = short_value_warnings(name, payload)
        if warnings:
            import logging

            for warning in warnings:
                logging.getLogger("aft.secrets").warning(warning)
        nonce, sealed = self._key.seal(json.dumps(payload).encode(), self._context(name))
        now = time.time()
        with self._store.transaction() as db:
            exists = db.execute(
                "SELECT created FROM vfs_profiles WHERE name = ?", (name,)
            ).fetchone()
            if exists and not replace:
                raise VfsExists(f"a VFS named {name!r} exists already")
            db.execute("DELETE FROM vfs_profiles WHERE name = ?", (name,))
            db.execute(
                "INSERT INTO vfs_profiles VALUES (?, ?, ?, ?, ?, ?, ?)",
                (name, type_name, target, nonce, sealed, exists[0] if exists else now, now),
            )
            audit.record(
                db,
                "vfs.update" if exists else "vfs.add",
                name,
                type=type_name,
                target=target,
                payload_fields=sorted(payload),
            )
        return self.get(name)

    def update(
        self,
        name: str,
        type_name: str | None = None,
        target: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> VfsProfile:
        """Change a profile's type, target or payload in place; what is None stays.

        Raises:
            VfsNotFound: no such profile.
            VfsError, VfsPathError: a bad type, target or payload.
        """
        current = self.get(name)
        return self.add(
            current.name,
            type_name or current.type,
            target or current.target,
            self.payload(current.name) if payload is None else payload,
            replace=True,
        )

    def get(self, name: str) -> VfsProfile:
        """Raises VfsNotFound."""
        rows = self._store.query(
            "SELECT name, type, target, created, updated FROM vfs_profiles WHERE name = ?", (name,)
        )
        if not rows:
            raise VfsNotFound(f"no VFS named {name!r} in the library")
        return VfsProfile(*rows[0])

    def list(self) -> list[VfsProfile]:
        rows = self._store.query(
            "SELECT name, type, target, created, updated FROM vfs_profiles"
            " ORDER BY name COLLATE NOCASE"
        )
        return [VfsProfile(*row) for row in rows]

    def remove(self, name: str) -> None:
        """Raises VfsNotFound."""
        with self._store.transaction() as db:
            if not db.execute("DELETE FROM vfs_profiles WHERE name = ?", (name,)).rowcount:
                raise VfsNotFound(f"no VFS named {name!r} in the library")
            audit.record(db, "vfs.remove", name)

    def payload(self, name: str) -> dict[str, Any]:
        """The decrypted credentials of ``name``: for opening connections, never for display."""
        rows = self._store.query(
            "SELECT name, nonce, payload FROM vfs_profiles WHERE name = ?", (name,)
        )
        if not rows:
            raise VfsNotFound(f"no VFS named {name!r} in the library")
        stored_name, nonce, sealed = rows[0]
        return dict(json.loads(self._key.open(nonce, sealed, self._context(stored_name))))

    def open(self, name: str) -> Vfs:
        """A connection (opened lazily) to the VFS ``name``."""
        profile = self.get(name)
        return backend_class(profile.type).from_target(profile.target, self.payload(profile.name))

    @staticmethod
    def _context(name: str) -> bytes:
        return b"vfs:" + name.lower().encode()


def short_value_warnings(name: str, payload: dict[str, Any]) -> list[str]:
    """A warning for each payload string too short to be masked everywhere in logs (every
    payload value is masked like a secret)."""
    from aft.secrets_store import short_secret_warning

    found = (
        short_secret_warning(f"VFS {name} payload field {field}", value)
        for field, value in _strings(payload, "")
    )
    return [warning for warning in found if warning is not None]


def _strings(value: Any, where: str) -> list[tuple[str, str]]:
    """Every string in a payload with its place (``key``, ``key.inner``, ``key[0]``)."""
    if isinstance(value, str):
        return [(where, value)]
    if isinstance(value, dict):
        return [f for k, v in value.items() for f in _strings(v, f"{where}.{k}" if where else k)]
    if isinstance(value, list):
        return [f for i, v in enumerate(value) for f in _strings(v, f"{where}[{i}]")]
    return []


def secret_values(payload: Any) -> list[str]:
    """Every string in a payload: the values a log line must never show."""
    if isinstance(payload, str):
        return [payload]
    if isinstance(payload, dict):
        return [v for item in payload.values() for v in secret_values(item)]
    if isinstance(payload, list):
        return [v for item in payload for v in secret_values(item)]
    return []
