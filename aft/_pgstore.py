"""PostgresStore: the instance database on PostgreSQL, shared by every node of a cluster.

It implements the :class:`aft._store.Store` interface (``query``, ``execute``,
``transaction()``), so the stores built on it (scripts, VFS Library, secrets, API keys,
settings, jobs and their logs) run unchanged. What differs is translated here:

- placeholders: ``?`` becomes ``%s`` (and a literal ``%`` becomes ``%%``);
- ``COLLATE NOCASE`` is dropped: the columns compared that way are ``citext``;
- Python booleans are sent as the integers 0 and 1, the way SQLite stores them;
- ``transaction()`` takes one cluster-wide advisory lock, so write transactions are
  serialised as SQLite's ``BEGIN IMMEDIATE`` serialises them: a read-then-write inside one
  (a compare-and-set, a uniqueness check) holds across every node.

The schema has its own migrations, kept in step with :data:`aft._store.MIGRATIONS` (same
tables and columns), plus what only a cluster needs on ``jobs``: the worker group, when
its message was sent, and the worker's heartbeat. Case folding differs slightly: SQLite's
NOCASE folds ASCII letters only, ``citext`` folds every letter.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from aft.exceptions import SchemaTooNew, StoreError

#: Append only, as for SQLite; the N-th entry is schema version N.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE EXTENSION IF NOT EXISTS citext;
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE secrets (
        name TEXT PRIMARY KEY,
        nonce BYTEA NOT NULL,
        ciphertext BYTEA NOT NULL,
        updated DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE jobs (
        seq BIGSERIAL PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        script_id TEXT,
        script_name CITEXT NOT NULL,
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
        retry_backoff DOUBLE PRECISION NOT NULL,
        retry_of TEXT,
        not_before DOUBLE PRECISION NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        started DOUBLE PRECISION,
        finished DOUBLE PRECISION,
        worker TEXT,
        halt_requested DOUBLE PRECISION,
        grp TEXT NOT NULL DEFAULT 'default',
        published DOUBLE PRECISION,
        heartbeat DOUBLE PRECISION
    );
    CREATE INDEX jobs_by_state ON jobs (state, not_before, seq);
    CREATE TABLE job_logs (
        job_id TEXT NOT NULL,
        n INTEGER NOT NULL,
        time DOUBLE PRECISION NOT NULL,
        level TEXT NOT NULL,
        text TEXT NOT NULL,
        PRIMARY KEY (job_id, n)
    );
    CREATE TABLE vfs_profiles (
        name CITEXT PRIMARY KEY,
        type TEXT NOT NULL,
        target TEXT NOT NULL,
        nonce BYTEA NOT NULL,
        payload BYTEA NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        updated DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE scripts (
        id TEXT PRIMARY KEY,
        name CITEXT NOT NULL UNIQUE,
        source TEXT NOT NULL,
        retries INTEGER NOT NULL,
        retry_backoff DOUBLE PRECISION NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        updated DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        name CITEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        scope TEXT NOT NULL,
        allow TEXT NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        last_used DOUBLE PRECISION,
        revoked INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE accounts (
        id TEXT PRIMARY KEY,
        username CITEXT NOT NULL UNIQUE,
        hash TEXT NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        updated DOUBLE PRECISION NOT NULL,
        last_login DOUBLE PRECISION
    );
    CREATE TABLE ui_sessions (
        token_hash TEXT PRIMARY KEY,
        account_id TEXT NOT NULL,
        csrf TEXT NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        seen DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX ui_sessions_by_account ON ui_sessions (account_id);
    """,
    # A retry runs in the same worker group as the job it retries, whoever queues it.
    """
    CREATE FUNCTION aft_retry_group() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.retry_of IS NOT NULL THEN
            NEW.grp := COALESCE((SELECT grp FROM jobs WHERE id = NEW.retry_of), NEW.grp);
        END IF;
        RETURN NEW;
    END $$;
    CREATE TRIGGER jobs_retry_group BEFORE INSERT ON jobs
        FOR EACH ROW EXECUTE FUNCTION aft_retry_group();
    CREATE INDEX jobs_running_heartbeat ON jobs (heartbeat) WHERE state = 'running';
    """,
    # The worker group a stored script's jobs run in (no row: the default group).
    """
    CREATE TABLE script_groups (
        script_id TEXT PRIMARY KEY REFERENCES scripts (id) ON DELETE CASCADE,
        grp TEXT NOT NULL
    );
    """,
    # Schedules (aft._store migration 6); the scheduler's compare-and-set on next_run
    # makes each firing happen once across every serve node.
    """
    CREATE TABLE schedules (
        id TEXT PRIMARY KEY,
        name CITEXT NOT NULL UNIQUE,
        script TEXT NOT NULL,
        cron TEXT NOT NULL,
        timezone TEXT NOT NULL,
        params TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        overlap TEXT NOT NULL,
        catch_up INTEGER NOT NULL,
        next_run DOUBLE PRECISION,
        last_run DOUBLE PRECISION,
        last_job_id TEXT,
        held INTEGER NOT NULL DEFAULT 0,
        created DOUBLE PRECISION NOT NULL,
        updated DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX schedules_by_next_run ON schedules (enabled, next_run);
    """,
    # A stored script's group is a column of scripts, as in SQLite (aft._store migration 7).
    """
    ALTER TABLE scripts ADD COLUMN grp TEXT NOT NULL DEFAULT 'default';
    UPDATE scripts SET grp = g.grp FROM script_groups g WHERE g.script_id = scripts.id;
    DROP TABLE script_groups;
    """,
    # aft._store migration 8.
    """
    CREATE TABLE idempotency (
        owner TEXT NOT NULL,
        key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        job_id TEXT NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (owner, key)
    );
    CREATE INDEX idempotency_by_created ON idempotency (created);
    """,
    # aft._store migration 9.
    """
    ALTER TABLE scripts ADD COLUMN max_run_seconds INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN max_run_seconds DOUBLE PRECISION NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN halt_reason TEXT;
    """,
)

# Any constant: the one advisory lock that every write transaction holds.
_WRITE_LOCK = 0x61667400
_MIGRATE_LOCK = 0x61667401
_NOCASE = re.compile(r"\s+COLLATE\s+NOCASE\b", re.IGNORECASE)
_TOKENS = re.compile(r"'(?:[^']|'')*'|\?|%")


def translate(sql: str) -> str:
    """SQLite-flavoured SQL as the stores write it, in PostgreSQL's dialect."""
    sql = _NOCASE.sub("", sql)

    def swap(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "?":
            return "%s"
        if token == "%":
            return "%%"
        return token.replace("%", "%%")  # a quoted literal: only its % needs escaping

    return _TOKENS.sub(swap, sql)


class _Connection:
    """What ``transaction()`` yields: the ``execute`` / ``executemany`` a sqlite3 connection has."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Any:
        return self._raw.execute(translate(sql), tuple(args))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any:
        cursor = self._raw.cursor()
        rows = [tuple(r) for r in rows]
        if rows:
            cursor.executemany(translate(sql), rows)
        return cursor


class PostgresStore:
    """The instance database on PostgreSQL (psycopg 3), one connection per thread.

    Args:
        url: ``postgresql://user@host:port/dbname`` (libpq's URL form).
    Raises:
        StoreError: the database cannot be reached.
        SchemaTooNew: the database was migrated by a newer aft.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._local = threading.local()
        self._pg_connections: list[Any] = []
        self._lock = threading.Lock()
        try:
            self._pg_migrate()
        except BaseException:
            self.close()
            raise

    def _pg(self) -> _Connection:
        conn: _Connection | None = getattr(self._local, "pg", None)
        if conn is not None and not conn._raw.closed:
            return conn
        import psycopg

        try:
            raw = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            reason = " ".join(str(exc).split())  # libpq's messages run over several lines
            raise StoreError(f"cannot open database {redacted(self.url)}: {reason}") from None
        raw.adapters.register_dumper(bool, _bool_as_integer())
        with self._lock:
            self._pg_connections.append(raw)
        conn = _Connection(raw)
        self._local.pg = conn
        return conn

    def _pg_migrate(self) -> None:
        conn = self._pg()
        with conn._raw.transaction():
            conn._raw.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATE_LOCK,))
            conn._raw.execute("CREATE TABLE IF NOT EXISTS aft_schema (version INTEGER NOT NULL)")
            row = conn._raw.execute("SELECT version FROM aft_schema").fetchone()
            version = 0 if row is None else int(row[0])
            if row is None:
                conn._raw.execute("INSERT INTO aft_schema (version) VALUES (0)")
            if version > len(MIGRATIONS):
                raise SchemaTooNew(
                    f"the database has schema version {version}, newer than this aft knows"
                    f" ({len(MIGRATIONS)}): upgrade aft"
                )
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                conn._raw.execute(script)
                conn._raw.execute("UPDATE aft_schema SET version = %s", (number,))

    @contextmanager
    def transaction(self) -> Iterator[_Connection]:
        """A write transaction, serialised cluster-wide (nested ones become savepoints)."""
        conn = self._pg()
        with conn._raw.transaction():
            conn._raw.execute("SELECT pg_advisory_xact_lock(%s)", (_WRITE_LOCK,))
            yield conn

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._pg().execute(sql, args).fetchall()  # type: ignore[no-any-return]

    def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Run one statement (in its own transaction unless one is open); rows changed."""
        return int(self._pg().execute(sql, args).rowcount)

    def close(self) -> None:
        """Close every thread's connection."""
        with self._lock:
            for raw in self._pg_connections:
                raw.close()
            self._pg_connections.clear()
        self._local = threading.local()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@functools.cache
def _bool_as_integer() -> type:
    """A psycopg dumper that sends True and False as the integers 1 and 0."""
    import psycopg
    from psycopg.adapt import Dumper

    class BoolAsInteger(Dumper):
        oid = psycopg.postgres.types["int4"].oid

        def dump(self, obj: bool) -> bytes:
            return b"1" if obj else b"0"

    return BoolAsInteger


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(//[^:/@]+):[^@]*@", r"\1:***@", url)
