"""AccountStore: administrators of the web console (argon2id) and their sessions."""

from __future__ import annotations

import time

import argon2
import pytest

from aft.accounts import (
    MIN_PASSWORD,
    AccountError,
    AccountExists,
    AccountNotFound,
    AccountStore,
)
from aft.exceptions import AuthError

PASSWORD = "correct horse battery"


@pytest.fixture
def accounts(instance):
    # A cheap argon2id for speed; the default one is checked once below.
    return AccountStore(
        instance.store, argon2.PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )


def stored_hash(instance, username):
    return instance.store.query("SELECT hash FROM accounts WHERE username = ?", (username,))[0][0]


def test_default_hash_is_memory_hard_argon2id(instance):
    accounts = AccountStore(instance.store)
    accounts.create("admin", PASSWORD)
    hashed = stored_hash(instance, "admin")
    assert hashed.startswith("$argon2id$") and "m=65536" in hashed
    assert PASSWORD not in hashed
    assert accounts.authenticate("admin", PASSWORD).username == "admin"


def test_setup_creates_the_first_administrator_once(accounts):
    assert accounts.needs_setup()
    first = accounts.create("Admin", PASSWORD, first=True)
    assert first.id.startswith("acc_") and not accounts.needs_setup()
    with pytest.raises(AccountExists, match="created already"):
        accounts.create("other", PASSWORD, first=True)
    with pytest.raises(AccountExists, match="taken") as taken:
        accounts.create("ADMIN", PASSWORD)  # names are case-insensitive
    assert taken.value.field == "username"
    accounts.create("second", PASSWORD + "!")
    assert [a.username for a in accounts.list()] == ["Admin", "second"]


@pytest.mark.parametrize(
    "username, password, field, message",
    [
        ("", PASSWORD, "username", "enter a user name"),
        ("has space", PASSWORD, "username", "letters, digits"),
        ("-dash", PASSWORD, "username", "starting with"),
        ("x" * 65, PASSWORD, "username", "1 to 64"),
        ("admin", "", "password", "enter a password"),
        ("admin", "short", "password", f"at least {MIN_PASSWORD}"),
        ("admin", "x" * 1025, "password", "at most 1024"),
        ("administrator", "Administrator", "password", "not be the user name"),
    ],
)
def test_bad_input_names_its_field(accounts, username, password, field, message):
    with pytest.raises(AccountError, match=message) as bad:
        accounts.create(username, password)
    assert bad.value.field == field
    assert accounts.needs_setup()


def test_authenticate(accounts, instance):
    accounts.create("admin", PASSWORD)
    assert accounts.get("admin").last_login is None
    account = accounts.authenticate("ADMIN", PASSWORD)
    assert account.last_login is not None
    for name, password in [("admin", "wrong password"), ("nobody", PASSWORD), ("", ""),
                           ("admin", None), ("admin", "x" * 5000)]:  # fmt: skip
        with pytest.raises(AuthError, match="wrong user name or password"):
            accounts.authenticate(name, password)


def test_a_hash_made_with_weaker_parameters_is_upgraded_at_login(instance):
    weak = AccountStore(
        instance.store, argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    )
    weak.create("admin", PASSWORD)
    assert "m=8," in stored_hash(instance, "admin")
    stronger = AccountStore(
        instance.store, argon2.PasswordHasher(time_cost=1, memory_cost=128, parallelism=1)
    )
    stronger.authenticate("admin", PASSWORD)
    assert "m=128," in stored_hash(instance, "admin")


def test_sessions(accounts):
    account = accounts.create("admin", PASSWORD)
    token, session = accounts.open_session(account.id)
    assert session.username == "admin" and len(session.csrf) >= 40
    assert accounts.session(token) == session
    assert accounts.session("not-a-token") is None and accounts.session("") is None
    stored = accounts._store.query("SELECT token_hash FROM ui_sessions")
    assert token not in str(stored)  # only its hash is kept
    other, _ = accounts.open_session(account.id)
    accounts.close_session(token)
    assert accounts.session(token) is None and accounts.session(other) is not None


def test_sessions_expire(instance):
    accounts = AccountStore(
        instance.store, argon2.PasswordHasher(time_cost=1, memory_cost=64, parallelism=1), idle=0.2
    )
    account = accounts.create("admin", PASSWORD)
    token, _ = accounts.open_session(account.id)
    time.sleep(0.3)
    assert accounts.session(token) is None


def test_password_change_and_removal_end_sessions(accounts):
    admin = accounts.create("admin", PASSWORD)
    token, _ = accounts.open_session(admin.id)
    with pytest.raises(AccountError, match="at least"):
        accounts.set_password("admin", "short")
    assert accounts.session(token) is not None
    accounts.set_password("admin", "a brand new passphrase")
    assert accounts.session(token) is None
    with pytest.raises(AuthError):
        accounts.authenticate("admin", PASSWORD)
    assert accounts.authenticate("admin", "a brand new passphrase")
    with pytest.raises(AccountError, match="last administrator"):
        accounts.remove("admin")
    other = accounts.create("other", PASSWORD)
    token, _ = accounts.open_session(other.id)
    accounts.remove("other")
    assert accounts.session(token) is None
    with pytest.raises(AccountNotFound):
        accounts.get("other")


def test_reset_brings_setup_back(accounts):
    admin = accounts.create("admin", PASSWORD, first=True)
    token, _ = accounts.open_session(admin.id)
    accounts.reset()
    assert accounts.needs_setup() and accounts.session(token) is None
    assert accounts.create("again", PASSWORD, first=True).username == "again"


def test_roles_keep_one_administrator_and_are_audited(accounts, instance):
    accounts.create("boss", PASSWORD)
    with pytest.raises(AccountError, match="one of viewer, operator, admin") as bad:
        accounts.create("eve", PASSWORD, role="run")  # run is for API keys only
    assert bad.value.field == "role"
    viewer = accounts.create("ann", PASSWORD, role="viewer")
    assert viewer.role == "viewer" and accounts.get("boss").role == "admin"
    for lowered in ("viewer", "operator"):
        with pytest.raises(AccountError, match="last administrator cannot be lowered"):
            accounts.set_role("boss", lowered)
    with pytest.raises(AccountError, match="last administrator cannot be removed"):
        accounts.remove("boss")
    assert accounts.set_role("ann", "admin").role == "admin"
    assert accounts.set_role("boss", "operator").role == "operator"  # ann is an admin now
    with pytest.raises(AccountError):
        accounts.set_role("ann", "superuser")
    entries, _ = instance.audit.list(limit=100)
    changes = [e.detail for e in entries if e.action == "account.set_role"]
    assert changes == [
        {"id": viewer.id, "role": "admin", "was": "viewer"},
        {"id": accounts.get("boss").id, "role": "operator", "was": "admin"},
    ]


def test_the_first_account_is_an_administrator(accounts):
    with pytest.raises(AccountError, match="first account is an administrator"):
        accounts.create("ann", PASSWORD, role="operator")
    assert accounts.needs_setup()


def test_a_session_has_its_accounts_role_at_each_look(accounts):
    accounts.create("boss", PASSWORD)
    ops = accounts.create("ops", PASSWORD, role="operator")
    token, session = accounts.open_session(ops.id)
    assert session.role == "operator"
    accounts.set_role("ops", "viewer")
    again = accounts.session(token)
    assert again is not None and again.role == "viewer"


def test_accounts_made_before_roles_are_administrators(tmp_path):
    import sqlite3

    from aft._store import MIGRATIONS, SqliteStore

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # a database of the aft before roles, with an account
        for script in MIGRATIONS:
            if "ADD COLUMN role" in script:
                break
            db.executescript(script)
        db.execute(
            "INSERT INTO accounts (id, username, hash, created, updated)"
            " VALUES ('acc_1', 'old', 'x', 0, 0)"
        )
        db.execute(f"PRAGMA user_version = {MIGRATIONS.index(script)}")
    store = SqliteStore(path)
    try:
        assert AccountStore(store).get("old").role == "admin"
    finally:
        store.close()
