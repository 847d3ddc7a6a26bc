"""GetVFS, VirtualFS and the remote clients, script by script.

VirtualFS runs against Disk VFSs in temporary directories; the clients against real
servers whose fixtures come from ``tests/servers`` (load them with ``-p tests.servers.sshd``,
``ftpd``, ``seaweedfs``, ``azurite``, ``gcs``): SftpClient and every ``client.Options`` field
against OpenSSH sshd, the other clients a round trip each. The SFTP server runs on this
machine, so its files are checked directly on disk.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

import pytest

from aft.executor import Executor, HaltSignal
from aft.models import JobState, RunResult
from aft.vfs.base import TEMP_MARKER, TRANSFER_WORKERS
from aft.vfs.disk import DiskVfs
from aft.vfs.sftp import SftpVfs
from tests.script_helpers import errors, js, texts
from tests.script_helpers import outcome as outcome_with


def run(instance: Any, source: str, **kwargs: Any) -> RunResult:
    return Executor(vfs_library=instance.vfs, secrets=instance.secrets).run(source, **kwargs)


def outcome(instance: Any, body: str, **kwargs: Any) -> tuple[Any, RunResult]:
    return outcome_with(run, instance, body, **kwargs)


def tree(root: Path) -> dict[str, bytes | None]:
    """Every entry below ``root``: file -> bytes, directory -> None."""
    return {
        str(p.relative_to(root)): None if p.is_dir() else p.read_bytes()
        for p in sorted(root.rglob("*"))
    }


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "vfs"
    folder.mkdir()
    return folder


def disk(root: Path) -> str:
    """JS that opens ``v``: an ephemeral Disk VFS on ``root``."""
    return f"var v = new VirtualFS(VfsTypeDisk, {js(root)});\n"


# ---- GetVFS and new VirtualFS ----------------------------------------------------------


def test_get_vfs_opens_a_library_entry(instance: Any, root: Path) -> None:
    (root / "a.txt").write_text("hello")
    instance.vfs.add("data", "Disk", str(root))
    out, _ = outcome(
        instance,
        'var v = GetVFS("data"); out.info = v.Stat("/a.txt").Info();'
        'out.named = new VirtualFS("data").ReadFileAsText("/a.txt").Data();'
        "out.isVfs = v instanceof VirtualFS;",
    )
    assert out["info"] == {
        "Name": "a.txt",
        "Path": "/a.txt",
        "Type": "FILE",
        "Size": 5,
        "TimeStamp": int((root / "a.txt").stat().st_mtime),
    }
    assert out["named"] == "hello" and out["isVfs"]


def test_get_vfs_of_a_missing_name_is_null_and_logged(instance: Any) -> None:
    out, r = outcome(
        instance,
        'out.get = GetVFS("nope");'
        'var v = new VirtualFS("nope"); var s = v.Stat("/");'
        "out.ok = s.Ok(); out.msg = s.ErrorMsg(); out.info = s.Info();"
        "out.infos = v.ReadDir('/').Infos();",
    )
    assert out.pop("msg").startswith("Stat: this VirtualFS could not be opened")
    assert out == {"get": None, "ok": False, "info": None, "infos": []}
    assert "GetVFS: no VFS named 'nope' in the library" in errors(r)


def test_ephemeral_vfs_payload_as_text_or_object(instance: Any, root: Path) -> None:
    (root / "f").write_text("x")
    out, r = outcome(
        instance,
        f"out.text = new VirtualFS(VfsTypeDisk, {js(root)}, '{{}}').Stat('/f').Ok();"
        f"out.object = new VirtualFS(VfsTypeDisk, {js(root)}, {{}}).Stat('/f').Ok();"
        f"out.bad = new VirtualFS(VfsTypeDisk, 'relative/path').Stat('/f').Ok();",
    )
    assert out == {"text": True, "object": True, "bad": False}
    assert any("absolute path" in line for line in errors(r))


# ---- VirtualFS methods on a Disk VFS -----------------------------------------------------


def test_stat_and_lstat(instance: Any, root: Path) -> None:
    (root / "d").mkdir()
    (root / "d" / "f").write_bytes(b"12345")
    (root / "link").symlink_to("d/f")
    out, _ = outcome(
        instance,
        disk(root) + "out.dir = v.Stat('/d').Info(); out.link = v.Stat('/link').Info();"
        "out.l = v.Lstat('/link').Info(); out.root = v.Stat('/').Info().Type;"
        "var m = v.Stat('/missing'); out.missing = [m.Ok(), m.Info()];",
    )
    assert (out["dir"]["Type"], out["dir"]["Size"], out["dir"]["Path"]) == ("DIR", 0, "/d")
    assert (out["link"]["Type"], out["link"]["Size"]) == ("FILE", 5)
    assert (out["l"]["Name"], out["l"]["Size"]) == ("link", len("d/f"))
    assert out["root"] == "DIR" and out["missing"] == [False, None]


def test_read_dir_sorts(instance: Any, root: Path) -> None:
    for name, size, mtime in [("b", 1, 100), ("a", 3, 300), ("c", 2, 200)]:
        (root / name).write_bytes(b"x" * size)
        os.utime(root / name, (mtime, mtime))
    (root / "d").mkdir()
    os.utime(root / "d", (50, 50))
    cases = {
        "default": "",
        "name_desc": ", SortByName, SortDesc",
        "namedf": ", SortByNameDirsFirst, SortAsc",
        "namedf_desc": ", SortByNameDirsFirst, SortDesc",
        "size": ", SortBySize, SortAsc",
        "time_desc": ", SortByTime, SortDesc",
    }
    body = "".join(
        f"out.{k} = v.ReadDir('/'{args}).Infos().map(function (i) {{ return i.Name; }});"
        for k, args in cases.items()
    )
    out, _ = outcome(instance, disk(root) + body + "out.item = v.ReadDir('/').Infos()[0];")
    assert out["default"] == ["a", "b", "c", "d"]
    assert out["name_desc"] == ["d", "c", "b", "a"]
    assert out["namedf"] == ["d", "a", "b", "c"]
    assert out["namedf_desc"] == ["d", "c", "b", "a"]
    assert out["size"] == ["d", "b", "c", "a"]
    assert out["time_desc"] == ["a", "c", "b", "d"]
    assert out["item"] == {"Name": "a", "Path": "/a", "Type": "FILE", "Size": 3, "TimeStamp": 300}


def test_directory_and_file_operations(instance: Any, root: Path) -> None:
    (root / "f").write_text("data")
    (root / "full").mkdir()
    (root / "full" / "x").write_text("x")
    out, r = outcome(
        instance,
        disk(root) + "out.mkdir = v.Mkdir('/new').Ok(); out.again = v.Mkdir('/new').Ok();"
        "out.all = v.MkdirAll('/p/q/r').Ok(); out.allAgain = v.MkdirAll('/p/q').Ok();"
        "out.rmdir = v.Rmdir('/new').Ok(); out.rmdirFull = v.Rmdir('/full').Ok();"
        "out.rename = v.Rename('/f', '/p/g').Ok(); out.remove = v.Remove('/p/g').Ok();"
        "var m = v.Remove('/p/g'); out.removeMissing = [m.Ok(), m.ErrorMsg()];"
        "out.removeAll = v.RemoveAll('/full').Ok();"
        "out.removeAllMissing = v.RemoveAll('/no').Ok();",
    )
    assert out == {
        "mkdir": True,
        "again": False,
        "all": True,
        "allAgain": True,
        "rmdir": True,
        "rmdirFull": False,
        "rename": True,
        "remove": True,
        "removeMissing": [False, "Remove: /p/g: no such file or directory"],
        "removeAll": True,
        "removeAllMissing": True,
    }
    assert tree(root) == {"p": None, "p/q": None, "p/q/r": None}
    assert errors(r) == []  # a failed call is in its response, logged by the script if it matters
    assert r.state is JobState.SUCCEEDED  # I/O failures do not fail the job


def test_tree_size(instance: Any, root: Path) -> None:
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "one").write_bytes(b"x" * 10)
    (root / "a" / "b" / "two").write_bytes(b"x" * 5)
    out, _ = outcome(
        instance,
        disk(root) + "out.tree = v.TreeSize('/a').Size(); out.file = v.TreeSize('/a/one').Size();"
        "out.missing = [v.TreeSize('/x').Ok(), v.TreeSize('/x').Size()];",
    )
    assert out == {"tree": 15, "file": 10, "missing": [False, 0]}


def test_chmod_chtimes_truncate_symlink(instance: Any, root: Path) -> None:
    (root / "f").write_text("0123456789")
    out, _ = outcome(
        instance,
        disk(root)
        + "out.chmod = v.Chmod('/f', 0o600).Ok(); out.truncate = v.Truncate('/f', 4).Ok();"
        "out.chtimes = v.Chtimes('/f', 1000000000, 1200000000).Ok();"
        "out.symlink = v.Symlink('/f', '/ln').Ok();"
        "out.escape = v.Symlink('/../../etc/passwd', '/bad').Ok();",
    )
    assert out == {
        "chmod": True,
        "chtimes": True,
        "truncate": True,
        "symlink": True,
        "escape": False,
    }
    st = (root / "f").stat()
    assert (st.st_mode & 0o777, st.st_mtime, st.st_atime) == (0o600, 1_200_000_000, 1_000_000_000)
    assert (root / "f").read_text() == "0123" and os.readlink(root / "ln") == "f"


def test_paths_never_leave_the_root(instance: Any, tmp_path: Path, root: Path) -> None:
    (tmp_path / "secret.txt").write_text("outside")
    (root / "out").symlink_to(tmp_path)
    out, r = outcome(
        instance,
        disk(root) + "out.dotdot = v.ReadFileAsText('/../secret.txt').Ok();"
        "var l = v.ReadFileAsText('/out/secret.txt'); out.link = l.Ok(); out.why = l.ErrorMsg();"
        "out.backslash = v.Stat('\\\\etc').Ok();",
    )
    assert (out["dotdot"], out["link"], out["backslash"]) == (False, False, False)
    assert "outside the VFS root" in out["why"]
    assert errors(r) == []  # the script holds each failure; it logs what matters to it


def test_read_file_as_text_hex_bytes(instance: Any, root: Path) -> None:
    (root / "f").write_text("0123456789")
    (root / "u").write_text("héllo")
    out, _ = outcome(
        instance,
        disk(root) + "function t() { return v.ReadFileAsText.apply(v, arguments).Data(); }"
        "out.all = t('/f'); out.head = t('/f', 3); out.mid = t('/f', 3, 2, FromStart);"
        "out.next = t('/f', 2, 1, FromCurrent); out.rest = t('/f', 0, 0, FromCurrent);"
        "out.tail = t('/f', 0, 4, FromEnd); out.tailNeg = t('/f', 2, -4, FromEnd);"
        "out.utf8 = t('/u'); out.hex = v.ReadFileAsHex('/f', 2, 8).Data();"
        "out.bytes = v.ReadFileAsBytes('/f', 3).Data();"
        "var m = v.ReadFileAsText('/missing'); out.missing = [m.Ok(), m.Data()];",
    )
    assert out == {
        "all": "0123456789",
        "head": "012",
        "mid": "234",
        "next": "67",
        "rest": "89",
        "tail": "6789",
        "tailNeg": "67",
        "utf8": "héllo",
        "hex": "3839",
        "bytes": [48, 49, 50],
        "missing": [False, None],
    }


def test_write_file_as_text_hex_bytes(instance: Any, root: Path) -> None:
    (root / "f").write_text("an old and longer content")
    out, _ = outcome(
        instance,
        disk(root) + "out.replace = v.WriteFileAsText('/f', 'hello world').Ok();"
        "out.patch = v.WriteFileAsText('/f', 'HELLO', 0, FromStart).Ok();"
        "out.append = v.WriteFileAsText('/f', '!', 0, FromEnd).Ok();"
        "v.WriteFileAsText('/seq', 'a');"
        "v.WriteFileAsText('/seq', 'b', 0, FromCurrent);"
        "v.WriteFileAsText('/seq', 'c', 0, FromCurrent);"
        "out.gap = v.WriteFileAsText('/gap', 'x', 3, FromStart).Ok();"
        "out.hex = v.WriteFileAsHex('/hex', '00ff10').Ok();"
        "out.bytes = v.WriteFileAsBytes('/bytes', [1, 2, 255]).Ok();"
        "out.noParent = v.WriteFileAsText('/no/f', 'x').Ok();",
    )
    assert out == {
        "replace": True,
        "patch": True,
        "append": True,
        "gap": True,
        "hex": True,
        "bytes": True,
        "noParent": False,
    }
    assert tree(root) == {  # no temporary file left behind
        "bytes": b"\x01\x02\xff",
        "f": b"HELLO world!",
        "gap": b"\0\0\0x",
        "hex": b"\x00\xff\x10",
        "seq": b"abc",
    }


def test_import_and_export_files(instance: Any, tmp_path: Path, root: Path) -> None:
    (tmp_path / "local.txt").write_text("from this machine")
    (root / "in").mkdir()
    out, _ = outcome(
        instance,
        disk(root) + f"out.imp = v.ImportFile({js(tmp_path / 'local.txt')}, '/in/x.txt').Ok();"
        f"out.exp = v.ExportFile('/in/x.txt', {js(tmp_path / 'back.txt')}).Ok();"
        f"out.missing = v.ImportFile({js(tmp_path / 'none')}, '/in/y').Ok();",
    )
    assert out == {"imp": True, "exp": True, "missing": False}
    assert (root / "in" / "x.txt").read_text() == "from this machine"
    assert (tmp_path / "back.txt").read_text() == "from this machine"


def test_copy_and_move_between_disk_vfss(instance: Any, tmp_path: Path, root: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (root / "a").write_text("A")
    (root / "b").write_text("B")
    out, _ = outcome(
        instance,
        disk(root) + f"var w = new VirtualFS(VfsTypeDisk, {js(other)});"
        "out.copy = v.CopyToVFS('/a', w, '/a2').Ok(); out.move = v.MoveToVFS('/b', w, '/b2').Ok();"
        "out.missing = v.CopyToVFS('/none', w, '/x').Ok();"
        "out.dead = v.CopyToVFS('/a', new VirtualFS('nope'), '/x').Ok();",
    )
    assert out == {"copy": True, "move": True, "missing": False, "dead": False}
    assert tree(root) == {"a": b"A"}
    assert tree(other) == {"a2": b"A", "b2": b"B"}


@pytest.mark.parametrize(
    "call",
    [
        "v.Stat(1)",
        "v.Stat()",
        "v.ReadDir('/', 'bogus')",
        "v.ReadDir('/', SortByName, 'up')",
        "v.Chmod('/f', '755')",
        "v.Chtimes('/f', 'now', 1)",
        "v.Chown('/f', '0', 0)",
        "v.Chown('/f', 0)",
        "v.ReadFileAsText('/f', 1, 0, 7)",
        "v.ReadFileAsText('/f', 'all')",
        "v.ReadFileAsText('/f', 1, 0, FromStart, 'extra')",
        "v.WriteFileAsHex('/f', 'zz')",
        "v.WriteFileAsBytes('/f', [1, 300])",
        "v.WriteFileAsText('/f', 42)",
        "v.CopyToVFS('/f', {}, '/g')",
        "new VirtualFS('Nope', '/x')",
        "new VirtualFS(VfsTypeDisk, '/x', '{not json')",
        "GetVFS(3)",
        "new SftpClient().ListDir('/', 9)",
        "new SftpClient().Upload('/x', '/y', 'extra')",
    ],
)
def test_wrong_argument_types_throw_type_error(instance: Any, root: Path, call: str) -> None:
    (root / "f").write_text("x")
    r = run(
        instance,
        disk(root) + f"try {{ {call} }} catch (e) {{ Log(e instanceof TypeError) }}\n{call}",
    )
    assert texts(r)[0] == "true"
    assert r.state is JobState.FAILED and r.error.startswith("TypeError")
    assert r.error_line == 3  # the script's line, not the runtime's


def test_error_messages_and_logs_mask_revealed_secrets(instance: Any, root: Path) -> None:
    instance.secrets.set("pw", "hunter2-secret")
    out, r = outcome(
        instance,
        disk(root) + "var msg = v.Stat('/' + GetSecret('pw')).ErrorMsg();"
        "out.leaks = msg.indexOf(GetSecret('pw')) >= 0; out.masked = msg.indexOf('********') > 0;",
    )
    assert out == {"leaks": False, "masked": True}
    assert all("hunter2" not in t for t in texts(r))


# ---- SftpClient against a real sshd --------------------------------------------------------


def sftp_client(server: Any, **fields: Any) -> str:
    """JS that makes ``c``: an SftpClient with the server's fields (None leaves one out)."""
    values = {
        "Host": f"{server.host}:{server.port}",
        "User": server.user,
        "Pass": server.password,
        "HostKeySHA256": server.host_key_sha256,
        **fields,
    }
    sets = "".join(f"c.{k} = {js(v)};\n" for k, v in values.items() if v is not None)
    return "var c = new SftpClient();\n" + sets


@pytest.fixture
def remote(sshd_server: Any) -> Path:
    """A fresh directory on the SFTP server (the same path on this machine)."""
    return sshd_server.new_dir()


def test_connect_is_refused_without_a_host_key_pin(instance: Any, sshd_server: Any) -> None:
    out, r = outcome(
        instance,
        sftp_client(sshd_server, HostKeySHA256=None)
        + "out.c = c.Connect(); out.l = c.ListDir('/');",
    )
    assert out == {"c": False, "l": []}
    assert any(
        e.startswith("Connect: refusing")
        and "no host key pin" in e
        and sshd_server.host_key_sha256 in e
        for e in errors(r)
    )
    assert "ListDir: not connected: call Connect() first" in errors(r)


def test_connect_is_refused_with_a_wrong_pin(instance: Any, sshd_server: Any) -> None:
    out, r = outcome(
        instance,
        sftp_client(sshd_server, HostKeySHA256="SHA256:" + "A" * 43) + "out.c = c.Connect();",
    )
    assert out == {"c": False}
    assert any("does not match the pinned SHA256" in e for e in errors(r))


@pytest.mark.parametrize("key", ["ed25519", "encrypted rsa", "rsa passphrase from secret"])
def test_connect_with_a_key_file(instance: Any, sshd_server: Any, tmp_path: Path, key: str) -> None:
    key_file = tmp_path / "id"
    key_file.write_text(sshd_server.key_pem if key == "ed25519" else sshd_server.rsa_key_pem)
    fields: dict[str, Any] = {"Pass": None, "KeyFile": str(key_file)}
    if key == "encrypted rsa":
        fields["KeyFilePass"] = sshd_server.rsa_key_pass
    if key == "rsa passphrase from secret":
        instance.secrets.set("key-pass", sshd_server.rsa_key_pass)
        fields["KeyFileSecret"] = "key-pass"
    out, r = outcome(
        instance, sftp_client(sshd_server, **fields) + "out.c = c.Connect(); out.s = c.Close();"
    )
    assert out == {"c": True, "s": True}, errors(r)
    assert all(sshd_server.rsa_key_pass not in t for t in texts(r))


def test_pass_from_secret(instance: Any, sshd_server: Any) -> None:
    instance.secrets.set("sftp-pw", sshd_server.password)
    out, r = outcome(
        instance,
        sftp_client(sshd_server, Pass=None, PassFromSecret="sftp-pw")
        + "out.c = c.Connect(); c.Close();"
        "c.PassFromSecret = 'missing'; out.missing = c.Connect();",
    )
    assert out == {"c": True, "missing": False}, errors(r)
    assert "Connect: PassFromSecret: no secret named 'missing'" in errors(r)


def test_configure_from_url_and_payload(instance: Any, sshd_server: Any, remote: Path) -> None:
    url = f"sftp://{sshd_server.user}@{sshd_server.host}:{sshd_server.port}?hostKeySHA256={sshd_server.host_key_sha256}&hostID=box"
    payload = {"pass": sshd_server.password, "UploadPolicy": 1}
    out, r = outcome(
        instance,
        f"var c = new SftpClient().Configure({js(url)}, {js(json.dumps(payload))});"
        "out.host = c.Host; out.user = c.User; out.pin = c.HostKeySHA256; out.id = c.HostID;"
        "out.policy = c.Options.UploadPolicy; out.pass = c.Pass; out.c = c.Connect();"
        f"out.l = c.ListDir({js(remote)});",
    )
    assert out == {
        "host": f"{sshd_server.host}:{sshd_server.port}",
        "user": sshd_server.user,
        "pin": sshd_server.host_key_sha256,
        "id": "box",
        "policy": 1,
        "pass": "********",
        "c": True,
        "l": [],
    }
    assert "Connect: connected to box" in texts(r)


def test_a_rejected_credential_never_reaches_the_log(instance: Any, sshd_server: Any) -> None:
    wrong = "Wr0ng-" + secrets.token_hex(8)
    target = sshd_server.target("/")
    out, r = outcome(
        instance,
        sftp_client(sshd_server, Pass=wrong) + "out.c = c.Connect(); Log('pass is ' + c.Pass);"
        f"var v = new VirtualFS(VfsTypeSFTP, {js(target)}, {{pass: {js(wrong)}}});"
        "var l = v.ReadDir('/'); out.l = l.Ok(); out.msg = l.ErrorMsg();"
        f"Log('payload ' + JSON.stringify({{pass: {js(wrong)}}}));",
    )
    assert out["c"] is False and out["l"] is False
    assert "login" in out["msg"] and "failed" in out["msg"]
    assert "pass is ********" in texts(r) and 'payload {"pass":"********"}' in texts(r)
    assert all(wrong not in t for t in texts(r))


def test_client_directory_methods(instance: Any, sshd_server: Any, remote: Path) -> None:
    (remote / "top.csv").write_text("1")
    r_, cut = js(remote), len(str(remote))
    body = (
        "c.Connect();"
        f"out.make = c.MakeDir({r_} + '/a/b/c'); out.makeAgain = c.MakeDir({r_} + '/a/b');"
        f"c.Upload({js(str(remote / 'top.csv'))}, {r_} + '/a/b');"
        "function below(items) {"
        f"  return items.map(function (i) {{ return i.Path.slice({cut}); }});"
        "}"
        f"out.all = c.ListDir({r_}).map(function (i) {{ return i.Name + ':' + i.Type; }});"
        f"out.files = c.ListDir({r_}, LIST_FILES).map(function (i) {{ return i.Name; }});"
        f"out.dirs = below(c.ListDir({r_}, LIST_DIRS)); out.deep = below(c.ListDirR({r_}));"
        f"out.csv = c.ListFiles({r_}, '*.csv').map(function (i) {{ return i.Name; }});"
        f"out.csvR = below(c.ListFilesR({r_}, '*.csv'));"
        f"out.renDir = c.RenDir({r_} + '/a/b/c', {r_} + '/a/c');"
        f"out.renDirOfFile = c.RenDir({r_} + '/top.csv', {r_} + '/x');"
        f"out.renFile = c.RenFile({r_} + '/top.csv', {r_} + '/a/top.txt');"
        f"out.delDirFull = c.DelDir({r_} + '/a');"
        f"out.delDir = c.DelDir({r_} + '/a/c');"
        f"out.delFile = c.DelFile({r_} + '/a/top.txt');"
        f"out.delFileAgain = c.DelFile({r_} + '/a/top.txt');"
        f"out.stat = c.Stat({r_} + '/a/b/top.csv'); out.statMissing = c.Stat({r_} + '/zz');"
        f"out.delTree = c.DelTree({r_} + '/a');"
        f"out.after = c.ListDirR({r_}).length; out.close = c.Close(); out.closeAgain = c.Close();"
    )
    out, r = outcome(instance, sftp_client(sshd_server) + body)
    stat = out.pop("stat")
    assert out == {
        "make": True,
        "makeAgain": True,
        "all": ["a:DIR", "top.csv:FILE"],
        "files": ["top.csv"],
        "dirs": ["/a"],
        "deep": ["/a", "/a/b", "/a/b/c", "/a/b/top.csv", "/top.csv"],
        "csv": ["top.csv"],
        "csvR": ["/a/b/top.csv", "/top.csv"],
        "renDir": True,
        "renDirOfFile": False,
        "renFile": True,
        "delDirFull": False,
        "delDir": True,
        "delFile": True,
        "delFileAgain": False,
        "statMissing": {"Valid": True, "Exists": False, "Stat": None},
        "delTree": True,
        "after": 0,
        "close": True,
        "closeAgain": False,
    }
    assert stat["Valid"] and stat["Exists"] and stat["Stat"]["Name"] == "top.csv"
    assert stat["Stat"]["Size"] == 1 and stat["Stat"]["Type"] == "FILE"
    assert any(e.startswith("RenDir: ") and "not a directory" in e for e in errors(r))


def test_upload_with_a_glob_and_download(
    instance: Any, sshd_server: Any, remote: Path, tmp_path: Path
) -> None:
    out_dir, back = tmp_path / "outbox", tmp_path / "back"
    out_dir.mkdir()
    back.mkdir()
    for name in ("a.csv", "b.csv", "c.txt"):
        (out_dir / name).write_text(name * 1000)
    out, r = outcome(
        instance,
        sftp_client(sshd_server) + "c.Connect();"
        f"out.up = c.Upload({js(str(out_dir) + '/*.csv')}, {js(remote)});"
        f"out.one = c.Upload({js(out_dir / 'c.txt')}, {js(remote)});"
        f"out.none = c.Upload({js(str(out_dir) + '/*.none')}, {js(remote)});"
        f"out.missing = c.Upload({js(out_dir / 'nope.txt')}, {js(remote)});"
        f"out.down = c.Download({js(str(remote) + '/*.csv')}, {js(back)});"
        f"out.downOne = c.Download({js(remote / 'c.txt')}, {js(back)});"
        f"out.downDir = c.Download({js(remote)}, {js(back)});",
    )
    assert out == {
        "up": True,
        "one": True,
        "none": True,
        "missing": False,
        "down": True,
        "downOne": True,
        "downDir": False,
    }
    assert tree(remote) == tree(out_dir) == tree(back)
    assert f"Upload: {out_dir}/a.csv -> {remote}/a.csv (5000 bytes)" in texts(r)


# ---- client.Options, each field in both directions --------------------------------------


class Sides:
    """A local and a remote directory; ``src``/``dst`` as a transfer direction sees them."""

    def __init__(self, local: Path, remote: Path, direction: str) -> None:
        self.local, self.remote, self.direction = local, remote, direction
        self.src, self.dst = (local, remote) if direction == "Upload" else (remote, local)

    def call(self, pattern: str = "*") -> str:
        return f"c.{self.direction}({js(str(self.src) + '/' + pattern)}, {js(self.dst)})"


@pytest.fixture(params=["Upload", "Download"])
def sides(request: pytest.FixtureRequest, tmp_path: Path, remote: Path) -> Sides:
    local = tmp_path / "local"
    local.mkdir()
    return Sides(local, remote, request.param)


def transfer(
    instance: Any, server: Any, sides: Sides, options: dict[str, Any], times: int = 1
) -> Any:
    """Run the transfer ``times`` times with ``options`` set; returns each call's result."""
    sets = "".join(f"c.Options.{k} = {v};" for k, v in options.items())
    out, _ = outcome(
        instance,
        sftp_client(server) + f"c.Connect(); {sets} out.r = [];"
        f"for (var i = 0; i < {times}; i++) out.r.push({sides.call()});",
    )
    return out["r"]


def write(path: Path, text: str, mtime: float | None = None) -> None:
    path.write_text(text)
    if mtime is not None:
        os.utime(path, (mtime, mtime))


@pytest.mark.parametrize(
    ("policy", "replaced"),
    [
        ("NeverOverwrite", set()),
        ("AlwaysOverwrite", {"same", "size"}),
        ("OverwriteIfDiffSize", {"size"}),
        ("OverwriteIfNewer", {"same"}),
    ],
)
def test_overwrite_policies(
    instance: Any, sshd_server: Any, sides: Sides, policy: str, replaced: set[str]
) -> None:
    write(sides.src / "same", "new", 2_000_000_000)  # same size as the target, newer
    write(sides.src / "size", "new", 1_000_000_000)  # other size, older
    write(sides.src / "fresh", "new")
    write(sides.dst / "same", "old", 1_500_000_000)
    write(sides.dst / "size", "old-longer", 1_500_000_000)
    assert transfer(instance, sshd_server, sides, {f"{sides.direction}Policy": policy}) == [True]
    old = {"same": b"old", "size": b"old-longer"}
    expected = {name: b"new" if name in replaced else data for name, data in old.items()}
    assert tree(sides.dst) == {"fresh": b"new", **expected}  # no temporary file, no version


def test_default_policy_is_never_overwrite(instance: Any, sshd_server: Any, sides: Sides) -> None:
    write(sides.src / "f", "new")
    write(sides.dst / "f", "old")
    assert transfer(instance, sshd_server, sides, {}) == [True]
    assert (sides.dst / "f").read_text() == "old"


@pytest.mark.parametrize("stop", [True, False])
def test_stop_on_transfer_error(instance: Any, sshd_server: Any, sides: Sides, stop: bool) -> None:
    for name in ("a", "b", "c"):
        write(sides.src / name, name)
    (sides.dst / "a").mkdir()  # "a" cannot be written: the first file fails
    assert transfer(instance, sshd_server, sides, {"StopOnTransferError": js(stop)}) == [False]
    assert sorted(os.listdir(sides.dst)) == (["a"] if stop else ["a", "b", "c"])


@pytest.mark.parametrize("temp", [True, False, None])
def test_with_temp_name(
    instance: Any,
    sshd_server: Any,
    sides: Sides,
    temp: bool | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The bytes go to a temporary name first (the default), or straight to the name."""
    written: list[str] = []
    cls = SftpVfs if sides.direction == "Upload" else DiskVfs
    open_write = cls.open_write

    def spy(self: Any, path: str) -> Any:
        written.append(path)
        return open_write(self, path)

    monkeypatch.setattr(cls, "open_write", spy)
    write(sides.src / "f", "data")
    options = {} if temp is None else {f"{sides.direction}WithTempName": js(temp)}
    assert transfer(instance, sshd_server, sides, options) == [True]
    assert len(written) == 1
    final = str(sides.dst / "f")
    if temp is False:
        assert written == [final]
    else:
        assert written[0] != final and TEMP_MARKER in written[0]
        assert os.path.dirname(written[0]) == str(sides.dst)
    assert tree(sides.dst) == {"f": b"data"}


@pytest.mark.parametrize("delete", [True, False])
def test_delete_source_after_transfer(
    instance: Any, sshd_server: Any, sides: Sides, delete: bool
) -> None:
    write(sides.src / "f", "data")
    write(sides.src / "skipped", "new")
    write(sides.dst / "skipped", "old")  # NeverOverwrite: not sent, so not deleted
    options = {f"DeleteSourceAfter{sides.direction}": js(delete)}
    assert transfer(instance, sshd_server, sides, options) == [True]
    assert (sides.dst / "f").read_text() == "data"
    assert sorted(os.listdir(sides.src)) == (["skipped"] if delete else ["f", "skipped"])


@pytest.mark.parametrize("adjust", [True, False])
def test_adjust_time(instance: Any, sshd_server: Any, sides: Sides, adjust: bool) -> None:
    write(sides.src / "f", "data", 1_000_000_000)
    assert transfer(
        instance, sshd_server, sides, {f"AdjustTimeOn{sides.direction}": js(adjust)}
    ) == [True]
    mtime = (sides.dst / "f").stat().st_mtime
    assert (mtime == 1_000_000_000) is adjust


@pytest.mark.parametrize("temp", [True, False])
def test_versioned_transfer_keeps_older_versions(
    instance: Any, sshd_server: Any, sides: Sides, temp: bool
) -> None:
    """Four transfers, keeping two versions: the newest is ~1~, the oldest kept ~2~."""
    where = "Remote" if sides.direction == "Upload" else "Local"
    options = {
        f"{sides.direction}Policy": "AlwaysOverwrite",
        f"Versioned{sides.direction}": "true",
        f"VersionsToKeep{where}": 2,
        f"{sides.direction}WithTempName": js(temp),
    }
    script = (
        sftp_client(sshd_server)
        + "c.Connect();"
        + "".join(f"c.Options.{k} = {v};" for k, v in options.items())
    )
    for n in range(1, 5):
        script += f"WriteTextFile({js(sides.src / 'f')}, 'v{n}'); out.r{n} = {sides.call()};"
    out, _ = outcome(instance, script)
    assert out == {"r1": True, "r2": True, "r3": True, "r4": True}
    assert tree(sides.dst) == {"f": b"v4", "f.~1~": b"v3", "f.~2~": b"v2"}


def test_versions_to_keep_defaults_to_three(instance: Any, sshd_server: Any, sides: Sides) -> None:
    write(sides.src / "f", "new")
    for n in range(1, 5):
        write(sides.dst / ("f" if n == 1 else f"f.~{n - 1}~"), f"old{n}")
    options = {f"{sides.direction}Policy": "AlwaysOverwrite", f"Versioned{sides.direction}": "true"}
    assert transfer(instance, sshd_server, sides, options) == [True]
    assert tree(sides.dst) == {"f": b"new", "f.~1~": b"old1", "f.~2~": b"old2", "f.~3~": b"old3"}


def test_options_of_the_wrong_type_throw(instance: Any, sshd_server: Any, remote: Path) -> None:
    r = run(
        instance,
        sftp_client(sshd_server) + "c.Connect(); c.Options.UploadPolicy = 7;"
        f"c.Upload('/etc/hostname', {js(remote)});",
    )
    assert r.state is JobState.FAILED and "UploadPolicy: unknown policy 7" in r.error


def test_halt_starts_no_further_file_of_a_batch(
    instance: Any, sshd_server: Any, remote: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = [f"f{n:02d}" for n in range(3 * TRANSFER_WORKERS)]
    for name in names:
        write(tmp_path / name, name * 1000)
    halt = HaltSignal()
    open_read = DiskVfs.open_read

    def read_then_halt(self: DiskVfs, path: str, offset: int = 0) -> Any:
        halt.set()  # arrives while the first files are on their way
        return open_read(self, path, offset)

    monkeypatch.setattr(DiskVfs, "open_read", read_then_halt)
    r = Executor(vfs_library=instance.vfs).run(
        sftp_client(sshd_server)
        + f"c.Connect(); Log('result ' + c.Upload({js(str(tmp_path) + '/f*')}, {js(remote)}));",
        halt=halt,
    )
    assert r.state is JobState.HALTED
    sent = sorted(os.listdir(remote))
    assert 1 <= len(sent) <= TRANSFER_WORKERS
    stopped = f"Upload: halt signal received; stopped after {len(sent)} of {len(names)} files"
    assert stopped in texts(r)
    assert "result false" in texts(r)
    assert all((remote / name).read_text() == name * 1000 for name in sent)  # none partial


# ---- CopyToVFS between Disk and SFTP ------------------------------------------------------


def test_copy_and_move_between_disk_and_sftp(
    instance: Any, sshd_server: Any, remote: Path, root: Path
) -> None:
    instance.vfs.add("remote", "SFTP", sshd_server.target(remote), {"pass": sshd_server.password})
    data = os.urandom(300_000)
    (root / "up.bin").write_bytes(data)
    (remote / "down.bin").write_bytes(b"from the server")
    out, _ = outcome(
        instance,
        disk(root) + "var s = GetVFS('remote');"
        "out.up = v.CopyToVFS('/up.bin', s, '/up.bin').Ok();"
        "out.down = s.CopyToVFS('/down.bin', v, '/down.bin').Ok();"
        "out.move = s.MoveToVFS('/up.bin', v, '/moved.bin').Ok();"
        "out.list = s.ReadDir('/').Infos().map(function (i) { return i.Name; });",
    )
    assert out == {"up": True, "down": True, "move": True, "list": ["down.bin"]}
    assert (root / "moved.bin").read_bytes() == data
    assert tree(root) == {"down.bin": b"from the server", "moved.bin": data, "up.bin": data}
    assert tree(remote) == {"down.bin": b"from the server"}


def test_copy_and_move_create_missing_folders(
    instance: Any, sshd_server: Any, remote: Path, root: Path, s3_server: Any, s3_bucket: str
) -> None:
    instance.vfs.add("remote", "SFTP", sshd_server.target(remote), {"pass": sshd_server.password})
    (root / "a.csv").write_bytes(b"a,b\n")
    out, r = outcome(
        instance,
        disk(root) + "var s = GetVFS('remote');"
        f"var o = new VirtualFS(VfsTypeS3, {js(s3_server.target(s3_bucket))},"
        f" {js(s3_server.payload)});"
        "o.WriteFileAsText('/in/b.csv', 'from s3');"
        "out.copy = v.CopyToVFS('/a.csv', s, '/relay/deep/a.csv').Ok();"
        "out.move = o.MoveToVFS('/in/b.csv', s, '/relay/b.csv').Ok();"
        "out.left = o.ReadDir('/in').Infos().length;",
    )
    assert out == {"copy": True, "move": True, "left": 0}, errors(r)
    assert tree(remote) == {
        "relay": None, "relay/b.csv": b"from s3", "relay/deep": None,
        "relay/deep/a.csv": b"a,b\n",
    }  # fmt: skip


def test_a_failed_copy_names_the_users_path_never_the_temporary_one(
    instance: Any, sshd_server: Any, remote: Path, root: Path
) -> None:
    instance.vfs.add("remote", "SFTP", sshd_server.target(remote), {"pass": sshd_server.password})
    (root / "a.csv").write_bytes(b"a,b\n")
    (remote / "taken").mkdir()
    (remote / "plain").write_bytes(b"a file")
    out, _ = outcome(
        instance,
        disk(root) + "var s = GetVFS('remote');"
        "out.dir = v.CopyToVFS('/a.csv', s, '/taken').ErrorMsg();"
        "out.file = v.MoveToVFS('/a.csv', s, '/plain/a.csv').ErrorMsg();",
    )
    assert "/taken" in out["dir"] and "/plain" in out["file"], out
    assert TEMP_MARKER not in out["dir"] + out["file"], out
    assert tree(remote) == {"plain": b"a file", "taken": None}
    assert (root / "a.csv").exists()


# ---- FtpsClient, S3Client, AzureClient, GCSClient against their real servers -------------


def ftp_setup(request: pytest.FixtureRequest) -> tuple[dict[str, Any], str, Any, str, str]:
    server = request.getfixturevalue("ftp_server")
    base = f"c-{secrets.token_hex(4)}"
    (server.root / base).mkdir()
    where = f"{server.host}:{server.port}"
    fields = {"Host": where, "User": server.user, "Pass": server.password, "TLSInsecure": True}
    url = f"ftps://{server.user}@{where}?insecure=true"
    return fields, url, server.payload, f"/{base}", server.password


def s3_setup(request: pytest.FixtureRequest) -> tuple[dict[str, Any], str, Any, str, str]:
    server, bucket = request.getfixturevalue("s3_server"), request.getfixturevalue("s3_bucket")
    fields = {
        "Endpoint": server.endpoint,
        "Region": server.region,
        "Bucket": bucket,
        "APIKeyID": server.access_key,
        "APIKeySecret": server.secret_key,
    }
    url = f"s3://{bucket}?endpoint={server.endpoint}&region={server.region}"
    return fields, url, server.payload, "/in", server.secret_key


def azure_setup(request: pytest.FixtureRequest) -> tuple[dict[str, Any], str, Any, str, str]:
    server = request.getfixturevalue("azurite_server")
    container = request.getfixturevalue("azure_container")
    fields = {
        "Account": server.account,
        "Container": container,
        "Key": server.key,
        "Endpoint": server.endpoint,
    }
    url = f"azure://{server.account}/{container}?endpoint={server.endpoint}"
    return fields, url, server.payload, "/in", server.key


def gcs_setup(request: pytest.FixtureRequest) -> tuple[dict[str, Any], str, Any, str, str]:
    server, bucket = request.getfixturevalue("gcs_server"), request.getfixturevalue("gcs_bucket")
    fields = {"Bucket": bucket, "Endpoint": server.endpoint}  # the emulator takes no credentials
    return fields, f"gs://{bucket}?endpoint={server.endpoint}", None, "/in", ""


@pytest.mark.parametrize("setup", ["fields", "Configure"])
@pytest.mark.parametrize(
    ("client", "make"),
    [
        ("FtpsClient", ftp_setup),
        ("S3Client", s3_setup),
        ("AzureClient", azure_setup),
        ("GCSClient", gcs_setup),
    ],
)
def test_remote_client_round_trip(
    instance: Any,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    client: str,
    make: Any,
    setup: str,
) -> None:
    """Connect, Upload two files, ListDir, Download them again, Close."""
    fields, url, payload, remote_dir, credential = make(request)
    local, back = tmp_path / "local", tmp_path / "back"
    local.mkdir()
    back.mkdir()
    (local / "one.txt").write_text("first")
    (local / "two.bin").write_bytes(os.urandom(70_000))
    if setup == "fields":
        made = f"var c = new {client}();" + "".join(f"c.{k} = {js(v)};" for k, v in fields.items())
    else:
        made = f"var c = new {client}().Configure({js(url)}, {js(payload)});"
    out, r = outcome(
        instance,
        made + "out.c = c.Connect();"
        f"out.up = c.Upload({js(str(local) + '/*')}, {js(remote_dir)});"
        f"out.list = c.ListDir({js(remote_dir)});"
        "out.list = out.list.map(function (i) { return i.Name + ':' + i.Size; });"
        f"out.down = c.Download({js(remote_dir + '/*')}, {js(back)}); out.close = c.Close();",
    )
    assert out == {
        "c": True,
        "up": True,
        "list": ["one.txt:5", "two.bin:70000"],
        "down": True,
        "close": True,
    }, errors(r)
    assert tree(back) == tree(local)
    assert not credential or all(credential not in t for t in texts(r))


def test_ftp_vfs_reports_unsupported_operations(instance: Any, ftp_server: Any) -> None:
    target = ftp_server.target("/")
    out, _ = outcome(
        instance,
        f"var v = new VirtualFS(VfsTypeFTP, {js(target)}, {js(ftp_server.payload)});"
        "var s = v.Symlink('/a', '/b'); out.s = [s.Ok(), s.ErrorMsg()];",
    )
    assert out == {"s": [False, "Symlink: FTP VFS does not support symlinks"]}


def test_chown_on_disk(instance: Any, root: Path) -> None:
    (root / "f").write_text("x")
    (root / "g").write_text("y")
    mine = os.getuid() == 0  # root gives a file away; anyone else may only keep it
    uid, gid = (12345, 23456) if mine else (os.getuid(), os.getgid())
    out, _ = outcome(
        instance,
        disk(root) + f"out.f = v.Chown('/f', {uid}, {gid}).Ok();"
        f"out.keep = v.Chown('/g', -1, {gid}).Ok();"
        "var m = v.Chown('/missing', 1, 1); out.missing = [m.Ok(), m.ErrorMsg()];",
    )
    assert out == {"f": True, "keep": True, "missing": [False, out["missing"][1]]}
    assert "/missing" in out["missing"][1]
    assert ((root / "f").stat().st_uid, (root / "f").stat().st_gid) == (uid, gid)
    assert ((root / "g").stat().st_uid, (root / "g").stat().st_gid) == (os.getuid(), gid)


def test_chown_over_sftp(instance: Any, sshd_server: Any, remote: Path) -> None:
    instance.vfs.add("remote", "SFTP", sshd_server.target(remote), {"pass": sshd_server.password})
    (remote / "f").write_text("x")
    owner = remote.stat()
    os.chown(remote / "f", 0, 0)  # the server's user may take back only what is its own
    os.chown(remote / "f", owner.st_uid, owner.st_gid)
    out, r = outcome(
        instance,
        f"var s = GetVFS('remote'); out.own = s.Chown('/f', -1, {owner.st_gid}).Ok();"
        "var d = s.Chown('/f', 0, 0); out.denied = [d.Ok(), d.ErrorMsg()];",
    )
    assert out["own"] is True
    assert out["denied"][0] is False and "Chown" in out["denied"][1]
    assert (remote / "f").stat().st_uid == owner.st_uid
    assert errors(r) == []  # the script holds each failure in its response


def test_chown_elsewhere_is_refused_with_a_reason(
    instance: Any, s3_server: Any, s3_bucket: str
) -> None:
    out, r = outcome(
        instance,
        f"var v = new VirtualFS(VfsTypeS3, {js(s3_server.target(s3_bucket))},"
        f" {js(s3_server.payload)});"
        "var s = v.Chown('/a', 1000, 1000); out.s = [s.Ok(), s.ErrorMsg()];",
    )
    assert out == {"s": [False, "Chown: S3 VFS has no file owners, so it cannot chown"]}
    assert errors(r) == []  # the script holds each failure in its response


def test_r2_vfs_in_a_script(instance: Any, s3_server: Any, s3_bucket: str) -> None:
    """VfsTypeR2FS, as scripts of the original product name it; here R2 is SeaweedFS."""
    target = f"r2://0123abcd/{s3_bucket}/r2?endpoint={s3_server.endpoint}"
    out, _ = outcome(
        instance,
        f"var v = new VirtualFS(VfsTypeR2FS, {js(target)}, {js(s3_server.payload)});"
        "out.type = VfsTypeR2FS; out.write = v.WriteFileAsText('/a.txt', 'on r2').Ok();"
        "out.read = v.ReadFileAsText('/a.txt').Data();"
        "out.names = v.ReadDir('/').Infos().map(function (i) { return i.Name; });",
    )
    assert out == {"type": "R2FS", "write": True, "read": "on r2", "names": ["a.txt"]}
    got = s3_server.client().get_object(Bucket=s3_bucket, Key="r2/a.txt")["Body"].read()
    assert got == b"on r2"


def test_s3_vfs_reports_unsupported_operations(
    instance: Any, s3_server: Any, s3_bucket: str
) -> None:
    out, _ = outcome(
        instance,
        f"var v = new VirtualFS(VfsTypeS3, {js(s3_server.target(s3_bucket))},"
        f" {js(s3_server.payload)});"
        "var s = v.Chmod('/a', 0o644); out.s = [s.Ok(), s.ErrorMsg()];",
    )
    assert out == {"s": [False, "Chmod: S3 VFS does not support chmod"]}
