"""The VFS contract: what every backend must do, as one class of tests.

A backend's test module subclasses :class:`VfsContract` (name it ``Test...``) and provides
a ``vfs_factory`` fixture: a callable that returns a new, connected VFS on a fresh, empty
root each time it is called, and that closes what it made at teardown. The contract's
``vfs`` fixture is the first such instance; copy tests ask for a second one.

Class attributes say what the backend can do:

``supports``
    the optional operations it implements, out of :data:`OPTIONAL_OPS`. For each one
    listed the contract tests the behaviour; for the others it asserts ``VfsUnsupported``.
``real_dirs``
    ``False`` for object stores, where a directory is only a key prefix. Then the tests
    stop asserting what such a store cannot promise: that ``mkdir`` of an existing
    directory, ``mkdir`` or ``open_write`` under a missing parent, and ``rmdir`` or
    ``listdir`` of a file raise; those operations must still not corrupt anything.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import pytest

from aft.exceptions import (
    VfsConnectionError,
    VfsDirectoryNotEmpty,
    VfsError,
    VfsExists,
    VfsIsADirectory,
    VfsNotADirectory,
    VfsNotFound,
    VfsPathError,
    VfsUnsupported,
)
from aft.vfs.base import TEMP_MARKER, Vfs, copy_file
from aft.vfs.disk import DiskVfs

OPTIONAL_OPS = frozenset({"chmod", "chtimes", "truncate", "symlink"})

VfsFactory = Callable[[], Vfs]

BAD_PATHS = ["..", "/../x", "a/../../x", "/a/b/../../../etc", "x\x00y", "a\\b", "..\\x"]
ODD_NAMES = ["with space.txt", "ünïcödé.txt", "файл 日本 #1 (2).txt", "a+b=c&d%20e.txt"]


def payload(size: int, seed: int = 0) -> bytes:
    """Deterministic pseudo-random bytes."""
    return random.Random(seed).randbytes(size)


def names(vfs: Vfs, path: str = "/") -> list[str]:
    return sorted(i.name for i in vfs.listdir(path))


class _FailingReader:
    """Source stream that drops its "connection" after the first chunk."""

    def __init__(self, data: bytes) -> None:
        self._chunks = [data[: len(data) // 2]]

    def read(self, size: int = -1) -> bytes:
        if not self._chunks:
            raise VfsConnectionError("connection lost (simulated)")
        return self._chunks.pop()

    def __enter__(self) -> _FailingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class _FailingSource(DiskVfs):
    """A Disk VFS whose reads fail half-way: drives copy_file's clean-up on any target."""

    def open_read(self, path: str, offset: int = 0):  # type: ignore[override]
        with super().open_read(path) as f:
            return _FailingReader(f.read())


class VfsContract:
    """Tests every backend passes. See the module docstring for how to subclass."""

    supports: ClassVar[frozenset[str]] = frozenset()
    real_dirs: ClassVar[bool] = True

    @pytest.fixture
    def vfs(self, vfs_factory: VfsFactory) -> Vfs:
        return vfs_factory()

    # ---- files ------------------------------------------------------------------

    def test_root_is_an_empty_directory(self, vfs: Vfs) -> None:
        assert vfs.stat("/").is_dir
        assert vfs.isdir("/") and vfs.exists("/")
        assert vfs.listdir("/") == []
        assert vfs.tree_size("/") == 0

    def test_write_bytes_then_read_and_stat(self, vfs: Vfs) -> None:
        vfs.write_bytes("/a.txt", b"hello")
        assert vfs.read_bytes("/a.txt") == b"hello"
        info = vfs.stat("/a.txt")
        assert (info.path, info.name, info.is_dir, info.size) == ("/a.txt", "a.txt", False, 5)
        assert info.mtime > 0
        assert vfs.exists("a.txt") and not vfs.isdir("a.txt")
        assert names(vfs) == ["a.txt"]  # no temporary file left behind

    def test_write_bytes_replaces_a_file(self, vfs: Vfs) -> None:
        vfs.write_bytes("/a", b"old content, longer")
        vfs.write_bytes("/a", b"new")
        assert vfs.read_bytes("/a") == b"new"
        assert names(vfs) == ["a"]

    def test_open_write_streams_chunks(self, vfs: Vfs) -> None:
        chunks = [payload(100_000, seed) for seed in range(3)]
        with vfs.open_write("/big.bin") as f:
            for chunk in chunks:
                f.write(chunk)
        assert vfs.read_bytes("/big.bin") == b"".join(chunks)
        assert vfs.stat("/big.bin").size == 300_000

    def test_open_write_truncates_an_existing_file(self, vfs: Vfs) -> None:
        vfs.write_bytes("/f", b"0123456789")
        with vfs.open_write("/f") as f:
            f.write(b"ab")
        assert vfs.read_bytes("/f") == b"ab"

    def test_empty_file(self, vfs: Vfs) -> None:
        with vfs.open_write("/empty"):
            pass
        assert vfs.stat("/empty").size == 0
        assert vfs.read_bytes("/empty") == b""

    def test_open_read_from_an_offset(self, vfs: Vfs) -> None:
        data = payload(300_000)
        vfs.write_bytes("/f", data)
        with vfs.open_read("/f", 1000) as f:
            assert f.read(10) == data[1000:1010]
            assert f.read() == data[1010:]
            assert f.read(10) == b""
        for offset in (len(data), len(data) + 5):
            with vfs.open_read("/f", offset) as f:
                assert f.read() == b""

    def test_open_read_returns_what_was_asked(self, vfs: Vfs) -> None:
        data = payload(200_001)
        vfs.write_bytes("/f", data)
        with vfs.open_read("/f") as f:
            pieces = [f.read(65_537) for _ in range(4)]
        assert [len(p) for p in pieces] == [65_537, 65_537, 65_537, 3_390]
        assert b"".join(pieces) == data

    def test_paths_are_normalised(self, vfs: Vfs) -> None:
        vfs.makedirs("/a")
        vfs.write_bytes("a/b", b"x")
        for spelling in ("/a/b", "a/b", "//a//b", "/x/../a/./b", "/a/b/"):
            assert vfs.read_bytes(spelling) == b"x"
            assert vfs.stat(spelling).path == "/a/b"

    @pytest.mark.parametrize("bad", BAD_PATHS)
    def test_bad_paths_are_refused(self, vfs: Vfs, bad: str) -> None:
        vfs.write_bytes("/ok", b"x")
        calls: list[Callable[[], object]] = [
            lambda: vfs.stat(bad),
            lambda: vfs.lstat(bad),
            lambda: vfs.listdir(bad),
            lambda: vfs.open_read(bad),
            lambda: vfs.open_write(bad),
            lambda: vfs.mkdir(bad),
            lambda: vfs.makedirs(bad),
            lambda: vfs.remove(bad),
            lambda: vfs.rmdir(bad),
            lambda: vfs.rename("/ok", bad),
            lambda: vfs.rename(bad, "/ok2"),
            lambda: vfs.write_bytes(bad, b"x"),
            lambda: vfs.remove_tree(bad),
        ]
        for call in calls:
            with pytest.raises(VfsPathError):
                call()
        assert names(vfs) == ["ok"]

    @pytest.mark.parametrize("name", ODD_NAMES)
    def test_unicode_and_spaces_in_names(self, vfs: Vfs, name: str) -> None:
        folder = "/dir with spaces/ünï"
        vfs.makedirs(folder)
        vfs.write_bytes(f"{folder}/{name}", name.encode())
        assert names(vfs, folder) == [name]
        assert vfs.stat(f"{folder}/{name}").name == name
        vfs.rename(f"{folder}/{name}", f"/{name} moved")
        assert vfs.read_bytes(f"/{name} moved") == name.encode()
        assert sorted(i.path for i in vfs.walk("/")) == sorted(
            ["/dir with spaces", "/dir with spaces/ünï", f"/{name} moved"]
        )

    # ---- errors on missing entries ----------------------------------------------

    @pytest.mark.parametrize(
        "op",
        ["stat", "lstat", "listdir", "open_read", "read_bytes", "remove", "rmdir", "remove_tree"],
    )
    def test_missing_entry_raises_not_found(self, vfs: Vfs, op: str) -> None:
        with pytest.raises(VfsNotFound):
            getattr(vfs, op)("/missing")
        assert not vfs.exists("/missing") and not vfs.isdir("/missing")

    def test_rename_missing_raises_not_found(self, vfs: Vfs) -> None:
        with pytest.raises(VfsNotFound):
            vfs.rename("/missing", "/other")
        assert names(vfs) == []

    def test_missing_parent(self, vfs: Vfs) -> None:
        if self.real_dirs:
            with pytest.raises(VfsNotFound):
                vfs.open_write("/no/such/file")
            with pytest.raises(VfsNotFound):
                vfs.mkdir("/no/such")
            assert names(vfs) == []

    # ---- directories ------------------------------------------------------------

    def test_mkdir_and_listdir(self, vfs: Vfs) -> None:
        vfs.mkdir("/d")
        vfs.write_bytes("/d/x.bin", b"12345")
        vfs.mkdir("/d/sub")
        vfs.write_bytes("/top", b"")
        assert vfs.stat("/d").is_dir and vfs.stat("/d").size == 0
        listing = {i.path: (i.is_dir, i.size) for i in vfs.listdir("/d")}
        assert listing == {"/d/x.bin": (False, 5), "/d/sub": (True, 0)}
        assert names(vfs) == ["d", "top"]

    def test_mkdir_on_existing_entries_raises_exists(self, vfs: Vfs) -> None:
        vfs.mkdir("/d")
        vfs.write_bytes("/f", b"x")
        if self.real_dirs:
            for path in ("/d", "/f"):
                with pytest.raises(VfsExists):
                    vfs.mkdir(path)
        assert vfs.read_bytes("/f") == b"x"

    def test_makedirs_is_deep_and_idempotent(self, vfs: Vfs) -> None:
        vfs.makedirs("/a/b/c")
        vfs.makedirs("/a/b/c")
        vfs.makedirs("a/b")
        vfs.makedirs("/")
        assert vfs.isdir("/a/b/c")
        vfs.write_bytes("/a/b/c/f", b"x")
        assert [i.path for i in vfs.walk("/")] == ["/a", "/a/b", "/a/b/c", "/a/b/c/f"]

    def test_makedirs_through_a_file_raises(self, vfs: Vfs) -> None:
        vfs.write_bytes("/f", b"x")
        if self.real_dirs:
            with pytest.raises(VfsError):
                vfs.makedirs("/f/sub")
        assert vfs.read_bytes("/f") == b"x"

    def test_listdir_of_a_file_raises(self, vfs: Vfs) -> None:
        vfs.write_bytes("/f", b"x")
        if self.real_dirs:
            with pytest.raises(VfsNotADirectory):
                vfs.listdir("/f")

    def test_remove(self, vfs: Vfs) -> None:
        vfs.write_bytes("/f", b"x")
        vfs.mkdir("/d")
        vfs.write_bytes("/d/g", b"y")
        vfs.remove("/f")
        assert names(vfs) == ["d"]
        with pytest.raises(VfsIsADirectory if self.real_dirs else VfsError):
            vfs.remove("/d")
        assert names(vfs, "/d") == ["g"]

    def test_rmdir(self, vfs: Vfs) -> None:
        vfs.makedirs("/full/sub")
        vfs.mkdir("/empty")
        vfs.write_bytes("/f", b"x")
        vfs.rmdir("/empty")
        with pytest.raises(VfsDirectoryNotEmpty):
            vfs.rmdir("/full")
        if self.real_dirs:
            with pytest.raises(VfsNotADirectory):
                vfs.rmdir("/f")
        assert names(vfs) == ["f", "full"]
        vfs.rmdir("/full/sub")
        vfs.rmdir("/full")
        assert names(vfs) == ["f"]

    # ---- rename -----------------------------------------------------------------

    def test_rename_file(self, vfs: Vfs) -> None:
        vfs.write_bytes("/a", b"1")
        vfs.mkdir("/d")
        vfs.rename("/a", "/b")
        vfs.rename("/b", "/d/c")
        assert names(vfs) == ["d"]
        assert vfs.read_bytes("/d/c") == b"1"

    def test_rename_replaces_an_existing_file(self, vfs: Vfs) -> None:
        vfs.write_bytes("/a", b"new")
        vfs.write_bytes("/b", b"old and longer")
        vfs.rename("/a", "/b")
        assert names(vfs) == ["b"]
        assert vfs.read_bytes("/b") == b"new"

    def test_rename_onto_its_own_name_keeps_the_file(self, vfs: Vfs) -> None:
        vfs.write_bytes("/a", b"kept")
        vfs.rename("/a", "/a")
        vfs.rename("/a", "/./a")
        assert names(vfs) == ["a"]
        assert vfs.read_bytes("/a") == b"kept"
        with pytest.raises(VfsNotFound):
            vfs.rename("/missing", "/missing")

    def test_rename_directory_with_contents(self, vfs: Vfs) -> None:
        vfs.makedirs("/src/sub")
        vfs.write_bytes("/src/sub/f", b"deep")
        vfs.rename("/src", "/dst")
        assert names(vfs) == ["dst"]
        assert vfs.read_bytes("/dst/sub/f") == b"deep"

    # ---- helpers built on the primitives -----------------------------------------

    def _tree(self, vfs: Vfs) -> None:
        vfs.makedirs("/t/a/b")
        vfs.makedirs("/t/c")
        vfs.write_bytes("/t/1.csv", b"1")
        vfs.write_bytes("/t/2.csv", b"22")
        vfs.write_bytes("/t/3.txt", b"333")
        vfs.write_bytes("/t/a/4.csv", b"4444")
        vfs.write_bytes("/t/a/b/5", b"55555")

    def test_walk_lists_parents_before_children(self, vfs: Vfs) -> None:
        self._tree(vfs)
        walked = [(i.path, i.is_dir) for i in vfs.walk("/t")]
        assert walked == [
            ("/t/1.csv", False),
            ("/t/2.csv", False),
            ("/t/3.txt", False),
            ("/t/a", True),
            ("/t/a/4.csv", False),
            ("/t/a/b", True),
            ("/t/a/b/5", False),
            ("/t/c", True),
        ]

    def test_glob_matches_files_in_one_directory(self, vfs: Vfs) -> None:
        self._tree(vfs)
        vfs.mkdir("/t/dir.csv")
        assert [i.path for i in vfs.glob("/t/*.csv")] == ["/t/1.csv", "/t/2.csv"]
        assert [i.path for i in vfs.glob("t/?.txt")] == ["/t/3.txt"]
        assert vfs.glob("/t/*.none") == []

    def test_tree_size(self, vfs: Vfs) -> None:
        self._tree(vfs)
        assert vfs.tree_size("/") == 15
        assert vfs.tree_size("/t/a") == 9
        assert vfs.tree_size("/t/3.txt") == 3

    def test_remove_tree(self, vfs: Vfs) -> None:
        self._tree(vfs)
        vfs.remove_tree("/t/a")
        assert names(vfs, "/t") == ["1.csv", "2.csv", "3.txt", "c"]
        vfs.remove_tree("/t/1.csv")
        vfs.remove_tree("/")
        assert vfs.listdir("/") == [] and vfs.isdir("/")

    def test_lstat_of_plain_entries_equals_stat(self, vfs: Vfs) -> None:
        vfs.write_bytes("/f", b"abc")
        vfs.mkdir("/d")
        for path in ("/f", "/d", "/"):
            assert vfs.lstat(path).is_dir == vfs.stat(path).is_dir
            assert vfs.lstat(path).size == vfs.stat(path).size

    # ---- copy_file ----------------------------------------------------------------

    def test_copy_5mib_between_two_instances(self, vfs: Vfs, vfs_factory: VfsFactory) -> None:
        other = vfs_factory()
        data = payload(5 * 1024 * 1024 + 7)
        vfs.makedirs("/in")
        vfs.write_bytes("/in/big.bin", data)
        info = copy_file(vfs, "/in/big.bin", other, "/big copy.bin")
        assert (info.path, info.size) == ("/big copy.bin", len(data))
        assert other.read_bytes("/big copy.bin") == data
        assert names(other) == ["big copy.bin"]

    def test_copy_to_and_from_disk(self, vfs: Vfs, tmp_path: Path) -> None:
        disk = DiskVfs(tmp_path)
        data = payload(1024 * 1024 + 3, seed=1)
        disk.write_bytes("/src.bin", data)
        copy_file(disk, "/src.bin", vfs, "/up.bin")
        copy_file(vfs, "/up.bin", disk, "/down.bin")
        assert disk.read_bytes("/down.bin") == data
        assert names(disk) == ["down.bin", "src.bin"]
        assert names(vfs) == ["up.bin"]

    def test_copy_replaces_the_destination_and_keeps_empty_files(
        self, vfs: Vfs, tmp_path: Path
    ) -> None:
        disk = DiskVfs(tmp_path)
        disk.write_bytes("/empty", b"")
        vfs.write_bytes("/dst", b"previous content")
        assert copy_file(disk, "/empty", vfs, "/dst").size == 0
        assert vfs.read_bytes("/dst") == b""
        assert names(vfs) == ["dst"]

    def test_copy_errors(self, vfs: Vfs, tmp_path: Path) -> None:
        disk = DiskVfs(tmp_path)
        vfs.mkdir("/d")
        with pytest.raises(VfsIsADirectory):
            copy_file(vfs, "/d", disk, "/x")
        with pytest.raises(VfsNotFound):
            copy_file(vfs, "/missing", disk, "/x")
        assert names(disk) == []

    def test_failed_copy_leaves_no_partial_file(self, vfs: Vfs, tmp_path: Path) -> None:
        source = _FailingSource(tmp_path)
        source.write_bytes("/src", payload(200_000))
        vfs.write_bytes("/keep", b"previous")
        for target in ("/new", "/keep"):
            with pytest.raises(VfsConnectionError):
                copy_file(source, "/src", vfs, target, retries=1, backoff=0)
        assert names(vfs) == ["keep"]
        assert vfs.read_bytes("/keep") == b"previous"
        assert not any(TEMP_MARKER in i.path for i in vfs.walk("/"))

    # ---- optional operations ----------------------------------------------------

    def _unsupported(self, op: str, call: Callable[[], object]) -> bool:
        """True when ``op`` is supported; else check that ``call`` raises VfsUnsupported."""
        if op in self.supports:
            return True
        with pytest.raises(VfsUnsupported):
            call()
        return False

    def test_chmod(self, vfs: Vfs) -> None:
        vfs.write_bytes("/f", b"x")
        if self._unsupported("chmod", lambda: vfs.chmod("/f", 0o600)):
            vfs.chmod("/f", 0o600)
            vfs.chmod("/f", 0o644)
            assert vfs.read_bytes("/f") == b"x"
            with pytest.raises(VfsNotFound):
                vfs.chmod("/missing", 0o600)

    def test_chtimes(self, vfs: Vfs) -> None:
        vfs.write_bytes("/f", b"x")
        vfs.mkdir("/d")
        if self._unsupported("chtimes", lambda: vfs.chtimes("/f", 1e9, 1.2e9)):
            vfs.chtimes("/f", 1_500_000_000, 1_600_000_000)
            vfs.chtimes("/d", 1_500_000_000, 1_500_000_100)
            assert vfs.stat("/f").mtime == 1_600_000_000
            assert vfs.stat("/d").mtime == 1_500_000_100
            assert {i.name: i.mtime for i in vfs.listdir("/")}["f"] == 1_600_000_000
            with pytest.raises(VfsNotFound):
                vfs.chtimes("/missing", 1, 1)

    def test_truncate(self, vfs: Vfs) -> None:
        vfs.write_bytes("/f", b"0123456789")
        if self._unsupported("truncate", lambda: vfs.truncate("/f", 4)):
            vfs.truncate("/f", 4)
            assert vfs.read_bytes("/f") == b"0123"
            vfs.truncate("/f", 6)
            assert vfs.read_bytes("/f") == b"0123\0\0"
            with pytest.raises(VfsNotFound):
                vfs.truncate("/missing", 0)

    def test_symlink(self, vfs: Vfs) -> None:
        vfs.makedirs("/d/sub")
        vfs.write_bytes("/d/target", b"content")
        if not self._unsupported("symlink", lambda: vfs.symlink("/d/target", "/link")):
            return
        vfs.symlink("/d/target", "/link")
        vfs.symlink("/d", "/dirlink")
        assert vfs.read_bytes("/link") == b"content"
        assert vfs.stat("/link").size == 7 and not vfs.stat("/link").is_dir
        assert not vfs.lstat("/link").is_dir
        assert vfs.stat("/dirlink").is_dir and not vfs.lstat("/dirlink").is_dir
        assert names(vfs, "/dirlink") == ["sub", "target"]
        listing = {i.name: (i.is_dir, i.size) for i in vfs.listdir("/")}
        # a link to a file lists as that file; a link to a directory is not walked into
        assert listing == {"d": (True, 0), "link": (False, 7), "dirlink": (False, 0)}
        with pytest.raises(VfsExists):
            vfs.symlink("/d/target", "/link")
        vfs.remove("/link")
        vfs.remove_tree("/dirlink")
        assert names(vfs) == ["d"] and names(vfs, "/d") == ["sub", "target"]
