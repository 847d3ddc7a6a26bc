"""Worker processes that run jobs, and the pool that feeds and watches them.

Each worker is a separate process (``python -m aft.worker``) that runs one job at a
time, so a runaway script can be halted, then killed, without harming the service or
any other job. The pool (a thread in the service) claims jobs from the queue, hands
each to an idle worker over its stdin (``JOB_ID\\n``), and reads ``done JOB_ID`` back
(``done JOB_ID retire`` when the worker is about to exit and wants no more work).

Halting: the pool sends SIGTERM (the worker turns it into the script's halt signal)
and, if the job has not ended after the grace period, SIGKILL. A worker that dies for
any reason has its job marked ``interrupted`` and is replaced. Workers ignore SIGINT
(a Ctrl-C in the service's terminal is the service's to handle) and are killed by the
kernel if the service itself dies, so a job never outlives the service that ran it.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from aft.jobs import JobQueue

_PR_SET_PDEATHSIG = 1


class _Worker:
    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.name = f"{socket.gethostname()}:{proc.pid}"
        self.job_id: str | None = None
        self.term_sent: float | None = None
        self.retiring = False  # said it will exit after its job: gets no more work
        self.buffer = b""


def start_job_process(home: Path, memory_mb: int) -> subprocess.Popen[bytes]:
    """A ``python -m aft.worker`` process for ``home``: it dies with this process and its
    memory is capped at ``memory_mb``; jobs go in on its stdin, results come on stdout."""
    env = {
        **os.environ,
        "AFT_HOME": str(home),
        "AFT_WORKER_PARENT": str(os.getpid()),
        "AFT_WORKER_MEMORY_MB": str(memory_mb),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "aft.worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        bufsize=0,
    )


class WorkerPool:
    """Keeps ``concurrency`` worker processes busy with queued jobs.

    Args:
        home: the instance home the workers open.
        queue: the job queue.
        concurrency: how many jobs may run at once.
        grace: seconds between the halt signal and the kill.
        memory_mb: address-space limit of each worker (0 = none).
    """

    def __init__(
        self,
        home: Path,
        queue: JobQueue,
        *,
        concurrency: int = 2,
        grace: float = 3.0,
        memory_mb: int = 0,
    ) -> None:
        self._home = home
        self._queue = queue
        self._concurrency = max(1, concurrency)
        self._grace = grace
        self._memory_mb = memory_mb
        self._workers: list[_Worker] = []
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="aft-worker-pool", daemon=True)

    def start(self) -> None:
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        for _ in range(self._concurrency):
            self._spawn()
        self._thread.start()

    def notify(self) -> None:
        """Wake the pool: a job was queued or a halt requested."""
        try:
            os.write(self._wake_w, b"!")
        except BlockingIOError:
            pass  # already awake

    def stop(self) -> None:
        """Halt running jobs (kill them after the grace period) and end every worker."""
        self._stopping.set()
        self.notify()
        self._thread.join()
        busy = [w for w in self._workers if w.job_id]
        for w in busy:
            self._signal(w, signal.SIGTERM)
        deadline = time.monotonic() + self._grace
        for w in self._workers:
            if w.proc.stdin:
                w.proc.stdin.close()
            try:
                w.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._signal(w, signal.SIGKILL)
                w.proc.wait()
        for w in busy:
            self._queue.interrupt(w.job_id or "", "the service stopped while the job ran")
        for w in self._workers:
            if w.proc.stdout:
                w.proc.stdout.close()
        self._selector.close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    # ---- the pool's loop --------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stopping.is_set():
            for key, _ in self._selector.select(timeout=0.25):
                if key.data is None:
                    os.read(self._wake_r, 4096)
                else:
                    self._read(key.data)
            self._reap()
            self._halt()
            self._dispatch()

    def _spawn(self) -> None:
        proc = start_job_process(self._home, self._memory_mb)
        worker = _Worker(proc)
        assert proc.stdout is not None
        self._selector.register(proc.stdout, selectors.EVENT_READ, worker)
        self._workers.append(worker)

    def _read(self, worker: _Worker) -> None:
        assert worker.proc.stdout is not None
        data = os.read(worker.proc.stdout.fileno(), 4096)
        if not data:  # the worker is gone; _reap deals with it
            self._selector.unregister(worker.proc.stdout)
            return
        worker.buffer += data
        while b"\n" in worker.buffer:
            line, worker.buffer = worker.buffer.split(b"\n", 1)
            word, _, rest = line.decode().partition(" ")
            job_id, _, note = rest.partition(" ")
            if word == "done" and job_id == worker.job_id:
                worker.job_id = None
                worker.term_sent = None
                worker.retiring = note == "retire"

    def _reap(self) -> None:
        for worker in [w for w in self._workers if w.proc.poll() is not None]:
            self._workers.remove(worker)
            try:
                assert worker.proc.stdout is not None
                self._selector.unregister(worker.proc.stdout)
            except (KeyError, ValueError):
                pass
            for pipe in (worker.proc.stdin, worker.proc.stdout):
                if pipe:
                    pipe.close()
            if worker.job_id:
                if worker.term_sent is not None:
                    self._queue.halted_by_force(
                        worker.job_id, f"killed: still running {self._grace:g}s after the halt"
                    )
                else:
                    code = worker.proc.returncode
                    self._queue.interrupt(worker.job_id, f"the worker process died (exit {code})")
            if not self._stopping.is_set():
                self._spawn()

    def _halt(self) -> None:
        by_job = {w.job_id: w for w in self._workers if w.job_id}
        now = time.monotonic()
        for job_id, _worker_name, _asked in self._queue.halt_requests():
            worker = by_job.get(job_id)
            if worker is None:
                continue
            if worker.term_sent is None:
                worker.term_sent = now
                self._signal(worker, signal.SIGTERM)
            elif now - worker.term_sent > self._grace:
                self._signal(worker, signal.SIGKILL)

    def _dispatch(self) -> None:
        for worker in self._workers:
            if self._stopping.is_set():
                return
            if worker.job_id is not None or worker.retiring or worker.proc.poll() is not None:
                continue
            job = self._queue.claim(worker.name)
            if job is None:
                return
            worker.job_id = job.id
            try:
                assert worker.proc.stdin is not None
                worker.proc.stdin.write(job.id.encode() + b"\n")
            except OSError:
                pass  # it died: _reap marks the job interrupted

    @staticmethod
    def _signal(worker: _Worker, signum: int) -> None:
        try:
            worker.proc.send_signal(signum)
        except ProcessLookupError:
            pass


# ---- the worker process -------------------------------------------------------------------


def _die_with_parent(parent: int) -> None:
    """Ask the kernel to kill this process when the service dies (Linux), and check it lives."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(0)


def _limit_memory(megabytes: int) -> None:
    if megabytes > 0:
        import resource

        limit = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def worker_main() -> int:
    """Run jobs whose ids arrive on stdin, one at a time, until stdin closes."""
    from aft.exceptions import AftError
    from aft.executor import Executor, HaltSignal
    from aft.instance import Instance
    from aft.models import JobState, LogLine, RunResult

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(int(os.environ.get("AFT_WORKER_PARENT", os.getppid())))
    _limit_memory(int(os.environ.get("AFT_WORKER_MEMORY_MB", "0")))
    current: list[HaltSignal] = []

    def on_term(signum: int, frame: object) -> None:
        for halt in current:
            halt.set()

    signal.signal(signal.SIGTERM, on_term)

    with Instance() as instance:
        queue = JobQueue(instance.store)
        for line in sys.stdin:
            job_id = line.strip()
            halt = HaltSignal()
            current.append(halt)
            try:
                job = queue.get(job_id)
                executor = Executor(
                    secrets=instance.secrets,
                    vfs_library=instance.vfs,
                    allow_exec=bool(instance.settings.get("allow_exec")),
                    state_dir=instance.home / "watch-state",
                    mail=instance.settings,
                )

                def log(line: LogLine, job_id: str = job_id) -> None:
                    queue.append_log(job_id, [line])

                result = executor.run(
                    queue.source(job_id),
                    params=job.params,
                    name=job.script_name,
                    job_id=job_id,
                    halt=halt,
                    on_log=log,
                )
            except (AftError, MemoryError) as exc:
                result = RunResult(JobState.FAILED, 1, (), f"cannot run the job: {exc}")
            finally:
                current.clear()
                halt.close()
            queue.finish(job_id, result)
            # After running out of memory, start afresh: the pool spawns a new worker.
            retire = bool(result.error and "out of memory" in result.error)
            sys.stdout.write(f"done {job_id}{' retire' if retire else ''}\n")
            sys.stdout.flush()
            if retire:
                return 0
    return 0


if __name__ == "__main__":
    sys.exit(worker_main())
