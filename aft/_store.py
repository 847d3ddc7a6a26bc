"""The instance database: SQLite in WAL mode, with schema migrations.

Migrations are an append-only list; ``PRAGMA user_version`` counts how many have been
applied. A database written by a newer aft (a higher user_version) is refused rather
than guessed at.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aft.exceptions import SchemaTooNew, StoreCorrupt, StoreError

#: Append only: never edit a migration that has shipped.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE secrets (
        name TEXT PRIMARY KEY,
        nonce BLOB NOT NULL,
        ciphertext BLOB NOT NULL,
        updated REAL NOT NULL
    );
    """,
)


class Store:
    """A connection to the instance database.

    Args:
        path: the database file; created and migrated on first use.
    Raises:
        StoreCorrupt: the file is not an aft database or is damaged.
        SchemaTooNew: the file was written by a newer aft.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            # Owner-only from the start; SQLite gives its -wal and -shm files the same mode.
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            self._db = sqlite3.connect(
                self.path, isolation_level=None, timeout=10.0, check_same_thread=False
            )
        except OSError as exc:
            raise StoreError(f"cannot open database {self.path}: {exc.strerror}") from None
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open database {self.path}: {exc}") from None
        try:
            self._db.execute("PRAGMA busy_timeout = 10000")
            self._db.execute("PRAGMA secure_delete = ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StoreCorrupt(
                f"{self.path} is not a usable aft database ({exc}); move it away to start afresh"
            ) from None
        except BaseException:
            self._db.close()
            raise

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise SchemaTooNew(
                f"{self.path} has schema version {version}, newer than this aft knows"
                f" ({len(MIGRATIONS)}): upgrade aft"
            )
        if version == len(MIGRATIONS):
            return
        if self._db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            self._db.execute("PRAGMA journal_mode = WAL")
        with self.transaction():
            # Re-read inside the write lock: another process may have migrated meanwhile.
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in script.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {number}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``), committed on success."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._db.execute(sql, args).fetchall()

    def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Run one statement in its own transaction; returns the number of rows changed."""
        return self._db.execute(sql, args).rowcount

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
