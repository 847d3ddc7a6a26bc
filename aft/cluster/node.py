"""The two kinds of cluster node: ``aft serve`` (dispatcher and reaper) and ``aft worker``.

A serve node does not run jobs: its :class:`Dispatcher` publishes queued jobs to Celery
and reaps the running jobs of workers that died. A worker node is a Celery worker on one
queue (its group); each task claims its job row, then runs the job in a
``python -m aft.worker`` process of its own, one job at a time (halt signal, then kill;
memory limit; a process that died or was killed is replaced).

The node's :class:`Heartbeat` thread renews the heartbeat of every job the node runs, on a
database connection of its own; the loop that supervises a job makes no database call and
only reads what that thread learnt. The loop kills the job when it learns that the job is
no longer its own, or when no renewal has succeeded for half the stale time, whatever
state any database connection is in: by the time a reaper may interrupt the job, its
process is gone, so a job never runs twice at once. What the node has to write once the
database answers again (why it killed a job, how a job process died) waits in the
heartbeat thread.

A worker node that cannot reach the database takes no jobs: a message it gets is
rejected back to the broker (a healthy worker of the group takes it at once), and the
node stops consuming until the database answers again.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aft._pgstore import PostgresStore
from aft.cluster.celery_app import RUN_JOB, make_app, publish
from aft.config import ClusterConfig
from aft.exceptions import AftError, StoreError
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
        self._failing: set[str] = set()
        self._thread = threading.Thread(target=self._loop, name="aft-dispatcher", daemon=True)

    def start(self) -> None:
        """Mark the database a cluster's (see :meth:`ClusterQueue.join`) and start."""
        self._queue.join(f"serve {socket.gethostname()}:{os.getpid()}")
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
            self._step("publishing", self._publish)
            if time.monotonic() >= next_reap:  # even while the broker is away
                next_reap = time.monotonic() + self._config.heartbeat_seconds
                self._step("reaping", self._reap)
            self._wake.wait(self._poll)
            self._wake.clear()

    def _publish(self) -> None:
        due = self._queue.to_publish()
        for n, (job_id, group) in enumerate(due):
            try:
                publish(self._app, job_id, group)
            except Exception:  # the broker is away: send these again next time
                self._queue.unpublish([j for j, _ in due[n:]])
                raise

    def _reap(self) -> None:
        for job_id in self._queue.reap():
            log.warning("aft: job %s interrupted: its worker went silent", job_id)
            self._wake.set()  # its retry may be due at once

    def _step(self, what: str, step: Callable[[], None]) -> None:
        """Run ``step``; a failure (the database or broker is away) is logged once, and
        the step is tried again on the next turn."""
        try:
            step()
        except Exception as exc:
            if what not in self._failing:
                log.warning("aft: %s failed, trying again: %s", what, " ".join(str(exc).split()))
            self._failing.add(what)
        else:
            if what in self._failing:
                log.warning("aft: %s works again", what)
            self._failing.discard(what)


# ---- worker nodes ------------------------------------------------------------------------

#: A write the heartbeat thread makes once the database answers: (what, the write).
Deferred = tuple[str, Callable[[ClusterQueue], object]]


class _Beat:
    """What the heartbeat thread knows of one job: when its heartbeat was last renewed
    (monotonic time the renewal was sent), whether it is still ours, whether to halt."""

    __slots__ = ("renewed", "ours", "halt")

    def __init__(self, renewed: float) -> None:
        self.renewed = renewed
        self.ours = True
        self.halt = False


class Heartbeat:
    """A worker node's heartbeat thread, on a database connection of its own.

    Every ``every`` seconds it renews the heartbeat of each job the node runs, in one
    statement (or, with none, makes one round trip), then makes the writes deferred to it,
    in order. Nothing waits for it: a supervise loop reads the time of a job's last renewal
    (:meth:`state`) and decides alone.

    Args:
        queue: the cluster's queue (on a store whose calls have a short deadline).
        worker: the node's name, that its jobs are claimed under.
        every: seconds between renewals (``heartbeat_seconds``).
        on_contact: told after each round whether the database answered.
    """

    def __init__(
        self,
        queue: ClusterQueue,
        worker: str,
        every: float,
        on_contact: Callable[[bool], None] = lambda answered: None,
    ) -> None:
        self._queue = queue
        self._worker = worker
        self._every = every
        self._on_contact = on_contact
        self._lock = threading.Lock()
        self._jobs: dict[str, _Beat] = {}
        self._deferred: list[Deferred] = []
        self._contact = time.monotonic()
        self._answering = True
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="aft-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current round; deferred writes get one more try (those that
        still fail are logged: a reaper ends those jobs)."""
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout)
        if not self._thread.is_alive() and self._deferred:
            self._flush()
        for what, _ in self._deferred:
            log.warning("aft: not recorded, the database did not answer: %s", what)

    def add(self, job_id: str, renewed: float) -> None:
        """Renew ``job_id`` from now on; its heartbeat was set at ``renewed`` (monotonic)."""
        with self._lock:
            self._jobs[job_id] = _Beat(renewed)

    def remove(self, job_id: str) -> None:
        with self._lock:
            self._jobs.pop(job_id, None)

    def state(self, job_id: str) -> tuple[float, bool, bool]:
        """``(last renewal, still ours, halt requested)`` of a job given to :meth:`add`."""
        with self._lock:
            beat = self._jobs[job_id]
            return beat.renewed, beat.ours, beat.halt

    def contact(self) -> float:
        """When (monotonic) the last round that the database answered began."""
        with self._lock:
            return self._contact

    def defer(self, what: str, write: Callable[[ClusterQueue], object]) -> None:
        """Make ``write`` as soon as the database answers (now, if it does), then forget it.

        ``write`` must be safe to repeat: it is tried again after a :class:`StoreError`.
        Another :class:`AftError` ends it (the job has moved on).
        """
        with self._lock:
            self._deferred.append((what, write))
        self._wake.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            began = time.monotonic()
            answered = self._round(began)
            try:
                self._on_contact(answered)
            except Exception:
                log.exception("aft: heartbeat: cannot switch consuming")
            self._wake.wait(max(0.0, began + self._every - time.monotonic()))
            self._wake.clear()

    def _round(self, began: float) -> bool:
        with self._lock:
            ids = list(self._jobs)
        try:
            if ids:
                halts = self._queue.beat_all(ids, self._worker)
            else:
                self._queue.ping()
        except Exception as exc:  # the database is away (or too slow): the fence decides
            if self._answering:
                log.warning("aft: worker %s: the database does not answer: %s", self._worker, exc)
            self._answering = False
            return False
        with self._lock:
            self._contact = began
            for job_id in ids:
                beat = self._jobs.get(job_id)
                if beat is None:
                    continue
                if job_id in halts:
                    beat.renewed, beat.halt = max(beat.renewed, began), halts[job_id]
                else:
                    beat.ours = False
        if not self._answering:
            log.warning("aft: worker %s: the database answers again", self._worker)
        self._answering = True
        return self._flush()

    def _flush(self) -> bool:
        """Make the deferred writes in order; False (and keep the rest) if one cannot."""
        while True:
            with self._lock:
                if not self._deferred:
                    return True
                what, write = self._deferred[0]
            try:
                write(self._queue)
            except StoreError:
                return False
            except AftError:
                pass  # the job moved on: nothing left to write
            except Exception:
                log.exception("aft: cannot record: %s", what)
            with self._lock:
                self._deferred.pop(0)


class _Consuming:
    """Whether the node takes messages from its queue, switched through Celery's remote
    control in a thread of its own (a broker that does not answer never holds up the
    heartbeat)."""

    def __init__(self, app: Any, hostname: str, group: str) -> None:
        self._app = app
        self._hostname = hostname
        self._group = group
        self._wanted = True
        self._actual = True
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="aft-consuming", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def want(self, on: bool) -> None:
        with self._lock:
            changed, self._wanted = self._wanted != on, on
        if changed:
            self._wake.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            with self._lock:
                wanted = self._wanted
            if wanted == self._actual or self._stopping.is_set():
                continue
            control = self._app.control
            try:
                if wanted:
                    control.add_consumer(self._group, destination=[self._hostname], reply=False)
                else:
                    control.cancel_consumer(self._group, destination=[self._hostname], reply=False)
            except Exception:  # the broker is away: try again in a second
                log.exception("aft: cannot switch consuming of %r", self._group)
                continue
            self._actual = wanted
            if wanted:
                print(f"aft: worker takes jobs of group {self._group!r} again", flush=True)
            else:
                print(
                    f"aft: worker stops taking jobs of group {self._group!r}:"
                    " the database does not answer",
                    flush=True,
                )


class _Node:
    """What a worker node's tasks share: its home, queue, configuration, limits, heartbeat."""

    def __init__(
        self,
        home: Path,
        queue: ClusterQueue,
        config: ClusterConfig,
        heart: Heartbeat,
        consuming: _Consuming | None = None,
        **limits: Any,
    ) -> None:
        self.home = home
        self.queue = queue
        self.config = config
        self.heart = heart
        self.consuming = consuming
        self.grace = float(limits.get("grace", 3.0))
        self.memory_mb = int(limits.get("memory_mb", 0))
        self.max_run = float(limits.get("max_run", 0))
        self.name = f"{socket.gethostname()}:{os.getpid()}"

    @property
    def fence(self) -> float:
        """Seconds without a renewed heartbeat after which the node kills a job itself."""
        return self.config.stale_after_seconds / 2

    def in_touch(self) -> bool:
        """Whether the database answered the heartbeat thread within the fence time."""
        return time.monotonic() - self.heart.contact() < self.fence

    def take_messages(self, on: bool) -> None:
        if self.consuming is not None:
            self.consuming.want(on)


_node: _Node | None = None


def run_job(job_id: str) -> str:
    """The Celery task: claim ``job_id`` and run it to its end; returns what happened.

    Raises:
        celery.exceptions.Reject: (requeue) the database does not answer: the message goes
            back to the broker for another worker, and this node stops taking messages
            until the database answers again.
    """
    from celery.exceptions import Reject

    node = _node
    if node is None:
        raise RuntimeError("run_job runs only in an aft worker node")
    if not node.in_touch():
        node.take_messages(False)
        raise Reject("the database does not answer", requeue=True)
    started = time.time()
    sent = time.monotonic()
    try:
        max_run = node.queue.take(job_id, node.name, started=started)
    except Exception as exc:
        # The claim may have happened without its answer reaching us: undo that claim
        # (and only that one) once the database answers.
        node.heart.defer(
            f"release of {job_id}",
            lambda queue: queue.release(job_id, node.name, started),
        )
        node.take_messages(False)
        raise Reject(f"cannot claim {job_id}: {exc}", requeue=True) from None
    if max_run is None:
        return "not queued: taken, halted or ended elsewhere"
    return _supervise(node, job_id, (started, sent), max_run or node.max_run)


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


def _supervise(node: _Node, job_id: str, claim: tuple[float, float], max_run: float) -> str:
    """Run the claimed job in this thread's job process and watch it. ``claim`` is when
    the claim was sent (wall clock, as recorded; monotonic). No database call is made
    here: the heartbeat thread makes them."""
    heart = node.heart
    started, sent = claim
    heart.add(job_id, sent)
    try:
        proc = _job_process(node)
        if time.monotonic() - sent > node.fence:  # too slow to start: a reaper may be near
            heart.defer(f"release of {job_id}", lambda q: q.release(job_id, node.name, started))
            return "not started: claimed too long ago"
        proc.send(job_id, max_run)
        killed = _watch(node, proc, job_id)
    finally:
        heart.remove(job_id)
    if proc.job_id is None:  # it reported the job done
        if proc.retiring or not proc.alive():  # (out of memory): the next job gets a new one
            _retire(proc)
        return "ran"
    _retire(proc)
    if killed:
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        note = f"killed by its worker {node.name} at {when}: {killed}"
        heart.defer(f"why {job_id} was killed", lambda q: q.fenced(job_id, node.name, note))
        return "killed: " + killed
    halted = proc.term_sent is not None
    heart.defer(f"how {job_id} ended", lambda q: proc.record_death(q, node.grace))
    return "halted" if halted else "interrupted"


def _watch(node: _Node, proc: JobProcess, job_id: str) -> str:
    """Follow the job until its process reports it done (``proc.job_id`` turns None) or
    is gone; returns why the node killed it ("" if it did not)."""
    heart = node.heart
    killed = ""
    while proc.job_id is not None:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready and not proc.read():
            break  # the process is gone
        now = time.monotonic()
        if proc.deadline is not None and now >= proc.deadline:
            proc.deadline = None  # the next heartbeat brings the halt request
            heart.defer(
                f"halt of {job_id}",
                lambda q: q.request_halt(job_id, "halted: it ran past its maximum run time"),
            )
        renewed, ours, halt = heart.state(job_id)
        if not killed:
            if not ours:
                killed = "the job was no longer its own (interrupted or ended elsewhere)"
            elif now - renewed > node.fence:
                killed = (
                    f"no heartbeat renewed for {node.fence:g}s (the database did not answer),"
                    " so that a retry never overlaps this run"
                )
            if killed:
                proc.kill()
                continue
            if halt:
                proc.halt()
        if proc.overdue(node.grace) and proc.job_id is not None:
            proc.kill()
    return killed


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
    # The node's own connections (one per thread: the heartbeat's, each task's), whose
    # calls give up after a quarter of the stale time: a renewal is tried again well
    # before the fence, and a claim that gets no answer sends its message back soon.
    store = PostgresStore(str(config.database_url), deadline=config.stale_after_seconds / 4)
    queue = ClusterQueue(
        store,
        stale_after=config.stale_after_seconds,
        republish_after=config.republish_after_seconds,
    )
    name = f"{socket.gethostname()}:{os.getpid()}"
    queue.join(f"worker {name}")
    hostname = f"{group}@{socket.gethostname()}.{os.getpid()}"
    app = make_app(str(config.broker_url))
    app.task(name=RUN_JOB)(run_job)
    consuming = _Consuming(app, hostname, group)
    heart = Heartbeat(queue, name, config.heartbeat_seconds, on_contact=consuming.want)
    _node = _Node(
        instance.home,
        queue,
        config,
        heart,
        consuming,
        grace=float(settings.get("halt_grace_seconds")),
        memory_mb=int(settings.get("job_memory_mb")),
        max_run=float(settings.get("max_run_seconds")),
    )
    instance.store.close()  # read at start only: the node's own store serves from here
    worker = app.Worker(
        hostname=hostname,
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

    def ready(**_: Any) -> None:
        consuming.start()  # switching needs the worker's remote control, ready now
        print(f"aft: worker {name} takes jobs of group {group!r}", flush=True)

    signals.worker_ready.connect(ready, weak=False)
    heart.start()
    try:
        worker.start()
    finally:
        consuming.stop()
        heart.stop()
        store.close()
        _node = None
