"""Secrets encrypted at rest, and the instance master key that encrypts them.

The master key is 32 random bytes in its own file (mode 0600, never in the database).
Each value is sealed with AES-256-GCM under a fresh nonce, with the secret's name as
associated data, so a ciphertext cannot be moved to another name unnoticed.

The database remembers a check value of the key it was first opened with (an HMAC of a
constant: it tells nothing about the key), so a node or a restored home holding another
key is refused at once instead of failing on every secret later.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from pathlib import Path

from aft import audit
from aft._store import Store
from aft.exceptions import ConfigError, SecretError, SecretNotFound
from aft.models import name_problem

_KEY_BYTES = 32
_NONCE_BYTES = 12
#: The settings row holding the master key's check value (not a setting users see).
KEY_CHECK_ROW = "_master_key_check"
#: A secret shorter than this is masked in logs only where it stands as a whole word (masked
#: everywhere, a one-letter secret would cut every word holding that letter), so it may show
#: inside other words; storing one draws a warning.
MIN_SECRET_LENGTH = 4


def short_secret_warning(what: str, value: str) -> str | None:
    """What to warn of when ``value`` (``what``: "secret NAME", a payload field...) is too
    short to mask everywhere; None when it is not (an empty value masks nothing)."""
    if not value or len(value) >= MIN_SECRET_LENGTH:
        return None
    return (
        f"{what} is shorter than {MIN_SECRET_LENGTH} characters: logs mask it only"
        " where it stands as a whole word, so it can show inside other words"
    )


class MasterKey:
    """The instance's data key, loaded from (or created in) ``path``.

    Raises:
        ConfigError: when the key file cannot be read, created, or is malformed.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._aead = None
        self._key = self._load_or_create()

    def _load_or_create(self) -> bytes:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            try:
                key = self.path.read_bytes()
            except OSError as exc:
                raise ConfigError(f"cannot read master key {self.path}: {exc.strerror}") from None
            if len(key) != _KEY_BYTES:
                raise ConfigError(f"master key {self.path} is damaged (wrong length)") from None
            return key
        except OSError as exc:
            raise ConfigError(f"cannot create master key {self.path}: {exc.strerror}") from None
        key = os.urandom(_KEY_BYTES)
        with os.fdopen(fd, "wb") as f:
            f.write(key)
            f.flush()
            os.fsync(f.fileno())
        return key

    def seal(self, plaintext: bytes, context: bytes) -> tuple[bytes, bytes]:
        """Encrypt ``plaintext`` bound to ``context``; returns ``(nonce, ciphertext)``."""
        nonce = os.urandom(_NONCE_BYTES)
        return nonce, self._cipher().encrypt(nonce, plaintext, context)

    def open(self, nonce: bytes, ciphertext: bytes, context: bytes) -> bytes:
        """Decrypt what :meth:`seal` produced. Raises SecretError when it does not verify."""
        from cryptography.exceptions import InvalidTag

        try:
            return self._cipher().decrypt(nonce, ciphertext, context)
        except InvalidTag:
            raise SecretError(
                f"a value for {context.decode(errors='replace')!r} does not decrypt:"
                " wrong master key or damaged database"
            ) from None

    def check_value(self) -> str:
        """A value that tells two keys apart and reveals nothing about either."""
        return hmac.new(self._key, b"aft master key check", hashlib.sha256).hexdigest()

    def _cipher(self):  # imported on first use: cryptography costs start-up time
        if self._aead is None:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            self._aead = AESGCM(self._key)
        return self._aead


def check_master_key(store: Store, key: MasterKey) -> None:
    """Record ``key`` as this database's master key, or refuse a different one.

    Raises:
        ConfigError: when the database was set up with another master key.
    """
    check = key.check_value()
    rows = store.query("SELECT value FROM settings WHERE key = ?", (KEY_CHECK_ROW,))
    if not rows:
        store.execute(
            "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO NOTHING",
            (KEY_CHECK_ROW, check),
        )
        rows = store.query("SELECT value FROM settings WHERE key = ?", (KEY_CHECK_ROW,))
    if not hmac.compare_digest(rows[0][0], check):
        raise ConfigError(
            f"master key {key.path} is not the one this database was set up with: copy"
            " master.key from another node of this instance (or restore it from a backup)"
        )


def check_name(name: object) -> str:
    """Validate a secret name (see :func:`aft.models.name_problem`)."""
    problem = name_problem(name, "secret")
    if problem:
        raise SecretError(problem)
    return str(name)


class SecretStore:
    """Named secrets, encrypted at rest. Names are case-sensitive.

    Args:
        store: the instance database.
        key: the instance master key.
    """

    def __init__(self, store: Store, key: MasterKey) -> None:
        self._store = store
        self._key = key

    def set(self, name: str, value: str) -> None:
        """Create or replace the secret ``name``; a value shorter than
        :data:`MIN_SECRET_LENGTH` is stored with a warning (logger ``aft.secrets``)."""
        check_name(name)
        if not isinstance(value, str):
            raise SecretError("a secret value is text")
        warning = short_secret_warning(f"secret {name}", value)
        if warning is not None:
            import logging

            logging.getLogger("aft.secrets").warning(warning)
        nonce, sealed = self._key.seal(value.encode(), b"secret:" + name.encode())
        with self._store.transaction() as db:
            db.execute(
                "INSERT INTO secrets (name, nonce, ciphertext, updated) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET nonce = excluded.nonce,"
                " ciphertext = excluded.ciphertext, updated = excluded.updated",
                (name, nonce, sealed, time.time()),
            )
            audit.record(db, "secret.set", name)  # the name only, never the value

    def get(self, name: str) -> str:
        """The plaintext of ``name``. Raises SecretNotFound."""
        rows = self._store.query("SELECT nonce, ciphertext FROM secrets WHERE name = ?", (name,))
        if not rows:
            raise SecretNotFound(f"no secret named {name!r}")
        return self._key.open(rows[0][0], rows[0][1], b"secret:" + name.encode()).decode()

    def names(self) -> list[str]:
        """Every secret's name, sorted; never a value."""
        return [row[0] for row in self._store.query("SELECT name FROM secrets ORDER BY name")]

    def delete(self, name: str) -> None:
        """Remove ``name``. Raises SecretNotFound."""
        with self._store.transaction() as db:
            if not db.execute("DELETE FROM secrets WHERE name = ?", (name,)).rowcount:
                raise SecretNotFound(f"no secret named {name!r}")
            audit.record(db, "secret.delete", name)
