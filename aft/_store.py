"""The instance database: the :class:`Store` interface and its SQLite implementation.

Every store of the package (settings, secrets, scripts, jobs, ...) talks to a :class:`Store`:
``query``, ``execute`` and a re-entrant write ``transaction()``, in SQLite's dialect (``?``
placeholders). :class:`SqliteStore` is the embedded default; :class:`aft._pgstore.PostgresStore`
is the same interface on PostgreSQL, for several nodes.

SQLite migrations are an append-only list; ``PRAGMA user_version`` counts how many have been
applied. A database written by a newer aft (a higher user_version) is refused rather
than guessed at.

A :class:`Store` may be shared by threads: each thread gets its own connection, so one
thread's transaction never interleaves with another's. Several processes (the service
and its workers) use the same file; SQLite's locks and ``busy_timeout`` serialise them.
Commits use ``synchronous = NORMAL``: in WAL mode that survives any crash of aft
itself (``kill -9`` included), though not a power cut in the last moments.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Protocol

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
    """
    CREATE TABLE jobs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        script_id TEXT,
        script_name TEXT NOT NULL,
        source TEXT NOT NULL,
        params TEXT NOT NULL,
        trigger TEXT NOT NULL,
        api_key_id TEXT,
        state TEXT NOT NULL,
        exit_code INTEGER,
        error TEXT,
        error_line INTEGER,
        attempt INTEGER NOT NULL,
        max_attempts INTEGER NOT NULL,
        retry_backoff REAL NOT NULL,
        retry_of TEXT,
        not_before REAL NOT NULL,
        created REAL NOT NULL,
        started REAL,
        finished REAL,
        worker TEXT,
        halt_requested REAL
    );
    CREATE INDEX jobs_by_state ON jobs (state, not_before, seq);
    CREATE TABLE job_logs (
        job_id TEXT NOT NULL,
        n INTEGER NOT NULL,
        time REAL NOT NULL,
        level TEXT NOT NULL,
        text TEXT NOT NULL,
        PRIMARY KEY (job_id, n)
    ) WITHOUT ROWID;
    """,
    """
    CREATE TABLE vfs_profiles (
        name TEXT PRIMARY KEY COLLATE NOCASE,
        type TEXT NOT NULL,
        target TEXT NOT NULL,
        nonce BLOB NOT NULL,
        payload BLOB NOT NULL,
        created REAL NOT NULL,
        updated REAL NOT NULL
    );
    """,
    """
    CREATE TABLE scripts (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        source TEXT NOT NULL,
        retries INTEGER NOT NULL,
        retry_backoff REAL NOT NULL,
        created REAL NOT NULL,
        updated REAL NOT NULL
    );
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        scope TEXT NOT NULL,
        allow TEXT NOT NULL,
        created REAL NOT NULL,
        last_used REAL,
        revoked INTEGER NOT NULL DEFAULT 0
    );
    """,
    """
    CREATE TABLE accounts (
        id TEXT PRIMARY KEY,
        username TEXT NOT NULL UNIQUE COLLATE NOCASE,
        hash TEXT NOT NULL,
        created REAL NOT NULL,
        updated REAL NOT NULL,
        last_login REAL
    );
    CREATE TABLE ui_sessions (
        token_hash TEXT PRIMARY KEY,
        account_id TEXT NOT NULL,
        csrf TEXT NOT NULL,
        created REAL NOT NULL,
        seen REAL NOT NULL
    );
    CREATE INDEX ui_sessions_by_account ON ui_sessions (account_id);
    """,
    """
    CREATE TABLE schedules (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        script TEXT NOT NULL,
        cron TEXT NOT NULL,
        timezone TEXT NOT NULL,
        params TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        overlap TEXT NOT NULL,
        catch_up INTEGER NOT NULL,
        next_run REAL,
        last_run REAL,
        last_job_id TEXT,
        held INTEGER NOT NULL DEFAULT 0,
        created REAL NOT NULL,
        updated REAL NOT NULL
    );
    CREATE INDEX schedules_by_next_run ON schedules (enabled, next_run);
    """,
    # Every job and stored script has a worker group, on a single node too.
    """
    ALTER TABLE jobs ADD COLUMN grp TEXT NOT NULL DEFAULT 'default';
    ALTER TABLE scripts ADD COLUMN grp TEXT NOT NULL DEFAULT 'default';
    """,
    # A client's Idempotency-Key on POST /v1/jobs: a repeated request gets the first job.
    """
    CREATE TABLE idempotency (
        owner TEXT NOT NULL,
        key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        job_id TEXT NOT NULL,
        created REAL NOT NULL,
        PRIMARY KEY (owner, key)
    );
    CREATE INDEX idempotency_by_created ON idempotency (created);
    """,
    # A maximum run time per script (0: the instance's max_run_seconds), copied to its jobs,
    # and why a job was asked to halt.
    """
    ALTER TABLE scripts ADD COLUMN max_run_seconds INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN max_run_seconds REAL NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN halt_reason TEXT;
    """,
    # Set once, when the first node with a broker opens the database (PostgreSQL only; the
    # table is here too so that the two schemas keep the same tables).
    """
    CREATE TABLE cluster_info (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        since REAL NOT NULL,
        first_node TEXT NOT NULL
    );
    """,
    # The audit trail (aft.audit): append-only, each entry chained to the one before.
    """
    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY,
        time REAL NOT NULL,
        actor TEXT NOT NULL,
        address TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        detail TEXT NOT NULL,
        prev TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE INDEX audit_by_time ON audit (time);
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
    """,
    # Who or what started a job: the schedule, API key or account (a run of `aft run`:
    # the OS user).
    """
    ALTER TABLE jobs ADD COLUMN started_by TEXT;
    """,  # The transfer journal (aft.journal): a record per file a job moved; a job's progress.
    """
    CREATE TABLE transfers (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id TEXT NOT NULL,
        op TEXT NOT NULL,
        src TEXT NOT NULL,
        src_path TEXT NOT NULL,
        dst TEXT NOT NULL,
        dst_path TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        checksum TEXT NOT NULL,
        started REAL NOT NULL,
        finished REAL NOT NULL,
        outcome TEXT NOT NULL,
        error TEXT NOT NULL,
        attempt INTEGER NOT NULL
    );
    CREATE INDEX transfers_by_job ON transfers (job_id, seq);
    CREATE INDEX transfers_by_started ON transfers (started);
    ALTER TABLE jobs ADD COLUMN progress TEXT;
    """,
    # Notifications (aft.notify): rules per script or schedule, and each delivery, claimed
    # once per rule, job and event; jobs are found by when they ended.
    """
    CREATE TABLE notifications (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        script TEXT NOT NULL,
        schedule TEXT NOT NULL,
        events TEXT NOT NULL,
        minutes REAL NOT NULL,
        channel TEXT NOT NULL,
        recipients TEXT NOT NULL,
        url_secret TEXT NOT NULL,
        headers_secret TEXT NOT NULL,
        created REAL NOT NULL,
        updated REAL NOT NULL,
        last_sent REAL,
        last_result TEXT
    );
    CREATE TABLE notification_deliveries (
        notification_id TEXT NOT NULL,
        job_id TEXT NOT NULL,
        event TEXT NOT NULL,
        time REAL NOT NULL,
        result TEXT NOT NULL,
        PRIMARY KEY (notification_id, job_id, event)
    );
    CREATE INDEX jobs_by_finished ON jobs (finished);
    """,
    # Console accounts have a role (aft.roles); those made before roles are administrators.
    """
    ALTER TABLE accounts ADD COLUMN role TEXT NOT NULL DEFAULT 'admin';
    """,
    # Transfer records are chained as the audit trail is (aft.audit); a retention purge
    # deletes the head of a chain only up to the mark it set after recording a checkpoint.
    """
    CREATE TABLE purge_marks (
        chain TEXT PRIMARY KEY,
        upto INTEGER NOT NULL,
        hash TEXT NOT NULL
    );
    ALTER TABLE transfers ADD COLUMN prev TEXT NOT NULL DEFAULT '';
    ALTER TABLE transfers ADD COLUMN hash TEXT NOT NULL DEFAULT '';
    CREATE TRIGGER transfers_no_update BEFORE UPDATE ON transfers
    BEGIN SELECT RAISE(ABORT, 'the transfer journal is append-only'); END;
    CREATE TRIGGER transfers_no_delete BEFORE DELETE ON transfers
    WHEN OLD.seq > COALESCE((SELECT upto FROM purge_marks WHERE chain = 'transfers'), 0)
    BEGIN SELECT RAISE(ABORT, 'the transfer journal is append-only'); END;
    DROP TRIGGER audit_no_delete;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    WHEN OLD.seq > COALESCE((SELECT upto FROM purge_marks WHERE chain = 'audit'), 0)
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
    """,
)


def _statements(script: str) -> Iterator[str]:
    """The statements of a migration (a trigger's body holds ``;`` of its own)."""
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                yield pending
            pending = ""
    if pending.strip(" \n;"):
        yield pending


class Connection(Protocol):
    """What :meth:`Store.transaction` yields: the ``execute``/``executemany`` of a DB-API
    connection (a sqlite3 one, or the PostgreSQL store's translating wrapper)."""

    def execute(self, sql: str, args: Sequence[Any] = ...) -> Any: ...

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any: ...


class Store(Protocol):
    """The instance database, whichever engine holds it; safe to share between threads."""

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of one read."""
        ...

    def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Run one statement (in its own transaction unless one is open); rows changed."""
        ...

    def transaction(self) -> AbstractContextManager[Connection]:
        """A write transaction, serialised with every other writer; nested ones join it."""
        ...

    def close(self) -> None:
        """Close every connection."""
        ...


class SqliteStore:
    """The instance database in one SQLite file.

    Args:
        path: the database file; created and migrated on first use.
    Raises:
        StoreCorrupt: the file is not an aft database or is damaged.
        SchemaTooNew: the file was written by a newer aft.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        try:
            # Owner-only from the start; SQLite gives its -wal and -shm files the same mode.
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        except OSError as exc:
            raise StoreError(f"cannot open database {self.path}: {exc.strerror}") from None
        try:
            self._migrate(self._connection())
        except BaseException:
            self.close()
            raise

    def _connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is not None:
            return db
        try:
            db = sqlite3.connect(
                self.path, isolation_level=None, timeout=10.0, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open database {self.path}: {exc}") from None
        try:
            db.execute("PRAGMA busy_timeout = 10000")
            db.execute("PRAGMA secure_delete = ON")
            db.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.DatabaseError as exc:
            db.close()
            raise self._corrupt(exc) from None
        with self._lock:
            self._connections.append(db)
        self._local.db = db
        return db

    def _corrupt(self, exc: Exception) -> StoreCorrupt:
        return StoreCorrupt(
            f"{self.path} is not a usable aft database ({exc}); move it away to start afresh"
        )

    def _migrate(self, db: sqlite3.Connection) -> None:
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                raise SchemaTooNew(
                    f"{self.path} has schema version {version}, newer than this aft knows"
                    f" ({len(MIGRATIONS)}): upgrade aft"
                )
            if version == len(MIGRATIONS):
                return
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode = WAL")
            with self.transaction():
                # Re-read inside the write lock: another process may have migrated meanwhile.
                version = db.execute("PRAGMA user_version").fetchone()[0]
                for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                    for statement in _statements(script):
                        db.execute(statement)
                    db.execute(f"PRAGMA user_version = {number}")
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(exc) from None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``) on this thread's connection; inside one
        already open, the same transaction (it commits or rolls back with the outer one)."""
        db = self._connection()
        if db.in_transaction:
            yield db
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._connection().execute(sql, args).fetchall()

    def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Run one statement in its own transaction; returns the number of rows changed."""
        return self._connection().execute(sql, args).rowcount

    def close(self) -> None:
        """Close every thread's connection."""
        with self._lock:
            for db in self._connections:
                db.close()
            self._connections.clear()
        self._local = threading.local()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
