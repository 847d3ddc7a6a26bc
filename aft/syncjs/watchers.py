"""The Python side of FsWatcher and RemoteWatcher (see watchers.js).

A script holds each watcher by a handle (a small integer) that :class:`WatcherHost`
resolves to a :class:`ScriptWatcher`; its settings are plain properties of the JS object
(:class:`WatcherSettings`), sent with each call and read at ``Start()``. A watcher runs
in threads of its own and never calls into JS: it puts each event into the run's
:class:`~aft.syncjs.host.Inbox`, and ``Sleep``/``WaitForHaltSignal`` (runtime.js) take
events out and run the matching callback on the script thread.

Where the contract leaves room, this module chooses:

- Only files are reported, never directories. ``Object`` is the file's full path (local
  for FsWatcher, inside the VFS for RemoteWatcher); ``TimeStamp`` is when it was reported.
- FsWatcher watches a folder by its real path (a symlink to a folder is followed) and
  reports each file under the path the script gave to ``WatchDir`` (``"inbox"`` gives
  ``inbox/a.csv``); a folder that does not exist is refused at ``Start()``.
- A file renamed inside a watched folder gives RENAME for the old path, then CREATE for the
  new one (so a file uploaded as ``x.tmp`` and renamed to ``x.csv`` shows up as a new
  ``x.csv``). Moved out of the watched folders: REMOVE. Moved in: CREATE.
- CHMOD is any attribute change without new content (``chmod``, ``touch``); the polling
  fallback sees no attribute changes.
- With ``DelayBySeconds`` > 0, the events of one file are merged (CREATE then WRITEs is one
  CREATE) and reported once its size and modification time have not changed for that long.
  REMOVE and RENAME are reported at once, and drop what was waiting for that file.
- RemoteWatcher without ``WatchDir`` watches its whole VFS (``/``, recursively).
- RemoteWatcher persists what it last reported, per script, VFS and folder, in a JSON file
  under the state directory; a restarted job reports only what changed in between. Without
  a state directory, the listing taken at ``Start()`` is the baseline.

watchdog (local events) and the VFS backends are imported only when a watcher starts.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import os
import posixpath
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aft.exceptions import AftError
from aft.syncjs.declarations import HostObject, ScriptRecord, bind, bind_methods, host_function
from aft.syncjs.engine import HostFunction, HostTypeError
from aft.syncjs.host import Inbox

if TYPE_CHECKING:
    from watchdog.events import FileSystemEvent
    from watchdog.observers.api import BaseObserver

    from aft.vfs.base import Vfs
    from aft.vfs.library import VfsLibrary

CREATE, WRITE, REMOVE, RENAME, CHMOD = "CREATE", "WRITE", "REMOVE", "RENAME", "CHMOD"
#: The script constants of this module.
CONSTANTS = {f"EVT_{event}": event for event in (CREATE, WRITE, REMOVE, RENAME, CHMOD)}
NOTIFY = {
    "NotifyCreate": CREATE,
    "NotifyWrite": WRITE,
    "NotifyRemove": REMOVE,
    "NotifyRename": RENAME,
    "NotifyChmod": CHMOD,
}
#: How often the polling fallback of FsWatcher looks at the folders, in seconds.
FALLBACK_POLL_SECONDS = 1.0

Signature = tuple[int, int]  # (size, mtime) of a file


class WatcherSettings(ScriptRecord):
    """An FsWatcher's settings: plain properties of the JS object, read at ``Start()``."""

    InclusionFilter: list[str] | None = []
    ExclusionFilter: list[str] | None = []
    DelayBySeconds: float = 0
    NotifyCreate: bool = True
    NotifyWrite: bool = True
    NotifyRemove: bool = True
    NotifyRename: bool = True
    NotifyChmod: bool = True


class RemoteWatcherSettings(WatcherSettings):
    """A RemoteWatcher's settings: an FsWatcher's, and how often it lists the VFS."""

    PollSeconds: float = 30


class _Config:
    """A watcher's folders and settings as the script set them, checked.

    Args:
        what: the watcher's JS class, for messages.
        dirs: the folders ``WatchDir`` named, each with whether it is watched recursively.
        state: the JS object's own properties.
        remote: whether it is a RemoteWatcher (which has ``PollSeconds``).
    """

    def __init__(
        self, what: str, dirs: list[tuple[str, bool]], state: dict[str, Any], remote: bool
    ) -> None:
        self.what = what
        self.dirs = list(dirs)
        settings = (RemoteWatcherSettings if remote else WatcherSettings).read(state, what)
        self.include = settings.InclusionFilter or []
        self.exclude = settings.ExclusionFilter or []
        self.delay = self._not_negative("DelayBySeconds", settings.DelayBySeconds)
        self.poll = 0.0
        if isinstance(settings, RemoteWatcherSettings):
            self.poll = self._not_negative("PollSeconds", settings.PollSeconds)
            if self.poll <= 0:
                raise HostTypeError(f"{what}.PollSeconds must be more than 0")
        self.notify = {event for field, event in NOTIFY.items() if getattr(settings, field)}

    def _not_negative(self, field: str, value: float) -> float:
        if value < 0:
            raise HostTypeError(f"{self.what}.{field} must not be negative")
        return float(value)

    def accepts(self, name: str, relative: str) -> bool:
        """Whether the filters let a file through (matched by name or by relative path)."""

        def matches(globs: list[str]) -> bool:
            return any(fnmatch.fnmatchcase(s, g) for g in globs for s in (name, relative))

        if self.include and not matches(self.include):
            return False
        return not matches(self.exclude)


class _Watcher:
    """What both watchers share: the filters, the notify flags and the way to the inbox."""

    def __init__(
        self, number: int, config: _Config, inbox: Inbox, log: Callable[[str, str], None]
    ) -> None:
        self.number = number
        self.config = config
        self.inbox = inbox
        self.log = log
        self.lock = threading.Condition()
        self.stopped = False

    def emit(self, event: str, path: str) -> None:
        with self.lock:
            if self.stopped or event not in self.config.notify:
                return
            evt = {"TimeStamp": int(time.time()), "Event": event, "Object": path}
            self.inbox.put(self.number, evt, key=(event, path))

    def stop(self) -> None:
        """Stop the threads; no event of this watcher is delivered afterwards."""
        with self.lock:
            self.stopped = True
            self.lock.notify_all()
        self.inbox.drop(self.number)


def _native_observer() -> BaseObserver:
    from watchdog.observers import Observer

    return Observer()


class _FsWatch(_Watcher):
    """FsWatcher: OS file events through watchdog, its polling observer as the fallback."""

    def __init__(
        self, number: int, config: _Config, inbox: Inbox, log: Callable[[str, str], None]
    ) -> None:
        super().__init__(number, config, inbox, log)
        # Watched by real path (a symlinked folder is followed); reported under the path the
        # script gave, relative or not, so Object minus that path is the file's own part.
        self.dirs = [(os.path.realpath(p), r) for p, r in self.config.dirs]
        self.shown = {os.path.realpath(p): p.rstrip(os.sep) or os.sep for p, _ in config.dirs}
        self._pending: dict[str, list[Any]] = {}  # path -> [event, signature, since]
        self._observer: BaseObserver | None = None
        self._delayer: threading.Thread | None = None

    def start(self) -> bool:
        for path, _ in self.config.dirs:
            if not os.path.isdir(path):
                self.log("error", f"FsWatcher.Start: {os.path.abspath(path)}: no such directory")
                return False
        try:
            self._observer = self._observe(_native_observer())
        except ImportError as exc:
            from aft.exceptions import MissingExtra

            raise MissingExtra(
                f"FsWatcher needs the {exc.name!r} package: pip install 'aft[watch]'"
            ) from None
        except OSError as exc:
            from watchdog.observers.polling import PollingObserver

            reason = exc.strerror or str(exc)
            self.log(
                "warn",
                f"FsWatcher: native file events unavailable ({reason}); "
                f"polling every {FALLBACK_POLL_SECONDS:g}s instead",
            )
            self._observer = self._observe(PollingObserver(timeout=FALLBACK_POLL_SECONDS))
        if self.config.delay > 0:
            self._delayer = threading.Thread(target=self._release, name="aft-fswatch", daemon=True)
            self._delayer.start()
        return True

    def _observe(self, observer: BaseObserver) -> BaseObserver:
        from watchdog.events import FileSystemEventHandler

        handler = FileSystemEventHandler()
        handler.on_any_event = self._on_event  # type: ignore[method-assign]
        observer.name = "aft-fswatch-events"
        try:
            for path, recursive in self.dirs:
                observer.schedule(handler, path, recursive=recursive)
            observer.start()
        except BaseException:
            with contextlib.suppress(Exception):
                observer.stop()
            raise
        return observer

    def stop(self) -> None:
        super().stop()
        if self._observer is not None:
            self._observer.stop()
            if self._observer.is_alive():
                self._observer.join()
        if self._delayer is not None:
            self._delayer.join()

    def _relative(self, path: str) -> str | None:
        """``path`` relative to the watched folder it is in; None when in none."""
        found = self._folder_of(path)
        return None if found is None else found[1].replace(os.sep, "/")

    def _folder_of(self, path: str) -> tuple[str, str] | None:
        """The watched (real) folder ``path`` is in and its path relative to it."""
        for folder, recursive in self.dirs:
            relative = os.path.relpath(path, folder)
            if relative.startswith(".." + os.sep) or relative in (".", ".."):
                continue
            if recursive or os.sep not in relative:
                return folder, relative
        return None

    def _shown(self, path: str) -> str:
        """``path`` (real) as the script names it: under the folder path it gave."""
        found = self._folder_of(path)
        if found is None:
            return path
        return os.path.join(self.shown[found[0]], found[1])

    def _on_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            return
        kind = event.event_type
        src = os.fsdecode(event.src_path)
        if kind == "moved":
            self._gone(RENAME, src)
            self._changed(CREATE, os.fsdecode(event.dest_path))
        elif kind == "deleted":
            self._gone(REMOVE, src)
        elif kind == "attrib":
            if os.path.lexists(src):  # an unlink changes the link count: not a CHMOD
                self._changed(CHMOD, src)
        else:
            found = {"created": CREATE, "modified": WRITE}.get(kind)
            if found is not None:
                self._changed(found, src)

    def _accepts(self, path: str) -> bool:
        relative = self._relative(path)
        return relative is not None and self.config.accepts(os.path.basename(path), relative)

    def _changed(self, event: str, path: str) -> None:
        if not self._accepts(path):
            return
        if self.config.delay <= 0:
            self.emit(event, self._shown(path))
            return
        with self.lock:
            waiting = self._pending.get(path)
            if waiting is not None and (waiting[0] == CREATE or event == CHMOD):
                event = waiting[0]  # CREATE absorbs what follows; WRITE absorbs CHMOD
            self._pending[path] = [event, _stat(path), time.monotonic()]
            self.lock.notify_all()

    def _gone(self, event: str, path: str) -> None:
        with self.lock:
            self._pending.pop(path, None)
        if self._accepts(path):
            self.emit(event, self._shown(path))

    def _release(self) -> None:
        """Report each waiting file once it has been quiet for DelayBySeconds."""
        delay = self.config.delay
        with self.lock:
            while not self.stopped:
                now = time.monotonic()
                for path, (event, signature, since) in list(self._pending.items()):
                    if now - since < delay:
                        continue
                    current = _stat(path)
                    if current is None:
                        del self._pending[path]  # gone: its REMOVE or RENAME comes from the OS
                    elif current != signature:
                        self._pending[path] = [event, current, now]
                    else:
                        del self._pending[path]
                        self.emit(event, self._shown(path))
                due = [since + delay for _, _, since in self._pending.values()]
                self.lock.wait(max(min(due) - time.monotonic(), 0.01) if due else None)


def _stat(path: str) -> Signature | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


class _RemoteWatch(_Watcher):
    """RemoteWatcher: lists a VFS every PollSeconds and compares with what it reported."""

    def __init__(
        self,
        number: int,
        config: _Config,
        inbox: Inbox,
        log: Callable[[str, str], None],
        *,
        vfs: Vfs,
        vfs_name: str,
        state: Path | None,
        script: str,
    ) -> None:
        super().__init__(number, config, inbox, log)
        self.vfs = vfs
        self.vfs_name = vfs_name
        self.dirs = [(posixpath.normpath("/" + p.strip("/")), r) for p, r in self.config.dirs]
        self._state_dir = state
        self._script = script
        # Per watched folder: what was reported (None until a first listing worked).
        self._known: dict[str, dict[str, list[float]] | None] = {}
        self._pending: dict[str, list[Any]] = {}  # path -> [event, signature, since]
        self._thread: threading.Thread | None = None

    def start(self) -> bool:
        for folder, recursive in self.dirs:
            known = self._load(folder)
            if known is not None:  # what today's settings would not list is not news
                known = {p: s for p, s in known.items() if self._wanted(folder, recursive, p)}
            self._known[folder] = known
        self.poll()  # the baseline: what changes after Start() returns is reported
        self._thread = threading.Thread(target=self._run, name="aft-remotewatch", daemon=True)
        self._thread.start()
        return True

    def stop(self) -> None:
        super().stop()
        if self._thread is not None:
            self._thread.join()
        self.vfs.close()

    def _run(self) -> None:
        with self.lock:
            while not self.stopped:
                self.lock.wait(self.config.poll)
                if not self.stopped:
                    self.lock.release()
                    try:
                        self.poll()
                    finally:
                        self.lock.acquire()

    def poll(self) -> None:
        """List every watched folder once and report the differences."""
        for folder, recursive in self.dirs:
            try:
                infos = self.vfs.walk(folder) if recursive else self.vfs.listdir(folder)
                listing = {
                    i.path: [i.size, i.mtime]
                    for i in infos
                    if not i.is_dir and self._wanted(folder, recursive, i.path)
                }
            except (AftError, OSError) as exc:
                self.log("error", f"RemoteWatcher({self.vfs_name}): {folder}: {exc}")
                continue
            self._compare(folder, listing)

    def _wanted(self, folder: str, recursive: bool, path: str) -> bool:
        """Whether ``path`` is watched: inside ``folder`` (deeper only if recursive), filtered."""
        relative = posixpath.relpath(path, folder)
        if relative.startswith("../") or (not recursive and "/" in relative):
            return False
        return self.config.accepts(posixpath.basename(path), relative)

    def _compare(self, folder: str, listing: dict[str, list[float]]) -> None:
        known = self._known[folder]
        if known is None:
            self._known[folder] = listing
            self._save(folder, listing)
            return
        now = time.monotonic()
        before = dict(known)
        for path in [p for p in known if p not in listing]:
            del known[path]
            self._pending.pop(path, None)
            self.emit(REMOVE, path)
        for path, signature in listing.items():
            if known.get(path) == signature:
                self._pending.pop(path, None)
                continue
            event = WRITE if path in known else CREATE
            waiting = self._pending.get(path)
            if waiting is None or waiting[1] != signature:
                self._pending[path] = [event, signature, now]
            if now - self._pending[path][2] >= self.config.delay:
                del self._pending[path]
                known[path] = signature
                self.emit(event, path)
        if known != before:
            self._save(folder, known)

    # ---- persistence -------------------------------------------------------------------

    def _state_file(self, folder: str) -> Path | None:
        if self._state_dir is None:
            return None
        key = json.dumps([self._script, self.vfs_name, folder])
        digest = hashlib.sha256(key.encode()).hexdigest()[:24]
        return self._state_dir / f"remote-{digest}.json"

    def _load(self, folder: str) -> dict[str, list[float]] | None:
        path = self._state_file(folder)
        if path is None or not path.exists():
            return None
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
            files = state["files"]
            if not isinstance(files, dict):
                raise ValueError("files is not an object")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self.log("warn", f"RemoteWatcher({self.vfs_name}): ignoring state {path}: {exc}")
            return None
        return {str(p): list(s) for p, s in files.items()}

    def _save(self, folder: str, files: dict[str, list[float]]) -> None:
        path = self._state_file(folder)
        if path is None:
            return
        state = {"script": self._script, "vfs": self.vfs_name, "dir": folder, "files": files}
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(state, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.remove(tmp)
            self.log("error", f"RemoteWatcher({self.vfs_name}): cannot save {path}: {exc}")


class ScriptWatcher(HostObject):
    """A script's FsWatcher or RemoteWatcher: the folders it watches, and once started,
    the watcher that runs.

    Args:
        host: the run's watcher host.
        number: its handle; its events carry it.
        script_class: ``"FsWatcher"`` or ``"RemoteWatcher"``.
        vfs_name: the VFS Library entry a RemoteWatcher watches (None for FsWatcher).
    """

    def __init__(
        self, host: WatcherHost, number: int, script_class: str, vfs_name: str | None
    ) -> None:
        self.host = host
        self.number = number
        self.script_class = script_class
        self.vfs_name = vfs_name
        self.dirs: list[tuple[str, bool]] = []
        self.running: _Watcher | None = None
        #: The JS object's own properties (its settings), as of the current call.
        self.state: dict[str, Any] = {}

    @host_function("Watcher.WatchDir")
    def WatchDir(self, path: str, recursive: bool = False) -> None:
        self.dirs.append((path, recursive))

    @host_function("Watcher.Start", wrapped=True)
    def Start(self) -> bool:
        """Start watching; False (logged) when it cannot or already runs."""
        what = self.script_class
        if self.running is not None:
            self.host.log("warn", f"{what}.Start: already started")
            return False
        remote = self.vfs_name is not None
        settings = _Config(what, self.dirs, self.state, remote=remote)
        if remote and not settings.dirs:
            settings.dirs = [("/", True)]  # the whole VFS
        if not settings.dirs:
            self.host.log("warn", f"{what}.Start: no folder to watch (call WatchDir first)")
            return False
        watcher = self.host.make(self.number, settings, self.vfs_name)
        if watcher is None:
            return False
        try:
            started = watcher.start()
        except BaseException:
            watcher.stop()
            raise
        if not started:
            watcher.stop()
            return False
        self.running = watcher
        return True

    @host_function("Watcher.Stop", wrapped=True)
    def Stop(self) -> bool:
        """Stop watching; False when it was not running. No callback runs afterwards."""
        watcher, self.running = self.running, None
        if watcher is None:
            return False
        watcher.stop()
        return True


class WatcherHost(HostObject):
    """Host functions for the watchers of one script run.

    Args:
        inbox: where watcher threads put their events for the script thread.
        log: ``log(level, text)`` into the job log (masked); watcher threads call it too.
        reveal: registers a credential that must be masked in every log line.
        library: the VFS Library RemoteWatcher opens entries from (None: it has none).
        script_name: part of the key of RemoteWatcher's state files.
        state_dir: where RemoteWatcher keeps what it last reported (None: nowhere).
    """

    def __init__(
        self,
        *,
        inbox: Inbox,
        log: Callable[[str, str], None],
        reveal: Callable[[str], None],
        library: VfsLibrary | None = None,
        script_name: str = "",
        state_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self._inbox = inbox
        self.log = log
        self._reveal = reveal
        self._library = library
        self._script = script_name
        self._state_dir = None if state_dir is None else Path(state_dir)
        self._watchers: dict[int, ScriptWatcher] = {}

    def functions(self) -> dict[str, HostFunction]:
        """This host's functions and its watchers' methods, for the engine's table."""
        return {**bind(self), **bind_methods(ScriptWatcher, self._watcher)}

    def close(self) -> None:
        """Stop every watcher still running."""
        watchers, self._watchers = self._watchers, {}
        for watcher in watchers.values():
            watcher.Stop()

    def __enter__(self) -> WatcherHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @host_function("new FsWatcher", wrapped=True)
    def new_fs_watcher(self) -> int:
        """A handle for a new FsWatcher."""
        return self._add("FsWatcher", None)

    @host_function("new RemoteWatcher", wrapped=True)
    def new_remote_watcher(self, vfs_name: str) -> int:
        """A handle for a new RemoteWatcher of the VFS Library entry ``vfs_name``."""
        return self._add("RemoteWatcher", vfs_name)

    def _add(self, script_class: str, vfs_name: str | None) -> int:
        number = len(self._watchers) + 1
        self._watchers[number] = ScriptWatcher(self, number, script_class, vfs_name)
        return number

    def _watcher(self, receiver: Any) -> ScriptWatcher:
        """The watcher a JS receiver ``{handle, state}`` names, with the state it sent."""
        watcher = None
        if isinstance(receiver, dict) and isinstance(receiver.get("state"), dict):
            number = receiver.get("handle")
            watcher = self._watchers.get(number) if isinstance(number, int) else None
        if watcher is None:
            raise HostTypeError("not a watcher")
        watcher.state = receiver["state"]
        return watcher

    def make(
        self, number: int, settings: _Config, vfs_name: str | None
    ) -> _FsWatch | _RemoteWatch | None:
        """The watcher to run for handle ``number``; None (logged) when its VFS cannot open."""
        if vfs_name is None:
            return _FsWatch(number, settings, self._inbox, self.log)
        vfs = self._open(vfs_name)
        if vfs is None:
            return None
        return _RemoteWatch(
            number, settings, self._inbox, self.log,
            vfs=vfs, vfs_name=vfs_name, state=self._state_dir, script=self._script,
        )  # fmt: skip

    def _open(self, name: str) -> Vfs | None:
        """Open VFS Library entry ``name`` with its credentials masked; None (logged) if not."""
        from aft.vfs import open_vfs
        from aft.vfs.library import secret_values

        try:
            if self._library is None:
                raise AftError(f"no VFS named {name!r}: this run has no VFS Library")
            profile = self._library.get(name)
            payload = self._library.payload(profile.name)
            for value in secret_values(payload):
                self._reveal(value)
            return open_vfs(profile.type, profile.target, payload)
        except (AftError, OSError, ValueError) as exc:
            self.log("error", f"RemoteWatcher.Start: {exc}")
            return None
