"""The audit trail in the library: what the stores record, the append-only table, the
chain and its verification, concurrent writers. Run on SQLite here and on PostgreSQL by
tests/test_cluster_store.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import argon2
import pytest

from aft import audit
from aft.accounts import AccountStore
from aft.exceptions import AuthError
from aft.keys import ApiKeyStore
from tests.conftest import REPO

SECRET_VALUE = "secret-value-canary-71c2"
VFS_PASSWORD = "vfs-password-canary-9e04"
ACCOUNT_PASSWORD = "account-password-canary-5b"
WRONG_KEY = "wrong-key-canary-0d3a"


def _entries(instance):
    return instance.audit.list(limit=10_000)[0]


def _unguard(store):
    """Take the append-only triggers away, as someone editing the database by hand would."""
    if type(store).__name__ == "PostgresStore":
        store.execute("ALTER TABLE audit DISABLE TRIGGER USER")
    else:
        store.execute("DROP TRIGGER audit_no_update")
        store.execute("DROP TRIGGER audit_no_delete")


def _five_entries(instance):
    for n in range(5):
        instance.settings.set("concurrency", n + 1)
    assert [e.seq for e in _entries(instance)] == [1, 2, 3, 4, 5]


def test_each_store_records_its_changes_with_the_cli_actor(instance):
    instance.scripts.add("nightly", "Log(1)")
    instance.scripts.update("nightly", source="Log(2)")
    instance.secrets.set("partner-token", SECRET_VALUE)
    instance.secrets.delete("partner-token")
    instance.vfs.add("archive", "Disk", "/tmp", {"password": VFS_PASSWORD})
    instance.vfs.update("archive", target="/var/tmp")
    instance.vfs.remove("archive")
    key, _ = instance.api_keys.create("deploy", ["127.0.0.1"], scope="admin")
    instance.api_keys.revoke("deploy")
    instance.settings.set("allow_exec", True)
    instance.schedules.add("every-hour", "nightly", "0 * * * *", params={"p": SECRET_VALUE})
    instance.schedules.disable("every-hour")
    instance.schedules.remove("every-hour")
    instance.scripts.remove("nightly")

    entries = _entries(instance)
    assert [(e.action, e.target) for e in entries] == [
        ("script.add", "nightly"),
        ("script.update", "nightly"),
        ("secret.set", "partner-token"),
        ("secret.delete", "partner-token"),
        ("vfs.add", "archive"),
        ("vfs.update", "archive"),
        ("vfs.remove", "archive"),
        ("api_key.create", "deploy"),
        ("api_key.revoke", "deploy"),
        ("setting.set", "allow_exec"),
        ("schedule.add", "every-hour"),
        ("schedule.update", "every-hour"),
        ("schedule.remove", "every-hour"),
        ("script.remove", "nightly"),
    ]
    assert {e.actor for e in entries} == {audit.cli_actor()}
    assert entries[1].detail["changed"] == ["source"]
    assert entries[7].detail == {"id": key.id, "scope": "admin", "allow": ["127.0.0.1/32"]}
    assert entries[9].detail == {"value": "true"}
    assert entries[11].detail["enabled"] is False
    assert instance.audit.verify() == (True, 14, entries[-1].hash, None, 0)


def test_sign_ins_and_refused_authentications_are_recorded(instance):
    hasher = argon2.PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    accounts = AccountStore(instance.store, hasher)
    accounts.create("alice", ACCOUNT_PASSWORD, first=True)
    with audit.acting_as("anonymous", "192.0.2.7"):
        accounts.authenticate("alice", ACCOUNT_PASSWORD)
        with pytest.raises(AuthError):
            accounts.authenticate("alice", "not-her-password")
        with pytest.raises(AuthError):  # a password typed as the name stays out of the trail
            accounts.authenticate(ACCOUNT_PASSWORD, "whatever-it-is")
        keys = ApiKeyStore(instance.store)
        with pytest.raises(AuthError):
            keys.verify(WRONG_KEY, "192.0.2.7", "run")
    entries = _entries(instance)
    assert [(e.actor, e.address, e.action, e.target) for e in entries] == [
        (audit.cli_actor(), "", "account.create", "alice"),
        ("account:alice", "192.0.2.7", "account.signin", "alice"),
        ("anonymous", "192.0.2.7", "auth.signin_failed", "alice"),
        ("anonymous", "192.0.2.7", "auth.signin_failed", ""),
        ("anonymous", "192.0.2.7", "auth.refused", ""),
    ]
    assert entries[3].detail == {"reason": "unknown user name"}


def test_no_secret_value_ever_reaches_the_audit_table(instance):
    instance.secrets.set("partner-token", SECRET_VALUE)
    instance.vfs.add("archive", "Disk", "/tmp", {"password": VFS_PASSWORD})
    _, key = instance.api_keys.create("deploy", ["127.0.0.1"])
    hasher = argon2.PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    accounts = AccountStore(instance.store, hasher)
    accounts.create("alice", ACCOUNT_PASSWORD)
    accounts.set_password("alice", ACCOUNT_PASSWORD + "2")
    with pytest.raises(AuthError):
        instance.api_keys.verify(WRONG_KEY, "127.0.0.1")
    with pytest.raises(AuthError):
        accounts.authenticate(ACCOUNT_PASSWORD, ACCOUNT_PASSWORD)
    dump = json.dumps(instance.store.query("SELECT * FROM audit"))
    assert "partner-token" in dump and "alice" in dump  # the names are there...
    for value in (SECRET_VALUE, VFS_PASSWORD, key, ACCOUNT_PASSWORD, WRONG_KEY):
        assert value not in dump  # ...never a value


def test_the_table_refuses_update_and_delete(instance):
    instance.settings.set("allow_exec", True)
    for statement in ("UPDATE audit SET actor = 'someone else'", "DELETE FROM audit"):
        with pytest.raises(Exception, match="append-only"):
            instance.store.execute(statement)
    assert len(_entries(instance)) == 1


def test_a_change_made_by_hand_is_named(instance):
    _five_entries(instance)
    _unguard(instance.store)
    instance.store.execute('UPDATE audit SET detail = \'{"value":"64"}\' WHERE seq = 3')
    found = instance.audit.verify()
    assert not found.ok and found.entries == 2
    assert found.problem == "entry 3 was changed: its content does not match its hash"


def test_a_deletion_is_named(instance):
    _five_entries(instance)
    _unguard(instance.store)
    instance.store.execute("DELETE FROM audit WHERE seq = 3")
    assert instance.audit.verify().problem == "entry 3 was removed: entry 4 comes after entry 2"


def test_an_insertion_is_named_even_with_a_valid_hash(instance):
    _five_entries(instance)
    _unguard(instance.store)
    prev = instance.store.query("SELECT hash FROM audit WHERE seq = 2")[0][0]
    # Make room after entry 2 and slip a well-formed entry in.
    for seq in (5, 4, 3):
        instance.store.execute("UPDATE audit SET seq = ? WHERE seq = ?", (seq + 1, seq))
    when, detail = 1.0, '{"value":"9"}'
    digest = audit.entry_hash(when, "cli:x", "", "setting.set", "concurrency", detail, prev)
    instance.store.execute(
        "INSERT INTO audit VALUES (3, ?, 'cli:x', '', 'setting.set', 'concurrency', ?, ?, ?)",
        (when, detail, prev, digest),
    )
    assert instance.audit.verify().problem == (
        "entry 3 was inserted (entry 4 follows entry 2), or entry 4 was"
    )


def test_a_rewritten_entry_with_a_recomputed_hash_breaks_the_next_link(instance):
    _five_entries(instance)
    _unguard(instance.store)
    when, actor, address, action, target, _, prev = instance.store.query(
        "SELECT time, actor, address, action, target, detail, prev FROM audit WHERE seq = 3"
    )[0]
    detail = '{"value":"64"}'
    digest = audit.entry_hash(when, actor, address, action, target, detail, prev)
    instance.store.execute("UPDATE audit SET detail = ?, hash = ? WHERE seq = 3", (detail, digest))
    found = instance.audit.verify()
    assert found.problem == (
        "entry 4 does not follow entry 3: one of them was inserted or rewritten"
        " (its hash recomputed)"
    )


def test_list_filters_by_time_and_actor_and_pages(instance):
    instance.settings.set("concurrency", 3)
    with audit.acting_as("key:deploy (key_1)", "127.0.0.1"):
        instance.settings.set("concurrency", 4)
    with audit.acting_as("account:alice"):
        instance.settings.set("concurrency", 5)
    everything = _entries(instance)
    assert [e.actor for e in instance.audit.list(actor="key:")[0]] == ["key:deploy (key_1)"]
    assert [e.seq for e in instance.audit.list(actor="account:alice")[0]] == [3]
    assert [e.seq for e in instance.audit.list(since=everything[1].time)[0]] == [2, 3]
    assert [e.seq for e in instance.audit.list(until=everything[1].time)[0]] == [1]
    page, cursor = instance.audit.list(limit=2)
    assert [e.seq for e in page] == [1, 2] and cursor == 2
    assert instance.audit.list(limit=2, cursor=cursor) == ([everything[2]], None)


_WRITER = """
import sys
from aft.instance import Instance
with Instance() as instance:
    for n in range(int(sys.argv[1])):
        instance.secrets.set(f"{sys.argv[2]}-{n}", "v")
"""


def test_concurrent_writers_in_two_processes_keep_one_chain(instance):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, "40", name], env=env)
        for name in ("left", "right")
    ]
    assert [w.wait(120) for w in writers] == [0, 0]
    found = instance.audit.verify()
    assert found.ok and found.entries == 80, found.problem
    targets = {e.target for e in _entries(instance)}
    assert len(targets) == 80
