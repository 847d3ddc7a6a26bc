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
from typing import TYPE_CHECKING

from aft.exceptions import AftError
from aft.jobs import JobQueue

if TYPE_CHECKING:
    from aft.instance import Instance

_PR_SET_PDEATHSIG = 1


class JobProcess:
    """One ``python -m aft.worker`` process and the protocol spoken with it; both runners
    (the local :class:`WorkerPool` and the cluster's worker node) supervise jobs with it.

    The process takes job ids on its stdin and answers ``done JOB_ID`` on stdout (``done
    JOB_ID retire`` when it is about to exit and wants no more work). It dies with this
    process and its address space is capped at ``memory_mb`` (0: no cap).

    Attributes:
        name: how the job records name the process (``host:pid``).
        job_id: the job it runs now, or None when idle.
        term_sent: when the halt signal went to it (monotonic seconds), or None.
        retiring: it said it will exit after its job: it gets no more work.
        deadline: when its job passes its maximum run time (monotonic seconds), or None.
    """

    def __init__(self, home: Path, memory_mb: int) -> None:
        env = {
            **os.environ,
            "AFT_HOME": str(home),
            "AFT_WORKER_PARENT": str(os.getpid()),
            "AFT_WORKER_MEMORY_MB": str(memory_mb),
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aft.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            bufsize=0,
        )
        assert self.proc.stdout is not None
        self.stdout = self.proc.stdout
        self.name = f"{socket.gethostname()}:{self.proc.pid}"
        self.job_id: str | None = None
        self.term_sent: float | None = None
        self.retiring = False
        self.deadline: float | None = None
        self._buffer = b""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, job_id: str, max_run: float = 0.0) -> None:
        """Hand it a job that may run ``max_run`` seconds (0: no limit); a process that
        died meanwhile is found by :meth:`alive`."""
        self.job_id, self.term_sent = job_id, None
        self.deadline = time.monotonic() + max_run if max_run > 0 else None
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(job_id.encode() + b"\n")
        except OSError:
            pass

    def read(self) -> bool:
        """Read what it wrote (call when its stdout is readable); a ``done`` for its job
        makes it idle. Returns False when its stdout has closed: it is gone."""
        data = os.read(self.stdout.fileno(), 4096)
        if not data:
            return False
        self._buffer += data
        while b"\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\n", 1)
            word, _, rest = line.decode(errors="replace").partition(" ")
            job_id, _, note = rest.partition(" ")
            if word == "done" and job_id == self.job_id:
                self.job_id, self.term_sent = None, None
                self.retiring = note == "retire"
        return True

    def halt(self) -> None:
        """Send the halt signal (SIGTERM) once; the script sees ``HaltSignalReceived``."""
        if self.term_sent is None:
            self.term_sent = time.monotonic()
            self.signal(signal.SIGTERM)

    def out_of_time(self, queue: JobQueue) -> None:
        """Past its job's maximum run time: ask the job to halt, once, saying why."""
        if self.job_id is None or self.deadline is None or time.monotonic() < self.deadline:
            return
        self.deadline = None
        try:
            queue.request_halt(self.job_id, "halted: it ran past its maximum run time")
        except AftError:
            pass  # it ended meanwhile

    def overdue(self, grace: float) -> bool:
        """True once the halt signal went more than ``grace`` seconds ago."""
        return self.term_sent is not None and time.monotonic() - self.term_sent > grace

    def signal(self, signum: int) -> None:
        try:
            self.proc.send_signal(signum)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        self.signal(signal.SIGKILL)

    def record_death(self, queue: JobQueue, grace: float) -> None:
        """End the job of a process that is gone: halted if it was killed after a halt
        request, else interrupted (and retried as its policy says)."""
        if self.job_id is None:
            return
        if self.term_sent is not None:
            queue.halted_by_force(self.job_id, f"killed: still running {grace:g}s after the halt")
        else:
            code = self.proc.returncode
            queue.interrupt(self.job_id, f"the worker process died (exit {code})")
        self.job_id = None

    def close(self, timeout: float = 10.0) -> None:
        """Close its stdin (it exits once its job is done) and wait for it, killing it after
        ``timeout`` seconds; then close its stdout."""
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.proc.wait()
        self.stdout.close()


class WorkerPool:
    """Keeps ``concurrency`` worker processes busy with queued jobs.

    ``aft serve`` runs one; a program runs its own to work through the queue in-process
    (the jobs still run in worker processes, so a runaway script is halted, then killed,
    without harming the program)::

        with Instance() as instance, WorkerPool.for_instance(instance):
            print(instance.jobs.submit('Log("hi")', script_name="adhoc").result(timeout=60))

    Used as a context manager it is started on entry and stopped on exit. It picks up
    newly queued jobs within a quarter of a second; :meth:`notify` makes that at once.

    Args:
        home: the instance home the workers open.
        queue: the job queue.
        concurrency: how many jobs may run at once.
        grace: seconds between the halt signal and the kill.
        memory_mb: address-space limit of each worker (0 = none).
        max_run: seconds a job may run when its script sets no limit (0 = none).
    """

    def __init__(
        self,
        home: Path,
        queue: JobQueue,
        *,
        concurrency: int = 2,
        grace: float = 3.0,
        memory_mb: int = 0,
        max_run: float = 0.0,
    ) -> None:
        self._home = home
        self._max_run = max_run
        self._queue = queue
        self._concurrency = max(1, concurrency)
        self._grace = grace
        self._memory_mb = memory_mb
        self._workers: list[JobProcess] = []
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="aft-worker-pool", daemon=True)

    @classmethod
    def for_instance(cls, instance: Instance, *, concurrency: int | None = None) -> WorkerPool:
        """A pool for ``instance``'s queue, with its ``concurrency``, ``halt_grace_seconds``,
        ``job_memory_mb`` and ``max_run_seconds`` settings (``concurrency`` overrides the
        setting).

        Raises:
            ValueError: the instance's jobs are taken by worker nodes (a cluster).
        """
        from aft.jobs import ClusterQueue

        if isinstance(instance.jobs, ClusterQueue):
            raise ValueError("this instance's jobs run on worker nodes (aft worker), not here")
        settings = instance.settings
        if concurrency is not None and concurrency < 1:
            raise ValueError(f"concurrency must be 1 or more, not {concurrency}")
        return cls(
            instance.home,
            instance.jobs,
            concurrency=concurrency or int(settings.get("concurrency")),
            grace=float(settings.get("halt_grace_seconds")),
            memory_mb=int(settings.get("job_memory_mb")),
            max_run=float(settings.get("max_run_seconds")),
        )

    def __enter__(self) -> WorkerPool:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the worker processes and the thread that feeds them."""
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
            w.halt()
        deadline = time.monotonic() + self._grace
        for w in self._workers:
            w.close(max(0.0, deadline - time.monotonic()))
        for w in busy:
            self._queue.interrupt(w.job_id or "", "the service stopped while the job ran")
        self._selector.close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    # ---- the pool's loop --------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stopping.is_set():
            for key, _ in self._selector.select(timeout=0.25):
                if key.data is None:
                    os.read(self._wake_r, 4096)
                elif not key.data.read():  # the worker is gone; _reap deals with it
                    self._selector.unregister(key.fileobj)
            self._reap()
            self._halt()
            self._dispatch()

    def _spawn(self) -> None:
        worker = JobProcess(self._home, self._memory_mb)
        self._selector.register(worker.stdout, selectors.EVENT_READ, worker)
        self._workers.append(worker)

    def _reap(self) -> None:
        for worker in [w for w in self._workers if not w.alive()]:
            self._workers.remove(worker)
            try:
                self._selector.unregister(worker.stdout)
            except (KeyError, ValueError):
                pass
            worker.close()
            worker.record_death(self._queue, self._grace)
            if not self._stopping.is_set():
                self._spawn()

    def _halt(self) -> None:
        for busy in self._workers:
            busy.out_of_time(self._queue)
        by_job = {w.job_id: w for w in self._workers if w.job_id}
        for job_id, _worker_name, _asked in self._queue.halt_requests():
            worker = by_job.get(job_id)
            if worker is None:
                continue
            if worker.overdue(self._grace):
                worker.kill()
            else:
                worker.halt()

    def _dispatch(self) -> None:
        for worker in self._workers:
            if self._stopping.is_set():
                return
            if worker.job_id is not None or worker.retiring or not worker.alive():
                continue
            job = self._queue.claim(worker.name)
            if job is None:
                return
            # A worker that died meanwhile: _reap ends the job.
            worker.send(job.id, job.max_run_seconds or self._max_run)


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
    from aft.executor import HaltSignal
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
        queue = instance.jobs
        for line in sys.stdin:
            job_id = line.strip()
            halt = HaltSignal()
            current.append(halt)
            try:
                job = queue.get(job_id)
                executor = instance.executor(  # the settings as they are now
                    halt_grace_seconds=instance.settings.get("halt_grace_seconds")
                )

                def log(line: LogLine, job_id: str = job_id) -> None:
                    queue.append_log(job_id, [line])

                journaling = bool(instance.settings.get("transfer_journal"))
                tracker = queue.tracker(job_id, transfers=journaling)
                try:
                    result = executor.run(
                        queue.source(job_id),
                        params=job.params,
                        name=job.script_name,
                        job_id=job_id,
                        halt=halt,
                        on_log=log,
                        progress=tracker,
                    )
                finally:
                    tracker.close()
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
