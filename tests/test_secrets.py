from __future__ import annotations

import stat

import pytest

from aft.exceptions import ConfigError, SecretError, SecretNotFound
from aft.instance import Instance
from aft.secrets_store import MasterKey, SecretStore

CANARY = "canary-7f3a9c1e-do-not-leak"


def test_set_get_list_delete(instance):
    instance.secrets.set("b", "two")
    instance.secrets.set("a", "one")
    instance.secrets.set("a", "uno")
    assert instance.secrets.get("a") == "uno"
    assert instance.secrets.names() == ["a", "b"]
    instance.secrets.delete("a")
    assert instance.secrets.names() == ["b"]
    with pytest.raises(SecretNotFound):
        instance.secrets.get("a")
    with pytest.raises(SecretNotFound):
        instance.secrets.delete("a")


def test_names_are_case_sensitive(instance):
    instance.secrets.set("Key", "x")
    with pytest.raises(SecretNotFound):
        instance.secrets.get("key")


@pytest.mark.parametrize("name", ["", "x" * 201, "a\nb", 3])
def test_bad_names(instance, name):
    with pytest.raises(SecretError):
        instance.secrets.set(name, "v")


def test_canary_is_not_in_any_file_of_the_home(aft_home):
    with Instance(aft_home) as inst:
        inst.secrets.set("canary", CANARY)
        # read while the connection is open too: the WAL file holds fresh pages
        files = [p.read_bytes() for p in aft_home.iterdir() if p.is_file()]
    files += [p.read_bytes() for p in aft_home.iterdir() if p.is_file()]
    assert files and all(CANARY.encode() not in data for data in files)


def test_master_key_file_is_owner_only(instance, aft_home):
    instance.secrets.set("x", "y")
    key = aft_home / "master.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(key.read_bytes()) == 32


def test_another_master_key_cannot_decrypt_and_is_refused_at_open(aft_home):
    with Instance(aft_home) as inst:
        inst.secrets.set("x", CANARY)
        other = MasterKey(aft_home / "other.key")
        with pytest.raises(SecretError, match="does not decrypt"):
            SecretStore(inst.store, other).get("x")
    original = (aft_home / "master.key").read_bytes()
    (aft_home / "master.key").write_bytes(b"\x01" * 32)
    with pytest.raises(ConfigError, match="not the one this database was set up with") as err:
        Instance(aft_home)
    assert "\n" not in str(err.value)
    (aft_home / "master.key").write_bytes(original)
    with Instance(aft_home) as inst:
        assert inst.secrets.get("x") == CANARY


def test_damaged_master_key(aft_home):
    Instance(aft_home).close()
    (aft_home / "master.key").write_bytes(b"short")
    with pytest.raises(ConfigError, match="damaged"):
        Instance(aft_home)
