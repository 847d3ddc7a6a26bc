"""The connect timeout: settable per VFS entry (a target field of SFTP, FTP and S3) and per
script client (``Timeout``), and a failure that says what timed out after how long."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from aft.exceptions import VfsConnectionError
from aft.executor import Executor
from aft.vfs import open_vfs, schema_class

PIN = "SHA256:" + "A" * 43


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A server on 127.0.0.1 that accepts connections and never says a word."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    server.close()
    for conn in held:
        conn.close()


@pytest.mark.parametrize("type_name", ["SFTP", "FTP", "S3"])
def test_the_timeout_is_a_documented_target_field(type_name):
    field = schema_class(type_name).field("timeout")
    assert field.kind == "number" and field.default and field.help
    assert field.problem("0") and field.problem("soon") and field.problem("2.5") is None


def test_an_sftp_entry_times_out_waiting_for_the_banner(silent_port):
    target = f"sftp://bob@127.0.0.1:{silent_port}/?hostKeySHA256={PIN}&timeout=1.5"
    started = time.monotonic()
    with pytest.raises(VfsConnectionError) as caught:
        with open_vfs("SFTP", target, {"pass": "pw"}) as vfs:
            vfs.listdir("/")
    assert 1.4 < time.monotonic() - started < 6
    assert str(caught.value) == (
        f"cannot connect to SFTP server 127.0.0.1:{silent_port}:"
        " timed out waiting for the SSH banner after 1.5s"
    )


def test_the_cli_says_what_timed_out_in_one_line(run_aft, silent_port, tmp_path):
    (tmp_path / "pw.json").write_text('{"pass": "a-long-password"}')
    target = f"sftp://bob@127.0.0.1:{silent_port}/?hostKeySHA256={PIN}&timeout=1"
    added = run_aft(
        "vfs", "add", "slow", "--type", "SFTP", "--target", target,
        "--payload-file", str(tmp_path / "pw.json"),
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    done = run_aft("vfs", "test", "slow")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr == (
        f"aft: error: cannot connect to SFTP server 127.0.0.1:{silent_port}:"
        " timed out waiting for the SSH banner after 1s\n"
    )


def test_an_ftp_entry_times_out(silent_port):
    started = time.monotonic()
    with pytest.raises(
        VfsConnectionError, match=f"127.0.0.1:{silent_port} failed: no answer within 1s$"
    ):
        with open_vfs("FTP", f"ftp://bob@127.0.0.1:{silent_port}/?timeout=1", {}) as vfs:
            vfs.listdir("/")
    assert time.monotonic() - started < 6


def test_an_s3_entry_takes_its_connect_timeout():
    vfs = open_vfs("S3", "s3://bucket/?endpoint=http://127.0.0.1:9&timeout=2.5", {})
    assert vfs._connect_timeout == 2.5  # type: ignore[attr-defined]
    assert vfs._s3.meta.config.connect_timeout == 2.5  # type: ignore[attr-defined]
    assert open_vfs("S3", "s3://bucket/", {})._connect_timeout == 10  # type: ignore[attr-defined]


def test_a_script_client_sets_its_timeout(silent_port):
    script = f"""
        var c = new SftpClient();
        c.Host = "127.0.0.1:{silent_port}"; c.User = "bob"; c.Pass = "a-long-password";
        c.HostKeySHA256 = "{PIN}"; c.Timeout = 1;
        Log("connected " + c.Connect());
    """
    started = time.monotonic()
    result = Executor().run(script)
    assert time.monotonic() - started < 6
    texts = [line.text for line in result.log]
    assert texts[-1] == "connected false"
    assert "timed out waiting for the SSH banner after 1s" in texts[0], texts
    bad = Executor().run('var c = new SftpClient(); c.Timeout = "soon"; c.Connect();')
    assert bad.error is not None and "SftpClient.Timeout must be a number" in bad.error
