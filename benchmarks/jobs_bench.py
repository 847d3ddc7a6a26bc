"""job-throughput and job-latency, run inside the benchmark venv by benchmarks/run.py.

    python benchmarks/jobs_bench.py HOME   -> prints one JSON object

Starts a real `aft serve` on 127.0.0.1 (HTTPS, default concurrency) for HOME, then:
- throughput: 1,000 trivial jobs posted by 8 concurrent clients, timed until all are done;
- latency: one job at a time on the idle service, POST -> its first log line visible;
- the engine ceiling: a fresh JS context + eval of the same script, in a loop, one process.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from aft.client import AftClient
from aft.executor import Executor
from aft.instance import Instance
from aft.keys import ApiKeyStore
from aft.scripts_store import ScriptStore

SCRIPT = 'Log("job " + Param("n"));'
JOBS, CLIENTS, LATENCY_RUNS = 1000, 8, 30


def ceiling(runs: int = 1000) -> float:
    """Jobs/s of the bare engine: fresh context + eval of the script, in a loop."""
    executor = Executor()
    start = time.perf_counter()
    for n in range(runs):
        executor.run(SCRIPT, params={"n": n})
    return runs / (time.perf_counter() - start)


def serve(home: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    aft = str(Path(sys.executable).with_name("aft"))
    proc = subprocess.Popen(
        [aft, "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "AFT_HOME": str(home)},
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if "listening on" in line:
            return proc, json.loads((home / "service.json").read_text())
    raise SystemExit("aft serve did not start")


def main(home: Path) -> dict[str, float]:
    with Instance(home) as instance:
        key = ApiKeyStore(instance.store).create("bench", ["127.0.0.1"], scope="admin")[1]
        scripts = ScriptStore(instance.store)
        if not any(s.name == "bench" for s in scripts.list()):
            scripts.add("bench", SCRIPT)
        concurrency = int(instance.settings.get("concurrency"))
    proc, info = serve(home)
    try:
        client = AftClient(info["url"], key, fingerprint=info["fingerprint"])
        latencies = []
        for n in range(LATENCY_RUNS):
            start = time.perf_counter()
            job_id = client.submit_job(script_name="bench", params={"n": n}).id
            while not client.job_log(job_id).lines:
                time.sleep(0.001)
            latencies.append(time.perf_counter() - start)
        ids: list[str] = []

        def post(worker: int) -> None:
            own = AftClient(info["url"], key, fingerprint=info["fingerprint"])
            for n in range(JOBS // CLIENTS):
                ids.append(own.submit_job(script_name="bench", params={"n": worker * 10000 + n}).id)

        start = time.perf_counter()
        threads = [threading.Thread(target=post, args=(w,)) for w in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with Instance(home) as instance:
            while True:
                done = instance.store.query(
                    "SELECT COUNT(*) FROM jobs WHERE state = 'succeeded' AND id IN"
                    f" ({','.join('?' * len(ids))})",
                    ids,
                )[0][0]
                if done == len(ids):
                    break
                time.sleep(0.01)
        elapsed = time.perf_counter() - start
    finally:
        proc.terminate()
        proc.wait(30)
    return {
        "throughput": len(ids) / elapsed,
        "latency_median": statistics.median(latencies),
        "ceiling": ceiling(),
        "concurrency": concurrency,
    }


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
