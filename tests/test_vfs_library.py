"""The VFS Library: profiles, sealed payloads, and the `aft vfs` commands."""

from __future__ import annotations

import json

import pytest

from aft.exceptions import VfsError, VfsExists, VfsNotFound, VfsPathError
from aft.vfs.library import check_target, secret_values

CANARY = "vfs-pass-canary-93be1"


def test_add_list_get_remove_case_insensitive(instance, tmp_path):
    lib = instance.vfs
    lib.add("Archive", "Disk", str(tmp_path))
    assert [p.name for p in lib.list()] == ["Archive"]
    assert lib.get("ARCHIVE").target == str(tmp_path)
    with pytest.raises(VfsExists):
        lib.add("archive", "Disk", str(tmp_path))
    lib.add("archive", "Disk", "/srv", replace=True)
    assert lib.get("Archive").target == "/srv"
    lib.remove("ARCHIVE")
    with pytest.raises(VfsNotFound):
        lib.get("archive")
    with pytest.raises(VfsNotFound):
        lib.remove("archive")


def test_payload_is_sealed_at_rest_and_never_listed(instance, aft_home):
    instance.vfs.add("partner", "FTP", "ftp://bob@127.0.0.1:21/in?tls=explicit", {"pass": CANARY})
    assert instance.vfs.payload("PARTNER") == {"pass": CANARY}
    assert CANARY not in repr(instance.vfs.list()) + repr(instance.vfs.get("partner"))
    for f in aft_home.iterdir():
        assert CANARY.encode() not in f.read_bytes()


def test_opening_a_disk_profile(instance, tmp_path):
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "a.txt").write_text("x")
    instance.vfs.add("local", "Disk", str(tmp_path / "root"))
    with instance.vfs.open("local") as vfs:
        assert [i.name for i in vfs.listdir("/")] == ["a.txt"]


@pytest.mark.parametrize(
    "type_name,target,message",
    [
        ("Nope", "/x", "unknown VFS type"),
        ("Disk", "relative/path", "absolute path"),
        ("SFTP", "ftp://h/x", "sftp://"),
        ("SFTP", "sftp://bob@h:22/x", "must pin the server's host key"),
        ("S3", "s3://", "s3://"),
        ("FTP", "ftp://bob:secret@h/x", "holds no password"),
    ],
)
def test_bad_targets(type_name, target, message):
    with pytest.raises(VfsError, match=message):
        check_target(type_name, target)


def test_good_targets():
    check_target("SFTP", "sftp://bob@h:22/x?hostKeySHA256=abc")
    check_target("S3", "s3://bucket/prefix?endpoint=http://127.0.0.1:8333")
    check_target("GCP", "gs://bucket")
    check_target("Azure", "azure://acct/container")
    with pytest.raises(VfsPathError):
        check_target("Disk", "")


def test_secret_values_finds_every_string():
    assert sorted(secret_values({"pass": "a", "n": 1, "k": {"x": ["b", 2]}})) == ["a", "b"]


def test_vfs_commands(run_aft, tmp_path, aft_home):
    payload = tmp_path / "payload.json"
    payload.write_text(json.dumps({"pass": CANARY}))
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "f.txt").write_text("x")
    add = run_aft("vfs", "add", "local", "--type", "Disk", "--target", str(tmp_path / "root"))
    assert add.returncode == 0, add.stderr
    ftp = run_aft(
        "vfs", "add", "ftp", "--type", "FTP", "--target", "ftp://u@127.0.0.1:2121/",
        "--payload-file", "-", input=json.dumps({"pass": CANARY}),
    )  # fmt: skip
    assert ftp.returncode == 0, ftp.stderr
    listing = run_aft("vfs", "list")
    assert listing.stdout.splitlines() == [
        "ftp  FTP  ftp://u@127.0.0.1:2121/",
        f"local  Disk  {tmp_path / 'root'}",
    ]
    shown = run_aft("vfs", "show", "FTP", "--json")
    assert json.loads(shown.stdout)["type"] == "FTP" and CANARY not in shown.stdout
    assert "1 entries" in run_aft("vfs", "test", "local").stdout
    assert run_aft("vfs", "remove", "ftp").returncode == 0
    bad = run_aft("vfs", "add", "x", "--type", "SFTP", "--target", "sftp://h/x")
    assert bad.returncode == 2 and "pin" in bad.stderr and "Traceback" not in bad.stderr
    missing = run_aft("vfs", "test", "nothing")
    assert missing.returncode == 1 and "no VFS named 'nothing'" in missing.stderr


def test_a_missing_backend_library_names_its_extra(monkeypatch):
    import sys

    from aft.exceptions import MissingExtra
    from aft.vfs import backend_class

    monkeypatch.delitem(sys.modules, "aft.vfs.sftp", raising=False)
    monkeypatch.delitem(sys.modules, "aft.vfs._paramiko_adapter", raising=False)
    monkeypatch.setitem(sys.modules, "paramiko", None)  # as if it were not installed
    with pytest.raises(MissingExtra, match=r"pip install 'aft\[sftp\]'"):
        backend_class("SFTP")


def test_sftp_hostkey_command(run_aft, sshd_server):
    shown = run_aft("vfs", "hostkey", f"sftp://{sshd_server.host}:{sshd_server.port}")
    assert shown.returncode == 0 and shown.stdout.strip() == sshd_server.host_key_sha256
    bad = run_aft("vfs", "hostkey", "ftp://x")
    assert bad.returncode == 1 and "give an SFTP URL" in bad.stderr
