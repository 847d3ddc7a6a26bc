"""The Memory VFS: the contract, its targets, sharing by name, and its registration."""

from __future__ import annotations

import itertools

import pytest

from aft.exceptions import VfsError, VfsPathError
from aft.vfs import BACKENDS, open_vfs, register_backend, unregister_backend
from aft.vfs.memory import MemoryVfs
from tests.vfs.contract import VfsContract, VfsFactory

_names = itertools.count()


class TestMemoryContract(VfsContract):
    supports = frozenset({"chtimes", "truncate"})

    @pytest.fixture
    def vfs_factory(self) -> VfsFactory:
        made: list[str] = []

        def make() -> MemoryVfs:
            made.append(f"contract-{next(_names)}")
            return MemoryVfs(made[-1])

        yield make
        for name in made:
            MemoryVfs.forget(name)


@pytest.fixture
def memory_type():
    register_backend("Memory", "aft.vfs.memory:MemoryVfs")
    yield
    unregister_backend("Memory")
    MemoryVfs.forget()


def test_one_name_is_one_file_system(memory_type):
    open_vfs("Memory", "memory://shared").write_bytes("/a", b"1")
    assert open_vfs("Memory", "memory://shared").read_bytes("/a") == b"1"
    assert open_vfs("Memory", "memory://other").listdir("/") == []
    MemoryVfs.forget("shared")
    assert open_vfs("Memory", "memory://shared").listdir("/") == []


@pytest.mark.parametrize(
    ("target", "payload", "message"),
    [
        ("memory://", {}, "looks like memory://name"),
        ("/srv/x", {}, "memory://name"),
        ("memory://a", {"pass": "x"}, "takes no payload"),
    ],
)
def test_bad_targets_are_refused(memory_type, target, payload, message):
    with pytest.raises(VfsPathError, match=message):
        open_vfs("Memory", target, payload)


def test_register_backend_refuses_clashes_and_bad_names(memory_type):
    register_backend("Memory", MemoryVfs)  # the same backend again: nothing changes
    with pytest.raises(VfsError, match="already registered"):
        register_backend("Memory", "aft.vfs.disk:DiskVfs")
    with pytest.raises(VfsError, match="already registered"):
        register_backend("Disk", MemoryVfs)
    with pytest.raises(VfsError, match="type name"):
        register_backend("no spaces", MemoryVfs)
    with pytest.raises(VfsError, match="'module:Class'"):
        register_backend("Mine", "aft.vfs.memory.MemoryVfs")
    with pytest.raises(VfsError, match="built-in"):
        unregister_backend("Disk")
    assert "Mine" not in BACKENDS and "Disk" in BACKENDS


def test_unknown_types_are_not_unregistered():
    with pytest.raises(VfsError, match="unknown VFS type 'Nope'"):
        unregister_backend("Nope")


def test_memory_is_not_offered_until_registered():
    assert "Memory" not in BACKENDS
    with pytest.raises(VfsError, match="unknown VFS type 'Memory'"):
        open_vfs("Memory", "memory://x")
