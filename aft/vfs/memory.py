"""The Memory VFS: files that live in this process's memory, for tests and notebooks.

Its target is ``memory://NAME``: every VFS opened on the same name in one process sees
the same files, so a test can put files where a script's ``GetVFS`` finds them and read
back what it wrote. The files are gone when the process ends or
:meth:`MemoryVfs.forget` drops them; a job that runs in a worker process sees that
process's memory, not its submitter's.

It is not one of the types a person is offered (:data:`aft.vfs.BACKENDS`);
:mod:`aft.testing` registers it while its fixtures are in use (see
:func:`aft.vfs.register_backend`).
"""

from __future__ import annotations

import io
import threading
import time
from typing import Any, BinaryIO, ClassVar

from aft.exceptions import (
    VfsDirectoryNotEmpty,
    VfsError,
    VfsExists,
    VfsIsADirectory,
    VfsNotADirectory,
    VfsNotFound,
    VfsPathError,
    VfsPermission,
)
from aft.models import FileInfo
from aft.vfs.base import Field, Vfs, VfsSchema, normalize


class _Dir:
    __slots__ = ("entries", "mtime")

    def __init__(self) -> None:
        self.entries: dict[str, _Dir | _File] = {}
        self.mtime = time.time()


class _File:
    __slots__ = ("data", "mtime")

    def __init__(self) -> None:
        self.data = bytearray()
        self.mtime = time.time()


class _Writer(io.RawIOBase):
    """Appends to a file's bytes, visible as they are written (like a disk file)."""

    def __init__(self, node: _File, lock: threading.RLock) -> None:
        self._node = node
        self._lock = lock

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        with self._lock:
            self._node.data += view
            self._node.mtime = time.time()
        return len(view)


class MemorySchema(VfsSchema):
    """A Memory profile: target ``memory://NAME``, no payload."""

    type_name = "Memory"
    summary = "Files in the memory of the process that runs aft (for tests)"
    noun = "a Memory target"
    shape = "memory://name"
    schemes = ("memory",)
    target_fields = (
        Field(
            "name",
            "Name",
            part="host",
            kind="name",
            required=True,
            placeholder="partner",
            help="VFSs opened on the same name in one process share their files.",
        ),
    )


class MemoryVfs(MemorySchema, Vfs):
    """A file system in memory, shared by name within the process.

    Args:
        name: the file system's name (``memory://NAME``); the same name, the same files.
    """

    thread_safe = True
    local = True
    #: Every named file system of this process, and the lock that guards them all.
    _trees: ClassVar[dict[str, _Dir]] = {}
    _lock: ClassVar[threading.RLock] = threading.RLock()

    def __init__(self, name: str) -> None:
        if not name or "/" in name:
            raise VfsPathError(f"a Memory VFS name is a word without '/', not {name!r}")
        self.name = name
        with self._lock:
            self._root = self._trees.setdefault(name, _Dir())

    @classmethod
    def from_target(cls, target: str, payload: dict[str, Any]) -> MemoryVfs:
        if payload:
            raise VfsPathError("a Memory VFS takes no payload")
        cls.check_target(target)
        fields = cls.parse_target(target)
        return cls(fields["name"])

    @classmethod
    def forget(cls, name: str | None = None) -> None:
        """Drop the files of the file system ``name`` (None: of every one). VFSs still
        open on it keep what they had; the next one opened starts empty."""
        with cls._lock:
            if name is None:
                cls._trees.clear()
            else:
                cls._trees.pop(name, None)

    # ---- finding entries -----------------------------------------------------------

    def _node(self, path: str) -> tuple[str, _Dir | _File]:
        path = normalize(path)
        node: _Dir | _File = self._root
        for part in path.split("/")[1:] if path != "/" else []:
            if not isinstance(node, _Dir):
                raise VfsNotADirectory(f"{path}: a parent is not a directory")
            child = node.entries.get(part)
            if child is None:
                raise VfsNotFound(f"{path}: no such file or directory")
            node = child
        return path, node

    def _parent(self, path: str) -> tuple[str, _Dir, str]:
        """The normalised path, its parent directory and its name (never the root)."""
        path = normalize(path)
        if path == "/":
            raise VfsPermission("/: the root cannot be changed")
        head, _, name = path.rpartition("/")
        _, parent = self._node(head or "/")
        if not isinstance(parent, _Dir):
            raise VfsNotADirectory(f"{path}: the parent is not a directory")
        return path, parent, name

    @staticmethod
    def _info(path: str, node: _Dir | _File) -> FileInfo:
        if isinstance(node, _Dir):
            return FileInfo(path, True, 0, node.mtime)
        return FileInfo(path, False, len(node.data), node.mtime)

    # ---- primitives ----------------------------------------------------------------

    def stat(self, path: str) -> FileInfo:
        with self._lock:
            return self._info(*self._node(path))

    def listdir(self, path: str) -> list[FileInfo]:
        with self._lock:
            path, node = self._node(path)
            if not isinstance(node, _Dir):
                raise VfsNotADirectory(f"{path}: not a directory")
            base = path.rstrip("/")
            return [self._info(f"{base}/{name}", child) for name, child in node.entries.items()]

    def open_read(self, path: str, offset: int = 0) -> BinaryIO:
        with self._lock:
            path, node = self._node(path)
            if isinstance(node, _Dir):
                raise VfsIsADirectory(f"{path}: is a directory")
            return io.BytesIO(bytes(node.data[offset:]))

    def open_write(self, path: str) -> BinaryIO:
        with self._lock:
            path, parent, name = self._parent(path)
            node = parent.entries.get(name)
            if isinstance(node, _Dir):
                raise VfsIsADirectory(f"{path}: is a directory")
            node = parent.entries[name] = _File()
            parent.mtime = node.mtime
            return _Writer(node, self._lock)  # type: ignore[return-value]

    def mkdir(self, path: str) -> None:
        with self._lock:
            path, parent, name = self._parent(path)
            if name in parent.entries:
                raise VfsExists(f"{path}: already exists")
            parent.entries[name] = _Dir()
            parent.mtime = time.time()

    def remove(self, path: str) -> None:
        with self._lock:
            path, parent, name = self._parent(path)
            node = parent.entries.get(name)
            if node is None:
                raise VfsNotFound(f"{path}: no such file or directory")
            if isinstance(node, _Dir):
                raise VfsIsADirectory(f"{path}: is a directory")
            del parent.entries[name]
            parent.mtime = time.time()

    def rmdir(self, path: str) -> None:
        with self._lock:
            path, parent, name = self._parent(path)
            node = parent.entries.get(name)
            if node is None:
                raise VfsNotFound(f"{path}: no such file or directory")
            if not isinstance(node, _Dir):
                raise VfsNotADirectory(f"{path}: not a directory")
            if node.entries:
                raise VfsDirectoryNotEmpty(f"{path}: directory not empty")
            del parent.entries[name]
            parent.mtime = time.time()

    def rename(self, src: str, dst: str) -> None:
        with self._lock:
            src, src_parent, src_name = self._parent(src)
            dst, dst_parent, dst_name = self._parent(dst)
            node = src_parent.entries.get(src_name)
            if node is None:
                raise VfsNotFound(f"{src}: no such file or directory")
            if src == dst:
                return
            if isinstance(node, _Dir) and dst.startswith(src + "/"):
                raise VfsError(f"{dst}: a directory cannot move into itself")
            there = dst_parent.entries.get(dst_name)
            if isinstance(there, _Dir):
                if not isinstance(node, _Dir):
                    raise VfsIsADirectory(f"{dst}: is a directory")
                if there.entries:
                    raise VfsDirectoryNotEmpty(f"{dst}: directory not empty")
            elif there is not None and isinstance(node, _Dir):
                raise VfsNotADirectory(f"{dst}: not a directory")
            del src_parent.entries[src_name]
            dst_parent.entries[dst_name] = node
            src_parent.mtime = dst_parent.mtime = time.time()

    # ---- optional operations ---------------------------------------------------------

    def chtimes(self, path: str, atime: float, mtime: float) -> None:
        with self._lock:
            self._node(path)[1].mtime = mtime

    def truncate(self, path: str, size: int) -> None:
        with self._lock:
            path, node = self._node(path)
            if isinstance(node, _Dir):
                raise VfsIsADirectory(f"{path}: is a directory")
            if size < len(node.data):
                del node.data[size:]
            else:
                node.data.extend(bytes(size - len(node.data)))
            node.mtime = time.time()
