"""The Azure Blob VFS against a real Azurite: contract, credentials, uploads, cut connections."""

from __future__ import annotations

import gc
import hashlib
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from azure.storage.blob import ContainerSasPermissions, generate_container_sas

from aft.exceptions import VfsConnectionError, VfsError, VfsNotFound, VfsPermission
from aft.vfs import open_vfs
from aft.vfs.azure import AzureVfs, MiB
from aft.vfs.base import Vfs, copy_file
from aft.vfs.disk import DiskVfs
from tests.servers.azurite import ACCOUNT_KEY, AzuriteServer
from tests.vfs.contract import VfsContract, VfsFactory, names, payload
from tests.vfs.test_s3 import CuttingProxy


class TestAzureContract(VfsContract):
    """A prefix of a shared container per VFS."""

    real_dirs = False

    @pytest.fixture
    def vfs_factory(
        self, azurite_server: AzuriteServer, azure_container: str
    ) -> Iterator[VfsFactory]:
        made: list[Vfs] = []

        def make() -> Vfs:
            target = azurite_server.target(azure_container, f"runs/{secrets.token_hex(4)}")
            made.append(open_vfs("Azure", target, azurite_server.payload))
            return made[-1]

        yield make
        for vfs in made:
            vfs.close()


class TestAzureContainerRootContract(TestAzureContract):
    """A whole container per VFS."""

    @pytest.fixture
    def vfs_factory(self, azurite_server: AzuriteServer) -> Iterator[VfsFactory]:
        made: list[tuple[Vfs, str]] = []

        def make() -> Vfs:
            container = azurite_server.new_container()
            made.append(
                (
                    open_vfs("Azure", azurite_server.target(container), azurite_server.payload),
                    container,
                )
            )
            return made[-1][0]

        yield make
        for vfs, container in made:
            vfs.close()
            azurite_server.drop_container(container)


@pytest.fixture
def azure(azurite_server: AzuriteServer, azure_container: str) -> Iterator[AzureVfs]:
    vfs = AzureVfs.from_target(azurite_server.target(azure_container), azurite_server.payload)
    vfs.block_size = vfs.read_size = MiB  # multi-block uploads and reads stay small
    yield vfs
    vfs.close()


def blob_names(server: AzuriteServer, container: str) -> list[str]:
    with server.service() as service:
        return sorted(b.name for b in service.get_container_client(container).list_blobs())


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens there once closed


# ---- targets ------------------------------------------------------------------------


def test_from_target_reads_every_part() -> None:
    vfs = AzureVfs.from_target(
        "azure://acct/box/some/prefix/?endpoint=http://127.0.0.1:1/acct", {"key": ACCOUNT_KEY}
    )
    assert repr(vfs) == "<AzureVfs http://127.0.0.1:1/acct/box/some/prefix/>"
    assert (vfs._key("/a/b"), vfs._dir_key("/")) == ("some/prefix/a/b", "some/prefix/")
    default = AzureVfs.from_target("azure://acct/box", {"sas": "?sv=1&sig=SECRET"})
    assert repr(default) == "<AzureVfs https://acct.blob.core.windows.net/box/>"
    assert "SECRET" not in repr(default)


@pytest.mark.parametrize(
    "target",
    [
        "s3://acct/box",
        "azure://acct",
        "azure://acct/",
        "azure://acct/box?colour=blue",
        "azure://a/b/../../x",
    ],
)
def test_bad_targets_are_refused(target: str) -> None:
    with pytest.raises(VfsError):
        AzureVfs.from_target(target, {})


def test_a_key_that_is_not_base64_is_refused_without_quoting_it() -> None:
    with pytest.raises(VfsError) as caught:
        AzureVfs.from_target("azure://acct/box", {"key": "not*base64*SECRET"})
    assert "SECRET" not in str(caught.value)


# ---- errors and credentials -----------------------------------------------------------


def test_wrong_key_is_refused_quickly_and_never_shown(
    azurite_server: AzuriteServer, azure_container: str
) -> None:
    wrong = ACCOUNT_KEY[:-8] + "AAAAAAA="
    vfs = open_vfs("Azure", azurite_server.target(azure_container), {"key": wrong})
    started = time.monotonic()
    with pytest.raises(VfsPermission, match="credentials") as caught:
        vfs.listdir("/")
    assert time.monotonic() - started < 10
    assert wrong not in str(caught.value) and wrong not in repr(vfs)
    with pytest.raises(VfsPermission):
        vfs.write_bytes("/f", b"x")
    vfs.close()
    assert blob_names(azurite_server, azure_container) == []


def _sas(server: AzuriteServer, container: str, key: str) -> str:
    permission = ContainerSasPermissions(
        read=True, add=True, create=True, write=True, delete=True, list=True
    )
    expiry = datetime.now(timezone.utc) + timedelta(hours=1)
    return generate_container_sas(
        server.account, container, account_key=key, permission=permission, expiry=expiry
    )


def test_sas_token_works_including_rename(
    azurite_server: AzuriteServer, azure_container: str
) -> None:
    sas = _sas(azurite_server, azure_container, azurite_server.key)
    with open_vfs("Azure", azurite_server.target(azure_container), {"sas": sas}) as vfs:
        vfs.write_bytes("/a", b"via sas")
        vfs.rename("/a", "/b")  # the server-side copy reads the source with the same SAS
        assert vfs.read_bytes("/b") == b"via sas" and names(vfs) == ["b"]


def test_bad_sas_is_refused_and_never_shown(
    azurite_server: AzuriteServer, azure_container: str
) -> None:
    sas = _sas(azurite_server, azure_container, ACCOUNT_KEY[:-8] + "AAAAAAA=")
    signature = dict(p.split("=", 1) for p in sas.split("&"))["sig"]
    with open_vfs("Azure", azurite_server.target(azure_container), {"sas": sas}) as vfs:
        with pytest.raises(VfsPermission) as caught:
            vfs.stat("/x")
    assert signature not in str(caught.value) and sas not in str(caught.value)


def test_missing_container_is_not_found(azurite_server: AzuriteServer) -> None:
    with open_vfs(
        "Azure", azurite_server.target("aft-no-such-container"), azurite_server.payload
    ) as vfs:
        with pytest.raises(VfsNotFound, match="aft-no-such-container"):
            vfs.listdir("/")


def test_unreachable_endpoint_is_a_connection_error() -> None:
    target = f"azure://acct/box?endpoint=http://127.0.0.1:{closed_port()}/acct"
    with open_vfs("Azure", target, {"key": ACCOUNT_KEY}) as vfs:
        with pytest.raises(VfsConnectionError) as caught:
            vfs.stat("/x")
    assert ACCOUNT_KEY not in str(caught.value)


# ---- blobs, prefixes and uploads ----------------------------------------------------


def test_directories_are_prefixes(
    azure: AzureVfs, azurite_server: AzuriteServer, azure_container: str
) -> None:
    azure.write_bytes("/a/b/c.txt", b"x")  # no mkdir needed in an object store
    assert azure.isdir("/a") and azure.isdir("/a/b")
    assert [(i.path, i.is_dir) for i in azure.walk("/")] == [
        ("/a", True),
        ("/a/b", True),
        ("/a/b/c.txt", False),
    ]
    azure.mkdir("/m")
    assert blob_names(azurite_server, azure_container) == ["a/b/c.txt", "m/"]
    azure.rmdir("/m")
    assert names(azure) == ["a"]


def test_uploads_carry_an_md5_checksum(azure: AzureVfs) -> None:
    big = payload(3 * MiB + 11)
    azure.write_bytes("/small", b"hello")
    azure.write_bytes("/big", big)
    assert azure.checksum("/small") == ("md5", hashlib.md5(b"hello").hexdigest())
    assert azure.checksum("/big") == ("md5", hashlib.md5(big).hexdigest())
    azure.rename("/big", "/moved")
    assert azure.checksum("/moved") == ("md5", hashlib.md5(big).hexdigest())


def test_big_stream_goes_up_in_blocks(
    azure: AzureVfs, azurite_server: AzuriteServer, azure_container: str
) -> None:
    data = payload(3 * MiB + 5)
    with azure.open_write("/big") as f:
        for start in range(0, len(data), 300_000):
            f.write(data[start : start + 300_000])
        assert not azure.exists("/big")  # nothing visible before close
    assert azure.read_bytes("/big") == data
    with azurite_server.service() as service:
        committed, _ = service.get_blob_client(azure_container, "big").get_block_list()
    assert [block.size for block in committed] == [MiB, MiB, MiB, 5]


@pytest.mark.parametrize("size", [100, 3 * MiB])
def test_an_error_inside_the_block_uploads_nothing(azure: AzureVfs, size: int) -> None:
    with pytest.raises(RuntimeError):
        with azure.open_write("/f") as f:
            f.write(payload(size))
            raise RuntimeError("the source failed")
    assert not azure.exists("/f")


def test_an_unclosed_stream_uploads_nothing(azure: AzureVfs) -> None:
    f = azure.open_write("/f")
    f.write(payload(2 * MiB))
    del f
    gc.collect()
    assert not azure.exists("/f")


def test_a_failed_upload_keeps_the_previous_blob(azure: AzureVfs) -> None:
    azure.write_bytes("/f", b"previous")
    with pytest.raises(RuntimeError):
        with azure.open_write("/f") as f:
            f.write(payload(2 * MiB))
            raise RuntimeError("the source failed")
    assert azure.read_bytes("/f") == b"previous"


# ---- cut connections ----------------------------------------------------------------


Proxied = Callable[..., tuple[CuttingProxy, AzureVfs]]


@pytest.fixture
def proxied(azurite_server: AzuriteServer, azure_container: str) -> Iterator[Proxied]:
    """``open(limit, direction, heal)`` -> (proxy, AzureVfs through it)."""
    opened: list[tuple[CuttingProxy, Vfs]] = []
    port = int(azurite_server.endpoint.split(":")[2].split("/")[0])

    def open_(limit: int, direction: str, heal: bool = False) -> tuple[CuttingProxy, AzureVfs]:
        proxy = CuttingProxy(port, limit, direction, heal)
        endpoint = f"{proxy.endpoint}/{azurite_server.account}"
        vfs = AzureVfs.from_target(
            azurite_server.target(azure_container, endpoint=endpoint), azurite_server.payload
        )
        vfs.block_size = vfs.read_size = MiB
        opened.append((proxy, vfs))
        return proxy, vfs

    yield open_
    for proxy, vfs in opened:
        vfs.close()
        proxy.close()


def test_connection_cut_mid_upload_leaves_no_blob(
    proxied: Proxied, azure: AzureVfs, tmp_path: Path
) -> None:
    disk = DiskVfs(tmp_path)
    disk.write_bytes("/src", payload(4 * MiB))
    proxy, remote = proxied(2 * MiB, "up")
    with pytest.raises(VfsConnectionError):
        copy_file(disk, "/src", remote, "/dst", retries=0)
    assert proxy.cut_done.is_set()
    assert names(azure) == []


def test_connection_cut_mid_download(proxied: Proxied, azure: AzureVfs, tmp_path: Path) -> None:
    azure.write_bytes("/src", payload(4 * MiB))
    proxy, remote = proxied(MiB + MiB // 2, "down")
    disk = DiskVfs(tmp_path)
    with pytest.raises(VfsConnectionError):
        copy_file(remote, "/src", disk, "/dst", retries=0)
    assert proxy.cut_done.is_set()
    assert names(disk) == []


@pytest.mark.parametrize("direction", ["up", "down"])
def test_a_cut_connection_is_replaced(
    proxied: Proxied, azure: AzureVfs, tmp_path: Path, direction: str
) -> None:
    data = payload(4 * MiB)
    disk = DiskVfs(tmp_path)
    disk.write_bytes("/src", data)
    azure.write_bytes("/src", data)
    proxy, remote = proxied(2 * MiB, direction, heal=True)
    if direction == "up":
        copy_file(disk, "/src", remote, "/dst", backoff=0)
        assert azure.read_bytes("/dst") == data
    else:
        copy_file(remote, "/src", disk, "/dst", backoff=0)
        assert disk.read_bytes("/dst") == data
    assert proxy.cut_done.is_set()


def test_the_blocks_of_one_upload_are_staged_several_at_once(
    azure: AzureVfs, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import aft.vfs.azure

    stage, lock = aft.vfs.azure._stage_block, threading.Lock()
    busy, most = [0], [0]

    def counted(*args: object) -> None:
        with lock:
            busy[0] += 1
            most[0] = max(most[0], busy[0])
        time.sleep(0.1)  # long enough for the next blocks to start, were they allowed
        try:
            stage(*args)  # type: ignore[arg-type]
        finally:
            with lock:
                busy[0] -= 1

    monkeypatch.setattr(aft.vfs.azure, "_stage_block", counted)
    data = payload(10 * MiB + 5)  # 11 blocks of 1 MiB
    with azure.open_write("/big.bin") as f:
        for start in range(0, len(data), 300_000):
            f.write(data[start : start + 300_000])
    # the last block is staged by close itself, maybe while the others still are
    assert 1 < azure.concurrency <= most[0] <= azure.concurrency + 1
    assert azure.read_bytes("/big.bin") == data


def test_a_failed_block_fails_the_upload_and_commits_nothing(
    azure: AzureVfs, monkeypatch: pytest.MonkeyPatch
) -> None:
    import aft.vfs.azure

    stage = aft.vfs.azure._stage_block

    def third_fails(vfs: AzureVfs, path: str, blob: object, block_id: str, data: bytes) -> None:
        if block_id.endswith("-000002"):
            raise VfsError(f"{path}: the service refused a block")
        stage(vfs, path, blob, block_id, data)  # type: ignore[arg-type]

    monkeypatch.setattr(aft.vfs.azure, "_stage_block", third_fails)
    with pytest.raises(VfsError, match="refused a block"):
        with azure.open_write("/big.bin") as f:
            f.write(payload(6 * MiB))
    assert names(azure) == []


def test_the_blocks_of_one_download_are_fetched_several_at_once(
    azure: AzureVfs, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import aft.vfs.azure

    get, lock = aft.vfs.azure._get_range, threading.Lock()
    busy, most = [0], [0]

    def counted(*args: object) -> bytes:
        with lock:
            busy[0] += 1
            most[0] = max(most[0], busy[0])
        time.sleep(0.1)  # long enough for the next blocks to start, were they allowed
        try:
            return get(*args)  # type: ignore[arg-type]
        finally:
            with lock:
                busy[0] -= 1

    data = payload(10 * MiB + 5)  # 11 blocks of 1 MiB
    azure.write_bytes("/big.bin", data)
    monkeypatch.setattr(aft.vfs.azure, "_get_range", counted)
    assert azure.read_bytes("/big.bin") == data
    assert most[0] == azure.concurrency > 1
    with azure.open_read("/big.bin", 3 * MiB + 7) as f:
        assert f.read() == data[3 * MiB + 7 :]


def test_a_blob_replaced_while_it_is_read_fails_the_read(azure: AzureVfs) -> None:
    from aft.exceptions import VfsIntegrityError

    azure.write_bytes("/big.bin", payload(6 * MiB))
    with azure.open_read("/big.bin") as f:
        f.read(1000)  # the first block, with the blob's ETag
        azure.write_bytes("/big.bin", payload(6 * MiB))
        with pytest.raises(VfsIntegrityError, match="/big.bin: the blob changed while it was read"):
            f.read()


def test_a_small_upload_is_staged_by_the_calling_thread(
    azure: AzureVfs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch's small files never queue for the VFS's few staging threads."""
    import threading

    import aft.vfs.azure

    stage, threads = aft.vfs.azure._stage_block, []

    def recorded(*args: object) -> None:
        threads.append(threading.current_thread())
        stage(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(aft.vfs.azure, "_stage_block", recorded)
    azure.write_bytes("/small.bin", b"x" * 1000)
    assert threads == [threading.current_thread()]
    assert azure.read_bytes("/small.bin") == b"x" * 1000


def test_several_big_uploads_at_once_each_stage_their_blocks_together(
    azure: AzureVfs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The VFS's threads are no bottleneck for a batch's files: each keeps its blocks in
    flight beside the others'."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import aft.vfs.azure

    stage, lock = aft.vfs.azure._stage_block, threading.Lock()
    busy, most = [0], [0]

    def counted(*args: object) -> None:
        with lock:
            busy[0] += 1
            most[0] = max(most[0], busy[0])
        time.sleep(0.2)
        try:
            stage(*args)  # type: ignore[arg-type]
        finally:
            with lock:
                busy[0] -= 1

    monkeypatch.setattr(aft.vfs.azure, "_stage_block", counted)
    data = payload(6 * MiB)
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda n: azure.write_bytes(f"/f{n}", data), range(3)))
    assert most[0] > azure.concurrency + 1
    assert all(azure.read_bytes(f"/f{n}") == data for n in range(3))
