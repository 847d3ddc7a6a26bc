"""aft: automated, scripted file transfer.

The public objects load on first use (PEP 562), so ``import aft`` stays cheap and
pulls in no SSH, cloud or HTTP library.
"""

from __future__ import annotations

__version__ = "0.1.0"

_EXPORTS = {
    "AftError": "aft.exceptions",
    "Executor": "aft.executor",
    "FileInfo": "aft.models",
    "HaltSignal": "aft.executor",
    "Instance": "aft.instance",
    "JobState": "aft.models",
    "LogLine": "aft.models",
    "RunResult": "aft.models",
    "SecretStore": "aft.secrets_store",
    "Settings": "aft.settings",
    "Vfs": "aft.vfs.base",
    "open_vfs": "aft.vfs",
    "parse_params": "aft.executor",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        import importlib

        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'aft' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
