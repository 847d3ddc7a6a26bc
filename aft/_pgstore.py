"""PostgresStore: the instance database on PostgreSQL, shared by every node of a cluster.

It implements the :class:`aft._store.Store` interface (``query``, ``execute``,
``transaction()``), so the stores built on it (scripts, VFS Library, secrets, API keys,
settings, jobs and their logs) run unchanged. What differs is translated here:

- placeholders: ``?`` becomes ``%s`` (and a literal ``%`` becomes ``%%``);
- ``COLLATE NOCASE`` is dropped: the columns compared that way are ``citext``;
- Python booleans are sent as the integers 0 and 1, the way SQLite stores them;
- ``transaction()`` takes one cluster-wide advisory lock, so write transactions are
  serialised as SQLite's ``BEGIN IMMEDIATE`` serialises them: a read-then-write inside one
  (a compare-and-set, a uniqueness check) holds across every node;
- a statement that gets no answer within its deadline ends: a watchdog shuts its
  connection's socket down (the next call connects afresh), so a path to the server that
  swallows packets without a reset can block no caller for longer than the deadline; the
  connection's failures (lost, refused, timed out, cancelled) are :class:`StoreError`.

The schema has its own migrations, kept in step with :data:`aft._store.MIGRATIONS` (same
tables and columns), plus what only a cluster needs on ``jobs``: the worker group, when
its message was sent, and the worker's heartbeat. Case folding differs slightly: SQLite's
NOCASE folds ASCII letters only, ``citext`` folds every letter.
"""

from __future__ import annotations

import functools
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

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
    # aft._store migration 10: set once, when the first node with a broker opens the
    # database; from then on a node without a broker refuses to serve it.
    """
    CREATE TABLE cluster_info (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        since DOUBLE PRECISION NOT NULL,
        first_node TEXT NOT NULL
    );
    """,
    # aft._store migration 11: the audit trail, append-only.
    """
    CREATE TABLE audit (
        seq BIGINT PRIMARY KEY,
        time DOUBLE PRECISION NOT NULL,
        actor TEXT NOT NULL,
        address TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        detail TEXT NOT NULL,
        prev TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE INDEX audit_by_time ON audit (time);
    CREATE FUNCTION aft_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'the audit trail is append-only';
    END $$;
    CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit
        FOR EACH ROW EXECUTE FUNCTION aft_audit_append_only();
    CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
        FOR EACH STATEMENT EXECUTE FUNCTION aft_audit_append_only();
    """,
    # aft._store migration 12.
    """
    ALTER TABLE jobs ADD COLUMN started_by TEXT;
    """,  # aft._store migration 13: the transfer journal; a job's progress.
    """
    CREATE TABLE transfers (
        seq BIGSERIAL PRIMARY KEY,
        job_id TEXT NOT NULL,
        op TEXT NOT NULL,
        src TEXT NOT NULL,
        src_path TEXT NOT NULL,
        dst TEXT NOT NULL,
        dst_path TEXT NOT NULL,
        bytes BIGINT NOT NULL,
        sha256 TEXT NOT NULL,
        checksum TEXT NOT NULL,
        started DOUBLE PRECISION NOT NULL,
        finished DOUBLE PRECISION NOT NULL,
        outcome TEXT NOT NULL,
        error TEXT NOT NULL,
        attempt INTEGER NOT NULL
    );
    CREATE INDEX transfers_by_job ON transfers (job_id, seq);
    CREATE INDEX transfers_by_started ON transfers (started);
    ALTER TABLE jobs ADD COLUMN progress TEXT;
    """,
    # aft._store's notifications migration.
    """
    CREATE TABLE notifications (
        id TEXT PRIMARY KEY,
        name CITEXT NOT NULL UNIQUE,
        script CITEXT NOT NULL,
        schedule CITEXT NOT NULL,
        events TEXT NOT NULL,
        minutes DOUBLE PRECISION NOT NULL,
        channel TEXT NOT NULL,
        recipients TEXT NOT NULL,
        url_secret TEXT NOT NULL,
        headers_secret TEXT NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        updated DOUBLE PRECISION NOT NULL,
        last_sent DOUBLE PRECISION,
        last_result TEXT
    );
    CREATE TABLE notification_deliveries (
        notification_id TEXT NOT NULL,
        job_id TEXT NOT NULL,
        event TEXT NOT NULL,
        time DOUBLE PRECISION NOT NULL,
        result TEXT NOT NULL,
        PRIMARY KEY (notification_id, job_id, event)
    );
    CREATE INDEX jobs_by_finished ON jobs (finished);
    """,
    # aft._store: console accounts have a role; those made before roles are administrators.
    """
    ALTER TABLE accounts ADD COLUMN role TEXT NOT NULL DEFAULT 'admin';
    """,
    # aft._store: transfer records chained; a purge deletes a chain's head up to its mark.
    """
    CREATE TABLE purge_marks (
        chain TEXT PRIMARY KEY,
        upto BIGINT NOT NULL,
        hash TEXT NOT NULL
    );
    ALTER TABLE transfers ADD COLUMN prev TEXT NOT NULL DEFAULT '';
    ALTER TABLE transfers ADD COLUMN hash TEXT NOT NULL DEFAULT '';
    CREATE OR REPLACE FUNCTION aft_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            IF OLD.seq <= COALESCE(
                (SELECT upto FROM purge_marks WHERE chain = TG_TABLE_NAME), 0
            ) THEN
                RETURN OLD;
            END IF;
        END IF;
        IF TG_TABLE_NAME = 'transfers' THEN
            RAISE EXCEPTION 'the transfer journal is append-only';
        END IF;
        RAISE EXCEPTION 'the audit trail is append-only';
    END $$;
    CREATE TRIGGER transfers_no_change BEFORE UPDATE OR DELETE ON transfers
        FOR EACH ROW EXECUTE FUNCTION aft_audit_append_only();
    CREATE TRIGGER transfers_no_truncate BEFORE TRUNCATE ON transfers
        FOR EACH STATEMENT EXECUTE FUNCTION aft_audit_append_only();
    """,
)

# Any constant: the one advisory lock that every write transaction holds.
_WRITE_LOCK = 0x61667400
_MIGRATE_LOCK = 0x61667401
_NOCASE = re.compile(r"\s+COLLATE\s+NOCASE\b", re.IGNORECASE)
_TOKENS = re.compile(r"'(?:[^']|'')*'|\?|%")
_STATEMENT_TIMEOUT = re.compile(r"statement_timeout\s*=\s*(\d+(?:\.\d+)?)\s*(ms|s|min)?\b")
_UNITS = {None: 0.001, "ms": 0.001, "s": 1.0, "min": 60.0}
T = TypeVar("T")


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

    def __init__(self, raw: Any, call: Callable[[Any, Callable[[], Any]], Any]) -> None:
        self._raw = raw
        self._call = call

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Any:
        return self._call(self._raw, lambda: self._raw.execute(translate(sql), tuple(args)))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any:
        cursor = self._raw.cursor()
        rows = [tuple(r) for r in rows]
        if rows:
            self._call(self._raw, lambda: cursor.executemany(translate(sql), rows))
        return cursor


class _Watchdog:
    """Ends statements that run past a deadline: it shuts their connection's socket down,
    which makes the blocked call fail at once (the socket stays open until its owner closes
    it, so its descriptor is never reused under the caller)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._lock = threading.Condition()
        self._running: dict[int, tuple[float, Any]] = {}
        self._fired: set[int] = set()
        self._next = 0
        self._thread: threading.Thread | None = None

    def begin(self, raw: Any) -> int:
        """Watch a statement about to run on ``raw``; returns the key for :meth:`end`."""
        with self._lock:
            self._next += 1
            self._running[self._next] = (time.monotonic() + self.seconds, raw)
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="aft-db-deadline")
                self._thread.daemon = True
                self._thread.start()
            self._lock.notify()
            return self._next

    def end(self, key: int) -> bool:
        """Stop watching; True when the deadline passed and the connection was cut."""
        with self._lock:
            del self._running[key]
            if key in self._fired:
                self._fired.discard(key)
                return True
            return False

    def close(self) -> None:
        """Stop the watching thread (a later :meth:`begin` starts another)."""
        with self._lock:
            thread, self._thread = self._thread, None
            self._lock.notify_all()
        if thread is not None:
            thread.join(5)

    def _watch(self) -> None:
        with self._lock:
            while self._thread is threading.current_thread():
                now = time.monotonic()
                waiting = [
                    (deadline, key, raw)
                    for key, (deadline, raw) in self._running.items()
                    if key not in self._fired
                ]
                for deadline, key, raw in waiting:
                    if deadline <= now:
                        self._fired.add(key)
                        _shut_down(raw)
                nearest = min((d for d, _, _ in waiting if d > now), default=None)
                self._lock.wait(None if nearest is None else nearest - now)


def _shut_down(raw: Any) -> None:
    """Shut down the socket of a psycopg connection (from any thread)."""
    try:
        fd = raw.pgconn.socket
        sock = socket.socket(fileno=os.dup(fd))
    except Exception:  # closed meanwhile: nothing to cut
        return
    with sock:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class PostgresStore:
    """The instance database on PostgreSQL (psycopg 3), one connection per thread.

    Args:
        url: ``postgresql://user@host:port/dbname`` (libpq's URL form, with any of its
            connection parameters; see :meth:`aft.config.ClusterConfig.database_options`).
        deadline: seconds a statement may wait for its answer before its connection is cut
            and it fails with :class:`StoreError`; by default the URL's server-side
            ``statement_timeout`` plus a tenth of it (at least 1 s), or none when it sets
            none. Migrations have no deadline.
    Raises:
        StoreError: the database cannot be reached.
        SchemaTooNew: the database was migrated by a newer aft.
    """

    def __init__(self, url: str, *, deadline: float | None = None) -> None:
        self.url = url
        self.deadline = _deadline_of(url) if deadline is None else deadline
        self._watchdog = _Watchdog(self.deadline) if self.deadline else None
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
        from psycopg.conninfo import conninfo_to_dict

        defaults: dict[str, Any] = {"connect_timeout": 10, "fallback_application_name": "aft"}
        try:
            given = conninfo_to_dict(self.url)
            extra = {k: v for k, v in defaults.items() if k not in given}
            raw = psycopg.connect(self.url, autocommit=True, **extra)
        except psycopg.Error as exc:
            raise StoreError(
                f"cannot open database {redacted(self.url)}: {_one_line(exc)}"
            ) from None
        raw.adapters.register_dumper(bool, _bool_as_integer())
        with self._lock:
            self._pg_connections = [c for c in self._pg_connections if not c.closed]
            self._pg_connections.append(raw)
        conn = _Connection(raw, self._call)
        self._local.pg = conn
        return conn

    def _call(self, raw: Any, run: Callable[[], T]) -> T:
        """``run()``, a call on the connection ``raw``, within the deadline; a failure of the
        connection (lost, refused, cancelled, cut by the deadline) is a :class:`StoreError`."""
        import psycopg

        watchdog = self._watchdog
        key = watchdog.begin(raw) if watchdog is not None else 0
        try:
            result = run()
        except psycopg.Error as exc:
            if watchdog is not None and watchdog.end(key):
                raise StoreError(
                    f"database {redacted(self.url)} did not answer within {self.deadline:g}s"
                ) from None
            if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
                raise StoreError(f"database {redacted(self.url)}: {_one_line(exc)}") from None
            raise
        except BaseException:
            if watchdog is not None:
                watchdog.end(key)
            raise
        if watchdog is not None:
            watchdog.end(key)
        return result

    def _pg_migrate(self) -> None:
        conn = self._pg()
        with conn._raw.transaction():
            # However slow the migration: the URL's deadlines are for the stores' calls.
            conn._raw.execute("SET LOCAL statement_timeout = 0")
            conn._raw.execute("SET LOCAL idle_in_transaction_session_timeout = 0")
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
        block = conn._raw.transaction()
        self._call(conn._raw, block.__enter__)
        try:
            conn.execute("SELECT pg_advisory_xact_lock(?)", (_WRITE_LOCK,))
            yield conn
        except BaseException as exc:
            try:
                end = functools.partial(block.__exit__, type(exc), exc, exc.__traceback__)
                suppressed = self._call(conn._raw, end)
            except Exception:  # the connection is gone, and the transaction with it
                suppressed = False
            if not suppressed:
                raise
        else:
            self._call(conn._raw, lambda: block.__exit__(None, None, None))

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._pg().execute(sql, args).fetchall()  # type: ignore[no-any-return]

    def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Run one statement (in its own transaction unless one is open); rows changed."""
        return int(self._pg().execute(sql, args).rowcount)

    def close(self) -> None:
        """Close every thread's connection."""
        if self._watchdog is not None:
            self._watchdog.close()
        with self._lock:
            for raw in self._pg_connections:
                raw.close()
            self._pg_connections.clear()
        self._local = threading.local()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _deadline_of(url: str) -> float:
    """The default deadline of a statement on ``url``: its ``statement_timeout`` and a
    tenth more (at least 1 s); 0 (none) when the URL sets no statement timeout."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        options = str(conninfo_to_dict(url).get("options") or "")
    except Exception:  # a malformed URL: connecting says what is wrong with it
        return 0.0
    found = _STATEMENT_TIMEOUT.search(options)
    if found is None:
        return 0.0
    seconds = float(found.group(1)) * _UNITS[found.group(2)]
    return 0.0 if seconds <= 0 else seconds + max(1.0, seconds / 10)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())  # libpq's messages run over several lines


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
    """The URL without its password and its connection parameters, for messages."""
    return re.sub(r"(//[^:/@]+):[^@]*@", r"\1:***@", url.split("?", 1)[0])
