"""ScriptStore: scripts stored in the instance, by stable id and case-insensitive name."""

from __future__ import annotations

import hashlib
import math
import secrets
import time

import attrs

from aft import audit
from aft._store import Connection, Store
from aft.exceptions import ScriptError, ScriptExists, ScriptNotFound
from aft.models import DEFAULT_GROUP, check_group, name_problem

_COLUMNS = "id, name, source, retries, retry_backoff, created, updated, grp, max_run_seconds"
_MAX_RETRIES = 100
_MAX_BACKOFF = 86400.0
_MAX_RUN = 7 * 86400
# By id or by name; an exact id wins over a script whose name happens to look like that id.
_FIND = f"SELECT {_COLUMNS} FROM scripts WHERE id = ? OR name = ? ORDER BY id = ? DESC LIMIT 1"


@attrs.frozen
class Script:
    """A stored script with its retry policy (failed or interrupted jobs run again).

    Attributes:
        id: stable across renames (``scr_`` and 12 hex digits).
        name: unique in any case (ASCII letters, as SQLite's NOCASE folds them).
        source: the script's text.
        retries: how many times a failed or interrupted job runs again (0 to 100).
        retry_backoff: seconds to wait before each retry (0 to 86400).
        created: Unix seconds.
        updated: Unix seconds of the last change.
        group: the worker group its jobs run in.
        max_run_seconds: a job running longer is halted (0: the instance's
            ``max_run_seconds`` setting).
    """

    id: str
    name: str
    source: str
    retries: int
    retry_backoff: float
    created: float
    updated: float
    group: str = DEFAULT_GROUP
    max_run_seconds: int = 0


def _check(
    name: object,
    source: object,
    retries: object,
    backoff: object,
    group: object = None,
    max_run: object = None,
    *,
    update: bool = False,
) -> None:
    """Validate every field; for an update, None means "keep" and is skipped.

    Raises:
        ScriptError: a field that is not valid.
    """
    if (name is not None or not update) and (problem := name_problem(name, "script")):
        raise ScriptError(problem)
    if source is not None or not update:
        if not isinstance(source, str):
            raise ScriptError("a script's source is text")
        try:
            source.encode()
        except UnicodeEncodeError:  # lone surrogates: text decoded with errors="surrogateescape"
            raise ScriptError("a script's source is not valid Unicode text") from None
    if (retries is not None or not update) and (
        isinstance(retries, bool)
        or not isinstance(retries, int)
        or not 0 <= retries <= _MAX_RETRIES
    ):
        raise ScriptError(f"retries is a whole number from 0 to {_MAX_RETRIES}")
    if (backoff is not None or not update) and (
        isinstance(backoff, bool)
        or not isinstance(backoff, (int, float))
        or not math.isfinite(backoff)
        or not 0 <= backoff <= _MAX_BACKOFF
    ):
        raise ScriptError(f"retry backoff is 0 to {_MAX_BACKOFF:.0f} seconds")
    if max_run is not None and (
        isinstance(max_run, bool) or not isinstance(max_run, int) or not 0 <= max_run <= _MAX_RUN
    ):
        raise ScriptError(f"a maximum run time is 0 (none of its own) to {_MAX_RUN} seconds")
    if group is not None:
        try:
            check_group(group)
        except ValueError as exc:
            raise ScriptError(str(exc)) from None


def _found(rows: list[tuple], name_or_id: str) -> Script:  # type: ignore[type-arg]
    if not rows:
        raise ScriptNotFound(f"no script named {name_or_id!r}")
    return Script(*rows[0])


def _name_taken(db: Connection, name: str, other_than: str = "") -> bool:
    row = db.execute("SELECT 1 FROM scripts WHERE name = ? AND id != ?", (name, other_than))
    return row.fetchone() is not None


class ScriptStore:
    """Stored scripts.

    Args:
        store: the instance database.
    """

    def __init__(self, store: Store) -> None:
        self._store = store

    def add(
        self,
        name: str,
        source: str,
        retries: int = 0,
        retry_backoff: float = 30.0,
        group: str = DEFAULT_GROUP,
        max_run_seconds: int = 0,
    ) -> Script:
        """Store a new script.

        Args:
            name: 1 to 200 printable characters, unique in any case.
            source: the script's text.
            retries: how many times a failed or interrupted job runs again.
            retry_backoff: seconds before each retry.
            group: the worker group its jobs run in.
            max_run_seconds: a job running longer is halted (0: the instance default).

        Returns:
            The stored script, with its new id.

        Raises:
            ScriptExists: the name is taken (in any case).
            ScriptError: a bad name, source, retry policy, group or maximum run time.
        """
        _check(name, source, retries, retry_backoff, group, max_run_seconds)
        now = time.time()
        script_id = "scr_" + secrets.token_hex(6)
        with self._store.transaction() as db:
            if _name_taken(db, name):
                raise ScriptExists(f"a script named {name!r} exists already")
            db.execute(
                f"INSERT INTO scripts ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    script_id,
                    name,
                    source,
                    retries,
                    float(retry_backoff),
                    now,
                    now,
                    group,
                    max_run_seconds,
                ),
            )
            audit.record(db, "script.add", name, id=script_id, sha256=_sha256(source))
        return self.get(script_id)

    def get(self, name_or_id: str) -> Script:
        """By id, or by name in any case.

        Raises:
            ScriptNotFound: no script has this id or name.
        """
        return _found(self._store.query(_FIND, (name_or_id,) * 3), name_or_id)

    def list(self) -> list[Script]:
        """Every script, sorted by name (in any case)."""
        rows = self._store.query(f"SELECT {_COLUMNS} FROM scripts ORDER BY name, id")
        return [Script(*row) for row in rows]

    def update(
        self,
        name_or_id: str,
        *,
        source: str | None = None,
        name: str | None = None,
        retries: int | None = None,
        retry_backoff: float | None = None,
        group: str | None = None,
        max_run_seconds: int | None = None,
    ) -> Script:
        """Change what is given (None keeps it); the id stays.

        Returns:
            The script as changed.

        Raises:
            ScriptNotFound: no script has this id or name.
            ScriptExists: ``name`` is another script's (in any case).
            ScriptError: a bad name, source, retry policy, group or maximum run time.
        """
        _check(name, source, retries, retry_backoff, group, max_run_seconds, update=True)
        with self._store.transaction() as db:
            current = _found(db.execute(_FIND, (name_or_id,) * 3).fetchall(), name_or_id)
            if name is not None and _name_taken(db, name, other_than=current.id):
                raise ScriptExists(f"a script named {name!r} exists already")
            db.execute(
                "UPDATE scripts SET name = ?, source = ?, retries = ?, retry_backoff = ?,"
                " grp = ?, max_run_seconds = ?, updated = ? WHERE id = ?",
                (
                    current.name if name is None else name,
                    current.source if source is None else source,
                    current.retries if retries is None else retries,
                    current.retry_backoff if retry_backoff is None else float(retry_backoff),
                    current.group if group is None else group,
                    current.max_run_seconds if max_run_seconds is None else max_run_seconds,
                    time.time(),
                    current.id,
                ),
            )
            given = {
                "name": name,
                "source": source,
                "retries": retries,
                "retry_backoff": retry_backoff,
                "group": group,
                "max_run_seconds": max_run_seconds,
            }
            changed = sorted(k for k, v in given.items() if v is not None)
            hashed = {} if source is None else {"sha256": _sha256(source)}
            audit.record(
                db, "script.update", current.name, id=current.id, changed=changed, **hashed
            )
        return self.get(current.id)

    def remove(self, name_or_id: str) -> Script:
        """Delete a script; its past jobs stay.

        Returns:
            The script as it was.

        Raises:
            ScriptNotFound: no script has this id or name.
        """
        with self._store.transaction() as db:
            script = _found(db.execute(_FIND, (name_or_id,) * 3).fetchall(), name_or_id)
            db.execute("DELETE FROM scripts WHERE id = ?", (script.id,))
            audit.record(db, "script.remove", script.name, id=script.id)
        return script


def _sha256(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()
