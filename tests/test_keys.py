"""ApiKeyStore: hashed keys, allowlists, scopes."""

from __future__ import annotations

import time

import pytest

from aft.exceptions import ApiKeyNotFound, AuthError, BadRequest, Forbidden
from aft.keys import ApiKeyStore


@pytest.fixture
def keys(instance):
    return ApiKeyStore(instance.store)


def test_key_is_shown_once_and_stored_as_a_hash(keys, aft_home):
    record, key = keys.create("ci", ["127.0.0.1"])
    assert len(key) == 44 and record.scope == "run" and record.allow == ("127.0.0.1/32",)
    assert key not in repr(keys.list()) and key not in repr(record)
    for f in aft_home.iterdir():
        assert key.encode() not in f.read_bytes()
    assert keys.verify(key, "127.0.0.1").id == record.id


@pytest.mark.parametrize(
    "allow,address,admitted",
    [
        (["127.0.0.1"], "127.0.0.1", True),
        (["127.0.0.1"], "::ffff:127.0.0.1", True),
        (["127.0.0.1"], "127.0.0.2", False),
        (["10.0.0.0/8"], "10.200.3.4", True),
        (["10.0.0.0/8"], "11.0.0.1", False),
        (["::1"], "::1", True),
        (["2001:db8::/32"], "2001:db8:1::5", True),
        (["2001:db8::/32"], "2001:db9::5", False),
        (["192.168.1.0/24", "::1"], "::1", True),
    ],
)
def test_allowlist(keys, allow, address, admitted):
    _, key = keys.create("k", allow)
    if admitted:
        keys.verify(key, address)
    else:
        with pytest.raises(Forbidden, match="not allowed from"):
            keys.verify(key, address)


def test_unknown_missing_and_revoked_keys_are_401(keys):
    record, key = keys.create("old", ["127.0.0.1"], scope="admin")
    for bad in ("", "x" * 44, key[:-1] + ("1" if key[-1] != "1" else "2")):
        with pytest.raises(AuthError) as err:
            keys.verify(bad, "127.0.0.1")
        assert not isinstance(err.value, Forbidden) and (not bad or bad not in str(err.value))
    keys.revoke("OLD")
    with pytest.raises(AuthError, match="revoked"):
        keys.verify(key, "127.0.0.1")
    assert keys.get(record.id).revoked


def test_scope(keys):
    _, run_key = keys.create("runner", ["127.0.0.1"])
    _, admin_key = keys.create("admin", ["127.0.0.1"], scope="admin")
    keys.verify(run_key, "127.0.0.1", "run")
    with pytest.raises(Forbidden, match="needs admin"):
        keys.verify(run_key, "127.0.0.1", "admin")
    assert keys.verify(admin_key, "127.0.0.1", "admin").scope == "admin"
    assert keys.verify(admin_key, "127.0.0.1", "run").scope == "admin"


@pytest.mark.parametrize(
    "name,allow,scope", [("", ["127.0.0.1"], "run"), ("k", [], "run"), ("k", ["300.1.1.1"], "run"),
                         ("k", ["127.0.0.1"], "root"), ("k", "127.0.0.1", "run")]
)  # fmt: skip
def test_bad_creations(keys, name, allow, scope):
    with pytest.raises(BadRequest):
        keys.create(name, allow, scope=scope)
    assert keys.list() == []


def test_last_used_is_recorded(keys):
    record, key = keys.create("k", ["127.0.0.1"])
    assert record.last_used is None
    before = time.time()
    keys.verify(key, "127.0.0.1")
    assert keys.get("k").last_used >= before - 1


def test_revoke_unknown(keys):
    with pytest.raises(ApiKeyNotFound):
        keys.revoke("ghost")
