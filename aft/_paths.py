"""Where an instance lives: ``AFT_HOME``, else the platformdirs user data dir."""

from __future__ import annotations

import os
from pathlib import Path

from aft.exceptions import ConfigError

DATABASE_NAME = "aft.db"
MASTER_KEY_NAME = "master.key"


def instance_home(environ: dict[str, str] | None = None, *, create: bool = True) -> Path:
    """The instance home directory, created (mode 0700) on first use.

    Raises:
        ConfigError: when the directory cannot be created or written.
    """
    env = os.environ if environ is None else environ
    configured = env.get("AFT_HOME")
    if configured:
        home = Path(configured).expanduser()
    else:
        import platformdirs  # only here, and only when AFT_HOME is unset

        home = Path(platformdirs.user_data_dir("aft", appauthor=False))
    if create:
        ensure_writable_dir(home)
    return home


def ensure_writable_dir(path: Path) -> None:
    """Create ``path`` (mode 0700) if needed and check that it is writable."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create instance home {path}: {exc.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(
            f"instance home {path} is not writable (set AFT_HOME to another directory)"
        )


RUNTIME_NAME = "service.json"


def write_runtime_info(home: Path, info: dict[str, object]) -> Path:
    """Write the runtime file that tells local CLI calls how to reach the service (0600)."""
    import json

    path = home / RUNTIME_NAME
    tmp = home / f".{RUNTIME_NAME}.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(info, f)
    os.replace(tmp, path)
    return path


def read_runtime_info(home: Path) -> dict[str, object] | None:
    """The running service's runtime info, or None when no live service owns ``home``."""
    import json

    try:
        with open(home / RUNTIME_NAME) as f:
            info = json.load(f)
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info if isinstance(info, dict) else None


def remove_runtime_info(home: Path) -> None:
    try:
        os.remove(home / RUNTIME_NAME)
    except FileNotFoundError:
        pass
