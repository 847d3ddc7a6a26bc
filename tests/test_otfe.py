"""On-the-fly encryption: the OpenPGP format of :mod:`aft.otfe`, checked against GnuPG."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from aft import otfe
from aft.exceptions import PgpError

KEY = "correct horse battery staple"
GPG = "/usr/bin/gpg"


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


def test_plain_text_is_not_taken_for_a_message() -> None:
    with pytest.raises(PgpError, match="not an OpenPGP message"):
        opened(b"id;amount\n1;2\n")


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
