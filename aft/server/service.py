"""The service: REST API, worker pool and runtime file of one instance, started together."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aft._paths import read_runtime_info, remove_runtime_info, write_runtime_info
from aft.exceptions import ConfigError
from aft.instance import Instance
from aft.jobs import ClusterQueue
from aft.notify import Notifier
from aft.retention import PurgeLoop
from aft.schedules import Scheduler
from aft.server.app import create_app
from aft.server.gate import Gate, GatedServer
from aft.server.http import ServiceContext
from aft.server.schedule_routes import add_schedule_routes
from aft.server.tls import ensure_certificate, fingerprint
from aft.server.ui import add_ui
from aft.server.vfs_routes import add_vfs_routes
from aft.worker import WorkerPool

if TYPE_CHECKING:
    from aft.cluster.node import Dispatcher


class Service:
    """``aft serve`` as an object: :meth:`start`, then :meth:`stop`.

    Args:
        instance: the instance to serve.
        bind, port, tls: override the instance settings of the same names.
        threads: HTTP worker threads.
    """

    def __init__(
        self,
        instance: Instance,
        *,
        bind: str | None = None,
        port: int | None = None,
        tls: bool | None = None,
        threads: int = 16,
    ) -> None:
        settings = instance.settings
        self.instance = instance
        self.bind = bind if bind is not None else str(settings.get("bind"))
        self.port = int(port if port is not None else settings.get("port"))
        self.tls = bool(tls if tls is not None else settings.get("tls"))
        self.queue = instance.jobs
        self.pool: WorkerPool | Dispatcher
        # After a crash: a cluster's reaper interrupts the jobs of dead workers; a node on
        # its own database interrupts every running job; one without a broker on a shared
        # database, the jobs of its own processes only.
        self._recover: Callable[[], object] = self.queue.recover
        if isinstance(self.queue, ClusterQueue):  # jobs go to `aft worker` nodes via Celery
            from aft.cluster.node import Dispatcher

            self.pool = Dispatcher(self.queue, instance.config)
        else:
            if instance.config.database_url is not None:
                _refuse_cluster_database(instance)
                host = socket.gethostname()
                self._recover = lambda: self.queue.recover(host=host)
            self.pool = WorkerPool(
                instance.home,
                self.queue,
                concurrency=int(settings.get("concurrency")),
                grace=float(settings.get("halt_grace_seconds")),
                memory_mb=int(settings.get("job_memory_mb")),
                max_run=float(settings.get("max_run_seconds")),
            )
        self.schedules = instance.schedules
        self.scheduler = Scheduler(self.schedules, self.queue, self.pool.notify)
        self.schedules.on_change = self.scheduler.wake
        self.notifier = Notifier(instance.notifications)
        self.purger = PurgeLoop(instance.retention)
        self._token = secrets.token_urlsafe(32)
        self._threads = threads
        self._server: Any = None
        self._gate: Gate | None = None
        self._private_dir = ""
        self._thread: threading.Thread | None = None
        self.fingerprint: str | None = None

    @property
    def url(self) -> str:
        host = f"[{self.bind}]" if ":" in self.bind else self.bind
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def start(self) -> None:
        """Recover from a crash, start the workers, listen, and write the runtime file.

        Raises:
            ConfigError: another service runs for this instance, or the address is taken.
        """

        running = read_runtime_info(self.instance.home)
        if running is not None:
            raise ConfigError(f"aft serve already runs for this instance (pid {running['pid']})")
        self._recover()
        context = ServiceContext(
            instance=self.instance, notify=self.pool.notify, local_token=self._token
        )
        try:
            listener = socket.create_server(
                (self.bind, self.port),
                family=socket.AF_INET6 if ":" in self.bind else socket.AF_INET,
                backlog=1024,
            )
        except OSError as exc:
            raise ConfigError(f"cannot listen on {self.bind}:{self.port}: {exc}") from None
        # cheroot's workers take requests only from the gate; its own socket is private.
        self._private_dir = tempfile.mkdtemp(prefix="aft-http-")
        server = GatedServer(
            os.path.join(self._private_dir, "workers.sock"),
            create_app(context, [add_vfs_routes, add_schedule_routes, add_ui]),
            numthreads=self._threads,
            server_name="aft",
        )
        tls_context = None
        if self.tls:
            from cheroot.ssl.builtin import BuiltinSSLAdapter

            cert, key = ensure_certificate(self.instance.home)
            server.ssl_adapter = BuiltinSSLAdapter(str(cert), str(key))
            tls_context = server.ssl_adapter.context
            self.fingerprint = fingerprint(cert.read_text())
        server.prepare()
        self.port = listener.getsockname()[1]
        self._server = server
        self._gate = Gate(listener, server, tls_context)
        self.pool.start()
        self.scheduler.start()
        self.notifier.start()
        self.purger.start()
        self._thread = threading.Thread(target=server.serve, name="aft-http", daemon=True)
        self._thread.start()
        self._gate.start()
        write_runtime_info(
            self.instance.home,
            {
                "pid": os.getpid(),
                "url": self.url,
                "fingerprint": self.fingerprint,
                "token": self._token,
            },
        )

    def stop(self) -> None:
        """Stop listening, halt running jobs (then kill them), remove the runtime file."""
        if self._server is None:
            return  # never started: the runtime file, if any, is another service's
        remove_runtime_info(self.instance.home)
        if self._gate is not None:
            self._gate.stop()
        self._server.stop()
        shutil.rmtree(self._private_dir, ignore_errors=True)
        if self._thread is not None:
            self._thread.join(10)
        self.scheduler.close()
        self.purger.close()
        self.pool.stop()
        self.notifier.close()
        self._server = None

    def __enter__(self) -> Service:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _refuse_cluster_database(instance: Instance) -> None:
    """Refuse to run jobs in this node's own pool on a cluster's database.

    Raises:
        ConfigError: the database is a cluster's and this node has no broker.
    """
    joined = ClusterQueue.membership(instance.store)
    if joined is not None:
        since = time.strftime("%Y-%m-%d", time.localtime(joined[0]))
        raise ConfigError(
            f"this database belongs to a cluster (since {since}, first node {joined[1]})"
            " and this node has no broker: add broker_url to the [cluster] section of"
            " cluster.conf, or set AFT_BROKER_URL, as on the cluster's other nodes"
        )
