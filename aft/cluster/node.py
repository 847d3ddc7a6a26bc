"""The two kinds of cluster node: ``aft serve`` (dispatcher and reaper) and ``aft worker``.

A serve node does not run jobs: its :class:`Dispatcher` publishes queued jobs to Celery
and reaps the running jobs of workers that died. A worker node is a Celery worker on one
queue (its group); each task claims its job row, then runs the job in a
``python -m aft.worker`` process of its own, one job at a time (halt signal, then kill;
memory limit; a process that died or was killed is replaced), renewing the job's
heartbeat while it runs. The worker kills the job when it learns that the job is
no longer its own, or when it has failed to renew the heartbeat for half the stale time:
by the time a reaper may interrupt the job, its process is gone, so a job never runs
twice at once.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import threading
import time
from pathlib import Path
from typing import Any

from aft.cluster.celery_app import RUN_JOB, make_app, publish
from aft.config import ClusterConfig
from aft.jobs import ClusterQueue
from aft.models import check_group
from aft.worker import JobProcess

log = logging.getLogger("aft.cluster")


class Dispatcher:
    """A serve node's thread that sends queued jobs to Celery and reaps dead workers' jobs.

    It has the worker pool's ``start`` / ``notify`` / ``stop``, so the service uses
    either. Several serve nodes may dispatch at once: each job is sent by one of them.

    Args:
        queue: the cluster's job queue.
        config: the node's cluster configuration.
        poll: seconds between looks at the queue when nobody calls :meth:`notify`.
    """

    def __init__(self, queue: ClusterQueue, config: ClusterConfig, *, poll: float = 0.5) -> None:
        assert config.broker_url is not None
        self._queue = queue
        self._config = config
        self._poll = poll
        self._app = make_app(config.broker_url)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="aft-dispatcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def notify(self) -> None:
        """A job was queued (or a halt requested): look now."""
        self._wake.set()

    def stop(self) -> None:
        """Stop dispatching; running jobs carry on on their worker nodes."""
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(10)
        self._app.close()

    def _loop(self) -> None:
        next_reap = 0.0
        while not self._stopping.is_set():
            try:
                for job_id, group in self._queue.to_publish():
                    publish(self._app, job_id, group)
                if time.monotonic() >= next_reap:
                    next_reap = time.monotonic() + self._config.heartbeat_seconds
                    for job_id in self._queue.reap():
                        log.warning("aft: job %s interrupted: its worker went silent", job_id)
                        self._wake.set()  # its retry may be due at once
            except Exception:  # the database or broker is away: try again shortly
                log.exception("aft: dispatching failed")
            self._wake.wait(self._poll)
            self._wake.clear()


# ---- worker nodes ------------------------------------------------------------------------


class _Node:
    """What a worker node's tasks share: its home, queue, configuration and limits."""

    def __init__(self, home: Path, queue: ClusterQueue, config: ClusterConfig, **limits: Any):
        self.home = home
        self.queue = queue
        self.config = config
        self.grace = float(limits.get("grace", 3.0))
        self.memory_mb = int(limits.get("memory_mb", 0))
        self.max_run = float(limits.get("max_run", 0))
        self.name = f"{socket.gethostname()}:{os.getpid()}"


_node: _Node | None = None


def run_job(job_id: str) -> str:
    """The Celery task: claim ``job_id`` and run it to its end; returns what happened."""
    node = _node
    if node is None:
        raise RuntimeError("run_job runs only in an aft worker node")
    if not node.queue.claim_id(job_id, node.name):
        return "not queued: taken, halted or ended elsewhere"
    return _supervise(node, job_id)


_slots = threading.local()  # each task thread keeps its own job process between jobs


def _job_process(node: _Node) -> JobProcess:
    """This thread's job process, started when there is none alive."""
    proc: JobProcess | None = getattr(_slots, "proc", None)
    if proc is not None and proc.alive():
        return proc
    proc = JobProcess(node.home, node.memory_mb)
    _slots.proc = proc
    return proc


def _retire(proc: JobProcess) -> None:
    """End a job process (it is killed already, or asked to stop taking jobs)."""
    proc.close()
    _slots.proc = None


def _supervise(node: _Node, job_id: str) -> str:
    queue, config = node.queue, node.config
    proc = _job_process(node)
    try:
        max_run = queue.get(job_id).max_run_seconds or node.max_run
    except Exception:  # the database is away: no limit now; the fence below still holds
        max_run = node.max_run
    proc.send(job_id, max_run)
    last_beat = time.monotonic()
    next_beat = last_beat + config.heartbeat_seconds
    lost = False
    gone = False
    while proc.job_id is not None:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready and not proc.read():
            gone = True
            break
        now = time.monotonic()
        proc.out_of_time(queue)  # the next heartbeat brings the halt request
        if now >= next_beat and proc.job_id is not None:
            next_beat = now + config.heartbeat_seconds
            try:
                ours, halt = queue.beat(job_id, node.name)
            except Exception:  # the database is away: the fence below decides
                log.exception("aft: heartbeat of %s failed", job_id)
            else:
                last_beat = now
                if not ours:
                    lost = True  # reaped or ended by someone else: stop at once
                    proc.kill()
                elif halt:
                    proc.halt()
        if now - last_beat > config.stale_after_seconds / 2 and not lost:
            lost = True  # cannot renew: a reaper may soon hand the job to another worker
            proc.kill()
        if proc.overdue(node.grace) and proc.job_id is not None:
            proc.kill()
    if not gone:
        if proc.retiring:  # out of memory: the next job gets a fresh process
            _retire(proc)
        return "ran"
    _retire(proc)
    if lost:
        queue.interrupt(job_id, "the worker lost touch with the database")
        return "killed: no longer this worker's"
    halted = proc.term_sent is not None
    proc.record_death(queue, node.grace)
    return "halted" if halted else "interrupted"


def run_worker_node(
    instance: Any, group: str = "default", concurrency: int = 2, loglevel: str = "INFO"
) -> None:
    """Run a Celery worker for ``group`` until it is told to stop (SIGTERM or Ctrl-C).

    Args:
        instance: the node's :class:`~aft.instance.Instance` (cluster configured).
        group: the worker group (the Celery queue) this node takes jobs from.
        concurrency: how many jobs it runs at once.
        loglevel: Celery's log level.

    Raises:
        ConfigError: the instance has no cluster configuration, or a bad group name.
    """
    from aft.exceptions import ConfigError

    global _node
    config: ClusterConfig = instance.config
    if not config.distributed:
        raise ConfigError("aft worker needs a cluster: set database_url and broker_url")
    try:
        check_group(group)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    settings = instance.settings
    _node = _Node(
        instance.home,
        instance.jobs,
        config,
        grace=float(settings.get("halt_grace_seconds")),
        memory_mb=int(settings.get("job_memory_mb")),
        max_run=float(settings.get("max_run_seconds")),
    )
    app = make_app(str(config.broker_url))
    app.task(name=RUN_JOB)(run_job)
    worker = app.Worker(
        hostname=f"{group}@{socket.gethostname()}.{os.getpid()}",
        queues=[group],
        concurrency=max(1, concurrency),
        pool="threads",
        loglevel=loglevel,
        without_gossip=True,
        without_mingle=True,
        without_heartbeat=True,
        quiet=True,
    )
    from celery import signals

    name = _node.name

    def ready(**_: Any) -> None:
        print(f"aft: worker {name} takes jobs of group {group!r}", flush=True)

    signals.worker_ready.connect(ready, weak=False)
    worker.start()
