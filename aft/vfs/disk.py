"""The Disk VFS: a local directory that no path can leave.

Every operation resolves the symlinks in its path (:func:`os.path.realpath`) and refuses
a path that lands outside the root, so ``..``, absolute paths, NUL, backslashes and symlinks
(existing ones, or ones a caller creates) cannot reach the rest of the host. An
operation on an entry itself (``lstat``, ``remove``, ``rename``, ``mkdir``, ...) resolves
its parent; an operation through an entry (``stat``, ``open_*``, ``chmod``, ...) resolves
the whole path, including a final symlink. The check and the system call are two
steps: a process that swaps a directory for a symlink in between is out of scope.

Listings do not follow directory symlinks: a symlink to a file inside the root is
listed as that file; any other symlink (to a directory, outside the root, dangling)
is listed as an empty non-directory entry, so walks never loop or leave the tree.
"""

from __future__ import annotations

import contextlib
import io
import os
import posixpath
import stat as stat_mod
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from aft.exceptions import (
    VfsError,
    VfsNotFound,
    VfsPathError,
    VfsPermission,
)
from aft.models import FileInfo
from aft.vfs.base import Field, Vfs, VfsSchema, normalize, vfs_error


class _oserrors:  # noqa: N801 - used like a function; a class is the cheaper context manager
    """Translate an ``OSError`` in the block into the aft error tree."""

    __slots__ = ("what",)

    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, cls: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if isinstance(exc, OSError) and not isinstance(exc, VfsError):
            raise vfs_error(exc, self.what) from exc


def _info(path: str, st: os.stat_result) -> FileInfo:
    is_dir = stat_mod.S_ISDIR(st.st_mode)
    return FileInfo(path, is_dir, 0 if is_dir else st.st_size, st.st_mtime)


class DiskFile(io.FileIO):
    """A plain unbuffered file whose I/O errors are aft errors naming the VFS path.

    ``write`` always writes all of its argument.
    """

    def __init__(self, host_path: str, mode: str, vfs_path: str) -> None:
        super().__init__(host_path, mode)
        self.vfs_path = vfs_path

    def read(self, size: int | None = -1) -> bytes:
        with _oserrors(self.vfs_path):
            return super().read(size) or b""

    def readinto(self, buffer: Any) -> int:
        with _oserrors(self.vfs_path):
            return super().readinto(buffer) or 0

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        total = len(view)
        with _oserrors(self.vfs_path):
            while view:
                view = view[super().write(view) or 0 :]
        return total

    def close(self) -> None:
        with _oserrors(self.vfs_path):
            super().close()


class DiskSchema(VfsSchema):
    """A Disk profile: target ``/abs/root`` (or ``file:///abs/root``), no payload."""

    type_name = "Disk"
    summary = "A folder on the machine that runs aft"
    noun = "a Disk target"
    shape = "/abs/root"
    schemes = ("file",)
    target_fields = (
        Field(
            "root",
            "Folder",
            part="path",
            kind="path",
            required=True,
            placeholder="/srv/transfer",
            help="An absolute path on the machine that runs aft serve.",
        ),
    )

    @classmethod
    def compose_target(cls, fields: Mapping[str, str]) -> str:
        return str(fields.get("root") or "").strip()

    @classmethod
    def parse_target(cls, target: str) -> dict[str, str]:
        path = target
        if target.startswith("file:"):
            parts = urlsplit(target)
            if parts.netloc not in ("", "localhost"):
                raise VfsPathError(f"a Disk VFS target names a local path, not {parts.netloc!r}")
            path = unquote(parts.path)
        if not path.startswith("/"):
            raise VfsPathError(f"a Disk VFS target must be an absolute path, got {target!r}")
        return {"root": path}


class DiskVfs(DiskSchema, Vfs):
    """A local directory tree as a VFS.

    Args:
        root: the directory that becomes ``/``; symlinks in it are resolved once, here.

    Raises:
        VfsNotFound: when ``root`` is not an existing directory.
    """

    thread_safe = True
    local = True

    def __init__(self, root: str | os.PathLike[str]) -> None:
        real = os.path.realpath(os.fspath(root))
        if not os.path.isdir(real):
            raise VfsNotFound(f"Disk VFS root {os.fspath(root)} is not an existing directory")
        self.root = real
        self._base = real.rstrip("/")
        self._prefix = self._base + "/"

    @classmethod
    def from_target(cls, target: str, payload: dict[str, Any]) -> DiskVfs:
        """Open ``/abs/root`` or ``file:///abs/root`` (the payload is unused)."""
        return cls(cls.parse_target(target)["root"])

    def __repr__(self) -> str:
        return f"DiskVfs({self.root!r})"

    # ---- path resolution ---------------------------------------------------------

    def _real(self, vpath: str) -> str:
        """The host path of ``vpath`` with every symlink resolved; never outside the root.

        The root is real already, so only the parts below it are looked at; a path
        without symlinks (the usual case) costs one ``lstat`` per existing part. Below
        the root ``/`` (a script's local disk) nothing can lead outside: no part is.
        """
        host = self._base + vpath
        if not self._base:
            return host
        path = self._base
        for part in vpath.split("/")[1:]:
            path += "/" + part
            try:
                if not stat_mod.S_ISLNK(os.lstat(path).st_mode):
                    continue
            except OSError:  # the rest does not exist, so it holds no symlink
                return host
            real = os.path.realpath(host)
            if real != self.root and not real.startswith(self._prefix):
                raise VfsPathError(f"{vpath}: resolves outside the VFS root")
            return real
        return host

    def _entry(self, vpath: str, action: str = "") -> str:
        """The host path of the entry ``vpath`` itself: its parent resolved, its name not.

        ``action`` names an operation that must not touch the root itself.
        """
        head, name = posixpath.split(vpath)
        if not name:
            if action:
                raise VfsPermission(f"cannot {action} the VFS root")
            return self.root
        return os.path.join(self._real(head), name)

    # ---- primitives --------------------------------------------------------------

    def stat(self, path: str) -> FileInfo:
        vpath = normalize(path)
        with _oserrors(vpath):
            return _info(vpath, os.stat(self._real(vpath)))

    def lstat(self, path: str) -> FileInfo:
        vpath = normalize(path)
        with _oserrors(vpath):
            return _info(vpath, os.lstat(self._entry(vpath)))

    def listdir(self, path: str) -> list[FileInfo]:
        vpath = normalize(path)
        prefix = vpath.rstrip("/") + "/"
        infos = []
        with _oserrors(vpath), os.scandir(self._real(vpath)) as entries:
            for entry in entries:
                with contextlib.suppress(FileNotFoundError):  # removed while listing
                    infos.append(self._listed(prefix + entry.name, entry))
        return infos

    def _listed(self, vpath: str, entry: os.DirEntry[str]) -> FileInfo:
        st = entry.stat(follow_symlinks=False)
        if not stat_mod.S_ISLNK(st.st_mode):
            return _info(vpath, st)
        with contextlib.suppress(OSError, VfsError):
            target = os.stat(self._real(vpath))
            if stat_mod.S_ISREG(target.st_mode):
                return _info(vpath, target)
        return FileInfo(vpath, False, 0, st.st_mtime)

    def open_read(self, path: str, offset: int = 0) -> DiskFile:
        vpath = normalize(path)
        with _oserrors(vpath):
            f = DiskFile(self._real(vpath), "rb", vpath)
            if offset:
                try:
                    f.seek(offset)
                except BaseException:
                    f.close()
                    raise
        return f

    def open_write(self, path: str) -> DiskFile:
        vpath = normalize(path)
        with _oserrors(vpath):
            return DiskFile(self._real(vpath), "wb", vpath)

    def mkdir(self, path: str) -> None:
        vpath = normalize(path)
        with _oserrors(vpath):
            os.mkdir(self._entry(vpath))

    def remove(self, path: str) -> None:
        vpath = normalize(path)
        with _oserrors(vpath):
            os.unlink(self._entry(vpath))

    def rmdir(self, path: str) -> None:
        vpath = normalize(path)
        with _oserrors(vpath):
            os.rmdir(self._entry(vpath, "remove"))

    def rename(self, src: str, dst: str) -> None:
        src, dst = normalize(src), normalize(dst)
        with _oserrors(f"rename {src} -> {dst}"):
            os.rename(self._entry(src, "rename"), self._entry(dst, "replace"))

    # ---- optional operations -----------------------------------------------------

    def chmod(self, path: str, mode: int) -> None:
        vpath = normalize(path)
        with _oserrors(vpath):
            os.chmod(self._real(vpath), mode)

    def chown(self, path: str, uid: int, gid: int) -> None:
        vpath = normalize(path)
        with _oserrors(vpath):
            os.chown(self._real(vpath), uid, gid)

    def chtimes(self, path: str, atime: float, mtime: float) -> None:
        vpath = normalize(path)
        with _oserrors(vpath):
            os.utime(self._real(vpath), (atime, mtime))

    def truncate(self, path: str, size: int) -> None:
        vpath = normalize(path)
        with _oserrors(vpath):
            os.truncate(self._real(vpath), size)

    def symlink(self, target: str, link: str) -> None:
        """Create ``link`` pointing at the VFS path ``target`` (stored as a relative link).

        Raises:
            VfsPathError: when ``target`` resolves outside the root.
        """
        target, link = normalize(target), normalize(link)
        with _oserrors(link):
            self._real(target)
            host_link = self._entry(link)
            os.symlink(os.path.relpath(self._base + target, os.path.dirname(host_link)), host_link)
