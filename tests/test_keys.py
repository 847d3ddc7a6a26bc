"""ApiKeyStore: hashed keys, allowlists, scopes."""

from __future__ import annotations

import hashlib
import re
import sqlite3

import attrs
import pytest

from aft.exceptions import ApiKeyNotFound, AuthError, BadRequest, Forbidden
from aft.instance import Instance
from aft.keys import ApiKeyStore

BASE58 = re.compile(r"[1-9A-HJ-NP-Za-km-z]{44}")


@pytest.fixture
def keys(instance):
    return ApiKeyStore(instance.store)


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_key_format(keys):
    made = {keys.create(f"k{i}", ["127.0.0.1"])[1] for i in range(20)}
    assert len(made) == 20 and all(BASE58.fullmatch(k) for k in made)


def test_key_is_shown_once_and_stored_only_as_a_hash(aft_home):
    with Instance(aft_home) as inst:
        record, key = ApiKeyStore(inst.store).create("ci", ["127.0.0.1"])
        assert record.id.startswith("key_") and record.scope == "run"
        assert record.allow == ("127.0.0.1/32",)
        open_files = [p.read_bytes() for p in aft_home.iterdir() if p.is_file()]
    closed_files = [p.read_bytes() for p in aft_home.iterdir() if p.is_file()]
    digest = hashlib.sha256(key.encode()).hexdigest().encode()
    for files in (open_files, closed_files):
        assert all(key.encode() not in data for data in files)
        assert any(digest in data for data in files)  # what is kept instead
    with Instance(aft_home) as inst:
        assert ApiKeyStore(inst.store).verify(key, "127.0.0.1").id == record.id


def test_list_and_get_never_expose_the_key_or_its_hash(keys):
    record, key = keys.create("ci", ["127.0.0.1"])
    digest = hashlib.sha256(key.encode()).hexdigest()
    listed = keys.list()
    assert listed == [record] and keys.get("ci") == record
    shown = repr(listed) + repr(attrs.asdict(record)) + repr(keys.verify(key, "127.0.0.1"))
    assert key not in shown and digest not in shown
    assert {f.name for f in attrs.fields(type(record))} == {
        "id", "name", "scope", "allow", "created", "last_used", "revoked"
    }  # fmt: skip


@pytest.mark.parametrize(
    "allow,address,admitted",
    [
        (["127.0.0.1"], "127.0.0.1", True),
        (["127.0.0.1"], "::ffff:127.0.0.1", True),
        (["::ffff:127.0.0.1"], "127.0.0.1", True),
        (["127.0.0.1"], "127.0.0.2", False),
        (["127.0.0.1"], "::1", False),
        (["::1"], "127.0.0.1", False),
        (["10.0.0.0/8"], "10.200.3.4", True),
        (["10.0.0.0/8"], "::ffff:10.200.3.4", True),
        (["10.0.0.0/8"], "11.0.0.1", False),
        (["::1"], "::1", True),
        (["2001:db8::/32"], "2001:db8:1::5", True),
        (["2001:DB8::/32"], "2001:db8:1::5", True),
        (["2001:db8::/32"], "2001:db9::5", False),
        (["fe80::/10"], "fe80::1%eth0", True),
        (["192.168.1.0/24", "::1"], "::1", True),
        (["192.168.1.0/24", "::1"], "192.168.1.77", True),
        (["0.0.0.0/0"], "203.0.113.9", True),
        (["127.0.0.1"], "", False),
        (["127.0.0.1"], "localhost", False),
        (["127.0.0.1"], None, False),
    ],
)
def test_allowlist(keys, allow, address, admitted):
    _, key = keys.create("k", allow)
    if admitted:
        keys.verify(key, address)
    else:
        with pytest.raises(Forbidden, match="not allowed from") as err:
            keys.verify(key, address)
        assert key not in str(err.value)


def test_allowlist_is_normalised(keys):
    record, _ = keys.create(
        "k", [" 10.1.2.3/8", "::FFFF:192.168.0.0/120", "2001:DB8::1", "::ffff:127.0.0.1"]
    )
    assert record.allow == ("10.0.0.0/8", "192.168.0.0/24", "2001:db8::1/128", "127.0.0.1/32")


@pytest.mark.parametrize(
    "allow",
    [
        [],
        (),
        "127.0.0.1",
        ["300.1.1.1"],
        ["10.0.0.0/33"],
        ["::1/129"],
        ["10.0.0.0/8", "nonsense"],
        ["localhost"],
        [""],
        ["127.0.0.1/"],
        [2130706433],
        [None],
    ],
)
def test_bad_allowlists_are_refused(keys, allow):
    with pytest.raises(BadRequest):
        keys.create("k", allow)
    assert keys.list() == []


@pytest.mark.parametrize(
    "name,scope", [("", "run"), ("   ", "run"), ("a\nb", "run"), ("x" * 201, "run"), (3, "run"),
                   ("k", "root"), ("k", "Admin"), ("k", None)]
)  # fmt: skip
def test_bad_names_and_scopes_are_refused(keys, name, scope):
    with pytest.raises(BadRequest):
        keys.create(name, ["127.0.0.1"], scope=scope)
    assert keys.list() == []


def test_unknown_missing_and_revoked_keys_are_401(keys):
    record, key = keys.create("old", ["127.0.0.1"], scope="admin")
    other = key[:-1] + ("1" if key[-1] != "1" else "2")
    for bad in ("", None, 44, "x" * 44, other, key.lower(), " " + key, "\udc80", "é" * 44):
        with pytest.raises(AuthError) as err:
            keys.verify(bad, "127.0.0.1")  # type: ignore[arg-type]
        assert not isinstance(err.value, Forbidden)
        message = str(err.value)
        assert key not in message and (not bad or not isinstance(bad, str) or bad not in message)
    revoked = keys.revoke("OLD")
    assert revoked.revoked and keys.get(record.id).revoked
    for address in ("127.0.0.1", "10.9.9.9"):  # 401 wins over 403 once revoked
        with pytest.raises(AuthError, match="revoked") as err:
            keys.verify(key, address, "admin")
        assert not isinstance(err.value, Forbidden)
    assert keys.revoke(record.id).revoked  # twice is harmless


def test_scope(keys):
    _, run_key = keys.create("runner", ["127.0.0.1"])
    _, admin_key = keys.create("admin", ["127.0.0.1"], scope="admin")
    keys.verify(run_key, "127.0.0.1", "run")
    with pytest.raises(Forbidden, match="needs admin") as err:
        keys.verify(run_key, "127.0.0.1", "admin")
    assert run_key not in str(err.value)
    assert keys.verify(admin_key, "127.0.0.1", "admin").scope == "admin"
    assert keys.verify(admin_key, "127.0.0.1", "run").scope == "admin"
    assert keys.verify(admin_key, "127.0.0.1").scope == "admin"


def test_an_unknown_needed_scope_is_a_bug_not_a_pass(keys):
    _, key = keys.create("k", ["127.0.0.1"], scope="admin")
    with pytest.raises(ValueError):
        keys.verify(key, "127.0.0.1", "superuser")


def test_address_is_checked_before_scope(keys):
    _, key = keys.create("runner", ["127.0.0.1"])
    with pytest.raises(Forbidden, match="not allowed from"):
        keys.verify(key, "10.0.0.1", "admin")


def test_last_used_is_recorded_at_most_once_a_second(instance, monkeypatch):
    clock = Clock()
    keys = ApiKeyStore(instance.store, clock=clock)
    record, key = keys.create("k", ["127.0.0.1"])
    assert record.last_used is None and record.created == clock.now
    assert keys.verify(key, "127.0.0.1").last_used == clock.now
    assert keys.get("k").last_used == clock.now
    first = clock.now
    writes: list[str] = []
    execute = instance.store.execute
    monkeypatch.setattr(
        instance.store, "execute", lambda sql, args=(): writes.append(sql) or execute(sql, args)
    )
    clock.now += 0.5
    keys.verify(key, "127.0.0.1")
    assert keys.get("k").last_used == first and writes == []
    clock.now += 0.6
    keys.verify(key, "127.0.0.1")
    assert keys.get("k").last_used == clock.now and len(writes) == 1


def test_failed_verifications_do_not_touch_last_used(instance):
    clock = Clock()
    keys = ApiKeyStore(instance.store, clock=clock)
    _, key = keys.create("k", ["127.0.0.1"])
    with pytest.raises(Forbidden):
        keys.verify(key, "10.0.0.1")
    assert keys.get("k").last_used is None


def test_a_busy_database_does_not_refuse_a_good_key(instance, monkeypatch):
    keys = ApiKeyStore(instance.store)
    record, key = keys.create("k", ["127.0.0.1"])

    def busy(sql: str, args: object = ()) -> int:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(instance.store, "execute", busy)
    assert keys.verify(key, "127.0.0.1").id == record.id


def test_names_are_case_insensitive_and_unique_among_live_keys(keys):
    first, first_key = keys.create("Deploy", ["127.0.0.1"])
    assert keys.get("deploy") == keys.get("DEPLOY") == keys.get(first.id) == first
    with pytest.raises(BadRequest, match="exists already"):
        keys.create("DEPLOY", ["127.0.0.1"])
    keys.revoke("deploy")
    second, second_key = keys.create("deploy", ["::1"])
    assert keys.get("Deploy").id == second.id  # the live key before the revoked one
    keys.verify(second_key, "::1")
    with pytest.raises(AuthError):
        keys.verify(first_key, "127.0.0.1")
    assert [k.id for k in keys.list()] == [first.id, second.id]


def test_an_id_wins_over_a_name_that_looks_like_it(keys):
    target, _ = keys.create("target", ["127.0.0.1"])
    keys.create(target.id, ["127.0.0.1"])
    assert keys.get(target.id).name == "target"
    keys.revoke(target.id)
    assert keys.get("target").revoked and not keys.get(target.id.upper()).revoked


def test_ids_are_case_sensitive(keys):
    record, _ = keys.create("k", ["127.0.0.1"])
    with pytest.raises(ApiKeyNotFound):
        keys.get(record.id.upper())


def test_unknown_keys(keys):
    for call in (keys.get, keys.revoke):
        with pytest.raises(ApiKeyNotFound) as err:
            call("ghost")
        assert err.value.code == "api_key_not_found" and isinstance(err.value, LookupError)


def test_records_are_frozen(keys):
    record, _ = keys.create("k", ["127.0.0.1"])
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        record.scope = "admin"  # type: ignore[misc]
