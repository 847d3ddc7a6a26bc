"""The Python side of GetVFS, VirtualFS and the remote clients (see vfs.js).

Backends are imported on first use, so a script that touches no VFS pays nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from aft.syncjs.engine import HostFunction
from aft.syncjs.host import HaltSignal

if TYPE_CHECKING:
    from aft.vfs.library import VfsLibrary


class VfsHost:
    """Host functions for the VFS objects of one script run.

    Args:
        library: the VFS Library (None: no named VFS exists).
        log: ``log(level, text)`` into the job log.
        reveal: registers a credential that must be masked in every log line.
        halt: the run's halt signal (long transfers stop early when it is set).
    """

    def __init__(
        self,
        *,
        library: VfsLibrary | None,
        log: Callable[[str, str], None],
        reveal: Callable[[str], None],
        halt: HaltSignal,
    ) -> None:
        self._library = library
        self._log = log
        self._reveal = reveal
        self._halt = halt

    def functions(self) -> dict[str, HostFunction]:
        return {}

    def close(self) -> None:
        """Close every connection the script opened."""
