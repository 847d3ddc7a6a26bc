"""An fsspec file system over the VFS Library: ``aft://<vfs name>/<path>``.

With ``aft[fsspec]`` installed, fsspec finds it through its ``fsspec.specs`` entry point,
so every library built on fsspec (pandas, pyarrow, dask...) reads and writes through a
named connection with the credentials the library stores::

    pandas.read_csv("aft://partner/out/report.csv")
    df.to_parquet("aft://archive/2026/report.parquet")

The instance is the one ``AFT_HOME`` names (else the user's), or pass one:
``fsspec.filesystem("aft", instance=my_instance)``; ``storage_options={"home": ...}``
opens another home. ``aft://`` lists the library's names as directories. A file written
through it appears under its name only once complete (as every aft upload).
"""

from __future__ import annotations

import datetime
import io
import posixpath
from typing import Any

from fsspec.spec import AbstractBufferedFile, AbstractFileSystem  # type: ignore[import-untyped]

from aft.exceptions import VfsError
from aft.instance import Instance
from aft.vfs.base import Vfs, copy_file, normalize, temp_name

__all__ = ["AftFileSystem"]


class AftFileSystem(AbstractFileSystem):  # type: ignore[misc]
    """The VFS Library as one fsspec file system: ``<vfs name>/<path in that VFS>``.

    Args:
        instance: the instance whose VFS Library it opens (default: ``Instance(home)``,
            opened on first use and closed by :meth:`close`).
        home: the instance home when no ``instance`` is given (default: ``AFT_HOME``,
            else the user data directory).
    """

    protocol = "aft"
    root_marker = ""

    def __init__(
        self, instance: Instance | None = None, home: str | None = None, **kwargs: Any
    ) -> None:
        if instance is not None and home is not None:
            raise ValueError("give an instance or a home, not both")
        unknown = set(kwargs) - {
            "skip_instance_cache",
            "use_listings_cache",
            "listings_expiry_time",
        }
        if unknown:
            raise TypeError(f"unknown aft file system options: {', '.join(sorted(unknown))}")
        super().__init__(**kwargs)
        self._instance = instance
        self._own = instance is None
        self._home = home
        self._vfs: dict[str, Vfs] = {}

    # ---- where a path lives ------------------------------------------------------

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = str(path)
        if path.startswith("aft://"):
            path = path[len("aft://") :]
        elif path.startswith("aft::"):
            path = path[len("aft::") :]
        return path.strip("/")

    def _library(self) -> Instance:
        if self._instance is None:
            self._instance = Instance(self._home)
        return self._instance

    def _split(self, path: str) -> tuple[str, str]:
        """(vfs name, path in it) of ``path``; the name is "" for the library's root."""
        name, _, rest = self._strip_protocol(path).partition("/")
        return name, normalize(rest)

    def _open_vfs(self, name: str) -> Vfs:
        if name not in self._vfs:
            self._vfs[name] = self._library().vfs.open(name)
        return self._vfs[name]

    def _entry(self, name: str, path: str, is_dir: bool, size: int, mtime: float) -> dict[str, Any]:
        full = name + (path if path != "/" else "")
        kind = "directory" if is_dir else "file"
        return {"name": full, "size": size, "type": kind, "mtime": mtime}

    def close(self) -> None:
        """Close the VFS connections it opened (and the instance it opened itself)."""
        for vfs in self._vfs.values():
            vfs.close()
        self._vfs.clear()
        if self._own and self._instance is not None:
            self._instance.close()
            self._instance = None

    # ---- reading the tree ----------------------------------------------------------

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        name, inner = self._split(path)
        if not name:
            entries = [self._entry(p.name, "/", True, 0, 0.0) for p in self._library().vfs.list()]
        else:
            vfs = self._open_vfs(name)
            info = vfs.stat(inner)
            if not info.is_dir:
                entries = [self._entry(name, info.path, False, info.size, info.mtime)]
            else:
                entries = [
                    self._entry(name, i.path, i.is_dir, i.size, i.mtime) for i in vfs.listdir(inner)
                ]
        entries.sort(key=lambda e: e["name"])
        return entries if detail else [e["name"] for e in entries]

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        name, inner = self._split(path)
        if not name:
            return {"name": "", "size": 0, "type": "directory"}
        info = self._open_vfs(name).stat(inner)
        return self._entry(name, info.path, info.is_dir, info.size, info.mtime)

    def modified(self, path: str) -> datetime.datetime:
        mtime = self.info(path)["mtime"]
        return datetime.datetime.fromtimestamp(mtime, tz=datetime.timezone.utc)

    # ---- changing it ---------------------------------------------------------------

    def _inside(self, path: str) -> tuple[Vfs, str]:
        """The VFS and path of an entry that may change (never a VFS's root)."""
        name, inner = self._split(path)
        if not name or inner == "/":
            raise PermissionError(f"{path!r} is a VFS Library entry, not a path inside one")
        return self._open_vfs(name), inner

    def _to_write(self, path: str) -> tuple[Vfs, str]:
        """Like :meth:`_inside`, with the file's folders made (as fsspec's file systems do)."""
        vfs, inner = self._inside(path)
        vfs.makedirs(posixpath.dirname(inner))
        return vfs, inner

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        if self.exists(path):
            raise FileExistsError(path)
        vfs, inner = self._inside(path)
        if create_parents:
            vfs.makedirs(inner)
        else:
            vfs.mkdir(inner)

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        if self.exists(path):
            if not exist_ok or not self.isdir(path):
                raise FileExistsError(path)
            return
        vfs, inner = self._inside(path)
        vfs.makedirs(inner)

    def rmdir(self, path: str) -> None:
        vfs, inner = self._inside(path)
        vfs.rmdir(inner)

    def _rm(self, path: str) -> None:
        vfs, inner = self._inside(path)
        if vfs.stat(inner).is_dir:
            vfs.rmdir(inner)
        else:
            vfs.remove(inner)

    def cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        src_name, src_path = self._split(path1)
        if self.isdir(path1):
            self.makedirs(path2, exist_ok=True)
            return
        dst, dst_path = self._to_write(path2)
        copy_file(self._open_vfs(src_name), src_path, dst, dst_path)

    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: Any = None,
        autocommit: bool = True,
        cache_options: Any = None,
        **kwargs: Any,
    ) -> Any:
        if mode == "rb":
            return _Reader(self, path, block_size=block_size, cache_options=cache_options)
        if mode not in ("wb", "xb"):
            raise ValueError(f"the aft file system opens files 'rb', 'wb' or 'xb', not {mode!r}")
        if not autocommit:
            raise ValueError("the aft file system commits each file when it is closed")
        if mode == "xb" and self.exists(path):
            raise FileExistsError(path)
        vfs, inner = self._to_write(path)
        return _Upload(vfs, inner)


class _Reader(AbstractBufferedFile):  # type: ignore[misc]
    """A seekable read of one file, fetched in ranges (pyarrow and pandas seek)."""

    def __init__(self, fs: AftFileSystem, path: str, **kwargs: Any) -> None:
        name, inner = fs._split(path)
        self._vfs = fs._open_vfs(name)
        self._inner = inner
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        super().__init__(fs, path, mode="rb", **kwargs)

    def _fetch_range(self, start: int, end: int) -> bytes:
        with self._vfs.open_read(self._inner, start) as f:
            data: bytes = f.read(end - start)
        return data


class _Upload(io.RawIOBase):
    """Streams to a temporary name and renames it into place on a clean close; an
    exception inside ``with`` discards it."""

    def __init__(self, vfs: Vfs, path: str) -> None:
        self._vfs = vfs
        self._path = path
        self._tmp = path if vfs.atomic_writes else temp_name(path)
        self._stream = vfs.open_write(self._tmp)

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self._stream.write(view)
        return len(view)

    def close(self) -> None:
        if self.closed:
            return
        try:
            self._stream.close()
            if self._tmp != self._path:
                self._vfs.rename(self._tmp, self._path)
        except BaseException:
            self._discard()
            raise
        finally:
            super().close()

    def _discard(self) -> None:
        try:
            self._stream.close()
            if self._tmp != self._path:
                self._vfs.remove(self._tmp)
        except (OSError, VfsError):
            pass

    def __exit__(self, cls: Any, exc: Any, tb: Any) -> None:
        if exc is not None:
            self._discard()
            super().close()
            return
        self.close()
