"""The Executor: one SyncJS script run. It knows nothing of HTTP, API keys or queues."""

from __future__ import annotations

import functools
import json
import os
import re
import stat
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aft.exceptions import ParamsError, ScriptError, ScriptNotFound, SecretNotFound
from aft.journal import Progress, Tracker
from aft.models import JobState, LogLevel, LogLine, RunResult
from aft.secrets_store import SecretStore
from aft.syncjs.clients import CLIENT_CLASSES
from aft.syncjs.engine import EngineKilled, Step, run_isolated
from aft.syncjs.host import HaltSignal, Inbox, JobHost, Masker
from aft.syncjs.net_host import NetHost
from aft.syncjs.script_api import script_api_json
from aft.syncjs.vfs_host import VfsHost
from aft.syncjs.watchers import WatcherHost

if TYPE_CHECKING:
    from aft.mail import MailSettings
    from aft.settings import Settings
    from aft.vfs.library import VfsLibrary

__all__ = ["Executor", "HaltSignal", "check_params", "parse_params", "read_script"]

_RUNTIME_DIR = Path(__file__).parent / "syncjs"
#: The runtime's files besides runtime.js, and the globals each defines. runtime.js
#: compiles one only when a script first reads one of its globals: compiling them all cost
#: more than half of a short run (tests/test_executor.py checks these lists).
LAZY_RUNTIME: dict[str, tuple[str, ...]] = {
    "vfs.js": ("VirtualFS", "GetVFS", *CLIENT_CLASSES),
    "watchers.js": ("FsWatcher", "RemoteWatcher"),
    "net.js": ("HttpCli",),
}


@functools.cache
def _runtime_source(file: str) -> str:
    """One of the runtime's JS files, read once per process."""
    return (_RUNTIME_DIR / file).read_text(encoding="utf-8")


# A backslash escape; one that is not \\, \", \/ or \uXXXX stands for a literal backslash.
_ESCAPE = re.compile(r'\\(\\|"|/|u[0-9a-fA-F]{4})?')


def parse_params(text: str) -> dict[str, Any]:
    """Parse a ``-p`` JSON object, keeping lone backslashes as typed.

    ``{"destination":"D:\\Archive\\2026"}`` typed with single backslashes is not valid
    JSON; here it gives ``D:\\Archive\\2026`` exactly as typed. ``\\\\``, ``\\"``,
    ``\\/`` and ``\\uXXXX`` keep their JSON meaning; any other backslash is literal.

    Raises:
        ParamsError: when the text is not a JSON object.
    """
    try:
        value = json.loads(_ESCAPE.sub(lambda m: m.group(0) if m.group(1) else r"\\", text))
    except ValueError as exc:
        raise ParamsError(f"params are not valid JSON: {exc}") from None
    return check_params(value)


def check_params(value: Any) -> dict[str, Any]:
    """Return ``value`` if it is a JSON object (string keys), else raise ParamsError."""
    if not isinstance(value, Mapping):
        raise ParamsError('params must be a JSON object, like {"name": "value"}')
    for key in value:
        if not isinstance(key, str):
            raise ParamsError("param names must be strings")
    try:
        json.dumps(value, allow_nan=False)  # NaN and Infinity are not JSON: never stored
    except (TypeError, ValueError) as exc:
        raise ParamsError(f"params must be plain JSON values: {exc}") from None
    return dict(value)


#: Job log levels as the standard library's logging numbers.
_STDLIB_LEVELS = {LogLevel.DEBUG: 10, LogLevel.INFO: 20, LogLevel.WARN: 30, LogLevel.ERROR: 40}


def _job_logger() -> Any:
    """The ``aft.job`` logger of the standard library's logging, when the program has
    configured logging (importing it only for this would slow every ``aft run``, and
    without a handler, logging would print warnings a second time)."""
    logging = sys.modules.get("logging")
    if logging is None:
        return None
    logger = logging.getLogger("aft.job")
    return logger if logger.hasHandlers() else None


class Executor:
    """Runs SyncJS scripts.

    Args:
        secrets: where ``GetSecret`` looks; without it every secret is missing.
        vfs_library: where ``GetVFS`` looks; without it the library is empty.
        allow_exec: whether scripts may start programs with ``Exec``.
        state_dir: where RemoteWatcher keeps what it last reported, so that a restarted
            job reports only what changed in between (None: nowhere).
        mail: the SMTP settings for ``SendMail``: a :class:`~aft.mail.MailSettings`, or
            the instance :class:`~aft.settings.Settings` to read them from when a script
            sends mail (None: mail is not configured). The password is the secret in
            ``secrets`` that the settings name.
        log_line_bytes: a longer log line is cut to this many bytes (UTF-8), with a marker.
        log_quota_bytes: after this many bytes of log, one notice says so and further
            lines are dropped (the job runs on).
        halt_grace_seconds: how long a script may go on after the halt signal (or its
            timeout) before it is killed.
        files_in_flight: how many files a client's ``Upload`` or ``Download`` batch moves
            at once (1: one after another; None: what the two sides ask for, see
            :func:`aft.vfs.base.batch_width`).

    Each run's JavaScript executes in a child process of its own (see
    :func:`aft.syncjs.engine.run_isolated`): the caller's other threads keep running while
    a script computes, and a script that ignores the halt signal is killed after the grace
    without harming the caller. Host functions (logging, secrets, VFS, mail...) run in the
    calling thread.
    """

    def __init__(
        self,
        *,
        secrets: SecretStore | None = None,
        vfs_library: VfsLibrary | None = None,
        allow_exec: bool = False,
        state_dir: str | os.PathLike[str] | None = None,
        mail: MailSettings | Settings | None = None,
        log_line_bytes: int = 16384,
        log_quota_bytes: int = 64 * 1024 * 1024,
        halt_grace_seconds: float = 3.0,
        files_in_flight: int | None = None,
    ) -> None:
        if halt_grace_seconds < 0:
            raise ValueError(f"halt_grace_seconds must be 0 or more, not {halt_grace_seconds}")
        if files_in_flight is not None and (
            isinstance(files_in_flight, bool)
            or not isinstance(files_in_flight, int)
            or files_in_flight < 1
        ):
            raise ValueError(f"files_in_flight must be 1 or more, not {files_in_flight!r}")
        self._files_in_flight = files_in_flight
        self._secrets = secrets
        self._vfs_library = vfs_library
        self._allow_exec = allow_exec
        self._state_dir = state_dir
        self._mail = mail
        self._log_line_bytes = log_line_bytes
        self._log_quota_bytes = log_quota_bytes
        self._grace = float(halt_grace_seconds)

    def run(
        self,
        source: str | None = None,
        *,
        file: str | os.PathLike[str] | None = None,
        params: Mapping[str, Any] | None = None,
        name: str | None = None,
        job_id: str = "",
        halt: HaltSignal | None = None,
        on_log: Callable[[LogLine], None] | None = None,
        timeout: float | None = None,
        progress: Callable[[Progress], object] | Tracker | None = None,
    ) -> RunResult:
        """Run a script to its end and return how it went.

        Args:
            source: the script text (or give ``file``).
            file: a script file to read (UTF-8).
            params: the job parameters (a flat JSON object).
            name: what ``ScriptName()`` returns; default the file's base name.
            job_id: what ``JobID()`` returns.
            halt: a halt signal to set from elsewhere (a signal handler, another thread).
            on_log: called with each log line as it happens. Each line also goes to the
                standard library's logger ``aft.job`` (with ``job_id`` and ``script`` as
                record attributes), secrets masked, when the program uses logging.
            timeout: seconds the script may run (None: no limit). Then it gets the halt
                signal (``halt``, when given, is set), and ``halt_grace_seconds`` later
                it is killed; either way the result is ``halted``, exit code 1, with an
                error that says so.
            progress: called with a :class:`~aft.journal.Progress` as the script's
                transfers move files (from the thread that moved them); a
                :class:`~aft.journal.Tracker` in its place also records each file in its
                journal. A job's run (``job_id`` given) that moved files ends its log
                with a summary line (files, bytes, time, rate) either way.

        Returns:
            A :class:`RunResult`; a script's own failure is a result, not an exception.
            A script killed after the halt signal ends ``halted`` with exit code 1.

        Raises:
            ScriptNotFound: the file is missing or unreadable.
            ScriptError: the file is not UTF-8 text.
            ParamsError: params are not a JSON object.
            ValueError: ``timeout`` is not a positive number.
        """
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        if file is not None and source is None:
            source = read_script(file)
            name = name or Path(file).name
        elif source is None or file is not None:
            raise ScriptError("give exactly one of source or file")
        name = name or "script.syncjs"
        params = check_params(params or {})
        own_halt = halt is None
        halt = halt or HaltSignal()
        lines: list[LogLine] = []
        budget = [self._log_quota_bytes]
        forward = _job_logger()
        context = {"job_id": job_id, "script": name}

        def emit(level: str, text: str) -> None:
            if budget[0] <= 0:
                return
            data = text.encode("utf-8", "surrogatepass")
            if len(data) > self._log_line_bytes:
                cut = data[: self._log_line_bytes].decode("utf-8", "ignore")
                text = f"{cut} [line cut: {len(data) - self._log_line_bytes} more bytes]"
            budget[0] -= min(len(data), self._log_line_bytes)
            if budget[0] <= 0:
                level = "warn"
                text = (
                    f"the job's log reached its quota of {self._log_quota_bytes} bytes;"
                    " further lines are dropped"
                )
            line = LogLine(time.time(), LogLevel(level), text)
            lines.append(line)
            if on_log is not None:
                on_log(line)
            if forward is not None:
                forward.log(_STDLIB_LEVELS[line.level], "%s", text, extra=context)

        masker = Masker()
        inbox = Inbox(halt)
        tracker = Tracker.of(progress) or Tracker(job_id=job_id)
        host = JobHost(
            emit=emit,
            halt=halt,
            secret=self._secret,
            masker=masker,
            allow_exec=self._allow_exec,
            inbox=inbox,
            tracker=tracker,
        )
        vfs = VfsHost(
            library=self._vfs_library,
            log=host.log,
            reveal=masker.reveal,
            halt=halt,
            secret=self._secret,
            mask=masker,
            tracker=tracker,
            files_in_flight=self._files_in_flight,
        )
        watchers = WatcherHost(
            inbox=inbox,
            log=host.log,
            reveal=masker.reveal,
            library=self._vfs_library,
            script_name=name,
            state_dir=self._state_dir,
        )
        net = NetHost(
            log=host.log,
            halt=halt,
            mask=masker,
            reveal=masker.reveal,
            secret=self._secret,
            mail=self._mail,
        )
        functions = host.functions(vfs.functions(), watchers.functions(), net.functions())
        variables = {
            "api": script_api_json(),  # the names Python declares, for runtime.js
            "params": params,
            "jobId": job_id,
            "scriptName": name,
            "lazy": [[f, names, _runtime_source(f)] for f, names in LAZY_RUNTIME.items()],
        }
        steps: list[Step] = [(_runtime_source("runtime.js"), "runtime.js", variables)]
        # The appended line keeps the script's own completion value (which may be a
        # function, not JSON) from being returned.
        steps.append((source + "\n;undefined", name, {}))
        error = error_line = None
        timed_out: list[bool] = []
        timer = None
        if timeout is not None:

            def time_out() -> None:
                timed_out.append(True)
                halt.set()

            timer = threading.Timer(timeout, time_out)
            timer.daemon = True
            timer.start()
        try:
            failure = run_isolated(functions, steps, halt, self._grace)
            if failure is not None and host.exit_code is None:
                error, error_line = _describe(failure)
        except EngineKilled as exc:
            error = str(exc)
        finally:
            if timer is not None:
                timer.cancel()
            watchers.close()
            net.close()
            vfs.close()
            inbox.close()
            if own_halt:
                halt.close()
        if timed_out:
            why = f"halted: it ran past its timeout of {timeout:g}s"
            error = f"{why} ({error})" if error else why

        if host.exit_code not in (None, 0):
            error = error or f"Exit({host.exit_code})"
        if halt.is_set() or timed_out:
            state = JobState.HALTED
        elif error is not None:
            state = JobState.FAILED
        else:
            state = JobState.SUCCEEDED
        explained = host.exit_code is not None and any(
            line.level is LogLevel.ERROR for line in lines
        )
        if error is not None and not explained:  # an Exit(n) after its reason adds nothing
            error = masker(error)
            where = f" (line {error_line})" if error_line else ""
            emit(LogLevel.ERROR.value, f"{error}{where}")
        elif error is not None:
            error = masker(error)
        if state is JobState.HALTED and not timed_out:
            emit(LogLevel.WARN.value, "halted on request")
        if job_id and tracker.moved_any:  # a job's log ends with what it moved
            emit(LogLevel.INFO.value, tracker.snapshot().summary())
        exit_code = host.exit_code if host.exit_code is not None else int(error is not None)
        if state is JobState.FAILED and exit_code == 0:
            exit_code = 1  # a halted script that ended without an error exits 0
        return RunResult(state, exit_code, tuple(lines), error, error_line)

    def _secret(self, name: str) -> str | None:
        if self._secrets is None:
            return None
        try:
            return self._secrets.get(name)
        except SecretNotFound:
            return None


def read_script(file: str | os.PathLike[str], max_bytes: int | None = None) -> str:
    """The text of a script file: a regular file (never a FIFO or device, which could
    block), of at most ``max_bytes`` when given.

    Raises:
        ScriptNotFound: missing, unreadable, or not a regular file.
        ScriptError: larger than ``max_bytes``, or not UTF-8.
    """
    path = Path(file)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise ScriptNotFound(f"script file not found: {path}") from None
    except IsADirectoryError:
        raise ScriptNotFound(f"script path is a directory: {path}") from None
    except OSError as exc:
        raise ScriptNotFound(f"cannot read script {path}: {exc.strerror}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        what = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise ScriptNotFound(f"script path is {what}: {path}")
    with os.fdopen(fd, "rb") as f:
        if max_bytes is not None and info.st_size > max_bytes:
            raise ScriptError(f"script {path} is larger than {max_bytes} bytes")
        try:
            data = f.read() if max_bytes is None else f.read(max_bytes + 1)
        except OSError as exc:
            raise ScriptNotFound(f"cannot read script {path}: {exc.strerror}") from None
    if max_bytes is not None and len(data) > max_bytes:
        raise ScriptError(f"script {path} is larger than {max_bytes} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScriptError(f"script {path} is not UTF-8 text (byte {exc.start})") from None


_FRAME = re.compile(r"^\s+at (?:(\S+) \()?[^()]*:(\d+):\d+\)?$")


def _describe(message: str) -> tuple[str, int | None]:
    """The first line of a QuickJS error, and the script line its stack points at.

    The innermost frame that is not the runtime's own (named ``aft:...``) is the script's.
    """
    lines = message.strip().splitlines() or ["script failed"]
    for frame in lines[1:]:
        match = _FRAME.match(frame)
        if match and not (match.group(1) or "").startswith("aft:"):
            return lines[0], int(match.group(2))
    return lines[0], None
