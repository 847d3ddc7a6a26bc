"""ScriptStore: scripts stored in the instance, by stable id and case-insensitive name."""

from __future__ import annotations

import secrets
import time

import attrs

from aft._store import Store
from aft.exceptions import ScriptError, ScriptExists, ScriptNotFound

_COLUMNS = "id, name, source, retries, retry_backoff, created, updated"


@attrs.frozen
class Script:
    """A stored script with its retry policy (failed or interrupted jobs run again)."""

    id: str
    name: str
    source: str
    retries: int
    retry_backoff: float
    created: float
    updated: float


def _check(name: object | None, source: object | None, retries: object, backoff: object) -> None:
    if name is not None and (
        not isinstance(name, str) or not name.strip() or len(name) > 200 or not name.isprintable()
    ):
        raise ScriptError("a script name is 1 to 200 printable characters")
    if source is not None and not isinstance(source, str):
        raise ScriptError("a script's source is text")
    if retries is not None and (
        isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 100
    ):
        raise ScriptError("retries is a whole number from 0 to 100")
    if backoff is not None and (
        isinstance(backoff, bool)
        or not isinstance(backoff, (int, float))
        or not 0 <= backoff <= 86400
    ):
        raise ScriptError("retry backoff is 0 to 86400 seconds")


class ScriptStore:
    """Stored scripts.

    Args:
        store: the instance database.
    """

    def __init__(self, store: Store) -> None:
        self._store = store

    def add(self, name: str, source: str, retries: int = 0, retry_backoff: float = 30.0) -> Script:
        """Store a new script. Raises ScriptExists when the name is taken (in any case)."""
        _check(name, source, retries, retry_backoff)
        now = time.time()
        script_id = "scr_" + secrets.token_hex(6)
        with self._store.transaction() as db:
            if db.execute("SELECT 1 FROM scripts WHERE name = ?", (name,)).fetchone():
                raise ScriptExists(f"a script named {name!r} exists already")
            db.execute(
                f"INSERT INTO scripts ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (script_id, name, source, retries, float(retry_backoff), now, now),
            )
        return self.get(script_id)

    def get(self, name_or_id: str) -> Script:
        """By id, or by name in any case. Raises ScriptNotFound."""
        rows = self._store.query(
            f"SELECT {_COLUMNS} FROM scripts WHERE id = ? OR name = ?", (name_or_id, name_or_id)
        )
        if not rows:
            raise ScriptNotFound(f"no script named {name_or_id!r}")
        return Script(*rows[0])

    def list(self) -> list[Script]:
        rows = self._store.query(f"SELECT {_COLUMNS} FROM scripts ORDER BY name")
        return [Script(*row) for row in rows]

    def update(
        self,
        name_or_id: str,
        *,
        source: str | None = None,
        name: str | None = None,
        retries: int | None = None,
        retry_backoff: float | None = None,
    ) -> Script:
        """Change what is given; the id stays. Raises ScriptNotFound, ScriptExists."""
        _check(name, source, retries, retry_backoff)
        current = self.get(name_or_id)
        with self._store.transaction() as db:
            if (
                name is not None
                and db.execute(
                    "SELECT 1 FROM scripts WHERE name = ? AND id != ?", (name, current.id)
                ).fetchone()
            ):
                raise ScriptExists(f"a script named {name!r} exists already")
            db.execute(
                "UPDATE scripts SET name = ?, source = ?, retries = ?, retry_backoff = ?,"
                " updated = ? WHERE id = ?",
                (
                    current.name if name is None else name,
                    current.source if source is None else source,
                    current.retries if retries is None else retries,
                    current.retry_backoff if retry_backoff is None else float(retry_backoff),
                    time.time(),
                    current.id,
                ),
            )
        return self.get(current.id)

    def remove(self, name_or_id: str) -> None:
        """Delete a script; its past jobs stay. Raises ScriptNotFound."""
        script = self.get(name_or_id)
        self._store.execute("DELETE FROM scripts WHERE id = ?", (script.id,))
