"""An aft instance: its home directory, database, settings and secrets."""

from __future__ import annotations

from pathlib import Path

from aft._paths import DATABASE_NAME, MASTER_KEY_NAME, ensure_writable_dir, instance_home
from aft._store import Store
from aft.secrets_store import MasterKey, SecretStore
from aft.settings import Settings


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
        self.store = Store(self.home / DATABASE_NAME)
        self.settings = Settings(self.store)
        self.secrets = SecretStore(self.store, MasterKey(self.home / MASTER_KEY_NAME))

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Instance:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
