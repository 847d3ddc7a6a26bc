"""The Python side of the SyncJS job context and local-file helpers.

Each method of :class:`JobHost` declared with
:func:`~aft.syncjs.declarations.host_function` is a host function that ``runtime.js``
calls. The conventions of the SyncJS contract hold here: a wrong argument type throws a
JS ``TypeError`` (checked from the declaration); an I/O failure returns
``False``/``None``/``[]`` and logs the reason at error level.

Modules that only some helpers need (zipfile, shutil, subprocess, base64) are imported inside
them, off the start-up path of ``aft run``.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from pathlib import Path
from types import FunctionType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

from aft._waiting import wait_readable
from aft.exceptions import AftError
from aft.models import LogLevel
from aft.secrets_store import MIN_SECRET_LENGTH
from aft.syncjs.declarations import HostObject, bind, host_function
from aft.syncjs.engine import HostFunction, ScriptExit

if TYPE_CHECKING:
    from aft.journal import Tracker

MASK = "********"


#: Secret values shorter than this are masked only as whole words.
WHOLE_WORDS_BELOW = MIN_SECRET_LENGTH


class Masker:
    """Replaces every revealed secret value with ``********``, in the encodings a script
    is likely to log it in too: base64, percent-encoding and JSON string escapes.

    A value shorter than :data:`WHOLE_WORDS_BELOW` characters is masked only where it
    stands as a whole word, so a one-letter secret does not cut every word that holds
    that letter.
    """

    def __init__(self) -> None:
        self._values: list[str] = []
        self._pattern: re.Pattern[str] | None = None

    def reveal(self, value: str) -> None:
        """Register a value that must never appear in a log line or an error."""
        if not value or value in self._values:
            return
        import base64

        data = value.encode("utf-8", "surrogatepass")
        forms = {
            value,
            base64.b64encode(data).decode(),
            base64.b64encode(data).decode().rstrip("="),
            base64.urlsafe_b64encode(data).decode().rstrip("="),
            quote(value, safe=""),
            quote_plus(value, safe=""),
            json.dumps(value)[1:-1],
            json.dumps(value, ensure_ascii=False)[1:-1],
        }
        # Longest first, so no form is half-masked by a shorter one. A new list and
        # pattern, never changed in place: watcher threads mask while this runs.
        values = sorted({*self._values, *forms}, key=len, reverse=True)
        self._values = values
        self._pattern = re.compile(
            "|".join(
                re.escape(v) if len(v) >= WHOLE_WORDS_BELOW else rf"(?<!\w){re.escape(v)}(?!\w)"
                for v in values
            )
        )

    def __call__(self, text: str) -> str:
        pattern = self._pattern
        return text if pattern is None else pattern.sub(MASK, text)


#: The failures of a host function's I/O: logged, never thrown to the script.
IO_FAILURES = (OSError, AftError, ValueError)


#: What a missing file or folder reads as, whatever the backend said.
NOT_FOUND = "no such file or directory"


def describe_failure(exc: Exception) -> str:
    """The log text for one of :data:`IO_FAILURES`; a missing file or folder reads
    ``PATH: no such file or directory`` on every backend."""
    if isinstance(exc, FileNotFoundError):
        path = exc.filename or str(exc).partition(": ")[0]
        if isinstance(path, str) and path.startswith("/"):
            return f"{path}: {NOT_FOUND}"
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror or exc}{where}"
    return str(exc)


def wrapping(method: Callable[..., Any], wrapper: FunctionType) -> FunctionType:
    """``wrapper`` dressed as ``method``: what ``functools.wraps`` does, for a fraction of its
    cost (host functions are many, and all are made when ``aft run`` starts)."""
    wrapper.__name__ = method.__name__
    wrapper.__qualname__ = method.__qualname__
    wrapper.__doc__ = method.__doc__
    wrapper.__dict__["__wrapped__"] = method
    return wrapper


def io_call(default: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Make a host function return ``default`` and log the reason when its I/O fails."""

    def wrap(method: Callable[..., Any]) -> Callable[..., Any]:
        name = method.__name__

        def run(self: JobHost, *args: Any) -> Any:
            try:
                return method(self, *args)
            except IO_FAILURES as exc:
                self.log(LogLevel.ERROR.value, f"{name}: {describe_failure(exc)}")
            return default

        return wrapping(method, run)  # type: ignore[arg-type]

    return wrap


class HaltSignal:
    """A flag that can be set from a signal handler and waited on without CPU.

    Setting it writes a byte to a pipe (safe inside a signal handler, unlike a lock);
    waiting is a ``select`` on that pipe (see :func:`~aft._waiting.wait_readable`).
    """

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)
        self._set = False

    def set(self) -> None:
        if not self._set:
            self._set = True
            try:
                os.write(self._write, b"!")
            except OSError:
                pass

    def is_set(self) -> bool:
        return self._set

    def fileno(self) -> int:
        """A descriptor that becomes readable once set (for ``select``)."""
        return self._read

    def wait(self, timeout: float | None = None) -> bool:
        """Block until set or ``timeout`` seconds pass; returns whether it is set."""
        if not self._set:
            wait_readable([self._read], timeout)
        return self._set

    def close(self) -> None:
        os.close(self._read)
        os.close(self._write)


class Inbox:
    """Events that watcher threads hand to the script thread.

    :meth:`put` never blocks; :meth:`get` waits without CPU for an event or the halt
    signal (a ``select`` on this inbox's pipe and the halt signal's).

    Args:
        halt: the run's halt signal; once set, :meth:`get` gives nothing more.
    """

    def __init__(self, halt: HaltSignal) -> None:
        self._halt = halt
        self._items: deque[tuple[int, Any, Hashable]] = deque()
        self._lock = threading.Lock()
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)

    def put(self, source: int, item: Any, key: Hashable = None) -> None:
        """Queue ``item`` from ``source``; dropped when the last queued one has the same key."""
        with self._lock:
            if key is not None and self._items and self._items[-1][::2] == (source, key):
                return
            self._items.append((source, item, key))
            try:
                os.write(self._write, b".")
            except OSError:
                pass  # the pipe is full, so it is readable already

    def get(self, timeout: float | None = None) -> tuple[int, Any] | None:
        """The next ``(source, item)``; None once halted or after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                if self._halt.is_set():
                    return None
                if self._items:
                    source, item, _ = self._items.popleft()
                    return source, item
                try:
                    while os.read(self._read, 4096):
                        pass
                except OSError:
                    pass  # drained
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            wait_readable([self._read, self._halt.fileno()], left)

    def drop(self, source: int) -> None:
        """Forget every queued item from ``source``."""
        with self._lock:
            self._items = deque(i for i in self._items if i[0] != source)

    def close(self) -> None:
        os.close(self._read)
        os.close(self._write)

    def __enter__(self) -> Inbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class JobHost(HostObject):
    """Host functions for one script run.

    Args:
        params: the job parameters.
        emit: receives ``(level, text)`` for each log line, text already masked.
        halt: the run's halt signal.
        secret: looks up a secret's plaintext by name (``None`` when missing).
        masker: hides revealed secret values.
        allow_exec: whether ``Exec`` may start programs.
        inbox: the watchers' events (default: a new one on ``halt``).
        tracker: follows the run's transfers; the local helpers' copies, moves and deletes
            are recorded in it (None: not).
    """

    def __init__(
        self,
        *,
        emit: Callable[[str, str], None],
        halt: HaltSignal,
        secret: Callable[[str], str | None],
        masker: Masker,
        allow_exec: bool = False,
        inbox: Inbox | None = None,
        tracker: Tracker | None = None,
    ) -> None:
        self._emit = emit
        self.tracker = tracker
        self.halt = halt
        self.inbox = inbox or Inbox(halt)
        self._secret = secret
        self.mask = masker
        self.allow_exec = allow_exec
        self.exit_code: int | None = None

    def functions(self, *more: dict[str, HostFunction]) -> dict[str, HostFunction]:
        """This host's functions and ``more``, each refusing to run once ``Exit()`` was called."""
        table = _UntilExit(self)
        table.update(bind(self))
        for extra in more:
            table.update(extra)
        return table

    # ---- job context ----------------------------------------------------------------

    @host_function("log", wrapped=True)
    def log(self, level: str, text: str) -> None:
        self._emit(LogLevel(level).value, self.mask(text))

    @host_function("Exit", wrapped=True)
    def Exit(self, code: float) -> None:
        self.exit_code = int(code)
        raise ScriptExit()

    @host_function("HaltSignalReceived", wrapped=True)
    def halted(self) -> bool:
        return self.halt.is_set()

    @host_function("Sleep", wrapped=True)
    def deadline(self, ms: float) -> float:
        """When ``Sleep(ms)`` ends, on this host's clock (for :meth:`next_event`)."""
        return time.monotonic() + max(ms, 0) / 1000

    @host_function("nextEvent", wrapped=True)
    def next_event(self, deadline: float | None) -> tuple[int, Any] | None:
        """Wait for a watcher's ``(number, evt)``; None once halted or at ``deadline``.

        ``Sleep`` and ``WaitForHaltSignal`` (runtime.js) call this in a loop and run the
        watcher's callback for each event, so callbacks run on the script thread.
        """
        if deadline is None:
            return self.inbox.get()
        left = deadline - time.monotonic()
        return None if left <= 0 else self.inbox.get(left)

    @host_function("GetSecret")
    def GetSecret(self, name: str) -> str:
        value = self._secret(name)
        if value is None:
            return ""
        self.mask.reveal(value)
        return value

    # ---- local files ----------------------------------------------------------------

    @host_function("FileExists")
    def FileExists(self, path: str) -> bool:
        return os.path.isfile(path)

    @host_function("DirExists")
    def DirExists(self, path: str) -> bool:
        return os.path.isdir(path)

    @host_function("ReadTextFile")
    @io_call(None)
    def ReadTextFile(self, path: str) -> str:
        return Path(path).read_text(encoding="utf-8")

    @host_function("WriteTextFile")
    @io_call(False)
    def WriteTextFile(self, path: str, text: str) -> bool:
        with _replacing(path) as tmp:
            Path(tmp).write_text(text, encoding="utf-8")
        return True

    @host_function("CopyFile")
    @io_call(False)
    def CopyFile(self, src: str, dst: str) -> bool:
        if os.path.isdir(dst):
            dst = os.path.join(dst, os.path.basename(src))
        import shutil

        if self.tracker is None:
            with _replacing(dst) as tmp:
                shutil.copy2(src, tmp)
            return True
        record = self.tracker.start("local", os.path.abspath(src), "local", os.path.abspath(dst))
        try:
            with _replacing(dst) as tmp:
                with open(src, "rb") as reader, open(tmp, "wb") as writer:
                    while chunk := reader.read(1024 * 1024):
                        writer.write(chunk)
                        record.add(chunk)
                shutil.copystat(src, tmp)
        except BaseException as exc:
            record.end(exc)
            raise
        record.end()
        return True

    @host_function("MoveFile")
    @io_call(False)
    def MoveFile(self, src: str, dst: str) -> bool:
        if not os.path.lexists(src):
            raise FileNotFoundError(2, "No such file or directory", src)
        import shutil

        size = os.path.getsize(src) if os.path.isfile(src) else 0
        try:
            shutil.move(src, dst)
        except BaseException as exc:
            self._note("move", src, dst, exc, size)
            raise
        self._note("move", src, dst, None, size)
        return True

    @host_function("DelFile")
    @io_call(False)
    def DelFile(self, path: str) -> bool:
        size = os.path.getsize(path) if os.path.isfile(path) else 0
        try:
            os.remove(path)
        except BaseException as exc:
            self._note("delete", path, "", exc, size)
            raise
        self._note("delete", path, "", None, size)
        return True

    def _note(self, op: str, path: str, dst: str, error: BaseException | None, size: int) -> None:
        """Record a local move or delete in the journal."""
        if self.tracker is not None:
            where = ("local", os.path.abspath(dst)) if dst else ("", "")
            self.tracker.note(op, "local", os.path.abspath(path), *where, error=error, size=size)

    @host_function("ListLocal")
    @io_call([])
    def ListLocal(self, dir_: str, mask: str = "*") -> list[dict[str, Any]]:
        import fnmatch

        items = []
        with os.scandir(dir_) as entries:
            for entry in entries:
                if entry.is_file() and fnmatch.fnmatch(entry.name, mask):
                    st = entry.stat()
                    items.append(_dir_item(entry.name, entry.path, False, st.st_size, st.st_mtime))
        return sorted(items, key=lambda i: i["Name"])

    @host_function("Zip")
    @io_call(False)
    def Zip(self, files: list[str], archive: str) -> bool:
        """Zip files and folders (recursively) into ``archive``, named relative to their parent."""
        import zipfile

        with _replacing(archive) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            for f in files:
                base = os.path.dirname(os.path.abspath(f))
                if not os.path.exists(f):
                    raise FileNotFoundError(2, "No such file or directory", f)
                for path in _tree(f):
                    z.write(path, os.path.relpath(path, base))
        return True

    @host_function("Unzip")
    @io_call(False)
    def Unzip(self, archive: str, dir_: str) -> bool:
        """Extract ``archive`` into ``dir_``; refuses members that would land outside it."""
        import zipfile

        root = os.path.realpath(dir_)
        try:
            with zipfile.ZipFile(archive) as z:
                for member in z.namelist():
                    target = os.path.realpath(os.path.join(root, member))
                    if os.path.commonpath([root, target]) != root:
                        raise ValueError(f"{archive}: {member!r} would land outside {dir_}")
                os.makedirs(root, exist_ok=True)
                z.extractall(root)
        except zipfile.BadZipFile as exc:
            raise ValueError(f"{archive} is not a valid zip archive ({exc})") from None
        return True

    @host_function("Exec")
    def Exec(
        self, cmd: str, args: list[str] | None = None, timeout_sec: float = 0
    ) -> dict[str, Any]:
        """Run a program (no shell); ``{ExitCode, Stdout, Stderr}``; -1 when it could not run."""
        if not self.allow_exec:
            return self._exec_failed("Exec is disabled: set allow_exec to true to allow it")
        import subprocess

        try:
            proc = subprocess.Popen(
                [cmd, *(args or [])],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                errors="replace",
            )
        except OSError as exc:
            return self._exec_failed(f"cannot run {cmd}: {exc.strerror}")
        deadline = time.monotonic() + timeout_sec if timeout_sec > 0 else None
        while True:
            try:
                out, err = proc.communicate(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                late = deadline is not None and time.monotonic() > deadline
                if late or self.halt.is_set():
                    proc.kill()
                    out, err = proc.communicate()
                    why = "halt signal" if self.halt.is_set() else f"{timeout_sec}s timeout"
                    self.log("error", f"Exec: {cmd} killed ({why})")
                    return {"ExitCode": -1, "Stdout": out, "Stderr": err}
        return {"ExitCode": proc.returncode, "Stdout": out, "Stderr": err}

    def _exec_failed(self, reason: str) -> dict[str, Any]:
        self.log("error", f"Exec: {reason}")
        return {"ExitCode": -1, "Stdout": "", "Stderr": reason}


class _UntilExit(dict[str, HostFunction]):
    """The engine's table of host functions: looking one up after ``Exit()`` unwinds the
    script (so nothing runs after it, with no wrapper per function)."""

    def __init__(self, host: JobHost) -> None:
        super().__init__()
        self._host = host

    def __getitem__(self, name: str) -> HostFunction:
        if self._host.exit_code is not None:
            raise ScriptExit()
        return super().__getitem__(name)


def _dir_item(name: str, path: str, is_dir: bool, size: int, mtime: float) -> dict[str, Any]:
    """A SyncJS DirListItem."""
    return {
        "Name": name,
        "Path": path,
        "Type": "DIR" if is_dir else "FILE",
        "Size": 0 if is_dir else size,
        "TimeStamp": int(mtime),
    }


def _tree(path: str) -> list[str]:
    if not os.path.isdir(path):
        return [path]
    found: list[str] = []
    for folder, dirs, files in os.walk(path):
        dirs.sort()
        found.extend(os.path.join(folder, f) for f in sorted(files))
    return found


class _replacing:
    """Context manager: write to a temporary sibling, rename over ``path`` on success."""

    def __init__(self, path: str) -> None:
        self.path = path
        folder, name = os.path.split(os.path.abspath(path))
        self.tmp = os.path.join(folder, f".{name}.aft-part-{os.getpid()}")

    def __enter__(self) -> str:
        return self.tmp

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            os.replace(self.tmp, self.path)
            return
        if isinstance(exc, OSError) and exc.filename == self.tmp:
            exc.filename = self.path  # report the name the script asked for
        try:
            os.remove(self.tmp)
        except OSError:
            pass
