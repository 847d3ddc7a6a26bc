"""A big copy holds a bounded amount of memory, whatever the two sides.

Each connection type is copied to and from Disk, and SFTP and S3 into each other, with
a file well past the bound (:data:`SIZE` against :data:`BOUND`), against its real
server on 127.0.0.1. Each copy runs in a fresh process that connects both sides and
first copies a small file (:data:`WARM`, a few parts: what a first transfer loads once,
such as botocore's service model, is in place), then resets its peak resident size
(``/proc/self/clear_refs``) and copies the big one: what the copy holds is that peak
less the resident size before it. A copy that loaded the file, or let its pipeline grow
with it, would show it. The copied bytes are compared by SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

MiB = 1024 * 1024
#: What a copy may hold at most: the ~64 MiB a copy is built to stay under (read-ahead,
#: parts in flight) with room for the allocator's noise in a resident size (the same
#: copy measures up to ~10 MiB apart between runs). Reads of 8 MiB ranges from Azure
#: measured 94-108 MiB; the file is 160 MiB, so a copy that held it would show too.
BOUND = 80 * MiB
SIZE = 160 * MiB + 12345
#: The size of the warm-up copy, /warm.bin beside the big file: three parts of an upload.
WARM = 24 * MiB + 1

#: A copy in a process of its own: argv[1] is {"src": [type, target, payload], "src_path",
#: "dst": [...], "dst_path", "warm": [src path, dst path]}; prints the resident bytes
#: before the copy (after the warm-up) and its peak.
COPY = textwrap.dedent(
    """
    import json, re, sys
    from aft.vfs import open_vfs
    from aft.vfs.base import copy_file

    def status(field):
        with open("/proc/self/status") as f:
            return int(re.search(field + r":\\s+(\\d+) kB", f.read()).group(1)) * 1024

    job = json.loads(sys.argv[1])
    src, dst = open_vfs(*job["src"]), open_vfs(*job["dst"])
    copy_file(src, job["warm"][0], dst, job["warm"][1])
    before = status("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # the peak starts again from here
    copy_file(src, job["src_path"], dst, job["dst_path"])
    print(json.dumps({"before": before, "peak": status("VmHWM")}))
    src.close(), dst.close()
    """
)

Spec = tuple[str, str, dict[str, Any]]


def _sftp(request: pytest.FixtureRequest) -> Spec:
    server = request.getfixturevalue("sshd_server")
    return "SFTP", server.target(server.new_dir()), {"pass": server.password}


def _s3(request: pytest.FixtureRequest) -> Spec:
    server = request.getfixturevalue("s3_server")
    bucket = server.new_bucket()
    request.addfinalizer(lambda: server.drop_bucket(bucket))
    return "S3", server.target(bucket), server.payload


def _ftps(request: pytest.FixtureRequest) -> Spec:
    server = request.getfixturevalue("ftp_server")
    base = server.root / f"t-{secrets.token_hex(4)}"
    base.mkdir()
    return "FTP", server.target(f"/{base.name}", "explicit"), server.payload


def _azure(request: pytest.FixtureRequest) -> Spec:
    server = request.getfixturevalue("azurite_server")
    container = request.getfixturevalue("azure_container")
    return "Azure", server.target(container), server.payload


def _gcs(request: pytest.FixtureRequest) -> Spec:
    server = request.getfixturevalue("gcs_server")
    bucket = request.getfixturevalue("gcs_bucket")
    return "GCP", server.target(bucket), {}


SPECS: dict[str, Callable[[pytest.FixtureRequest], Spec]] = {
    "sftp": _sftp,
    "s3": _s3,
    "ftps": _ftps,
    "azure": _azure,
    "gcs": _gcs,
}


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A file of SIZE bytes (1 MiB of random bytes, each copy of it numbered) and its
    SHA-256."""
    path = tmp_path_factory.mktemp("big") / "big.bin"
    block, digest = secrets.token_bytes(MiB), hashlib.sha256()
    with path.open("wb") as f:
        for n in range(SIZE // MiB):
            piece = n.to_bytes(8, "big") + block[8:]
            f.write(piece)
            digest.update(piece)
        tail = block[: SIZE % MiB]
        f.write(tail)
        digest.update(tail)
    (path.parent / "warm.bin").write_bytes(secrets.token_bytes(WARM))
    return path, digest.hexdigest()


def disk(folder: Path) -> Spec:
    return "Disk", str(folder), {}


def copy_cost(src: Spec, src_path: str, dst: Spec, dst_path: str, warm: str) -> int:
    """The resident bytes a copy in a fresh process added at its peak, after a warm-up
    copy of /warm.bin to ``warm``."""
    job = {"src": src, "src_path": src_path, "dst": dst, "dst_path": dst_path}
    job["warm"] = ["/warm.bin", warm]
    done = subprocess.run(
        [sys.executable, "-c", COPY, json.dumps(job)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    measured = json.loads(done.stdout)
    return int(measured["peak"] - measured["before"])


def sha256_of(spec: Spec, path: str) -> str:
    from aft.vfs import open_vfs

    vfs, digest = open_vfs(*spec), hashlib.sha256()
    try:
        with vfs.open_read(path) as f:
            while chunk := f.read(4 * MiB):
                digest.update(chunk)
    finally:
        vfs.close()
    return digest.hexdigest()


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_a_big_copy_to_and_from_disk_holds_bounded_memory(
    kind: str, big_file: tuple[Path, str], request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    path, digest = big_file
    remote = SPECS[kind](request)
    up = copy_cost(disk(path.parent), "/big.bin", remote, "/big.bin", "/warm.bin")
    down = copy_cost(remote, "/big.bin", disk(tmp_path), "/back.bin", "/warm-back.bin")
    assert (up < BOUND, down < BOUND) == (True, True), (
        f"up {up / MiB:.1f} MiB, down {down / MiB:.1f} MiB"
    )
    assert sha256_of(disk(tmp_path), "/back.bin") == digest


@pytest.mark.parametrize("src_kind, dst_kind", [("sftp", "s3"), ("s3", "sftp")])
def test_a_big_copy_between_two_connection_types_holds_bounded_memory(
    src_kind: str, dst_kind: str, big_file: tuple[Path, str], request: pytest.FixtureRequest
) -> None:
    path, digest = big_file
    src, dst = SPECS[src_kind](request), SPECS[dst_kind](request)
    copy_cost(disk(path.parent), "/big.bin", src, "/big.bin", "/warm.bin")
    cost = copy_cost(src, "/big.bin", dst, "/copied.bin", "/warm-copied.bin")
    assert cost < BOUND, f"{cost / MiB:.1f} MiB"
    assert sha256_of(dst, "/copied.bin") == digest
