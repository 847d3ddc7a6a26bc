"""The transfer journal and live progress: one record per file a job moves, and a running
count of files and bytes.

A :class:`Tracker` follows one run. Whatever moves a file (:func:`aft.vfs.base.copy_file`,
a client's Upload or Download, a VirtualFS method, a local helper) asks it for a
:class:`FileRecord` when the file starts and ends that record with its outcome; the bytes
go through :meth:`FileRecord.add` as they stream, which counts them for the progress and,
when the tracker journals, hashes them (SHA-256). Transfers run in several threads at once:
every method here is thread-safe.

Records form a hash chain, as the audit trail does (:mod:`aft.audit`): each carries the
hash of the one before, so ``aft audit verify`` finds one that was edited or deleted.

A :class:`Journal` writes a job's records and its latest progress to the instance
database from a thread of its own: records wait in memory and go in one write transaction
every ``every`` seconds or every ``batch`` records, and the rest when it is closed, so a
batch of many small files costs few transactions. :class:`TransferLog` reads the records.

Operations are ``upload``, ``download``, ``copy``, ``move``, ``delete`` and ``write`` (bytes
a script wrote to a VFS itself, ``WriteFileAs*``); a record's outcome is ``ok``, ``failed``
(with its error) or ``skipped`` (a file a transfer policy left alone, with the reason).
``attempt`` counts the tries a file took (a dropped connection is retried). ``checksum`` is
the server's own, as ``algorithm:hex``, where the protocol gives one.
"""

from __future__ import annotations

import fnmatch
import hashlib
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from aft.audit import TRANSFERS, chain_hash, chain_head

if TYPE_CHECKING:
    from aft._store import Store

OPERATIONS = ("upload", "download", "copy", "move", "delete", "write")
OUTCOMES = ("ok", "failed", "skipped")
_COLUMNS = f"seq, {TRANSFERS.fields}"
_INSERT = (
    f"INSERT INTO transfers ({_COLUMNS}, prev, hash)"
    f" VALUES ({', '.join('?' * (_COLUMNS.count(',') + 3))})"
)
_CAMEL = {"job_id": "jobId", "src_path": "srcPath", "dst_path": "dstPath"}
#: The fewest seconds between two calls of a progress callback (a file's end always calls).
PROGRESS_EVERY = 0.2


class Transfer(NamedTuple):
    """One file a job moved (or deleted).

    Attributes:
        seq: its position in the journal, from 1 (0 before it is written).
        job_id: the job ("" outside one).
        op: one of :data:`OPERATIONS`.
        src: the source: a VFS Library name, a client's host, ``local``, a VFS type, or
            ``script`` (with no path) for bytes a script wrote.
        src_path: the source path.
        dst: the destination, named as ``src`` ("" for a delete).
        dst_path: the destination path ("" for a delete).
        bytes: bytes written (for a delete: the file's size when known, else 0).
        sha256: hex SHA-256 of the bytes written, as they streamed (with OTFE, the stored
            form: encrypted on upload, plain on download; "" when not computed).
        checksum: the server's checksum, ``algorithm:hex`` ("" when none).
        started: Unix seconds.
        finished: Unix seconds.
        outcome: ``ok``, ``failed`` or ``skipped``.
        error: why it failed or was skipped ("" when it went).
        attempt: the tries it took, from 1.
    """

    seq: int
    job_id: str
    op: str
    src: str
    src_path: str
    dst: str
    dst_path: str
    bytes: int
    sha256: str
    checksum: str
    started: float
    finished: float
    outcome: str
    error: str
    attempt: int

    def to_json(self) -> dict[str, Any]:
        """The record as the REST API and ``aft transfers list --json`` give it (camelCase)."""
        return {_CAMEL.get(key, key): value for key, value in self._asdict().items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Transfer:
        """The inverse of :meth:`to_json`."""
        return cls(**{key: data[_CAMEL.get(key, key)] for key in cls._fields})


class Progress(NamedTuple):
    """Where a run stands.

    Attributes:
        files_done: files finished (failed ones included).
        files_failed: of those, the failed ones.
        files_total: files the run's batches announced, when known (None: unknown).
        bytes: bytes moved so far.
        rate: bytes per second since the first file started.
        current: the file last started that is still under way (None: none).
        elapsed: seconds since the first file started.
    """

    files_done: int
    files_failed: int
    files_total: int | None
    bytes: int
    rate: float
    current: str | None
    elapsed: float

    def to_json(self) -> dict[str, Any]:
        """As ``GET /v1/jobs/{id}`` gives it: camelCase keys."""
        return {
            "filesDone": self.files_done,
            "filesFailed": self.files_failed,
            "filesTotal": self.files_total,
            "bytes": self.bytes,
            "rate": round(self.rate, 1),
            "currentFile": self.current,
            "elapsed": round(self.elapsed, 3),
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Progress:
        """The progress :meth:`to_json` gave."""
        return cls(
            value["filesDone"],
            value["filesFailed"],
            value["filesTotal"],
            value["bytes"],
            value["rate"],
            value["currentFile"],
            value["elapsed"],
        )

    def line(self) -> str:
        """One line for a terminal: ``3/10 files, 12.0 MiB, 4.0 MiB/s, /in/a.csv``."""
        total = "" if self.files_total is None else f"/{self.files_total}"
        failed = f" ({self.files_failed} failed)" if self.files_failed else ""
        head = f"{self.files_done}{total} files{failed}, {size(self.bytes)}, {size(self.rate)}/s"
        return f"{head}, {self.current}" if self.current else head

    def summary(self) -> str:
        """The line a job's log ends with: files, bytes, time and rate."""
        failed = f" ({self.files_failed} failed)" if self.files_failed else ""
        return (
            f"transferred {self.files_done} file{'s' if self.files_done != 1 else ''}{failed},"
            f" {self.bytes} bytes ({size(self.bytes)}) in {self.elapsed:.2f}s"
            f" ({size(self.rate)}/s)"
        )


def size(count: float) -> str:
    """``count`` bytes for a person: ``512 B``, ``1.5 KiB``, ``12.0 MiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


class FileRecord:
    """One file under way; :meth:`Tracker.start` makes it, :meth:`end` records it.

    Args:
        tracker: the run's tracker.
        op: the operation.
        src, src_path, dst, dst_path: what moves where (see :class:`Transfer`).
        hashing: compute SHA-256 over the bytes given to :meth:`add`.
    """

    __slots__ = (
        "tracker", "op", "src", "src_path", "dst", "dst_path", "bytes", "checksum",
        "started", "attempt", "hash", "ended",
    )  # fmt: skip

    def __init__(
        self,
        tracker: Tracker,
        op: str,
        src: str,
        src_path: str,
        dst: str,
        dst_path: str,
        hashing: bool,
    ) -> None:
        self.tracker = tracker
        self.op, self.src, self.src_path, self.dst, self.dst_path = op, src, src_path, dst, dst_path
        self.bytes = 0
        self.checksum = ""
        self.started = time.time()
        self.attempt = 1
        self.hash: Any = hashlib.sha256() if hashing else None
        self.ended = False

    def add(self, chunk: bytes) -> None:
        """Bytes that were written: hashed when journaling, and counted."""
        if self.hash is not None:
            self.hash.update(chunk)
        self.count(len(chunk))

    def count(self, n: int) -> None:
        """``n`` bytes that were written without passing through :meth:`add`."""
        self.bytes += n
        self.tracker._moved(n)

    def retry(self) -> None:
        """The next attempt starts over: what the last one wrote no longer counts."""
        self.tracker._moved(-self.bytes)
        self.bytes = 0
        self.attempt += 1
        if self.hash is not None:
            self.hash = hashlib.sha256()

    def end(self, error: BaseException | str | None = None) -> None:
        """Record the file: done, or failed with ``error`` (once; later calls do nothing)."""
        if self.ended:
            return
        self.ended = True
        text = "" if error is None else " ".join(str(error).split()) or type(error).__name__
        digest = "" if self.hash is None or error is not None else self.hash.hexdigest()
        self.tracker._ended(
            self,
            Transfer(
                0,
                self.tracker.job_id,
                self.op,
                self.src,
                self.src_path,
                self.dst,
                self.dst_path,
                self.bytes,
                digest,
                self.checksum,
                self.started,
                time.time(),
                "failed" if error is not None else "ok",
                text,
                self.attempt,
            ),
        )


class Tracker:
    """Follows one run's transfers: the progress, and a record per file for a journal.

    Args:
        on_progress: called with a :class:`Progress` as files start and end and bytes
            move (at most every :data:`PROGRESS_EVERY` seconds, but always when a file
            ends), from whichever thread moved them.
        journal: where records go (None: nowhere, and nothing is hashed).
        job_id: the job the records belong to.
        op: the operation of the files :func:`~aft.vfs.base.copy_file` moves through
            this tracker (see :meth:`doing`).
    """

    def __init__(
        self,
        *,
        on_progress: Callable[[Progress], object] | None = None,
        journal: Journal | None = None,
        job_id: str = "",
        op: str = "copy",
    ) -> None:
        if op not in OPERATIONS:
            raise ValueError(f"op must be one of {', '.join(OPERATIONS)}, not {op!r}")
        self.on_progress = on_progress
        self.journal = journal
        self.job_id = job_id
        self.op = op
        self._state = _State()
        if journal is not None:
            journal.watch(self)

    @classmethod
    def of(cls, progress: Callable[[Progress], object] | Tracker | None) -> Tracker | None:
        """``progress`` if it is a tracker, a tracker calling it if it is a callback."""
        if progress is None or isinstance(progress, Tracker):
            return progress
        return cls(on_progress=progress)

    def doing(self, op: str) -> Tracker:
        """This tracker (the same counts and journal), naming its copies ``op``."""
        twin = Tracker(on_progress=self.on_progress, job_id=self.job_id, op=op)
        twin.journal, twin._state = self.journal, self._state
        return twin

    @property
    def hashing(self) -> bool:
        """Whether records carry a SHA-256 (only when they go to a journal that keeps them)."""
        return self.journal is not None and self.journal.transfers

    def expect(self, files: int) -> None:
        """``files`` more files are about to start (a batch that knows its size)."""
        with self._state.lock:
            self._state.total = (self._state.total or 0) + files

    def start(
        self,
        src: str,
        src_path: str,
        dst: str,
        dst_path: str,
        op: str = "",
        started: float | None = None,
    ) -> FileRecord:
        """A file starts moving (``op``: this tracker's, unless given; ``started``: when it
        started, if not now)."""
        record = FileRecord(self, op or self.op, src, src_path, dst, dst_path, self.hashing)
        if started is not None:
            record.started = started
        if self.journal is not None:
            self.journal.wake()
        state = self._state
        with state.lock:
            state.first = state.first or record.started
            state.current = src_path
            state.active += 1
            state.changed = True
        return record

    def note(
        self,
        op: str,
        src: str,
        src_path: str,
        dst: str = "",
        dst_path: str = "",
        *,
        error: BaseException | None = None,
        size: int = 0,
    ) -> None:
        """Record an operation on one file that moves no bytes (a delete, a rename)."""
        if self.journal is None or not self.journal.transfers:
            return
        text = "" if error is None else " ".join(str(error).split()) or type(error).__name__
        now = time.time()
        outcome = "failed" if error is not None else "ok"
        self.journal.add(
            Transfer(
                0,
                self.job_id,
                op,
                src,
                src_path,
                dst,
                dst_path,
                size,
                "",
                "",
                now,
                now,
                outcome,
                text,
                1,
            )
        )

    def skip(self, src: str, src_path: str, dst: str, dst_path: str, why: str) -> None:
        """A file of a batch that a policy left alone: it counts as done, and is recorded
        ``skipped`` with ``why``."""
        state = self._state
        with state.lock:
            state.done += 1
            state.changed = True
        if self.journal is not None and self.journal.transfers:
            now = time.time()
            where = (src, src_path, dst, dst_path)
            self.journal.add(
                Transfer(0, self.job_id, self.op, *where, 0, "", "", now, now, "skipped", why, 1)
            )

    def snapshot(self) -> Progress:
        """The progress now."""
        state = self._state
        with state.lock:
            elapsed = time.time() - state.first if state.first else 0.0
            return Progress(
                state.done,
                state.failed,
                state.total,
                state.bytes,
                state.bytes / elapsed if elapsed > 0 else 0.0,
                state.current if state.active else None,
                elapsed,
            )

    @property
    def moved_any(self) -> bool:
        """Whether any file was started."""
        return self._state.first is not None

    def take_change(self) -> bool:
        """Whether anything changed since the last call (for a writer that polls)."""
        state = self._state
        with state.lock:
            changed, state.changed = state.changed, False
        return changed

    def close(self) -> None:
        """Write what the journal still holds, and stop its thread."""
        if self.journal is not None:
            self.journal.close()

    def _moved(self, n: int) -> None:
        state = self._state
        with state.lock:
            state.bytes += n
            state.changed = True
            due = self.on_progress is not None and time.monotonic() - state.told >= PROGRESS_EVERY
            if due:
                state.told = time.monotonic()
        if due:
            self._tell()

    def _ended(self, record: FileRecord, transfer: Transfer) -> None:
        state = self._state
        with state.lock:
            state.done += 1
            state.active -= 1
            state.failed += transfer.outcome != "ok"
            state.changed = True
            state.told = time.monotonic()
        if self.journal is not None and self.journal.transfers:
            self.journal.add(transfer)
        self._tell()

    def _tell(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.snapshot())


class _State:
    """The counts a tracker and its :meth:`Tracker.doing` twins share."""

    __slots__ = (
        "lock", "done", "failed", "total", "bytes", "first", "current", "active", "changed",
        "told",
    )  # fmt: skip

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done = self.failed = self.bytes = self.active = 0
        self.total: int | None = None
        self.first: float | None = None
        self.current: str | None = None
        self.changed = False
        self.told = 0.0


class Journal:
    """Writes one job's transfer records and progress to the instance database.

    Records wait in memory; a thread writes them in one transaction every ``every``
    seconds or as soon as ``batch`` are waiting, together with the job's progress when it
    changed. :meth:`close` writes the rest. Use it as a context manager.

    Args:
        store: the instance database.
        job_id: the job.
        transfers: keep a record per file (the setting ``transfer_journal``); without it
            only the progress is written.
        every: seconds between writes.
        batch: records that make a write at once.
    """

    def __init__(
        self,
        store: Store,
        job_id: str,
        *,
        transfers: bool = True,
        every: float = 0.25,
        batch: int = 500,
    ) -> None:
        self._store = store
        self.job_id = job_id
        self.transfers = transfers
        self._every = every
        self._batch = batch
        self._pending: list[Transfer] = []
        self._lock = threading.Lock()
        self._writing = threading.Lock()
        self._wake = threading.Event()
        self._stop = False
        self._trackers: list[Tracker] = []
        self._thread: threading.Thread | None = None  # started by the first file

    def wake(self) -> None:
        """Start the writer thread, once: a run that moves no file costs no thread."""
        if self._thread is None:
            with self._lock:
                if self._thread is None and not self._stop:
                    self._thread = threading.Thread(
                        target=self._loop, daemon=True, name="aft-journal"
                    )
                    self._thread.start()

    def watch(self, tracker: Tracker) -> None:
        """Write ``tracker``'s progress as the job's (the last one watched wins)."""
        self._trackers = [tracker]

    def add(self, record: Transfer) -> None:
        """Queue a record; any thread."""
        self.wake()
        with self._lock:
            self._pending.append(record)
            full = len(self._pending) >= self._batch
        if full:
            self._wake.set()

    def flush(self) -> None:
        """Write what is waiting now (and the progress, if it changed)."""
        with self._writing:
            with self._lock:
                records, self._pending = self._pending, []
            tracker = self._trackers[0] if self._trackers else None
            progress = tracker.snapshot() if tracker and tracker.take_change() else None
            if not records and progress is None:
                return
            try:
                with self._store.transaction() as db:
                    if records:
                        db.executemany(_INSERT, _chained(db, records))
                    if progress is not None:
                        db.execute(
                            "UPDATE jobs SET progress = ? WHERE id = ?",
                            (json.dumps(progress.to_json()), self.job_id),
                        )
            except BaseException:
                with self._lock:  # kept for the next write: nothing is lost
                    self._pending[:0] = records
                raise

    def close(self) -> None:
        """Write everything left and stop the thread (once; later calls only flush)."""
        if not self._stop:
            with self._lock:
                self._stop = True
            self._wake.set()
            if self._thread is not None:
                self._thread.join()
        self.flush()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _loop(self) -> None:
        while not self._stop:
            self._wake.wait(self._every)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - a busy database: the next round writes them
                pass


def _chained(db: Any, records: list[Transfer]) -> list[tuple[Any, ...]]:
    """The rows of ``records``, each numbered and chained to the one before (see
    :mod:`aft.audit`), read and written in the caller's write transaction."""
    seq, prev = chain_head(db, TRANSFERS)
    rows = []
    for record in records:
        seq += 1
        fields = record[1:]
        digest = chain_hash((*fields, prev))
        rows.append((seq, *fields, prev, digest))
        prev = digest
    return rows


def csv_lines(records: Iterable[Transfer]) -> Iterator[str]:
    """``records`` as CSV: a header line of the field names, then one line each."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in itertools.chain([Transfer._fields], records):
        writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def job_progress(store: Store, job_id: str) -> dict[str, Any] | None:
    """The progress a :class:`Journal` last wrote for ``job_id`` (None: none yet)."""
    rows = store.query("SELECT progress FROM jobs WHERE id = ?", (job_id,))
    return json.loads(rows[0][0]) if rows and rows[0][0] else None


class TransferLog:
    """Reading the transfer journal.

    Args:
        store: the instance database.
    """

    def __init__(self, store: Store) -> None:
        self._store = store

    def every(self, **filters: Any) -> Iterator[Transfer]:
        """Every record :meth:`list` with these filters gives, page after page."""
        cursor = None
        while True:
            records, cursor = self.list(**filters, limit=1000, cursor=cursor)
            yield from records
            if cursor is None:
                return

    def list(
        self,
        *,
        job_id: str | None = None,
        since: float | None = None,
        until: float | None = None,
        path: str | None = None,
        failed: bool = False,
        limit: int = 100,
        cursor: int | None = None,
    ) -> tuple[list[Transfer], int | None]:
        """Records, oldest first, and the cursor of the next page (None at the end).

        Args:
            job_id: only this job's.
            since: only those started at or after this Unix time.
            until: only those started before this Unix time.
            path: only those whose source or destination path matches this glob
                (``*``, ``?``, ``[...]``; ``*`` also matches ``/``).
            failed: only failed ones.
            limit: records per page.
            cursor: what the previous page returned.
        """
        if limit < 1:
            raise ValueError("limit must be 1 or more")
        where: list[str] = ["seq > ?"]
        args: list[object] = [cursor or 0]
        for clause, value in (
            ("job_id = ?", job_id),
            ("started >= ?", since),
            ("started < ?", until),
        ):
            if value is not None:
                where.append(clause)
                args.append(value)
        if failed:
            where.append("outcome = 'failed'")
        found: list[Transfer] = []
        matches = None if path is None else fnmatch.translate(path)
        pattern = None if matches is None else re.compile(matches)
        while True:  # a path glob filters here, page by page
            rows = self._store.query(
                f"SELECT {_COLUMNS} FROM transfers WHERE {' AND '.join(where)}"
                " ORDER BY seq LIMIT ?",
                (*args, max(limit + 1, 500) if pattern else limit + 1),
            )
            for row in rows:
                record = Transfer(*row)
                if (
                    pattern is None
                    or pattern.match(record.src_path)
                    or (record.dst_path and pattern.match(record.dst_path))
                ):
                    found.append(record)
                    if len(found) > limit:
                        return found[:limit], found[limit - 1].seq
            if pattern is None or len(rows) < max(limit + 1, 500):
                return found, None
            args[0] = rows[-1][0]
