"""On-the-fly encryption: the OpenPGP format of :mod:`aft.otfe`, checked against GnuPG, and
``client.Options.OTFE`` in scripts against real servers (sshd; FTP, S3, Azure, GCS)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aft import otfe
from aft.exceptions import PgpError
from aft.models import FileInfo
from aft.syncjs.transfer_policy import copy_otfe
from aft.vfs.base import TEMP_MARKER
from aft.vfs.disk import DiskVfs
from tests.conftest import stop_gnupg
from tests.script_helpers import errors, js, texts
from tests.test_syncjs_vfs import (
    azure_setup,
    ftp_setup,
    gcs_setup,
    outcome,
    run,
    s3_setup,
    sftp_client,
)

KEY = "correct horse battery staple"
GPG = "/usr/bin/gpg"


@pytest.fixture(autouse=True)
def no_gnupg_daemons_left(tmp_path: Path) -> Iterator[None]:
    yield
    stop_gnupg(tmp_path / "gnupg")


def gpg(tmp_path: Path, *args: str, passphrase: str = KEY, data: bytes = b"") -> bytes:
    """Run gpg in a fresh home with the passphrase on fd 0; its stdout."""
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700, exist_ok=True)
    command = [GPG, "--homedir", str(home), "--batch", "--pinentry-mode", "loopback"]
    command += ["--passphrase-fd", "0", *args]
    done = subprocess.run(
        command, input=passphrase.encode() + b"\n" + data, capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


def sealed(data: bytes, key: str = KEY) -> bytes:
    return otfe.encrypting(io.BytesIO(data), key).read()


def opened(data: bytes, key: str = KEY) -> bytes:
    return otfe.decrypting(io.BytesIO(data), key).read()


# ---- the format ----------------------------------------------------------------------------

SIZES = [0, 1, 185, 186, 8190, otfe.PART - 6, otfe.PART - 5, 3 * otfe.PART + 7, 1_000_003]


@pytest.mark.parametrize("size", SIZES)
def test_round_trip_and_exact_size(size: int) -> None:
    data = os.urandom(size)
    stored = sealed(data)
    assert len(stored) == otfe.encrypted_size(size)
    assert opened(stored) == data
    assert sealed(data) != stored  # a fresh salt and prefix each time


@pytest.mark.parametrize("size", [0, 5000, 3 * otfe.PART + 7])
def test_gpg_decrypts_what_aft_writes(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    (tmp_path / "f.pgp").write_bytes(sealed(data))
    assert gpg(tmp_path, "--decrypt", str(tmp_path / "f.pgp")) == data
    packets = gpg(tmp_path, "--list-packets", str(tmp_path / "f.pgp")).decode()
    assert "symkey enc packet: version 4, cipher 9" in packets  # AES-256
    assert "s2k 3, hash 8" in packets and "count 65011712" in packets  # iterated+salted, SHA-256
    assert "mdc_method: 2" in packets


def test_sequoia_decrypts_what_aft_writes() -> None:
    import pysequoia

    data = os.urandom(3 * otfe.PART + 7)
    assert pysequoia.decrypt(sealed(data), passwords=[KEY]).bytes == data


@pytest.mark.parametrize(
    "options",
    [[], ["--compress-algo", "none"], ["--compress-algo", "zip"], ["--compress-algo", "bzip2"],
     ["--cipher-algo", "AES128", "--s2k-digest-algo", "SHA1"]],
)  # fmt: skip
def test_aft_reads_what_gpg_symmetric_writes(tmp_path: Path, options: list[str]) -> None:
    data = os.urandom(200_000) + b"text " * 50_000
    stored = gpg(tmp_path, "--symmetric", *options, "--output", "-", data=data)
    assert opened(stored) == data


def test_a_wrong_key_is_refused() -> None:
    with pytest.raises(PgpError, match=f"^{otfe.DAMAGED}$"):
        opened(sealed(b"secret data"), "another key")


@pytest.mark.parametrize("where", [0.02, 0.5, -5, -1])
def test_a_tampered_file_is_refused(where: float) -> None:
    stored = bytearray(sealed(os.urandom(300_000)))
    stored[int(len(stored) * where) if where > 0 else int(where)] ^= 0x01
    with pytest.raises(PgpError, match=otfe.DAMAGED):
        opened(bytes(stored))


@pytest.mark.parametrize("cut", [10, 40, 150_000, -1])
def test_a_truncated_file_is_refused(cut: int) -> None:
    stored = sealed(os.urandom(200_000))
    with pytest.raises(PgpError, match=otfe.DAMAGED):
        opened(stored[:cut])


def test_any_damage_is_a_pgp_error() -> None:
    """Each byte of the headers flipped, and cuts anywhere: a PgpError, never another error."""
    stored = sealed(os.urandom(70_000))
    for where in [*range(40), *range(len(stored) - 30, len(stored))]:
        for flip in (0x01, 0xFF):
            damaged = bytearray(stored)
            damaged[where] ^= flip
            with pytest.raises(PgpError):
                opened(bytes(damaged))
    for cut in range(0, len(stored), 4999):
        with pytest.raises(PgpError):
            opened(stored[:cut])


def test_plain_text_is_not_taken_for_a_message(tmp_path: Path) -> None:
    with pytest.raises(
        PgpError, match=r"^not an OpenPGP message \(was it stored without OTFE\?\)$"
    ):
        opened(b"id;amount\n1;2\n")
    armored = gpg(tmp_path, "--symmetric", "--armor", "--output", "-", data=b"x")
    with pytest.raises(PgpError, match=r"^ASCII-armored OpenPGP is not read \(binary only\)$"):
        opened(armored)


class Endless(io.RawIOBase):
    """``size`` pseudo-random bytes, made as they are read (never held whole)."""

    def __init__(self, size: int) -> None:
        self.left, self.counter = size, 0
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        size = min(len(target), self.left, 1 << 16)
        block = (hashlib.sha512(str(self.counter).encode()).digest() * 1024)[:size]
        self.counter += 1
        target[:size] = block
        self.left -= size
        self.digest.update(block)
        return size


def test_both_directions_stream_in_bounded_memory() -> None:
    """32 MiB through encryption and decryption with a tracemalloc peak of a few chunks."""
    size = 32 << 20
    source = Endless(size)
    tracemalloc.start()
    try:
        plain = otfe.decrypting(otfe.encrypting(io.BufferedReader(source), KEY), KEY)
        digest, total = hashlib.sha256(), 0
        while chunk := plain.read(1 << 16):
            digest.update(chunk)
            total += len(chunk)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert total == size and digest.digest() == source.digest.digest()
    assert peak < 2 << 20, f"peak {peak} bytes"


def test_a_transfer_streams_in_bounded_memory(tmp_path: Path) -> None:
    """The transfer loop (Disk to Disk) keeps memory flat both ways, for a 32 MiB file."""
    size = 32 << 20
    with open(tmp_path / "plain", "wb") as f:
        for n in range(size >> 20):
            f.write(hashlib.sha512(str(n).encode()).digest() * (1 << 14))
    local = DiskVfs(str(tmp_path))
    tracemalloc.start()
    try:
        info = FileInfo("/plain", False, size, 0.0)
        copy_otfe(local, info, local, "/sealed", KEY, True, True)
        sealed_info = local.stat("/sealed")
        copy_otfe(local, sealed_info, local, "/back", KEY, False, True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sealed_info.size == otfe.encrypted_size(size)
    assert (tmp_path / "back").read_bytes() == (tmp_path / "plain").read_bytes()
    assert peak < 2 << 20, f"peak {peak} bytes"


# ---- SftpClient against a real sshd ----------------------------------------------------------


def otfe_options(key: str | None = KEY, **more: Any) -> str:
    sets = {"OTFE": True, "OTFEKey": key, **more}
    return "".join(f"c.Options.{k} = {js(v)};\n" for k, v in sets.items() if v is not None)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """A local folder with two files, an empty folder to download into, and a remote one."""
    local, back = tmp_path / "local", tmp_path / "back"
    local.mkdir()
    back.mkdir()
    (local / "report.csv").write_bytes(b"id;amount\n" + b"1;99.50\n" * 20_000)
    (local / "blob.bin").write_bytes(os.urandom(150_000))
    return {"local": local, "back": back}


def test_an_sftp_upload_is_stored_encrypted_and_gpg_decrypts_it(
    instance: Any, sshd_server: Any, files: dict[str, Path], tmp_path: Path
) -> None:
    remote = sshd_server.new_dir()
    out, r = outcome(
        instance,
        sftp_client(sshd_server)
        + otfe_options()
        + f"c.Connect(); out.up = c.Upload({js(str(files['local']) + '/*')}, {js(remote)});"
        f"out.list = c.ListDir({js(remote)}).map(function(i) {{ return i.Name + ':' + i.Size; }});",
    )
    plain = {p.name: p.read_bytes() for p in files["local"].iterdir()}
    assert out["up"] is True, errors(r)
    assert sorted(out["list"]) == sorted(
        f"{name}:{otfe.encrypted_size(len(data))}" for name, data in plain.items()
    )
    assert sorted(p.name for p in remote.iterdir()) == sorted(plain)  # no temporary file left
    for name, data in plain.items():
        stored = (remote / name).read_bytes()
        assert b"1;99.50" not in stored and data[:64] not in stored
        assert gpg(tmp_path, "--decrypt", str(remote / name)) == data
    assert all(KEY not in t for t in texts(r))


@pytest.mark.parametrize("temp_name", [True, False])
def test_an_sftp_round_trip_gives_back_the_original(
    instance: Any, sshd_server: Any, files: dict[str, Path], temp_name: bool
) -> None:
    remote = sshd_server.new_dir()
    out, r = outcome(
        instance,
        sftp_client(sshd_server)
        + otfe_options(UploadWithTempName=temp_name, DownloadWithTempName=temp_name)
        + f"c.Connect(); out.up = c.Upload({js(str(files['local']) + '/*')}, {js(remote)});"
        f"out.down = c.Download({js(str(remote) + '/*')}, {js(files['back'])});",
    )
    assert out == {"up": True, "down": True}, errors(r)
    for path in files["local"].iterdir():
        assert (files["back"] / path.name).read_bytes() == path.read_bytes()


def test_the_key_from_a_secret(instance: Any, sshd_server: Any, files: dict[str, Path]) -> None:
    instance.secrets.set("otfe-key", KEY)
    remote = sshd_server.new_dir()
    out, r = outcome(
        instance,
        sftp_client(sshd_server)
        + otfe_options(None, OTFEKeyFromSecret="otfe-key")
        + f"c.Connect(); out.up = c.Upload({js(files['local'] / 'report.csv')}, {js(remote)});"
        f"c.Options.OTFEKeyFromSecret = ''; c.Options.OTFEKey = {js(KEY)};"
        f"out.down = c.Download({js(remote / 'report.csv')}, {js(files['back'])});"
        "c.Options.OTFEKey = ''; c.Options.OTFEKeyFromSecret = 'missing';"
        f"out.missing = c.Upload({js(files['local'] / 'blob.bin')}, {js(remote)});",
    )
    assert out == {"up": True, "down": True, "missing": False}, errors(r)
    report = (files["local"] / "report.csv").read_bytes()
    assert (files["back"] / "report.csv").read_bytes() == report
    assert (remote / "report.csv").read_bytes() != report
    assert not (remote / "blob.bin").exists()
    assert (
        "Upload: SftpClient.Options.OTFEKeyFromSecret: the secret 'missing' does not exist;"
        " nothing was sent" in errors(r)
    )
    assert all(KEY not in t for t in texts(r))


def test_configure_turns_otfe_on_and_masks_the_key(
    instance: Any, sshd_server: Any, files: dict[str, Path]
) -> None:
    remote = sshd_server.new_dir()
    s = sshd_server
    url = f"sftp://{s.user}@{s.host}:{s.port}?hostKeySHA256={s.host_key_sha256}"
    payload = {"pass": s.password, "OTFE": True, "OTFEKey": KEY}
    out, r = outcome(
        instance,
        f"var c = new SftpClient().Configure({js(url)}, {js(json.dumps(payload))});"
        "Log('key: ' + c.Options.OTFEKey); c.Connect();"
        f"out.up = c.Upload({js(files['local'] / 'report.csv')}, {js(remote)});",
    )
    assert out == {"up": True}, errors(r)
    assert "key: ********" in texts(r)
    stored = (remote / "report.csv").read_bytes()
    assert len(stored) == otfe.encrypted_size((files["local"] / "report.csv").stat().st_size)


@pytest.mark.parametrize("temp_name", [True, False])
def test_a_wrong_key_fails_the_download_and_leaves_nothing(
    instance: Any, sshd_server: Any, files: dict[str, Path], temp_name: bool
) -> None:
    remote = sshd_server.new_dir()
    (files["back"] / "blob.bin").write_bytes(b"the local copy")
    out, r = outcome(
        instance,
        sftp_client(sshd_server)
        + otfe_options(DownloadWithTempName=temp_name, DownloadPolicy=1)
        + f"c.Connect(); out.up = c.Upload({js(str(files['local']) + '/*')}, {js(remote)});"
        "c.Options.OTFEKey = 'not the key';"
        f"out.one = c.Download({js(remote / 'report.csv')}, {js(files['back'])});"
        f"out.temp = c.Download({js(remote / 'blob.bin')}, {js(files['back'])});",
    )
    assert out == {"up": True, "one": False, "temp": False}, errors(r)
    path = f"{remote}/report.csv"
    assert (
        f"Download: {path}: OTFE: cannot decrypt {path}: wrong key or damaged file;"
        " nothing was kept" in errors(r)
    )
    left = {p.name: p.read_bytes() for p in files["back"].iterdir()}
    if temp_name:  # the file it would have replaced is untouched
        assert left == {"blob.bin": b"the local copy"}
    else:  # written in place, and removed on failure
        assert left == {}


def test_a_tampered_remote_file_fails_the_download(
    instance: Any, sshd_server: Any, files: dict[str, Path]
) -> None:
    remote = sshd_server.new_dir()
    out, r = outcome(
        instance,
        sftp_client(sshd_server)
        + otfe_options()
        + f"c.Connect(); out.up = c.Upload({js(files['local'] / 'blob.bin')}, {js(remote)});",
    )
    stored = bytearray((remote / "blob.bin").read_bytes())
    stored[-3] ^= 0x40  # the integrity code: every plain byte was already written
    (remote / "blob.bin").write_bytes(bytes(stored))
    out, r = outcome(
        instance,
        sftp_client(sshd_server)
        + otfe_options()
        + f"c.Connect(); out.down = c.Download({js(remote / 'blob.bin')}, {js(files['back'])});",
    )
    assert out == {"down": False}
    assert any("OTFE: cannot decrypt" in e and otfe.DAMAGED in e for e in errors(r))
    assert list(files["back"].iterdir()) == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"OTFE": True},
            "SftpClient.Options.OTFE is true but no key is given: set OTFEKey or "
            "OTFEKeyFromSecret; nothing was sent",
        ),
        (
            {"OTFE": True, "OTFEKey": KEY, "OTFEKeyFromSecret": "k"},
            "SftpClient.Options: set OTFEKey or OTFEKeyFromSecret, not both; nothing was sent",
        ),
        (
            {"OTFEKey": KEY},
            "SftpClient.Options.OTFEKey is set but SftpClient.Options.OTFE is false: set OTFE ="
            " true to encrypt (or clear the key); nothing was sent",
        ),
        (
            {"OnDownloadGrantTo": "DOMAIN\\ops"},
            "SftpClient.Options.OnDownloadGrantTo is refused: Windows ACLs cannot be granted on"
            " this system; nothing was sent",
        ),
    ],
)
@pytest.mark.parametrize("op", ["Upload", "Download"])
def test_refusals_come_before_anything_is_sent(
    instance: Any,
    sshd_server: Any,
    files: dict[str, Path],
    options: dict[str, Any],
    message: str,
    op: str,
) -> None:
    remote = sshd_server.new_dir()
    (remote / "report.csv").write_bytes(b"remote")
    source, target = (files["local"] / "report.csv", remote)
    if op == "Download":
        source, target = remote / "report.csv", files["back"]
    sets = "".join(f"c.Options.{k} = {js(v)};" for k, v in options.items())
    r = run(
        instance,
        sftp_client(sshd_server) + sets + "c.Options.UploadPolicy = AlwaysOverwrite; c.Connect();"
        f"try {{ c.{op}({js(source)}, {js(target)}); Log('SENT'); }}"
        "catch (e) { Log('CAUGHT ' + (e instanceof TypeError) + ' ' + e.message); }",
    )
    assert f"CAUGHT true {message}" in texts(r), texts(r)
    assert (remote / "report.csv").read_bytes() == b"remote"
    assert list(files["back"].iterdir()) == []


def test_size_policies_compare_encrypted_sizes(
    instance: Any, sshd_server: Any, files: dict[str, Path]
) -> None:
    remote = sshd_server.new_dir()
    report = files["local"] / "report.csv"
    body = (
        sftp_client(sshd_server)
        + otfe_options(UploadPolicy=2, DownloadPolicy=2)  # OverwriteIfDiffSize
        + f"c.Connect(); out.up = c.Upload({js(report)}, {js(remote)});"
        f"out.down = c.Download({js(remote / 'report.csv')}, {js(files['back'])});"
    )
    out, r = outcome(instance, body)
    assert out == {"up": True, "down": True}, errors(r)
    first = (remote / "report.csv").read_bytes()
    out, r = outcome(instance, body)  # the same sizes: both skipped
    assert out == {"up": True, "down": True}, errors(r)
    assert (remote / "report.csv").read_bytes() == first
    assert sum("skipped" in t and "OverwriteIfDiffSize" in t for t in texts(r)) == 2
    report.write_bytes(report.read_bytes() + b"2;1.00\n")
    out, r = outcome(instance, body)  # a new size: both sent
    assert not any("skipped" in t for t in texts(r))
    assert (files["back"] / "report.csv").read_bytes() == report.read_bytes()


# ---- the other clients ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("client", "make"),
    [
        ("FtpsClient", ftp_setup),
        ("S3Client", s3_setup),
        ("AzureClient", azure_setup),
        ("GCSClient", gcs_setup),
    ],
)
def test_other_clients_store_encrypted_and_round_trip(
    instance: Any,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    files: dict[str, Path],
    client: str,
    make: Any,
) -> None:
    """Upload encrypted; Download without OTFE (the stored bytes, which gpg opens), then with
    it (the original); then a wrong key leaves nothing."""
    fields, _, _, remote_dir, _ = make(request)
    stored, wrong = tmp_path / "stored", tmp_path / "wrong"
    stored.mkdir()
    wrong.mkdir()
    made = f"var c = new {client}();" + "".join(f"c.{k} = {js(v)};" for k, v in fields.items())
    everything = js(str(files["local"]) + "/*")
    out, r = outcome(
        instance,
        made
        + otfe_options()
        + f"out.c = c.Connect(); out.up = c.Upload({everything}, {js(remote_dir)});"
        f"c.Options.OTFE = false; c.Options.OTFEKey = '';"
        f"out.raw = c.Download({js(remote_dir + '/*')}, {js(stored)});"
        f"c.Options.OTFE = true; c.Options.OTFEKey = {js(KEY)};"
        f"out.down = c.Download({js(remote_dir + '/*')}, {js(files['back'])});"
        "c.Options.OTFEKey = 'not-the-key-42';"
        f"out.wrong = c.Download({js(remote_dir + '/*')}, {js(wrong)});",
    )
    assert out == {"c": True, "up": True, "raw": True, "down": True, "wrong": False}, errors(r)
    for path in files["local"].iterdir():
        data = path.read_bytes()
        assert (files["back"] / path.name).read_bytes() == data
        kept = (stored / path.name).read_bytes()
        assert len(kept) == otfe.encrypted_size(len(data)) and data[:64] not in kept
        assert gpg(tmp_path, "--decrypt", str(stored / path.name)) == data
    assert list(wrong.iterdir()) == []
    assert not any(TEMP_MARKER in t for t in texts(r))
