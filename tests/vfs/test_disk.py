"""The Disk VFS: the contract, its target formats, and proof that no path leaves the root."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aft.exceptions import (
    VfsError,
    VfsExists,
    VfsNotFound,
    VfsPathError,
    VfsPermission,
)
from aft.vfs import open_vfs
from aft.vfs.base import Vfs, copy_file
from aft.vfs.disk import DiskVfs, vfs_error
from tests.vfs.contract import VfsContract, VfsFactory

SECRET = b"SECRET-OUTSIDE-THE-ROOT"


class TestDiskContract(VfsContract):
    supports = frozenset({"chmod", "chtimes", "truncate", "symlink"})

    @pytest.fixture
    def vfs_factory(self, tmp_path_factory: pytest.TempPathFactory) -> VfsFactory:
        return lambda: DiskVfs(tmp_path_factory.mktemp("disk"))


# ---- targets ------------------------------------------------------------------------


def test_from_target_accepts_paths_and_file_urls(tmp_path: Path) -> None:
    (tmp_path / "with space").mkdir()
    root = str(tmp_path / "with space")
    for target in (root, f"file://{root}", f"file://localhost{root.replace(' ', '%20')}"):
        vfs = open_vfs("Disk", target)
        assert isinstance(vfs, DiskVfs) and vfs.root == os.path.realpath(root)


@pytest.mark.parametrize("target", ["relative/dir", "file://otherhost/x", "", "file:rel"])
def test_from_target_refuses_non_local_or_relative_paths(target: str) -> None:
    with pytest.raises(VfsPathError):
        DiskVfs.from_target(target, {})


def test_missing_root_raises_not_found(tmp_path: Path) -> None:
    with pytest.raises(VfsNotFound, match="not an existing directory"):
        DiskVfs(tmp_path / "missing")


def test_root_reached_through_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    vfs = DiskVfs(tmp_path / "alias")
    vfs.write_bytes("/f", b"x")
    assert (tmp_path / "real" / "f").read_bytes() == b"x"


# ---- details of the implementation ------------------------------------------------


def test_the_root_itself_cannot_be_removed_or_renamed(tmp_path: Path) -> None:
    vfs = DiskVfs(tmp_path)
    vfs.write_bytes("/f", b"x")
    for call in (
        lambda: vfs.rmdir("/"),
        lambda: vfs.rename("/", "/x"),
        lambda: vfs.rename("/f", "/"),
    ):
        with pytest.raises(VfsPermission):
            call()
    with pytest.raises(VfsExists):
        vfs.mkdir("/")
    assert os.listdir(tmp_path) == ["f"]


def test_chmod_sets_the_mode_and_symlinks_are_relative(tmp_path: Path) -> None:
    vfs = DiskVfs(tmp_path)
    vfs.makedirs("/a/b")
    vfs.write_bytes("/a/f", b"x")
    vfs.chmod("/a/f", 0o640)
    assert (tmp_path / "a" / "f").stat().st_mode & 0o777 == 0o640
    vfs.symlink("/a/f", "/a/b/link")
    assert os.readlink(tmp_path / "a" / "b" / "link") == "../f"


def test_full_device_gives_a_clear_error() -> None:
    vfs = DiskVfs("/dev")
    with pytest.raises(VfsError, match=r"^/full: no space left") as caught:
        with vfs.open_write("/full") as f:
            f.write(b"x" * 1024)
    assert type(caught.value) is VfsError


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (errno.ENOENT, "VfsNotFound"),
        (errno.EEXIST, "VfsExists"),
        (errno.ENOTDIR, "VfsNotADirectory"),
        (errno.EISDIR, "VfsIsADirectory"),
        (errno.ENOTEMPTY, "VfsDirectoryNotEmpty"),
        (errno.EACCES, "VfsPermission"),
        (errno.EPERM, "VfsPermission"),
        (errno.EROFS, "VfsPermission"),
        (errno.ELOOP, "VfsPathError"),
        (errno.EIO, "VfsError"),
    ],
)
def test_errno_translation(code: int, cls: str) -> None:
    err = vfs_error(OSError(code, os.strerror(code), "/host/secret/path"), "/vfs/path")
    assert type(err).__name__ == cls
    assert str(err) == f"/vfs/path: {os.strerror(code)}"


# ---- no path leaves the root ------------------------------------------------------

#: Symlinks planted in the root: name -> target (relative to the root's parent "base").
PLANTED = {
    "out_abs": "{base}/outside",
    "out_rel": "../outside",
    "out_file": "../outside/secret.txt",
    "up": "..",
    "evil": "../root-evil",
    "dangling": "../outside/new.txt",
    "loop": "loop",
    "in": "a",
    "a/deep_out": "../../outside",
}


def make_sandbox(base: Path) -> Path:
    """``base/root`` (the VFS root, full of traps) beside ``outside`` and ``root-evil``."""
    (base / "outside" / "dir").mkdir(parents=True)
    (base / "outside" / "secret.txt").write_bytes(SECRET)
    (base / "root-evil").mkdir()
    (base / "root-evil" / "file").write_bytes(SECRET)
    root = base / "root"
    (root / "a").mkdir(parents=True)
    (root / "sub").mkdir()
    (root / "a" / "f.txt").write_bytes(b"inside")
    for name, target in PLANTED.items():
        os.symlink(target.format(base=base), root / name)
    return root


def snapshot_outside(base: Path) -> dict[str, tuple[object, ...]]:
    """Everything under ``base`` except the root: types, modes, times, contents, link targets."""
    seen: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(base):
        if dirpath == str(base):
            dirnames.remove("root")
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if os.path.islink(path):
                detail: object = os.readlink(path)
            elif os.path.isfile(path):
                detail = Path(path).read_bytes()
            else:
                detail = None
            seen[os.path.relpath(path, base)] = (st.st_mode, st.st_mtime_ns, st.st_size, detail)
    return seen


def _read(vfs: Vfs, path: str) -> bytes:
    with vfs.open_read(path) as f:
        return f.read()


def _write(vfs: Vfs, path: str) -> None:
    with vfs.open_write(path) as f:
        f.write(b"written")


OPS: dict[str, Callable[[Vfs, str, str], object]] = {
    "stat": lambda v, p, q: v.stat(p),
    "lstat": lambda v, p, q: v.lstat(p),
    "listdir": lambda v, p, q: v.listdir(p),
    "walk": lambda v, p, q: list(v.walk(p)),
    "glob": lambda v, p, q: v.glob(p + "/*"),
    "tree_size": lambda v, p, q: v.tree_size(p),
    "read": lambda v, p, q: _read(v, p),
    "read_offset": lambda v, p, q: v.open_read(p, 3).close(),
    "write": lambda v, p, q: _write(v, p),
    "write_bytes": lambda v, p, q: v.write_bytes(p, b"x"),
    "mkdir": lambda v, p, q: v.mkdir(p),
    "makedirs": lambda v, p, q: v.makedirs(p),
    "remove": lambda v, p, q: v.remove(p),
    "rmdir": lambda v, p, q: v.rmdir(p),
    "remove_tree": lambda v, p, q: v.remove_tree(p),
    "rename": lambda v, p, q: v.rename(p, q),
    "chmod": lambda v, p, q: v.chmod(p, 0o700),
    "chtimes": lambda v, p, q: v.chtimes(p, 1, 2),
    "truncate": lambda v, p, q: v.truncate(p, 1),
    "symlink": lambda v, p, q: v.symlink(p, q),
    "copy": lambda v, p, q: copy_file(v, p, v, q, retries=0),
}

SEGMENTS = [
    "..",
    ".",
    "",
    "a",
    "f.txt",
    "sub",
    "new",
    "x\x00",
    "\\",
    "..\\..",
    "a\\b",
    *(name.split("/")[-1] for name in PLANTED),
]
vfs_paths = st.builds(
    lambda lead, parts: lead + "/".join(parts),
    st.sampled_from(["", "/", "//"]),
    st.lists(st.sampled_from(SEGMENTS), max_size=5),
)
steps = st.lists(st.tuples(st.sampled_from(sorted(OPS)), vfs_paths, vfs_paths), max_size=8)


def check_contained(vfs: Vfs, op: str, p: str, q: str) -> None:
    """Run one operation: it must succeed or raise a VfsError, and never yield outside data."""
    try:
        result = OPS[op](vfs, p, q)
    except VfsError:
        return
    assert not (isinstance(result, bytes) and SECRET in result), (op, p, q)
    infos = result if isinstance(result, list) else [result]
    for info in infos:
        if hasattr(info, "path"):
            assert info.path.startswith("/") and "/../" not in info.path + "/", (op, p, q)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_no_operation_reaches_outside_the_root(steps: list[tuple[str, str, str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        vfs = DiskVfs(make_sandbox(base))
        before = snapshot_outside(base)
        for op, p, q in steps:
            check_contained(vfs, op, p, q)
        assert snapshot_outside(base) == before


@pytest.mark.parametrize("link", ["out_abs", "out_rel", "up", "evil", "a/deep_out", "in/deep_out"])
@pytest.mark.parametrize("op", sorted(OPS))
def test_escaping_directory_links_are_refused(tmp_path: Path, link: str, op: str) -> None:
    vfs = DiskVfs(make_sandbox(tmp_path))
    before = snapshot_outside(tmp_path)
    for path in (f"/{link}/secret.txt", f"/{link}/dir/new", f"/{link}/outside/secret.txt"):
        with pytest.raises(VfsError):
            OPS[op](vfs, path, "/a/copy")
    assert snapshot_outside(tmp_path) == before


@pytest.mark.parametrize("link", ["out_file", "dangling"])
def test_escaping_file_links_are_refused_but_removable(tmp_path: Path, link: str) -> None:
    vfs = DiskVfs(make_sandbox(tmp_path))
    before = snapshot_outside(tmp_path)
    for op in ("stat", "read", "write", "chmod", "chtimes", "truncate", "copy"):
        with pytest.raises(VfsPathError):
            OPS[op](vfs, f"/{link}", "/a/copy")
    with pytest.raises(VfsPathError):
        vfs.symlink(f"/{link}", "/a/link")
    assert not vfs.lstat(f"/{link}").is_dir
    assert {i.name: i.size for i in vfs.listdir("/")}[link] == 0
    vfs.rename(f"/{link}", "/moved")
    vfs.write_bytes("/moved", b"replaces the link itself")
    assert not os.path.islink(tmp_path / "root" / "moved")
    vfs.remove("/moved")
    assert snapshot_outside(tmp_path) == before


def test_listing_and_removing_the_tree_never_follow_links(tmp_path: Path) -> None:
    vfs = DiskVfs(make_sandbox(tmp_path))
    before = snapshot_outside(tmp_path)
    walked = {i.path: i.is_dir for i in vfs.walk("/")}
    assert walked["/a"] is True and walked["/in"] is False and walked["/loop"] is False
    assert "/out_abs/secret.txt" not in walked
    vfs.remove_tree("/")
    assert os.listdir(tmp_path / "root") == []
    assert snapshot_outside(tmp_path) == before


def test_symlink_targets_are_vfs_paths(tmp_path: Path) -> None:
    root = make_sandbox(tmp_path)
    vfs = DiskVfs(root)
    vfs.symlink("/etc/passwd", "/l")  # an absolute target is inside the root too
    assert os.path.realpath(root / "l") == os.path.realpath(root / "etc" / "passwd")
    for target in ("/out_abs", "/up/outside", "/out_abs/secret.txt", "/evil/file"):
        with pytest.raises(VfsPathError):
            vfs.symlink(target, "/l2")
    assert not os.path.lexists(root / "l2")


def test_copy_tree_between_two_disk_vfs(tmp_path):
    from aft.vfs.base import copy_tree
    from aft.vfs.disk import DiskVfs

    (tmp_path / "a" / "tree" / "deep").mkdir(parents=True)
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "tree" / "one.txt").write_text("1")
    (tmp_path / "a" / "tree" / "deep" / "two.bin").write_bytes(b"\0" * 70000)
    (tmp_path / "a" / "tree" / "empty").mkdir()
    src, dst = DiskVfs(str(tmp_path / "a")), DiskVfs(str(tmp_path / "b"))
    assert copy_tree(src, "/tree", dst, "/copy") == 2
    assert (tmp_path / "b" / "copy" / "one.txt").read_text() == "1"
    assert (tmp_path / "b" / "copy" / "deep" / "two.bin").stat().st_size == 70000
    assert (tmp_path / "b" / "copy" / "empty").is_dir()
