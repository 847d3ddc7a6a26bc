"""The script objects that hold an open VFS (see vfs.js), and VirtualFS's methods.

A script holds each such object by an opaque handle (a small integer) that
:class:`~aft.syncjs.vfs_host.VfsHost` resolves to a :class:`Handle` here. Every
:class:`VirtualFsHandle` method returns a response: ``{Ok, ErrorMsg}`` plus what the method
adds; each key is a method of the JS response object (:data:`RESPONSE_FIELDS`).

Where the contract leaves room, this module chooses:

- ``new VirtualFS(name)`` for a missing entry cannot be ``null`` (a JS constructor always
  gives an object): it gives a VirtualFS whose every call fails (``Ok()`` false).
- ``ReadFileAs*``/``WriteFileAs*`` positions: ``FromStart`` counts ``offset`` from the start;
  ``FromEnd`` counts it back from the end (its sign is ignored: ``-512`` and ``512`` both
  mean the last 512 bytes); ``FromCurrent`` continues from where the last read or write of
  the same file through the same VirtualFS ended. A length of 0 (or none) reads to the end.
- ``WriteFileAs*`` without an offset replaces the file (written under a temporary name,
  renamed when complete). With an offset it writes *into* the file at that position,
  keeping the bytes around it (``FromEnd`` 0 appends; a gap past the end is zero-filled).
  No backend offers random-access writes, so that is a read-modify-write of the whole
  file through a temporary name, on every backend: meant for small files.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from aft.exceptions import VfsError, VfsNotFound
from aft.syncjs.declarations import BadArgument, HostObject, host_function
from aft.syncjs.host import IO_FAILURES, _dir_item, describe_failure, wrapping
from aft.syncjs.transfer_policy import copy

if TYPE_CHECKING:
    from aft.models import FileInfo
    from aft.syncjs.vfs_host import VfsHost
    from aft.vfs.base import Vfs

FROM_START, FROM_CURRENT, FROM_END = 0, 1, 2
SORT_ORDERS = {
    "SortByName": "name",
    "SortByNameDirsFirst": "namedf",
    "SortBySize": "size",
    "SortByTime": "time",
}
SORT_DIRECTIONS = {"SortAsc": "asc", "SortDesc": "desc"}
#: The VFS types as scripts name them (the keys of :data:`aft.vfs.BACKENDS`).
VFS_TYPES = {
    "VfsTypeDisk": "Disk",
    "VfsTypeSFTP": "SFTP",
    "VfsTypeFTP": "FTP",
    "VfsTypeS3": "S3",
    "VfsTypeAzure": "Azure",
    "VfsTypeGCS": "GCP",
    "VfsTypeR2FS": "R2FS",
}
#: The script constants of this module.
CONSTANTS: dict[str, Any] = {
    **VFS_TYPES,
    **SORT_ORDERS,
    **SORT_DIRECTIONS,
    "FromStart": FROM_START,
    "FromCurrent": FROM_CURRENT,
    "FromEnd": FROM_END,
}
#: The methods of a VirtualFS response, each with its answer when the response lacks it.
RESPONSE_FIELDS: dict[str, Any] = {
    "Ok": False,
    "ErrorMsg": "",
    "Info": None,
    "Infos": [],
    "Size": 0,
    "Data": None,
}

_SORT_KEYS: dict[str, Callable[[FileInfo], Any]] = {
    "name": lambda i: i.name,
    "namedf": lambda i: i.name,
    "size": lambda i: (i.size, i.name),
    "time": lambda i: (i.mtime, i.name),
}


def item(info: FileInfo) -> dict[str, Any]:
    """A SyncJS DirListItem."""
    return _dir_item(info.name, info.path, info.is_dir, info.size, info.mtime)


def json_object(value: str | dict[str, Any] | None, argument: str) -> dict[str, Any]:
    """A payload given as a JSON object or its text (``""`` and null: empty).

    Raises:
        BadArgument: naming ``argument`` when the text is not a JSON object.
    """
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise BadArgument("is not valid JSON", argument=argument) from None  # never quote it
    if not isinstance(value, dict):
        raise BadArgument("must be a JSON object", argument=argument)
    return value


class Handle(HostObject):
    """What a script's handle names: an open VFS (None: not open, every call fails).

    Error lines logged through :meth:`log` are kept as :attr:`failure` for ``ErrorMsg()``.

    Args:
        host: the run's VFS host.
        vfs: the open VFS, or None.
    """

    #: Why every call fails when there is no VFS.
    MISSING: ClassVar[str] = "not open"

    def __init__(self, host: VfsHost, vfs: Vfs | None) -> None:
        self.host = host
        self._vfs = vfs
        self.failure = ""

    @property
    def fs(self) -> Vfs:
        """The open VFS.

        Raises:
            VfsError: when there is none.
        """
        if self._vfs is None:
            raise VfsError(self.MISSING)
        return self._vfs

    def log(self, level: str, text: str) -> None:
        if level == "error":
            self.failure = self.host.mask(text)
        self.host.log(level, text)

    def close(self) -> None:
        """Close the VFS, if open; the handle stays valid (its calls then fail)."""
        vfs, self._vfs = self._vfs, None
        if vfs is not None:
            with contextlib.suppress(Exception):
                vfs.close()


def responding(method: Callable[..., Any]) -> Callable[..., dict[str, Any]]:
    """Make a VirtualFS method return a response: ``{Ok, ErrorMsg}`` plus what it returned.

    An I/O failure becomes ``Ok: false`` with its text (masked), and is not logged here:
    the script holds it and logs it once, with what it was doing, if it matters.
    """
    name = method.__name__

    def run(self: Handle, *args: Any) -> dict[str, Any]:
        try:
            result = method(self, *args)
        except IO_FAILURES as exc:
            self.failure = self.host.mask(f"{name}: {describe_failure(exc)}")
            return {"Ok": False, "ErrorMsg": self.failure}
        return {"Ok": True, "ErrorMsg": "", **(result or {})}

    return wrapping(method, run)  # type: ignore[arg-type]


class VirtualFsHandle(Handle):
    """A script's VirtualFS: each method returns a response (see :func:`responding`)."""

    script_class = "VirtualFS"
    MISSING = "this VirtualFS could not be opened (see the error logged when it was made)"

    def __init__(self, host: VfsHost, vfs: Vfs | None) -> None:
        super().__init__(host, vfs)
        self._positions: dict[str, int] = {}  # path -> where its last read or write ended

    @host_function("VirtualFS.Stat")
    @responding
    def Stat(self, path: str) -> dict[str, Any]:
        return {"Info": item(self.fs.stat(path))}

    @host_function("VirtualFS.Lstat")
    @responding
    def Lstat(self, path: str) -> dict[str, Any]:
        return {"Info": item(self.fs.lstat(path))}

    @host_function("VirtualFS.ReadDir")
    @responding
    def ReadDir(self, path: str, sort_by: str = "name", sort_dir: str = "asc") -> dict[str, Any]:
        if sort_by not in _SORT_KEYS:
            names = ", ".join(SORT_ORDERS)
            raise BadArgument(f"must be one of {names}, not {sort_by!r}", argument="sort_by")
        if sort_dir not in SORT_DIRECTIONS.values():
            raise BadArgument(f"must be SortAsc or SortDesc, not {sort_dir!r}", argument="sort_dir")
        infos = sorted(self.fs.listdir(path), key=_SORT_KEYS[sort_by], reverse=sort_dir == "desc")
        if sort_by == "namedf":
            infos.sort(key=lambda i: not i.is_dir)  # stable: directories first, each in name order
        return {"Infos": [item(i) for i in infos]}

    @host_function("VirtualFS.Mkdir")
    @responding
    def Mkdir(self, path: str) -> None:
        self.fs.mkdir(path)

    @host_function("VirtualFS.MkdirAll")
    @responding
    def MkdirAll(self, path: str) -> None:
        self.fs.makedirs(path)

    @host_function("VirtualFS.Rmdir")
    @responding
    def Rmdir(self, path: str) -> None:
        self.fs.rmdir(path)

    @host_function("VirtualFS.Rename")
    @responding
    def Rename(self, src: str, dst: str) -> None:
        with self.host.recording("move", self.fs, src, self.fs, dst):
            self.fs.rename(src, dst)

    @host_function("VirtualFS.Remove")
    @responding
    def Remove(self, file: str) -> None:
        with self.host.recording("delete", self.fs, file):
            self.fs.remove(file)

    @host_function("VirtualFS.RemoveAll")
    @responding
    def RemoveAll(self, path: str) -> None:
        """Remove ``path`` and everything below it; a missing path is fine (as Go's RemoveAll)."""
        with contextlib.suppress(VfsNotFound):
            self.fs.remove_tree(path, self.host.deleting(self.fs))

    @host_function("VirtualFS.TreeSize")
    @responding
    def TreeSize(self, path: str) -> dict[str, Any]:
        return {"Size": self.fs.tree_size(path)}

    @host_function("VirtualFS.Chmod")
    @responding
    def Chmod(self, path: str, mode: int) -> None:
        self.fs.chmod(path, mode)

    @host_function("VirtualFS.Chown")
    @responding
    def Chown(self, path: str, uid: int, gid: int) -> None:
        """Set the owner and group by number (-1 keeps one); Disk and SFTP only."""
        self.fs.chown(path, uid, gid)

    @host_function("VirtualFS.Chtimes")
    @responding
    def Chtimes(self, path: str, atime: float, mtime: float) -> None:
        self.fs.chtimes(path, atime, mtime)

    @host_function("VirtualFS.Truncate")
    @responding
    def Truncate(self, file: str, size: int) -> None:
        self.fs.truncate(file, size)

    @host_function("VirtualFS.Symlink")
    @responding
    def Symlink(self, path: str, link: str) -> None:
        self.fs.symlink(path, link)

    # ---- file contents -------------------------------------------------------------------

    @host_function("VirtualFS.ReadFileAsText")
    @responding
    def ReadFileAsText(
        self, file: str, length: int = 0, offset: int = 0, whence: int = FROM_START
    ) -> dict[str, Any]:
        data = self._read(file, length, offset, whence)
        return {"Data": data.decode("utf-8", errors="replace")}

    @host_function("VirtualFS.ReadFileAsHex")
    @responding
    def ReadFileAsHex(
        self, file: str, length: int = 0, offset: int = 0, whence: int = FROM_START
    ) -> dict[str, Any]:
        return {"Data": self._read(file, length, offset, whence).hex()}

    @host_function("VirtualFS.ReadFileAsBytes")
    @responding
    def ReadFileAsBytes(
        self, file: str, length: int = 0, offset: int = 0, whence: int = FROM_START
    ) -> dict[str, Any]:
        return {"Data": list(self._read(file, length, offset, whence))}

    @host_function("VirtualFS.WriteFileAsText")
    @responding
    def WriteFileAsText(
        self, file: str, data: str, offset: int | None = None, whence: int | None = None
    ) -> None:
        self._write(file, data.encode("utf-8"), offset, whence)

    @host_function("VirtualFS.WriteFileAsHex")
    @responding
    def WriteFileAsHex(
        self, file: str, data: str, offset: int | None = None, whence: int | None = None
    ) -> None:
        try:
            raw = bytes.fromhex(data)
        except ValueError:
            raise BadArgument("must be a hex string", argument="data") from None
        self._write(file, raw, offset, whence)

    @host_function("VirtualFS.WriteFileAsBytes")
    @responding
    def WriteFileAsBytes(
        self, file: str, data: list[int], offset: int | None = None, whence: int | None = None
    ) -> None:
        if not all(0 <= b < 256 for b in data):
            raise BadArgument("must be an array of byte values (0-255)", argument="data")
        self._write(file, bytes(data), offset, whence)

    def _start(self, path: str, offset: int, whence: int, size: Callable[[], int]) -> int:
        """The byte position ``offset``/``whence`` name in ``path`` (see the module docstring)."""
        if whence not in (FROM_START, FROM_CURRENT, FROM_END):
            raise BadArgument("must be FromStart, FromCurrent or FromEnd", argument="whence")
        if whence == FROM_END:
            return max(size() - abs(offset), 0)
        return max(offset + (self._positions.get(path, 0) if whence == FROM_CURRENT else 0), 0)

    def _read(self, path: str, length: int, offset: int, whence: int) -> bytes:
        start = self._start(path, offset, whence, lambda: self.fs.stat(path).size)
        with self.fs.open_read(path, start) as f:
            data = f.read(length) if length > 0 else f.read()
        self._positions[path] = start + len(data)
        return data

    def _write(self, path: str, data: bytes, offset: int | None, whence: int | None) -> None:
        if offset is None and whence is None:
            self.host.writing(self.fs, path, data)
            self._positions[path] = len(data)
            return
        try:
            old = self.fs.read_bytes(path)
        except VfsNotFound:
            old = b""
        start = self._start(path, offset or 0, whence or FROM_START, lambda: len(old))
        whole = old[:start].ljust(start, b"\0") + data + old[start + len(data) :]
        self.host.writing(self.fs, path, whole)
        self._positions[path] = start + len(data)

    # ---- copies between file systems -------------------------------------------------------

    @host_function("VirtualFS.ImportFile")
    @responding
    def ImportFile(self, local_file: str, vfs_file: str) -> None:
        """Copy a file of this machine into the VFS."""
        copy(
            self.host.local,
            os.path.abspath(local_file),
            self.fs,
            vfs_file,
            progress=self.host.doing("upload"),
        )

    @host_function("VirtualFS.ExportFile")
    @responding
    def ExportFile(self, vfs_file: str, local_file: str) -> None:
        """Copy a file of the VFS to this machine."""
        copy(
            self.fs,
            vfs_file,
            self.host.local,
            os.path.abspath(local_file),
            progress=self.host.doing("download"),
        )

    @host_function("VirtualFS.CopyToVFS")
    @responding
    def CopyToVFS(self, src_path: str, dst_vfs: VirtualFsHandle, dst_path: str) -> None:
        """Stream a file to another VirtualFS (of any type), with no local staging."""
        copy(self.fs, src_path, dst_vfs.fs, dst_path, progress=self.host.doing("copy"))

    @host_function("VirtualFS.MoveToVFS")
    @responding
    def MoveToVFS(self, src_path: str, dst_vfs: VirtualFsHandle, dst_path: str) -> None:
        """Copy, then remove the source (only once the copy is complete and verified)."""
        copy(self.fs, src_path, dst_vfs.fs, dst_path, progress=self.host.doing("move"))
        self.fs.remove(src_path)
