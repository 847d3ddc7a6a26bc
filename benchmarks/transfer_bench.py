"""Transfer benchmarks, run inside the benchmark venv by benchmarks/run.py.

    python benchmarks/transfer_bench.py WORKDIR NAME...   -> prints one JSON row per line

sftp-big, sftp-many: a real OpenSSH sshd on 127.0.0.1 that offers one cipher only
(so aft, OpenSSH sftp and rclone all use it). disk-tree: a local tree copied Disk -> Disk.
s3-big, s3-many: a local SeaweedFS S3 server. Each tool's median wall time over RUNS runs
after a warm-up; aft's time includes opening its connection, like the tools' own.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' server starters

from aft.vfs import open_vfs  # noqa: E402
from aft.vfs.base import copy_file, copy_tree  # noqa: E402
from aft.vfs.disk import DiskVfs  # noqa: E402

RUNS = 5
CIPHER = "aes128-ctr"
MiB = 1024 * 1024


def median(action: Callable[[], object], reset: Callable[[], object] = lambda: None) -> float:
    times = []
    for i in range(RUNS + 1):
        reset()
        start = time.perf_counter()
        action()
        if i:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


# rclone's S3 client cannot take a custom CA bundle over plain HTTP; nothing here uses one.
_ENV = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}


def run(*command: str) -> None:
    done = subprocess.run(command, env=_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if done.returncode:
        raise SystemExit(f"{' '.join(command[:3])} failed: {done.stderr.decode()[-800:]}")


def make_file(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        for _ in range(size // MiB):
            f.write(os.urandom(MiB))
        f.write(os.urandom(size % MiB))


def make_many(folder: Path, count: int, size: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        (folder / f"f{n:05d}.bin").write_bytes(os.urandom(size))


def emit(name: str, work: str, aft: float, references: dict[str, float], **extra: str) -> None:
    print(json.dumps({"name": name, "work": work, "aft": aft, "references": references, **extra}))


def clear(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


# ---- SFTP ------------------------------------------------------------------------------


def sftp_benchmarks(work: Path, names: list[str]) -> None:
    from tests.servers.sshd import running_sshd

    with running_sshd(ciphers=CIPHER) as server:
        key = work / "id_ed25519"
        key.write_text(server.key_pem)
        key.chmod(0o600)
        remote = server.new_dir("bench")
        ssh_options = [
            *("-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"),
            *("-o", f"Ciphers={CIPHER}", "-i", str(key), "-P", str(server.port)),
        ]
        login = f"{server.user}@{server.host}"
        rclone_remote = (
            f":sftp,host={server.host},port={server.port},user={server.user},"
            f"key_file={key},shell_type=unix:"
        )
        # The server offers CIPHER only. --ignore-times: transfer even when the target matches.
        rclone = ["rclone", "--config", "/dev/null", "--ignore-times"]
        local = DiskVfs(str(work))

        def sftp_batch(*commands: str) -> None:
            batch = work / "batch"
            batch.write_text("\n".join(commands) + "\n")
            run("sftp", "-q", "-b", str(batch), *ssh_options, login)

        def aft(action: Callable[[object], object]) -> Callable[[], None]:
            def go() -> None:
                with open_vfs("SFTP", server.target(remote), {"key": server.key_pem}) as vfs:
                    action(vfs)

            return go

        if "sftp-big" in names:
            make_file(work / "big.bin", 256 * MiB)
            up_to = remote / "up.bin"

            def clear_up() -> None:
                up_to.unlink(missing_ok=True)

            def clear_down() -> None:
                (work / "down.bin").unlink(missing_ok=True)

            up = {
                "aft": median(aft(lambda v: copy_file(local, "/big.bin", v, "/up.bin")), clear_up),
                "OpenSSH sftp": median(lambda: sftp_batch(f"put {work}/big.bin {up_to}"), clear_up),
                "rclone": median(
                    lambda: run(*rclone, "copyto", f"{work}/big.bin", f"{rclone_remote}{up_to}"),
                    clear_up,
                ),
                "rclone (no hash check)": median(
                    lambda: run(
                        *rclone,
                        "--sftp-disable-hashcheck",
                        "copyto",
                        f"{work}/big.bin",
                        f"{rclone_remote}{up_to}",
                    ),
                    clear_up,  # fmt: skip
                ),
            }
            shutil.copy(work / "big.bin", remote / "big.bin")
            down = {
                "aft": median(
                    aft(lambda v: copy_file(v, "/big.bin", local, "/down.bin")), clear_down
                ),
                "OpenSSH sftp": median(
                    lambda: sftp_batch(f"get {remote}/big.bin {work}/down.bin"), clear_down
                ),
                "rclone": median(
                    lambda: run(
                        *rclone, "copyto", f"{rclone_remote}{remote}/big.bin", f"{work}/down.bin"
                    ),
                    clear_down,
                ),
            }
            for direction, times in (("up", up), ("down", down)):
                aft_time = times.pop("aft")
                emit(f"sftp-big {direction}", f"256 MiB, {CIPHER}", aft_time, times)
        if "sftp-many" in names:
            make_many(work / "many", 1000, 16 * 1024)
            target = remote / "many"

            def reset() -> None:
                clear(target)

            aft_time = median(aft(lambda v: copy_tree(local, "/many", v, "/many")), reset)
            refs = {
                "OpenSSH sftp put -r": median(
                    lambda: sftp_batch(f"put -r {work}/many {target}"), reset
                ),
                "rclone copy": median(
                    lambda: run(
                        *rclone,
                        "--transfers",
                        "4",
                        "copy",
                        f"{work}/many",
                        f"{rclone_remote}{target}",
                    ),
                    reset,  # fmt: skip
                ),
            }
            emit("sftp-many", f"1,000 x 16 KiB up, one connection, {CIPHER}", aft_time, refs)


# ---- Disk -------------------------------------------------------------------------------


def disk_tree(work: Path) -> None:
    source = work / "tree"
    if not source.exists():
        rng = random.Random(7)
        for n in range(5000):
            folder = source / f"d{n % 50:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            size = int(2 ** rng.uniform(10, 22))  # 1 KiB to 4 MiB, log-uniform
            (folder / f"f{n:05d}.bin").write_bytes(os.urandom(size))
    total = sum(f.stat().st_size for f in source.rglob("*") if f.is_file())
    dest = work / "tree-copy"
    disk = DiskVfs(str(work))

    def reset() -> None:
        clear(dest)

    aft_time = median(lambda: copy_tree(disk, "/tree", disk, "/tree-copy"), reset)
    refs = {
        "cp -r": median(lambda: run("cp", "-r", str(source), str(dest)), reset),
        "rclone copy": median(
            lambda: run("rclone", "--config", "/dev/null", "copy", str(source), str(dest)),
            reset,
        ),
    }
    emit("disk-tree", f"5,000 files, 1 KiB-4 MiB, {total / MiB:.0f} MiB", aft_time, refs)


# ---- S3 ---------------------------------------------------------------------------------


def s3_benchmarks(work: Path, names: list[str]) -> None:
    from tests.servers.seaweedfs import start_seaweedfs, stop_seaweedfs

    clear(work / "seaweed")
    (work / "seaweed").mkdir()
    server = start_seaweedfs(work / "seaweed")
    try:
        bucket = server.new_bucket("bench")
        creds = server.payload
        rclone = ["rclone", "--config", "/dev/null", "--ignore-times"]
        remote = (
            f":s3,provider=Other,endpoint='{server.endpoint}',access_key_id={creds['accessKeyId']},"
            f"secret_access_key={creds['secretAccessKey']},force_path_style=true:{bucket}"
        )
        local = DiskVfs(str(work))

        def aft(action: Callable[[object], object]) -> Callable[[], None]:
            def go() -> None:
                with open_vfs("S3", server.target(bucket), creds) as vfs:
                    action(vfs)

            return go

        if "s3-big" in names:
            make_file(work / "big.bin", 256 * MiB)
            aft_time = median(aft(lambda v: copy_file(local, "/big.bin", v, "/big.bin")))
            refs = {
                "rclone": median(
                    lambda: run(*rclone, "copyto", f"{work}/big.bin", f"{remote}/big2.bin")
                )
            }
            emit("s3-big", "256 MiB up", aft_time, refs)
        if "s3-many" in names:
            make_many(work / "many", 1000, 16 * 1024)
            aft_time = median(aft(lambda v: copy_tree(local, "/many", v, "/many")))
            refs = {
                "rclone copy": median(
                    lambda: run(*rclone, "copy", f"{work}/many", f"{remote}/many2")
                )
            }
            emit("s3-many", "1,000 x 16 KiB up", aft_time, refs)
    finally:
        stop_seaweedfs(server)


def main(work: Path, names: list[str]) -> None:
    work.mkdir(parents=True, exist_ok=True)
    work.chmod(0o755)  # the sshd test user reads the local side through rclone and sftp
    if {"sftp-big", "sftp-many"} & set(names):
        sftp_benchmarks(work, names)
    if "disk-tree" in names:
        disk_tree(work)
    if {"s3-big", "s3-many"} & set(names):
        s3_benchmarks(work, names)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:])
