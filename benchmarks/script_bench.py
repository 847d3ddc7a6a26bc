"""Transfers as users run them: a whole ``aft run`` of a script against whole reference tools.

    python benchmarks/script_bench.py WORKDIR NAME...   -> prints one JSON row per line

Run inside the harness venv by benchmarks/run.py (``aft`` is ``AFT_BENCH_AFT``, the user
venv's, else this venv's; ``rclone`` is on PATH or in the venv). Every side keeps its
default settings: the sshd offers what OpenSSH offers, with OpenSSH's limits (10 sessions
to a connection), and each tool negotiates its own cipher. Each row times, per
direction, one aft script (``SftpClient``/``S3Client`` ``Upload``/``Download``, with a
wildcard for many files), OpenSSH ``sftp -b`` and ``rclone`` (and, for many files, the
same aft script with the setting ``transfer_journal`` off, to show what recording each
file costs), A/B interleaved: in each round every tool runs once, each round starting
with the next tool, after a first round that warms up and is not counted; the median of
the counted rounds is reported, with the peak RSS of aft's process.

Names: ``sftp-big`` (256 MiB, loopback), ``sftp-many`` (1,000 x 16 KiB, loopback),
``wan-big`` (64 MiB) and ``wan-many`` (200 x 16 KiB), each at 20 and 80 ms round trip
through the delay line (``benchmarks/delay_line.py``), ``s3-many`` (1,000 x 16 KiB, up,
SeaweedFS on loopback and at 20 ms), ``ftps-many`` (200 x 16 KiB, pyftpdlib, loopback).
``SCRIPT_BENCH_ROUNDS`` sets the counted rounds
(default 5), ``SCRIPT_BENCH_WARMUP`` the uncounted ones before them (default 1),
``SCRIPT_BENCH_RTTS`` the round trips of the wan rows in ms (default ``20,80``; at 80 ms
the rows compare aft with rclone only, see :data:`FAR`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the tests' server starters
sys.path.insert(0, str(HERE))

from delay_line import DelayLine  # noqa: E402

ROUNDS = int(os.environ.get("SCRIPT_BENCH_ROUNDS", "5"))
WARMUP = int(os.environ.get("SCRIPT_BENCH_WARMUP", "1"))
RTTS = [int(ms) for ms in os.environ.get("SCRIPT_BENCH_RTTS", "20,80").split(",")]
#: From this round trip (ms) on, the wan rows leave OpenSSH sftp out: their target is
#: rclone, and OpenSSH's many small files at 80 ms take two minutes a run.
FAR = 80
MiB = 1024 * 1024
BIN = Path(sys.executable).parent
#: The ``aft`` timed: as a user installs it (benchmarks/run.py's user venv), else this venv's.
AFT = os.environ.get("AFT_BENCH_AFT") or str(BIN / "aft")
# rclone and boto3 reach a plain-HTTP local endpoint only without a CA bundle override.
ENV = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run ``command`` to its end; its wall seconds and peak RSS (MiB). Must exit 0."""
    start = time.perf_counter()
    with subprocess.Popen(
        command, env=env or ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    ) as proc:
        assert proc.stderr is not None
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    took = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"{' '.join(command[:4])} failed: {err.decode()[-800:]}")
    return took, usage.ru_maxrss / 1024


def compare(
    tools: dict[str, Callable[[], list[str]]], reset: Callable[[], object]
) -> tuple[dict[str, float], float]:
    """Median seconds of each tool's command, rounds interleaved; and aft's peak RSS in MiB.

    Each round starts with the next tool (round n runs them in their order turned by n),
    so no tool always follows the same one. ``reset`` runs before every command; each
    command is built after it.
    """
    times: dict[str, list[float]] = {name: [] for name in tools}
    rss = 0.0
    order = list(tools.items())
    for n in range(WARMUP + ROUNDS):
        turn = n % len(order)
        for name, command in order[turn:] + order[:turn]:
            reset()
            took, peak = timed(command(), AFT_ENVS.get(name))
            if n >= WARMUP:
                times[name].append(took)
            if name == "aft":
                rss = max(rss, peak)
    return {name: statistics.median(t) for name, t in times.items()}, rss


ENV_AFT: dict[str, str] = {}
#: The same aft with the setting transfer_journal off (its own home): what recording costs.
JOURNAL_OFF = "aft (journal off)"
ENV_AFT_OFF: dict[str, str] = {}
AFT_ENVS = {"aft": ENV_AFT, JOURNAL_OFF: ENV_AFT_OFF}


def emit(name: str, work: str, medians: dict[str, float], rss: float) -> None:
    aft = medians.pop("aft")
    row = {"name": name, "work": work, "aft": aft, "references": medians, "aft_rss_mib": rss}
    print(json.dumps(row), flush=True)


def make_file(path: Path, size: int) -> None:
    if path.exists() and path.stat().st_size == size:
        return
    with open(path, "wb") as f:
        for _ in range(size // MiB):
            f.write(os.urandom(MiB))


def make_many(folder: Path, count: int, size: int) -> None:
    if folder.exists() and len(os.listdir(folder)) == count:
        return
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for n in range(count):
        (folder / f"f{n:05d}.dat").write_bytes(os.urandom(size))


def emptied(*folders: Path) -> Callable[[], None]:
    """A reset that leaves each folder empty (made if missing), owned like its parent."""

    def reset() -> None:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            parent = folder.parent.stat()
            os.chown(folder, parent.st_uid, parent.st_gid)

    return reset


def script(work: Path, name: str, body: str) -> list[str]:
    """The ``aft run`` command of a script ``body`` that fails the run when a call fails."""
    path = work / f"{name}.syncjs"
    path.write_text(body)
    return [AFT, "run", "-f", str(path)]


def rclone() -> list[str]:
    return [shutil.which("rclone") or str(BIN / "rclone"), "--config", "/dev/null"]


# ---- SFTP -------------------------------------------------------------------------------


def sftp_rows(work: Path, names: list[str]) -> None:
    from tests.servers.sshd import running_sshd

    with running_sshd(limits="") as server:
        key = work / "id_ed25519"
        key.write_text(server.key_pem)
        key.chmod(0o600)
        near = SftpTarget(server, key, server.new_dir("bench"), server.port)
        if "sftp-big" in names:
            sftp_pair(work, near, "sftp-big", "sftp-big", "loopback")
        if "sftp-many" in names:
            sftp_pair(work, near, "sftp-many", "sftp-many", "loopback")
        for rtt in RTTS:
            wanted = [n for n in ("wan-big", "wan-many") if n in names]
            if not wanted:
                continue
            with DelayLine(server.port, rtt / 1000) as line:
                far = dataclasses.replace(near, port=line.port)
                for name in wanted:
                    label, where = f"{name} {rtt}ms", f"{rtt} ms round trip"
                    sftp_pair(work, far, name, label, where, openssh=rtt < FAR)


@dataclasses.dataclass(frozen=True)
class SftpTarget:
    """Where the SFTP rows send their files: the server (a tests.servers.sshd server), the
    key that logs in, the server's folder for them and the port that reaches it (its own,
    or a delay line's)."""

    server: Any
    key: Path
    remote: Path
    port: int


#: Each SFTP row's files: (how many, size); one file is named big.bin, many are f*.dat.
SFTP_WORK = {
    "sftp-big": (1, 256 * MiB),
    "sftp-many": (1000, 16 * 1024),
    "wan-big": (1, 64 * MiB),
    "wan-many": (200, 16 * 1024),
}


def sftp_pair(
    work: Path, target: SftpTarget, name: str, label: str, where: str, openssh: bool = True
) -> None:
    """Rows ``label up`` and ``label down`` of the work ``name``: aft, OpenSSH sftp (unless
    not ``openssh``) and rclone, through ``target``'s port."""
    server, key, remote, port = target.server, target.key, target.remote, target.port
    count, size = SFTP_WORK[name]
    source = work / f"{name}-src"
    source.mkdir(exist_ok=True)
    if count == 1:
        make_file(source / "big.bin", size)
        pattern = "big.bin"
    else:
        make_many(source, count, size)
        pattern = "*.dat"
    up_to, down_to = remote / f"{name}-up", work / f"{name}-down"
    remote_src = remote / f"{name}-src"
    if not remote_src.exists():
        shutil.copytree(source, remote_src)
    login = [
        *("-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"),
        *("-o", "BatchMode=yes", "-i", str(key), "-P", str(port)),
        f"{server.user}@127.0.0.1",
    ]
    client = (
        "var c = new SftpClient();"
        f"c.Host = '127.0.0.1:{port}'; c.User = {json.dumps(server.user)};"
        f"c.KeyFile = {json.dumps(str(key))}; c.HostKeySHA256 = '{server.host_key_sha256}';"
        "if (!c.Connect()) throw new Error('no connection');"
    )
    rclone_remote = (
        f":sftp,host=127.0.0.1,port={port},user={server.user},key_file={key},shell_type=unix:"
    )
    for direction, src, dst in (("up", source, up_to), ("down", remote_src, down_to)):
        batch = work / f"{name}-{direction}.batch"
        batch.write_text(f"put {source}/{pattern} {dst}/\n" if direction == "up" else
                         f"get {src}/{pattern} {dst}/\n")  # fmt: skip
        call = "Upload" if direction == "up" else "Download"
        aft = script(
            work,
            f"{name}-{direction}",
            client + f"if (!c.{call}({json.dumps(f'{src}/{pattern}')}, {json.dumps(str(dst))}))"
            " throw new Error('transfer failed'); c.Close();",
        )
        remote_side = f"{rclone_remote}{up_to if direction == 'up' else remote_src}"
        rclone_args = [str(source), remote_side] if direction == "up" else [remote_side, str(dst)]
        if count == 1:
            rclone_args = ["copyto", f"{rclone_args[0]}/big.bin", f"{rclone_args[1]}/big.bin"]
        else:
            rclone_args = ["copy", *rclone_args]
        commands = {"aft": aft}
        if openssh:
            commands["OpenSSH sftp"] = ["sftp", "-q", "-b", str(batch), *login]
        commands["rclone"] = [*rclone(), *rclone_args]
        if count == 1:
            no_check = [*rclone(), "--sftp-disable-hashcheck", *rclone_args]
            commands["rclone (no hash check)"] = no_check
        else:
            commands[JOURNAL_OFF] = aft
        tools = {tool: (lambda c=command: c) for tool, command in commands.items()}
        medians, rss = compare(tools, emptied(dst))
        files = "one file of " + f"{size // MiB} MiB" if count == 1 else f"{count:,} x 16 KiB"
        emit(f"{label} {direction}", f"{files}, {where}", medians, rss)


# ---- S3 ---------------------------------------------------------------------------------


def s3_rows(work: Path, names: list[str]) -> None:
    from tests.servers.seaweedfs import start_seaweedfs, stop_seaweedfs

    shutil.rmtree(work / "seaweed", ignore_errors=True)
    (work / "seaweed").mkdir()
    server = start_seaweedfs(work / "seaweed")
    try:
        source = work / "s3-src"
        make_many(source, 1000, 16 * 1024)
        port = int(server.endpoint.rsplit(":", 1)[1].split("/")[0])
        for rtt in (0, 20):
            with contextlib.ExitStack() as stack:
                if rtt:
                    port = stack.enter_context(DelayLine(port, rtt / 1000)).port
                s3_row(work, server, source, f"http://127.0.0.1:{port}", rtt)
    finally:
        stop_seaweedfs(server)


def s3_row(work: Path, server: Any, source: Path, endpoint: str, rtt: int) -> None:
    creds = server.payload
    bucket = server.new_bucket()
    rounds = iter(range(1_000_000))
    prefix = ["x"]

    def fresh() -> None:  # a new prefix each time: every tool writes into an empty folder
        prefix[0] = f"p{next(rounds)}"

    client = (
        "var c = new S3Client();"
        f"c.Endpoint = '{endpoint}'; c.Region = '{server.region}'; c.Bucket = '{bucket}';"
        f"c.APIKeyID = '{creds['accessKeyId']}'; c.APIKeySecret = '{creds['secretAccessKey']}';"
        "if (!c.Connect()) throw new Error('no connection');"
    )
    remote = (
        f":s3,provider=Other,endpoint='{endpoint}',access_key_id={creds['accessKeyId']},"
        f"secret_access_key={creds['secretAccessKey']},force_path_style=true:{bucket}"
    )

    tools: dict[str, Callable[[], list[str]]] = {
        "aft": lambda: script(
            work,
            "s3-many",
            client + f"if (!c.Upload({json.dumps(f'{source}/*.dat')}, '/{prefix[0]}'))"
            " throw new Error('transfer failed'); c.Close();",
        ),
        "rclone": lambda: [*rclone(), "copy", str(source), f"{remote}/{prefix[0]}"],
    }
    medians, rss = compare(tools, fresh)
    where = "loopback" if not rtt else f"{rtt} ms round trip"
    label = "s3-many up" if not rtt else f"s3-many {rtt}ms up"
    emit(label, f"1,000 x 16 KiB, SeaweedFS, {where}", medians, rss)


# ---- FTPS -------------------------------------------------------------------------------


def ftps_rows(work: Path) -> None:
    """``ftps-many up`` and ``down``: 200 x 16 KiB over explicit TLS to pyftpdlib, loopback.

    (FTP's data connections go to ports the server names, past a delay line: loopback only.)
    """
    from tests.servers.ftpd import make_tls_files, start_ftp_server

    tls_dir, root = work / "ftps-tls", work / "ftps-root"
    for folder in (tls_dir, root):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
    server = start_ftp_server(root, make_tls_files(tls_dir), "explicit", work / "ftps.log")
    try:
        source = work / "ftps-src"
        make_many(source, 200, 16 * 1024)
        shutil.copytree(source, root / "src")
        secret = subprocess.run(
            [*rclone(), "obscure", server.password], check=True, capture_output=True, text=True
        ).stdout.strip()
        remote = (
            f":ftp,host=127.0.0.1,port={server.port},user={server.user},pass={secret},"
            "explicit_tls=true,no_check_certificate=true:"
        )
        client = (
            "var c = new FtpsClient();"
            f"c.Host = '127.0.0.1:{server.port}'; c.User = '{server.user}';"
            f"c.Pass = {json.dumps(server.password)}; c.TLSInsecure = true;"
            "if (!c.Connect()) throw new Error('no connection');"
        )
        down = work / "ftps-down"
        for direction, pattern, dst, rclone_args in (
            ("up", f"{source}/*.dat", "/up", [str(source), f"{remote}/up"]),
            ("down", "/src/*.dat", str(down), [f"{remote}/src", str(down)]),
        ):
            call = "Upload" if direction == "up" else "Download"
            aft = script(
                work,
                f"ftps-many-{direction}",
                client + f"if (!c.{call}({json.dumps(pattern)}, {json.dumps(dst)}))"
                " throw new Error('transfer failed'); c.Close();",
            )
            tools = {
                "aft": lambda a=aft: a,
                "rclone": lambda r=rclone_args: [*rclone(), "copy", *r],
            }
            target = root / "up" if direction == "up" else down
            medians, rss = compare(tools, emptied(target))
            emit(f"ftps-many {direction}", "200 x 16 KiB, explicit TLS, loopback", medians, rss)
    finally:
        server.stop()


@contextlib.contextmanager
def aft_home(work: Path) -> Iterator[None]:
    """Aft homes where ``aft run`` is allowed, for the aft processes: one as installed,
    one with the transfer journal off."""
    ENV_AFT.update(ENV, AFT_HOME=str(work / "home"))
    ENV_AFT_OFF.update(ENV, AFT_HOME=str(work / "home-journal-off"))
    for env, journal in ((ENV_AFT, "true"), (ENV_AFT_OFF, "false")):
        for key, value in (("allow_cli_run", "true"), ("transfer_journal", journal)):
            subprocess.run(
                [AFT, "settings", "set", key, value],
                check=True, env=env, stdout=subprocess.DEVNULL,
            )  # fmt: skip
    yield


def main(work: Path, names: list[str]) -> None:
    work.mkdir(parents=True, exist_ok=True)
    work.chmod(0o755)  # the sshd test user reads the local side through the tools
    with aft_home(work):
        if {"sftp-big", "sftp-many", "wan-big", "wan-many"} & set(names):
            sftp_rows(work, names)
        if "s3-many" in names:
            s3_rows(work, names)
        if "ftps-many" in names:
            ftps_rows(work)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:])
