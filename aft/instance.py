"""An aft instance: its home directory, database, settings and secrets."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from aft._paths import DATABASE_NAME, MASTER_KEY_NAME, ensure_writable_dir, instance_home
from aft._store import Store
from aft.cluster.config import cluster_config
from aft.secrets_store import MasterKey, SecretStore, check_master_key
from aft.settings import Settings

if TYPE_CHECKING:
    from aft.vfs.library import VfsLibrary


class Instance:
    """Everything one instance home holds, opened together.

    Args:
        home: the instance directory; default ``AFT_HOME`` or the platformdirs data dir.
    """

    def __init__(self, home: str | Path | None = None) -> None:
        if home is None:
            self.home = instance_home()
        else:
            self.home = Path(home)
            ensure_writable_dir(self.home)
        self.cluster = cluster_config(self.home)
        if self.cluster.database_url is not None:
            from aft.cluster.pgstore import PostgresStore

            self.store: Store = PostgresStore(self.cluster.database_url)
        else:
            self.store = Store(self.home / DATABASE_NAME)
        self.settings = Settings(self.store)
        self.master_key = MasterKey(self.home / MASTER_KEY_NAME)
        try:
            check_master_key(self.store, self.master_key)
        except BaseException:
            self.store.close()
            raise
        self.secrets = SecretStore(self.store, self.master_key)

    @property
    def vfs(self) -> VfsLibrary:
        """The VFS Library of this instance."""
        from aft.vfs.library import VfsLibrary

        return VfsLibrary(self.store, self.master_key)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Instance:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
