"""The aft fsspec file system: fsspec's own abstract test suite over the Disk and the
Memory types, and what a notebook does with it."""

from __future__ import annotations

import configparser
import posixpath

import fsspec
import pytest
from fsspec.tests import abstract

from aft.fsspec import AftFileSystem
from tests.conftest import REPO

pytest_plugins = ["aft.testing"]


@pytest.fixture(autouse=True)
def aft_protocol():
    """What the ``fsspec.specs`` entry point does once aft is installed."""
    fsspec.register_implementation("aft", AftFileSystem, clobber=True)


@pytest.fixture
def library(aft_instance, tmp_path):
    root = tmp_path / "disk"
    root.mkdir()
    aft_instance.vfs.add("disk", "Disk", str(root))
    aft_instance.vfs.add("mem", "Memory", "memory://fsspec")
    return aft_instance


class AftFixtures(abstract.AbstractFixtures):
    vfs_name = ""

    @pytest.fixture
    def fs(self, library):
        fs = AftFileSystem(instance=library, skip_instance_cache=True)
        yield fs
        fs.close()

    @pytest.fixture
    def fs_join(self):
        return posixpath.join

    @pytest.fixture
    def fs_path(self):
        return self.vfs_name


class DiskFixtures(AftFixtures):
    vfs_name = "disk"


class MemoryFixtures(AftFixtures):
    vfs_name = "mem"


class TestDiskCopy(abstract.AbstractCopyTests, DiskFixtures):
    pass


class TestDiskGet(abstract.AbstractGetTests, DiskFixtures):
    pass


class TestDiskPut(abstract.AbstractPutTests, DiskFixtures):
    pass


class TestDiskOpen(abstract.AbstractOpenTests, DiskFixtures):
    pass


class TestDiskPipe(abstract.AbstractPipeTests, DiskFixtures):
    pass


class TestMemoryCopy(abstract.AbstractCopyTests, MemoryFixtures):
    pass


class TestMemoryGet(abstract.AbstractGetTests, MemoryFixtures):
    pass


class TestMemoryPut(abstract.AbstractPutTests, MemoryFixtures):
    pass


class TestMemoryOpen(abstract.AbstractOpenTests, MemoryFixtures):
    pass


class TestMemoryPipe(abstract.AbstractPipeTests, MemoryFixtures):
    pass


def test_setup_cfg_registers_the_protocol_in_an_extra():
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    assert config["options.entry_points"]["fsspec.specs"].split() == [
        "aft", "=", "aft.fsspec:AftFileSystem"
    ]  # fmt: skip
    assert config["options.extras_require"]["fsspec"].split() == ["fsspec>=2023.12"]
    assert "fsspec>=2023.12" in config["options.extras_require"]["all"].split()


def test_a_url_reads_and_writes_through_a_named_connection(library, monkeypatch):
    monkeypatch.setenv("AFT_HOME", str(library.home))  # the instance a notebook opens
    library.vfs.open("disk").makedirs("/out")
    with fsspec.open("aft://disk/out/report.csv", "w") as f:
        f.write("id,total\n1,9.50\n")
    with fsspec.open("aft://disk/out/report.csv") as f:
        assert f.read() == b"id,total\n1,9.50\n"
    fs = fsspec.filesystem("aft", skip_instance_cache=True)
    assert fs.ls("aft://", detail=False) == ["disk", "mem"]
    assert fs.ls("aft://disk/out", detail=False) == ["disk/out/report.csv"]
    fs.close()


def test_a_failed_write_leaves_nothing(library):
    fs = AftFileSystem(instance=library, skip_instance_cache=True)
    fs.pipe_file("mem/keep", b"previous")
    with pytest.raises(RuntimeError), fs.open("mem/keep", "wb") as f:
        f.write(b"half")
        raise RuntimeError("the writer failed")
    assert fs.cat_file("mem/keep") == b"previous" and fs.ls("mem", detail=False) == ["mem/keep"]


def test_what_it_refuses(library):
    fs = AftFileSystem(instance=library, skip_instance_cache=True)
    with pytest.raises(ValueError, match="'rb', 'wb' or 'xb', not 'ab'"):
        fs.open("mem/x", "ab")
    with pytest.raises(PermissionError, match="a VFS Library entry"):
        fs.rm("mem")
    with pytest.raises(FileNotFoundError):
        fs.cat_file("mem/missing")
    with pytest.raises(TypeError, match="unknown aft file system options: colour"):
        AftFileSystem(instance=library, colour="red", skip_instance_cache=True)
