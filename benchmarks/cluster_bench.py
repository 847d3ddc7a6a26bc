"""cluster-throughput: jobs/s with 1, 2 and 4 `aft worker` processes, one `aft serve` node.

    python benchmarks/cluster_bench.py [JOBS]   -> prints one JSON object per kind of job

Starts a throwaway PostgreSQL and Redis (as the cluster tests do; see
tests/servers/cluster.py), then for each worker count: a fresh database, one serve node
(it publishes the jobs), N worker nodes of concurrency 1, and JOBS jobs queued at once
straight into the shared database; timed from the first submit until every job has
ended. Two kinds of job: trivial ones (one log line: the cost of the machinery) and ones
that wait 100 ms (as a transfer waits on the network: what more workers buy). Jobs run
in each worker's job process, as in production.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from aft.config import save_database_url  # noqa: E402
from aft.instance import Instance  # noqa: E402
from aft.jobs import ClusterQueue  # noqa: E402
from tests.servers.cluster import fresh_database, running_postgres, running_redis  # noqa: E402

#: What a job does -> its script.
SCRIPTS = {
    "one log line": 'Log("job " + Param("n"));',
    "a log line, then 100 ms asleep": 'Log("job " + Param("n")); Sleep(100);',  # as on a network
}
WORKER_COUNTS = (1, 2, 4)


def _start(args: list[str], home: Path, env: dict[str, str], ready: str) -> subprocess.Popen[str]:
    aft = str(Path(sys.executable).with_name("aft"))
    proc = subprocess.Popen(
        [aft, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**env, "AFT_HOME": str(home)},
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if ready in line:
            return proc
    raise SystemExit(f"aft {args[0]} did not start")


def throughput(pg: str, broker: str, workers: int, jobs: int, script: str) -> float:
    """Jobs per second with ``workers`` worker nodes."""
    import redis

    redis.Redis.from_url(broker).flushall()
    database_url = fresh_database(pg)
    env = {**os.environ, "AFT_DATABASE_URL": database_url, "AFT_BROKER_URL": broker}
    base = Path(tempfile.mkdtemp(prefix="aft-bench-"))
    procs: list[subprocess.Popen[str]] = []
    try:
        (base / "admin").mkdir()
        save_database_url(base / "admin", database_url)  # this process's view of the cluster
        with Instance(base / "admin") as instance:
            queue = ClusterQueue(instance.store)
            for name in ["serve", *(f"w{i}" for i in range(workers))]:
                (base / name).mkdir()
                shutil.copy(base / "admin" / "master.key", base / name / "master.key")
            procs.append(
                _start(["serve", "--http", "--port", "0"], base / "serve", env, "listening on")
            )
            for i in range(workers):
                args = ["worker", "--group", "default", "--concurrency", "1"]
                procs.append(_start(args, base / f"w{i}", env, "aft: worker "))
            start = time.perf_counter()
            for n in range(jobs):
                queue.submit(script, script_name="bench", params={"n": n})
            while True:
                counts = queue.counts()
                if counts["queued"] == 0 and counts["running"] == 0:
                    break
                time.sleep(0.02)
            elapsed = time.perf_counter() - start
            if counts["succeeded"] != jobs:
                raise SystemExit(f"not every job succeeded: {counts}")
            return jobs / elapsed
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(base, ignore_errors=True)


def main(jobs: int) -> None:
    with running_postgres() as pg, running_redis() as broker:
        for i, (does, script) in enumerate(SCRIPTS.items()):
            count = jobs if i == 0 else max(1, jobs // 3)
            rates = {n: throughput(pg, broker, n, count, script) for n in WORKER_COUNTS}
            work = f"{count} jobs of {does}, 1 serve node"
            print(json.dumps({"work": work, "jobs_per_second": rates}), flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
