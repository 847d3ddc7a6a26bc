"""aft: automated, scripted file transfer.

The public objects load on first use (PEP 562), so ``import aft`` stays cheap and
pulls in no SSH, cloud or HTTP library; type checkers see them as the real classes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aft._version import __version__ as __version__

if TYPE_CHECKING:
    from aft.exceptions import AftError
    from aft.executor import Executor, HaltSignal, parse_params
    from aft.instance import Instance
    from aft.jobs import Job, JobQueue, QueuedJob
    from aft.keys import ApiKeyStore
    from aft.models import FileInfo, JobState, LogLine, RunResult
    from aft.schedules import ScheduleStore
    from aft.scripts_store import Script, ScriptStore
    from aft.secrets_store import SecretStore
    from aft.settings import Settings
    from aft.vfs import open_vfs
    from aft.vfs.base import Vfs
    from aft.vfs.library import VfsLibrary
    from aft.worker import WorkerPool

_EXPORTS = {
    "AftError": "aft.exceptions",
    "ApiKeyStore": "aft.keys",
    "Executor": "aft.executor",
    "FileInfo": "aft.models",
    "HaltSignal": "aft.executor",
    "Instance": "aft.instance",
    "Job": "aft.jobs",
    "JobQueue": "aft.jobs",
    "JobState": "aft.models",
    "LogLine": "aft.models",
    "QueuedJob": "aft.jobs",
    "RunResult": "aft.models",
    "ScheduleStore": "aft.schedules",
    "Script": "aft.scripts_store",
    "ScriptStore": "aft.scripts_store",
    "SecretStore": "aft.secrets_store",
    "Settings": "aft.settings",
    "Vfs": "aft.vfs.base",
    "VfsLibrary": "aft.vfs.library",
    "WorkerPool": "aft.worker",
    "open_vfs": "aft.vfs",
    "parse_params": "aft.executor",
}

__all__ = [
    "AftError",
    "ApiKeyStore",
    "Executor",
    "FileInfo",
    "HaltSignal",
    "Instance",
    "Job",
    "JobQueue",
    "JobState",
    "LogLine",
    "QueuedJob",
    "RunResult",
    "ScheduleStore",
    "Script",
    "ScriptStore",
    "SecretStore",
    "Settings",
    "Vfs",
    "VfsLibrary",
    "WorkerPool",
    "open_vfs",
    "parse_params",
]


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        import importlib

        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'aft' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
