"""The audit trail: an append-only, hash-chained log of administrative actions.

Every change to scripts, the VFS Library, secrets (their names, never their values), API
keys, settings, schedules and accounts, every sign-in and every refused authentication is
one entry, written by the store that makes the change, inside the same write transaction.
So the CLI, the REST API and the library leave the same trace, and an entry exists exactly
when its change committed.

Each entry carries the SHA-256 of the one before it (``prev``) and its own ``hash``: SHA-256
over a canonical encoding of its fields and ``prev``. The table refuses UPDATE and DELETE
(triggers); an edit made behind them (trigger dropped, file edited) breaks the chain, and
:meth:`AuditLog.verify` names the first entry that was changed, removed or inserted. The
previous hash is read and the new entry inserted in one write transaction, which every
writer (every process, every node) takes in turn, so the chain never forks.

The transfer journal (:mod:`aft.journal`) is a second chain, of the same kind, in the
``transfers`` table: each record carries the hash of the record before it. :meth:`AuditLog.verify`
and :meth:`AuditLog.verify_transfers` check them (``aft audit verify`` both).

Retention (:mod:`aft.retention`) deletes the oldest entries of a chain only after it wrote a
checkpoint: an audit entry ``retention.purge`` whose detail holds, per chain purged, the
range deleted (``from``, ``to``), the ``count`` and ``lastHash``, the hash of the last entry
deleted. A chain then starts after its newest checkpoint: its first entry must be ``to + 1``
and carry ``lastHash`` as its ``prev``; the checkpoint itself is an entry of the audit chain,
so it cannot be edited either. The purge sets the table's mark (``purge_marks``) up to which
the append-only triggers let rows be deleted.

Who acted comes from :func:`acting_as`, a context variable: the REST server sets it to the
calling account or API key; outside it, the actor is ``cli:`` and the operating system user.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import os
import time
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from aft._store import Connection, Store

#: The ``prev`` of the first entry.
GENESIS = "0" * 64
#: How many recent hashes :meth:`AuditLog.verify` remembers to tell an insertion.
_REMEMBERED = 4096
_COLUMNS = "seq, time, actor, address, action, target, detail, prev, hash"
# One encoder for every hash (json.dumps with options builds one a call: twice as slow).
_CANONICAL = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_ACTOR: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar(
    "aft_audit_actor", default=None
)


class AuditEntry(NamedTuple):
    """One entry of the audit trail.

    Attributes:
        seq: its position, from 1.
        time: Unix seconds.
        actor: who acted: ``account:NAME``, ``key:NAME (ID)``, ``cli:OSUSER``,
            ``anonymous`` (a refused caller) or ``system:retention`` (a purge's checkpoint).
        address: the client address of a REST call ("" for the command line).
        action: what was done, ``thing.verb`` (``secret.set``, ``api_key.revoke``...).
        target: the name of what it was done to.
        detail: more about it (never a secret value).
        prev: the hash of the entry before.
        hash: this entry's hash.
    """

    seq: int
    time: float
    actor: str
    address: str
    action: str
    target: str
    detail: dict[str, Any]
    prev: str
    hash: str

    def to_json(self) -> dict[str, Any]:
        """The entry as the REST API and ``aft audit list --json`` give it."""
        return self._asdict()


class Verification(NamedTuple):
    """What :meth:`AuditLog.verify` found.

    Attributes:
        ok: True when the whole chain holds.
        entries: how many entries were checked.
        head: the hash of the last entry (note it elsewhere to detect a cut tail later).
        problem: the first break, naming its entry; None when ok.
        unchained: transfer records written before the journal was chained (first, with
            no hash): counted apart, not covered.
    """

    ok: bool
    entries: int
    head: str
    problem: str | None = None
    unchained: int = 0


def cli_actor() -> str:
    """``cli:`` and the operating system user of this process: its effective uid's name,
    never an environment variable (``USER``, ``LOGNAME``) that anyone can set."""
    import pwd

    try:
        user = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:  # a uid without a passwd entry (a container)
        user = f"uid{os.geteuid()}"
    return f"cli:{user}"


def current_actor() -> tuple[str, str]:
    """Who acts now: ``(actor, client address)``; outside :func:`acting_as`, the command
    line's user (:func:`cli_actor`) and no address."""
    found = _ACTOR.get()
    return (cli_actor(), "") if found is None else found


@contextlib.contextmanager
def acting_as(actor: str, address: str = "") -> Iterator[None]:
    """Attribute the audit entries written inside the block to ``actor``."""
    token = _ACTOR.set((actor, address))
    try:
        yield
    finally:
        _ACTOR.reset(token)


class Chain(NamedTuple):
    """A hash-chained, append-only table.

    Attributes:
        table: its name (also its name in checkpoints and ``purge_marks``).
        one: how a message names one row (``entry``).
        many: and several (``entries``).
        fields: the columns hashed, in order (``prev`` follows them).
    """

    table: str
    one: str
    many: str
    fields: str


#: The audit trail.
AUDIT = Chain("audit", "entry", "entries", "time, actor, address, action, target, detail")
#: The transfer journal (:mod:`aft.journal` writes it).
TRANSFERS = Chain(
    "transfers",
    "transfer record",
    "transfer records",
    "job_id, op, src, src_path, dst, dst_path, bytes, sha256, checksum, started, finished,"
    " outcome, error, attempt",
)
#: The action of a retention checkpoint.
CHECKPOINT = "retention.purge"


def chain_hash(values: Sequence[Any]) -> str:
    """SHA-256 over the canonical JSON of ``values`` (a row's hashed fields, then ``prev``)."""
    encoded = _CANONICAL(list(values))
    return hashlib.sha256(encoded.encode("utf-8", "surrogatepass")).hexdigest()


def entry_hash(
    time_: float, actor: str, address: str, action: str, target: str, detail: str, prev: str
) -> str:
    """The hash of an entry: SHA-256 over the canonical JSON of its fields and ``prev``
    (``detail`` as the JSON text stored)."""
    return chain_hash([time_, actor, address, action, target, detail, prev])


def chain_head(db: Connection, chain: Chain) -> tuple[int, str]:
    """The ``seq`` and ``hash`` the next row of ``chain`` follows, read inside the caller's
    write transaction: its last row, else the last one a purge deleted, else ``(0,
    GENESIS)``. A row written before the table was chained (no hash) is followed from
    :data:`GENESIS`."""
    row = db.execute(f"SELECT seq, hash FROM {chain.table} ORDER BY seq DESC LIMIT 1").fetchone()
    if row is None:
        row = db.execute(
            "SELECT upto, hash FROM purge_marks WHERE chain = ?", (chain.table,)
        ).fetchone()
    return (0, GENESIS) if row is None else (int(row[0]), str(row[1]) or GENESIS)


def checkpoint(store: Store, chain: Chain) -> tuple[int, str]:
    """Where ``chain`` starts: the ``to`` and ``lastHash`` of its newest retention
    checkpoint, or ``(0, GENESIS)`` when none purged it."""
    rows = store.query("SELECT detail FROM audit WHERE action = ? ORDER BY seq DESC", (CHECKPOINT,))
    for (text,) in rows:
        purged = json.loads(text).get(chain.table)
        if purged:
            return int(purged["to"]), str(purged["lastHash"]) or GENESIS
    return 0, GENESIS


def record(db: Connection, action: str, target: str, /, **detail: Any) -> None:
    """Append an entry, inside the caller's open write transaction ``db``.

    Args:
        db: the connection of a :meth:`Store.transaction` (the change being recorded
            commits with its entry, or neither does).
        action: ``thing.verb``.
        target: the name of the thing.
        detail: JSON-able facts about the change; never a secret value.
    """
    actor, address = current_actor()
    text = json.dumps(detail, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    seq, prev = chain_head(db, AUDIT)
    seq += 1
    now = time.time()
    db.execute(
        f"INSERT INTO audit ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            seq,
            now,
            actor,
            address,
            action,
            target,
            text,
            prev,
            entry_hash(now, actor, address, action, target, text, prev),
        ),
    )


def record_now(store: Store, action: str, target: str, /, **detail: Any) -> None:
    """:func:`record` in a write transaction of its own (or the thread's open one)."""
    with store.transaction() as db:
        record(db, action, target, **detail)


def _entry(row: Sequence[Any]) -> AuditEntry:
    values = list(row)
    values[6] = json.loads(values[6])
    return AuditEntry(*values)


class AuditLog:
    """Reading and verifying the audit trail (the stores write it with :func:`record`).

    Args:
        store: the instance database.
    """

    def __init__(self, store: Store) -> None:
        self._store = store

    def list(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        actor: str | None = None,
        limit: int = 100,
        cursor: int | None = None,
    ) -> tuple[list[AuditEntry], int | None]:
        """Entries, oldest first, and the cursor of the next page (None at the end).

        Args:
            since: only entries at or after this Unix time.
            until: only entries before this Unix time.
            actor: only this actor's (``account:alice``), or every actor whose name
                has this prefix when it ends with ``:`` (``key:``).
            limit: entries per page.
            cursor: what the previous page returned.
        """
        where: list[str] = ["seq > ?"]
        args: list[object] = [cursor or 0]
        if since is not None:
            where.append("time >= ?")
            args.append(since)
        if until is not None:
            where.append("time < ?")
            args.append(until)
        if actor is not None:
            if actor.endswith(":"):
                where.append("substr(actor, 1, ?) = ?")
                args.extend([len(actor), actor])
            else:
                where.append("actor = ?")
                args.append(actor)
        rows = self._store.query(
            f"SELECT {_COLUMNS} FROM audit WHERE {' AND '.join(where)} ORDER BY seq LIMIT ?",
            (*args, limit + 1),
        )
        entries = [_entry(r) for r in rows[:limit]]
        return entries, (entries[-1].seq if len(rows) > limit else None)

    def verify(self, batch: int = 5000) -> Verification:
        """Check the whole audit chain, in order; the first break is named in ``problem``."""
        return verify_chain(self._store, AUDIT, batch)

    def verify_transfers(self, batch: int = 5000) -> Verification:
        """Check the transfer journal's chain the same way (records written before it was
        chained, with no hash, count when they all come first)."""
        return verify_chain(self._store, TRANSFERS, batch)


def verify_chain(store: Store, chain: Chain, batch: int = 5000) -> Verification:
    """Check ``chain`` from its newest checkpoint on; the first break is named."""
    one, many = chain.one, chain.many
    start, prev = checkpoint(store, chain)
    expected_seq, count, unchained, chained = start + 1, 0, 0, start > 0
    seen: dict[str, int] = {prev: start}
    while True:
        rows = store.query(
            f"SELECT seq, {chain.fields}, prev, hash FROM {chain.table}"
            " WHERE seq >= ? ORDER BY seq LIMIT ?",
            (expected_seq, batch),
        )
        for row in rows:
            seq, row_prev, row_hash = row[0], row[-2], row[-1]
            problem = None
            legacy = chain is TRANSFERS and row_hash == row_prev == ""
            if legacy and not chained and seq == expected_seq:
                expected_seq, unchained = seq + 1, unchained + 1  # before the chain began
                continue
            if row_hash != chain_hash(row[1:-1]):
                problem = f"{one} {seq} was changed: its content does not match its hash"
            elif seq != expected_seq:
                gap = (
                    f"{one} {expected_seq} was"
                    if seq == expected_seq + 1
                    else f"{many} {expected_seq} to {seq - 1} were"
                )
                problem = f"{gap} removed: {one} {seq} comes after {one} {expected_seq - 1}"
            elif row_prev != prev:
                earlier = seen.get(row_prev)
                if earlier is not None:
                    between = (
                        f"{one} {earlier + 1} was"
                        if earlier + 1 == seq - 1
                        else f"{many} {earlier + 1} to {seq - 1} were"
                    )
                    problem = (
                        f"{between} inserted ({one} {seq} follows {one} {earlier}),"
                        f" or {one} {seq} was"
                    )
                else:
                    problem = (
                        f"{one} {seq} does not follow {one} {seq - 1}: one of them was"
                        " inserted or rewritten (its hash recomputed)"
                    )
            if problem is not None:
                return Verification(False, count, prev, problem, unchained)
            seen[row_hash] = seq
            if len(seen) > _REMEMBERED:
                del seen[next(iter(seen))]
            prev, expected_seq, count, chained = row_hash, seq + 1, count + 1, True
        if len(rows) < batch:
            return Verification(True, count, prev, None, unchained)
