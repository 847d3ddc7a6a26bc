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


# ---- short secrets and readable logs ---------------------------------------------------------


def test_a_short_secret_is_stored_with_a_warning(instance, caplog):
    import logging

    from aft.secrets_store import MIN_SECRET_LENGTH

    with caplog.at_level(logging.WARNING, logger="aft.secrets"):
        instance.secrets.set("long", "x" * MIN_SECRET_LENGTH)
        assert caplog.records == []
        instance.secrets.set("short", "x" * (MIN_SECRET_LENGTH - 1))
    [record] = caplog.records
    assert record.getMessage().startswith(f"secret short is shorter than {MIN_SECRET_LENGTH}")
    assert "x" * (MIN_SECRET_LENGTH - 1) not in record.getMessage()
    assert instance.secrets.get("short") == "xxx"


def test_the_cli_warns_of_a_short_secret(run_aft):
    short = run_aft("secrets", "set", "pin", input="s")
    assert short.returncode == 0 and short.stdout == "secret pin set\n"
    assert short.stderr.startswith("aft: warning: secret pin is shorter than 4 characters")
    fine = run_aft("secrets", "set", "token", input="a-long-enough-value")
    assert (fine.returncode, fine.stderr) == (0, "")


def test_a_short_vfs_payload_value_is_stored_with_a_warning(instance, caplog, tmp_path):
    import logging

    payload = {"user": "bob", "password": "a-long-password", "keys": {"id": "k"}, "empty": ""}
    with caplog.at_level(logging.WARNING, logger="aft.secrets"):
        instance.vfs.add("box", "Disk", str(tmp_path), payload)
    messages = sorted(r.getMessage() for r in caplog.records)
    assert [m.split(" is shorter")[0] for m in messages] == [
        "VFS box payload field keys.id",
        "VFS box payload field user",
    ]
    assert instance.vfs.payload("box") == payload


def test_the_cli_warns_of_a_short_vfs_payload_value(run_aft, tmp_path):
    (tmp_path / "short.json").write_text('{"password": "pw"}')
    (tmp_path / "fine.json").write_text('{"password": "a-long-enough-value"}')
    added = run_aft("vfs", "add", "box", "--type", "Disk", "--target", str(tmp_path))
    assert (added.returncode, added.stderr) == (0, "")
    short = run_aft("vfs", "update", "box", "--payload-file", str(tmp_path / "short.json"))
    assert short.returncode == 0 and short.stdout == "vfs box (Disk) updated\n"
    assert short.stderr.startswith(
        "aft: warning: VFS box payload field password is shorter than 4 characters"
    )
    assert len(short.stderr.splitlines()) == 1
    fine = run_aft("vfs", "update", "box", "--payload-file", str(tmp_path / "fine.json"))
    assert (fine.returncode, fine.stderr) == (0, "")


@pytest.mark.parametrize("value", ["s", "k", "ab", "m3", "abc"])
def test_one_to_three_character_secrets_never_cut_into_words(value):
    from aft.syncjs.host import Masker

    mask = Masker()
    mask.reveal(value)
    line = f"UP   short: 1 entries in / (230 ms) mask{value}me {value}x x{value}"
    assert mask(line) == line  # inside words: left alone
    assert mask(f"key={value} ({value}) {value}") == "key=******** (********) ********"


def test_a_short_secret_in_a_job_log_stays_readable(instance):
    from aft.executor import Executor

    instance.secrets.set("k", "s")
    result = Executor(secrets=instance.secrets).run(
        'Log("UP   short: 1 entries in / (230 ms) " + GetSecret("k") + " sent")'
    )
    assert [line.text for line in result.log] == [
        "UP   short: 1 entries in / (230 ms) ******** sent"
    ]
