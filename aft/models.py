"""Value classes shared across aft.

They are ``NamedTuple``s, immutable and typed: this module is on the path of every
``aft run``, which is timed against ``node``, and importing attrs alone would cost a
quarter of node's whole start-up.
"""

from __future__ import annotations

import enum
import re
import time
from typing import Any, NamedTuple

#: The worker group of a job or script that names none.
DEFAULT_GROUP = "default"
_GROUP = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


MAX_NAME = 200


def name_problem(name: object, what: str, reserved: tuple[str, ...] = ()) -> str | None:
    """What is wrong with the name of a named thing (script, secret, VFS entry, schedule,
    API key), or None. One rule for all, so every name can be addressed in a URL path:
    1 to 200 printable characters, no ``/``, no space at either end, not ``.`` or ``..``,
    and none of ``reserved`` (route names that would shadow it), in any case.
    """
    rule = (
        f"a {what} name is 1 to {MAX_NAME} printable characters, without / and without"
        " spaces at either end"
    )
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME or not name.isprintable():
        return rule
    if "/" in name or name != name.strip() or name in (".", ".."):
        return rule
    if name.lower() in reserved:
        return f"{name!r} is a reserved word here: choose another {what} name"
    return None


def check_group(group: object) -> str:
    """A worker group name, validated.

    Raises:
        ValueError: not 1 to 64 letters, digits, ``_``, ``.`` or ``-``.
    """
    if not isinstance(group, str) or not _GROUP.match(group):
        raise ValueError("a worker group is 1 to 64 letters, digits, '_', '.' or '-'")
    return group


class JobState(str, enum.Enum):
    """Where a job is in its life. The last four are final."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    HALTED = "halted"
    INTERRUPTED = "interrupted"

    @property
    def is_final(self) -> bool:
        return self not in (JobState.QUEUED, JobState.RUNNING)


class LogLevel(str, enum.Enum):
    DEBUG = "debug"
    INFO = "info"
    WARN = "warn"
    ERROR = "error"


class LogLine(NamedTuple):
    """One line of a job log; ``time`` is Unix seconds."""

    time: float
    level: LogLevel
    text: str

    def format(self) -> str:
        """The line as the CLI prints it: ISO time (UTC, ms), level, text."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.time))
        return (
            f"{stamp}.{int(self.time * 1000) % 1000:03d}Z {self.level.value.upper():5} {self.text}"
        )


class Job(NamedTuple):
    """One run of a script, as the job queue records it (the script text is not included).

    Attributes:
        trigger: how it was asked for: ``api`` (an API key), ``cli`` (the aft command:
            ``aft run``, ``aft start``), ``cron`` (a schedule) or ``ui`` (the web
            console); a retry keeps its first job's (``retry_of`` names that job).
        started_by: who or what asked: ``schedule:NAME``, ``key:NAME (ID)``,
            ``account:NAME`` or ``cli:OSUSER`` (None for jobs recorded before it was kept).
    """

    id: str
    script_id: str | None
    script_name: str
    params: dict[str, Any]
    trigger: str
    api_key_id: str | None
    state: JobState
    exit_code: int | None
    error: str | None
    error_line: int | None
    attempt: int
    max_attempts: int
    retry_backoff: float
    retry_of: str | None
    not_before: float
    created: float
    started: float | None
    finished: float | None
    worker: str | None
    halt_requested: float | None
    group: str = DEFAULT_GROUP
    max_run_seconds: float = 0.0
    halt_reason: str | None = None
    started_by: str | None = None


class RunResult(NamedTuple):
    """The outcome of one script run.

    Attributes:
        state: the final state (succeeded, failed or halted).
        exit_code: what the script passed to ``Exit()``, else 0 on success and 1 otherwise.
        log: every log line, in order, with secrets masked.
        error: on failure, one line saying why (secrets masked), else None.
        error_line: the script line the error points at, when known.
    """

    state: JobState
    exit_code: int
    log: tuple[LogLine, ...]
    error: str | None = None
    error_line: int | None = None

    @property
    def ok(self) -> bool:
        """True when the script succeeded."""
        return self.state is JobState.SUCCEEDED

    @property
    def clean(self) -> bool:
        """True when the script succeeded, or was asked to halt and then ended without
        an error (a watcher stopped by Ctrl-C or SIGTERM, say)."""
        return self.ok or (self.state is JobState.HALTED and self.exit_code == 0)


class FileInfo(NamedTuple):
    """One entry of a VFS listing.

    Attributes:
        path: the full path inside the VFS, ``/``-separated, starting with ``/``.
        is_dir: True for a directory.
        size: bytes (0 for a directory).
        mtime: modification time in Unix seconds (0 when the backend has none).
    """

    path: str
    is_dir: bool
    size: int = 0
    mtime: float = 0.0

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]
