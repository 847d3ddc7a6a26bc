"""The composition root: one instance home, its database, and everything built on it.

An :class:`Instance` opens the database the node's configuration names (SQLite in the
home, or a shared PostgreSQL) and hands out the stores, the job queue, the VFS Library
and configured :class:`~aft.executor.Executor`\\ s. The CLI, the service and the runners
ask it for what they need; none of them wires a store of its own. Each part is built on
first use and then kept, so ``aft run`` pays only for what it touches.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aft._paths import DATABASE_NAME, MASTER_KEY_NAME, ensure_writable_dir, instance_home
from aft._store import SqliteStore, Store
from aft.config import ClusterConfig, cluster_config
from aft.secrets_store import MasterKey, SecretStore, check_master_key
from aft.settings import Settings

if TYPE_CHECKING:
    from aft.accounts import AccountStore
    from aft.audit import AuditLog
    from aft.executor import Executor
    from aft.jobs import JobQueue
    from aft.keys import ApiKeyStore
    from aft.notify import NotificationStore
    from aft.retention import Retention
    from aft.schedules import ScheduleStore
    from aft.scripts_store import ScriptStore
    from aft.vfs.library import VfsLibrary


class Instance:
    """Everything one instance home holds, opened together.

    Args:
        home: the instance directory; default ``AFT_HOME`` or the platformdirs data dir.

    Attributes:
        home: the instance directory.
        config: where the database and broker are (:mod:`aft.config`).
        store: the instance database.
        settings: the instance settings.
        master_key: the key that seals secrets and VFS credentials.
        secrets: the named secrets.
    """

    def __init__(self, home: str | Path | None = None) -> None:
        if home is None:
            self.home = instance_home()
        else:
            self.home = Path(home)
            ensure_writable_dir(self.home)
        self.config: ClusterConfig = cluster_config(self.home)
        self.store: Store
        if self.config.database_url is not None:
            from aft._pgstore import PostgresStore

            self.store = PostgresStore(self.config.database_url)
        else:
            self.store = SqliteStore(self.home / DATABASE_NAME)
        self.settings = Settings(self.store)
        self.master_key = MasterKey(self.home / MASTER_KEY_NAME)
        try:
            check_master_key(self.store, self.master_key)
        except BaseException:
            self.store.close()
            raise
        self.secrets = SecretStore(self.store, self.master_key)

    @cached_property
    def vfs(self) -> VfsLibrary:
        """The VFS Library."""
        from aft.vfs.library import VfsLibrary

        return VfsLibrary(self.store, self.master_key)

    @cached_property
    def jobs(self) -> JobQueue:
        """The job queue: a :class:`~aft.jobs.ClusterQueue` when jobs go to worker nodes."""
        from aft.jobs import ClusterQueue, JobQueue

        if self.config.distributed:
            return ClusterQueue(
                self.store,
                stale_after=self.config.stale_after_seconds,
                republish_after=self.config.republish_after_seconds,
            )
        return JobQueue(self.store)

    @cached_property
    def scripts(self) -> ScriptStore:
        """The stored scripts."""
        from aft.scripts_store import ScriptStore

        return ScriptStore(self.store)

    @cached_property
    def schedules(self) -> ScheduleStore:
        """The schedules."""
        from aft.schedules import ScheduleStore

        return ScheduleStore(self.store)

    @cached_property
    def notifications(self) -> NotificationStore:
        """The notification rules (:mod:`aft.notify`)."""
        from aft.notify import NotificationStore

        return NotificationStore(self.store, self.settings, self.secrets)

    @cached_property
    def api_keys(self) -> ApiKeyStore:
        """The REST API keys."""
        from aft.keys import ApiKeyStore

        return ApiKeyStore(self.store)

    @cached_property
    def accounts(self) -> AccountStore:
        """The web console's administrator accounts and sessions."""
        from aft.accounts import AccountStore

        return AccountStore(self.store)

    @cached_property
    def audit(self) -> AuditLog:
        """The audit trail of administrative actions (read and verify it here)."""
        from aft.audit import AuditLog

        return AuditLog(self.store)

    @cached_property
    def retention(self) -> Retention:
        """Purges what the retention settings no longer keep."""
        from aft.retention import Retention

        return Retention(self.store)

    def executor(self, **overrides: Any) -> Executor:
        """An :class:`~aft.executor.Executor` configured from this instance: its secrets, VFS
        Library, mail settings, watcher state folder and the ``allow_exec``,
        ``halt_grace_seconds``, ``transfer_files_in_flight`` and log-limit settings.

        Args:
            **overrides: any of the Executor's keyword arguments, to use instead.
        """
        from aft.executor import Executor

        options: dict[str, Any] = {
            "secrets": self.secrets,
            "vfs_library": self.vfs,
            "allow_exec": bool(self.settings.get("allow_exec")),
            "state_dir": self.home / "watch-state",
            "mail": self.settings,
            "log_line_bytes": int(self.settings.get("log_line_bytes")),
            "log_quota_bytes": int(self.settings.get("job_log_mb")) * 1024 * 1024,
            "halt_grace_seconds": float(self.settings.get("halt_grace_seconds")),
            "files_in_flight": int(self.settings.get("transfer_files_in_flight")) or None,
        }
        return Executor(**{**options, **overrides})

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Instance:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
