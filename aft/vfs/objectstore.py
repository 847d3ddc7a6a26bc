"""What the object-store backends (S3, Azure Blob, Google Cloud Storage) share.

A store holds flat keys; a VFS over one (a bucket or container, or a prefix in it) sees
directories in them: ``a/b`` is a directory when a key lies below ``a/b/`` or a zero-byte
marker ``a/b/`` exists. This base class maps paths to keys and does the checks every
backend's ``stat`` and ``rename`` make; the backends talk to their stores.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from aft.exceptions import VfsIsADirectory, VfsNotADirectory, VfsNotFound, VfsPathError
from aft.models import FileInfo
from aft.vfs.base import Vfs, normalize


def key_prefix(prefix: str) -> str:
    """The key prefix a VFS root maps to: ``""``, or the prefix with one ``/`` after it."""
    prefix = normalize(prefix).strip("/")
    return f"{prefix}/" if prefix else ""


def plain(name: str) -> bool:
    """A key part usable as one VFS name (not empty, no ``/``, not ``.`` or ``..``)."""
    return name not in ("", ".", "..") and "/" not in name


class ObjectStoreVfs(Vfs):
    """A VFS over the keys of an object store below ``_prefix`` (see :func:`key_prefix`)."""

    atomic_writes = True
    thread_safe = True
    _prefix: str

    def _key(self, path: str) -> str:
        """The key of ``path`` (the prefix itself for the root)."""
        return self._prefix + normalize(path)[1:]

    def _dir_key(self, path: str) -> str:
        """The prefix of the keys below directory ``path`` (its marker's key)."""
        path = normalize(path)
        return self._prefix if path == "/" else self._key(path) + "/"

    def _lookup(self, path: str) -> FileInfo | None:
        """What normalised ``path`` is: a file, a directory, or nothing (None)."""
        raise NotImplementedError

    def stat(self, path: str) -> FileInfo:
        path = normalize(path)
        info = self._lookup(path)
        if info is None:
            raise VfsNotFound(f"{path}: no such file or directory")
        return info

    def _rename_checks(self, src: str, dst: str) -> FileInfo | None:
        """Check a rename of normalised ``src`` to ``dst`` as a file system would; an empty
        directory at ``dst`` is removed to be replaced. Returns what ``src`` is, or None when
        there is nothing to do (``src`` is ``dst``)."""
        source = self.stat(src)
        if src == dst:
            return None
        if dst.startswith(src.rstrip("/") + "/"):
            raise VfsPathError(f"cannot move {src} into itself ({dst})")
        target = self._lookup(dst)
        if target is not None and target.is_dir:
            if not source.is_dir:
                raise VfsIsADirectory(f"{dst}: is a directory")
            self.rmdir(dst)  # only an empty directory may be replaced
        elif target is not None and source.is_dir:
            raise VfsNotADirectory(f"{dst}: not a directory")
        return source


class AbortingUpload:
    """Mixed into the backends' upload streams (before their io base class): leaving a
    ``with`` block by an exception, or dropping the stream unclosed, calls ``abort`` and
    nothing appears in the store."""

    # What the stream itself provides (annotations only: nothing here shadows them).
    closed: bool
    abort: Callable[[], None]
    close: Callable[[], None]

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __del__(self) -> None:
        if not self.closed:
            with contextlib.suppress(Exception):
                self.abort()


def take_front(buffer: bytearray, size: int) -> bytes:
    """The first ``size`` bytes of ``buffer`` as one part's body, removed from it.

    One copy: ``bytes(buffer[:size])`` would make two (the slice, then the bytes), an
    extra part's worth of memory for every part an upload sends.
    """
    with memoryview(buffer) as view:
        body = bytes(view[:size])
    del buffer[:size]
    return body
