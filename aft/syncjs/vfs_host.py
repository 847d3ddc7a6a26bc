"""The Python side of GetVFS, VirtualFS and the remote clients (see vfs.js): their handles.

A script holds each VirtualFS and client by an opaque handle (a small integer) that
:class:`VfsHost` resolves to the object that serves it: a
:class:`~aft.syncjs.vfs_handles.VirtualFsHandle` or a
:class:`~aft.syncjs.clients.RemoteClient`. Backends are imported on first use, so a
script that touches no VFS pays nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from aft.exceptions import VfsNotFound
from aft.syncjs.clients import CLIENT_CLASSES, CLIENT_FIELDS, RemoteClient
from aft.syncjs.declarations import BadArgument, HostObject, bind, bind_methods, host_function
from aft.syncjs.engine import HostFunction, HostTypeError
from aft.syncjs.host import HaltSignal, io_call
from aft.syncjs.transfer_policy import TransferOptions
from aft.syncjs.vfs_handles import Handle, VirtualFsHandle, json_object

if TYPE_CHECKING:
    from aft.journal import Tracker
    from aft.models import FileInfo
    from aft.vfs.base import Vfs
    from aft.vfs.library import VfsLibrary

HandleT = TypeVar("HandleT", bound=Handle)


def script_defaults() -> dict[str, dict[str, Any]]:
    """What a new client's plain properties start as: its fields by class, and ``Options``."""
    fields = {name: CLIENT_FIELDS[kind].defaults() for name, kind in CLIENT_CLASSES.items()}
    return {**fields, "Options": TransferOptions.defaults()}


class VfsHost(HostObject):
    """Host functions for the VFS objects of one script run.

    Args:
        library: the VFS Library (None: no named VFS exists).
        log: ``log(level, text)`` into the job log.
        reveal: registers a credential that must be masked in every log line.
        halt: the run's halt signal (long transfers stop early when it is set).
        secret: looks up a secret's plaintext by name (None when missing), for the
            clients' ``PassFromSecret``, ``KeyFileSecret`` and ``APIKeySecretFromSecret``.
        mask: hides revealed values in a text (for ``ErrorMsg()``).
        tracker: follows the run's transfers (progress, and the transfer journal).
        files_in_flight: how many files a client's Upload or Download moves at once (None:
            what the two sides ask for, :func:`aft.vfs.base.batch_width`).
    """

    def __init__(
        self,
        *,
        library: VfsLibrary | None,
        log: Callable[[str, str], None],
        reveal: Callable[[str], None],
        halt: HaltSignal,
        secret: Callable[[str], str | None] | None = None,
        mask: Callable[[str], str] | None = None,
        tracker: Tracker | None = None,
        files_in_flight: int | None = None,
    ) -> None:
        self._library = library
        self.files_in_flight = files_in_flight
        self._log = log
        self.reveal = reveal
        self.halt = halt
        self._secret = secret
        self.mask = mask or (lambda text: text)
        self.tracker = tracker
        self._handles: dict[int, Handle] = {}
        self._local: Vfs | None = None

    def functions(self) -> dict[str, HostFunction]:
        """This host's functions and its objects' methods, for the engine's table."""
        return {
            **bind(self),
            **bind_methods(VirtualFsHandle, self._virtual_fs, self.handle),
            **bind_methods(RemoteClient, self._client),
        }

    def close(self) -> None:
        """Close every connection the script opened."""
        handles, self._handles = self._handles, {}
        for handle in handles.values():
            handle.close()

    def log(self, level: str, text: str) -> None:
        self._log(level, text)

    def secret(self, name: str) -> str | None:
        """A secret's plaintext (None when missing)."""
        return None if self._secret is None else self._secret(name)

    @property
    def local(self) -> Vfs:
        """This machine's file system as a Disk VFS rooted at ``/``."""
        if self._local is None:
            from aft.vfs.disk import DiskVfs

            self._local = DiskVfs("/")
            self._local.label = "local"
        return self._local

    def doing(self, op: str) -> Tracker | None:
        """The run's tracker, naming the files it copies ``op`` (None: no tracker)."""
        return None if self.tracker is None else self.tracker.doing(op)

    @contextlib.contextmanager
    def recording(
        self, op: str, vfs: Vfs, path: str, dst: Vfs | None = None, dst_path: str = ""
    ) -> Iterator[None]:
        """Record the block's operation on one file (a delete, a rename) in the journal."""
        if self.tracker is None:
            yield
            return
        from aft.vfs.base import name_of

        where = (name_of(dst), dst_path) if dst is not None else ("", "")
        try:
            yield
        except BaseException as exc:
            self.tracker.note(op, name_of(vfs), path, *where, error=exc)
            raise
        self.tracker.note(op, name_of(vfs), path, *where)

    def deleting(self, vfs: Vfs) -> Callable[[FileInfo, BaseException | None], None] | None:
        """What records each file a tree deletion removes from ``vfs`` (None: no tracker)."""
        tracker = self.tracker
        if tracker is None:
            return None
        from aft.vfs.base import name_of

        name = name_of(vfs)

        def each(info: FileInfo, error: BaseException | None) -> None:
            tracker.note("delete", name, info.path, error=error, size=info.size)

        return each

    def writing(self, vfs: Vfs, path: str, data: bytes) -> None:
        """Write ``data`` (from the script itself) to ``path``, recorded as a ``write``."""
        if self.tracker is None:
            vfs.write_bytes(path, data)
            return
        from aft.vfs.base import name_of, normalize

        record = self.tracker.start("script", "", name_of(vfs), normalize(path), op="write")
        try:
            vfs.write_bytes(path, data)
        except BaseException as exc:
            record.end(exc)
            raise
        record.add(data)
        record.end()

    def open(self, type_name: str, target: str, payload: dict[str, Any]) -> Vfs:
        """Open a VFS from a profile triple, once every credential in ``payload`` is masked."""
        from aft.vfs import open_vfs
        from aft.vfs.library import secret_values

        for value in secret_values(payload):
            self.reveal(value)
        return open_vfs(type_name, target, payload)

    def _add(self, handle: Handle) -> int:
        number = max(self._handles, default=0) + 1
        self._handles[number] = handle
        return number

    def handle(self, kind: type[HandleT], number: Any) -> HandleT:
        """The object handle ``number`` names; None gives one whose every call fails.

        Raises:
            HostTypeError: when ``number`` names no open object of ``kind``.
        """
        if number is None and kind is VirtualFsHandle:
            return kind(self, None)
        handle = self._handles.get(number) if isinstance(number, int) else None
        if not isinstance(handle, kind):
            raise HostTypeError(f"not an open {kind.script_class or kind.__name__}")
        return handle

    def _virtual_fs(self, number: Any) -> VirtualFsHandle:
        return self.handle(VirtualFsHandle, number)

    def _client(self, receiver: Any) -> RemoteClient:
        """The client a JS receiver ``{handle, state}`` names, with the state it sent."""
        if not isinstance(receiver, dict) or not isinstance(receiver.get("state"), dict):
            raise HostTypeError("not a remote client")
        client = self.handle(RemoteClient, receiver.get("handle"))
        client.state = receiver["state"]
        return client

    # ---- GetVFS and new VirtualFS --------------------------------------------------------

    @host_function("GetVFS", wrapped=True)
    @io_call(None)
    def GetVFS(self, name: str) -> int | None:
        """Open the VFS Library entry ``name``; None (logged) when there is none."""
        if self._library is None:
            raise VfsNotFound(f"no VFS named {name!r}: this run has no VFS Library")
        profile = self._library.get(name)
        vfs = self.open(profile.type, profile.target, self._library.payload(profile.name))
        vfs.label = profile.name
        return self._add(VirtualFsHandle(self, vfs))

    @host_function("new VirtualFS", wrapped=True)
    @io_call(None)
    def VirtualFS(
        self, type_: str, target: str, payload: str | dict[str, Any] | None = None
    ) -> int | None:
        """Open an ephemeral VFS; None (logged) when the target or payload does not fit."""
        from aft.vfs import BACKENDS

        if type_ not in BACKENDS:
            known = ", ".join(BACKENDS)
            raise BadArgument(f"must be a VFS type ({known}), not {type_!r}", argument="type_")
        vfs = self.open(type_, target, json_object(payload, "payload"))
        vfs.label = target.partition("?")[0]
        return self._add(VirtualFsHandle(self, vfs))

    # ---- remote clients ----------------------------------------------------------------

    @host_function("new Client", wrapped=True)
    def new_client(self, script_class: str) -> int:
        """A handle for a new client of ``script_class`` (``SftpClient``...), not connected."""
        if script_class not in CLIENT_CLASSES:
            raise BadArgument(f"is not a client class: {script_class!r}", argument="script_class")
        return self._add(RemoteClient(self, script_class))
