from __future__ import annotations

import sqlite3
import stat

import pytest

from aft._store import MIGRATIONS, SqliteStore
from aft.exceptions import SchemaTooNew, StoreCorrupt


def test_new_database_is_wal_migrated_and_owner_only(tmp_path):
    path = tmp_path / "aft.db"
    with SqliteStore(path) as store:
        assert store.query("PRAGMA journal_mode")[0][0] == "wal"
        assert store.query("PRAGMA user_version")[0][0] == len(MIGRATIONS)
        tables = {r[0] for r in store.query("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"settings", "secrets"} <= tables
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_reopening_keeps_data(tmp_path):
    with SqliteStore(tmp_path / "aft.db") as store:
        store.execute("INSERT INTO settings VALUES ('k', 'v')")
    with SqliteStore(tmp_path / "aft.db") as store:
        assert store.query("SELECT value FROM settings WHERE key='k'") == [("v",)]


def test_transaction_rolls_back_on_error(tmp_path):
    with SqliteStore(tmp_path / "aft.db") as store:
        with pytest.raises(RuntimeError):
            with store.transaction() as db:
                db.execute("INSERT INTO settings VALUES ('k', 'v')")
                raise RuntimeError("boom")
        assert store.query("SELECT * FROM settings") == []


def test_corrupt_file_is_refused_with_one_line(tmp_path):
    path = tmp_path / "aft.db"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreCorrupt) as err:
        SqliteStore(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "aft.db"
    SqliteStore(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    db.close()
    with pytest.raises(SchemaTooNew, match="upgrade aft"):
        SqliteStore(path)
