"""The GCS VFS against a real emulator: the contract, credentials, uploads, cut connections."""

from __future__ import annotations

import gc
import hashlib
import http.server
import json
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from aft.exceptions import VfsConnectionError, VfsError, VfsNotFound, VfsPermission
from aft.vfs import open_vfs
from aft.vfs.base import Vfs, copy_file
from aft.vfs.disk import DiskVfs
from aft.vfs.gcs import GcsVfs, MiB
from tests.servers.gcs import GcsServer
from tests.vfs.contract import VfsContract, VfsFactory, names, payload
from tests.vfs.test_s3 import CuttingProxy


class TestGcsContract(VfsContract):
    """A prefix of a shared bucket per VFS."""

    real_dirs = False

    @pytest.fixture
    def vfs_factory(self, gcs_server: GcsServer, gcs_bucket: str) -> Iterator[VfsFactory]:
        made: list[Vfs] = []

        def make() -> Vfs:
            made.append(
                open_vfs("GCP", gcs_server.target(gcs_bucket, f"runs/{secrets.token_hex(4)}"), {})
            )
            return made[-1]

        yield make
        for vfs in made:
            vfs.close()


class TestGcsBucketRootContract(TestGcsContract):
    """A whole bucket per VFS."""

    @pytest.fixture
    def vfs_factory(self, gcs_server: GcsServer) -> Iterator[VfsFactory]:
        made: list[tuple[Vfs, str]] = []

        def make() -> Vfs:
            bucket = gcs_server.new_bucket()
            made.append((open_vfs("GCP", gcs_server.target(bucket), {}), bucket))
            return made[-1][0]

        yield make
        for vfs, bucket in made:
            vfs.close()
            gcs_server.drop_bucket(bucket)


@pytest.fixture
def gcs(gcs_server: GcsServer, gcs_bucket: str) -> Iterator[GcsVfs]:
    vfs = GcsVfs.from_target(gcs_server.target(gcs_bucket), {})
    vfs.block_size = vfs.read_size = MiB  # multi-request uploads and reads stay small
    yield vfs
    vfs.close()


def object_names(server: GcsServer, bucket: str) -> list[str]:
    with server.client() as client:
        return sorted(b.name for b in client.list_blobs(bucket))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens there once closed


def service_account_json(token_uri: str) -> tuple[str, str]:
    """A service-account key (JSON) whose token endpoint is ``token_uri``, and its PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "aft-test",
        "private_key_id": secrets.token_hex(20),
        "private_key": pem,
        "client_email": "aft@aft-test.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": token_uri,
    }
    return json.dumps(info), pem


@pytest.fixture
def refusing_token_server() -> Iterator[str]:
    """A token endpoint on 127.0.0.1 that refuses every key, as Google does a revoked one."""

    class Refuse(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = json.dumps(
                {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
            ).encode()
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/token"
    server.shutdown()
    server.server_close()


# ---- targets ------------------------------------------------------------------------


def test_from_target_reads_every_part() -> None:
    vfs = GcsVfs.from_target("gs://bucket/some/prefix/?endpoint=http://127.0.0.1:1", {})
    assert repr(vfs) == "<GcsVfs gs://bucket/some/prefix/ at http://127.0.0.1:1>"
    assert (vfs._key("/a/b"), vfs._dir_key("/")) == ("some/prefix/a/b", "some/prefix/")
    assert GcsVfs.from_target("gs://bucket", {})._key("/a") == "a"


@pytest.mark.parametrize(
    "target", ["s3://b/", "gs:///prefix", "gs://b/?colour=blue", "gs://b/../x"]
)
def test_bad_targets_are_refused(target: str) -> None:
    with pytest.raises(VfsError):
        GcsVfs.from_target(target, {})


@pytest.mark.parametrize(
    "credentials",
    [
        '{"private_key": "SECRET',
        '["SECRET"]',
        '{"type": "external_account", "x": "SECRET"}',
        '{"type": "service_account", "private_key": "SECRET"}',
    ],
)
def test_unusable_credentials_are_refused_without_quoting_them(credentials: str) -> None:
    with pytest.raises(VfsError) as caught:
        GcsVfs.from_target("gs://bucket", {"credentialsJSON": credentials})
    assert "SECRET" not in str(caught.value)


# ---- errors and credentials -----------------------------------------------------------


def test_wrong_key_is_refused_quickly_and_never_shown(
    gcs_server: GcsServer, gcs_bucket: str, refusing_token_server: str
) -> None:
    credentials, pem = service_account_json(refusing_token_server)
    vfs = open_vfs("GCP", gcs_server.target(gcs_bucket), {"credentialsJSON": credentials})
    started = time.monotonic()
    with pytest.raises(VfsPermission, match="credentials") as caught:
        vfs.listdir("/")
    assert time.monotonic() - started < 10
    body = pem.splitlines()[1]
    assert body not in str(caught.value) and body not in repr(vfs)
    vfs.close()


def test_missing_bucket_is_not_found(gcs_server: GcsServer) -> None:
    with open_vfs("GCP", gcs_server.target("aft-no-such-bucket"), {}) as vfs:
        with pytest.raises(VfsNotFound, match="aft-no-such-bucket"):
            vfs.listdir("/")


def test_unreachable_endpoint_is_a_connection_error() -> None:
    with open_vfs("GCP", f"gs://b?endpoint=http://127.0.0.1:{closed_port()}", {}) as vfs:
        with pytest.raises(VfsConnectionError):
            vfs.stat("/x")


# ---- objects, prefixes and uploads ----------------------------------------------------


def test_directories_are_prefixes(gcs: GcsVfs, gcs_server: GcsServer, gcs_bucket: str) -> None:
    gcs.write_bytes("/a/b/c.txt", b"x")  # no mkdir needed in an object store
    assert gcs.isdir("/a") and gcs.isdir("/a/b")
    assert [(i.path, i.is_dir) for i in gcs.walk("/")] == [
        ("/a", True),
        ("/a/b", True),
        ("/a/b/c.txt", False),
    ]
    gcs.mkdir("/m")
    assert object_names(gcs_server, gcs_bucket) == ["a/b/c.txt", "m/"]
    gcs.rmdir("/m")
    assert names(gcs) == ["a"]


def test_objects_have_an_md5_checksum(gcs: GcsVfs) -> None:
    big = payload(3 * MiB + 11)
    gcs.write_bytes("/small", b"hello")
    gcs.write_bytes("/big", big)
    assert gcs.checksum("/small") == ("md5", hashlib.md5(b"hello").hexdigest())
    assert gcs.checksum("/big") == ("md5", hashlib.md5(big).hexdigest())
    gcs.rename("/big", "/moved")
    assert gcs.checksum("/moved") == ("md5", hashlib.md5(big).hexdigest())


def test_big_stream_goes_up_in_chunks(gcs: GcsVfs) -> None:
    data = payload(3 * MiB + 5)
    with gcs.open_write("/big") as f:
        for start in range(0, len(data), 300_000):
            f.write(data[start : start + 300_000])
        assert not gcs.exists("/big")  # nothing visible before close
    assert gcs.read_bytes("/big") == data


@pytest.mark.parametrize("size", [100, 3 * MiB])
def test_an_error_inside_the_block_uploads_nothing(gcs: GcsVfs, size: int) -> None:
    with pytest.raises(RuntimeError):
        with gcs.open_write("/f") as f:
            f.write(payload(size))
            raise RuntimeError("the source failed")
    assert not gcs.exists("/f")


def test_an_unclosed_stream_uploads_nothing(gcs: GcsVfs) -> None:
    f = gcs.open_write("/f")
    f.write(payload(2 * MiB))
    del f
    gc.collect()
    assert not gcs.exists("/f")


def test_a_failed_upload_keeps_the_previous_object(gcs: GcsVfs) -> None:
    gcs.write_bytes("/f", b"previous")
    with pytest.raises(RuntimeError):
        with gcs.open_write("/f") as f:
            f.write(payload(2 * MiB))
            raise RuntimeError("the source failed")
    assert gcs.read_bytes("/f") == b"previous"


# ---- cut connections ----------------------------------------------------------------


Proxied = Callable[..., tuple[CuttingProxy, GcsVfs]]


@pytest.fixture
def proxied(gcs_server: GcsServer, gcs_bucket: str) -> Iterator[Proxied]:
    """``open(limit, direction, heal)`` -> (proxy, GcsVfs through it)."""
    opened: list[tuple[CuttingProxy, Vfs]] = []

    def open_(limit: int, direction: str, heal: bool = False) -> tuple[CuttingProxy, GcsVfs]:
        proxy = CuttingProxy(int(gcs_server.endpoint.rsplit(":", 1)[1]), limit, direction, heal)
        vfs = GcsVfs.from_target(gcs_server.target(gcs_bucket, endpoint=proxy.endpoint), {})
        vfs.block_size = vfs.read_size = MiB
        opened.append((proxy, vfs))
        return proxy, vfs

    yield open_
    for proxy, vfs in opened:
        vfs.close()
        proxy.close()


def test_connection_cut_mid_upload_leaves_no_object(
    proxied: Proxied, gcs: GcsVfs, tmp_path: Path
) -> None:
    disk = DiskVfs(tmp_path)
    disk.write_bytes("/src", payload(4 * MiB))
    proxy, remote = proxied(2 * MiB, "up")
    with pytest.raises(VfsConnectionError):
        copy_file(disk, "/src", remote, "/dst", retries=0)
    assert proxy.cut_done.is_set()
    assert names(gcs) == []


def test_connection_cut_mid_download(proxied: Proxied, gcs: GcsVfs, tmp_path: Path) -> None:
    gcs.write_bytes("/src", payload(4 * MiB))
    proxy, remote = proxied(MiB + MiB // 2, "down")
    disk = DiskVfs(tmp_path)
    with pytest.raises(VfsConnectionError):
        copy_file(remote, "/src", disk, "/dst", retries=0)
    assert proxy.cut_done.is_set()
    assert names(disk) == []


@pytest.mark.parametrize("direction", ["up", "down"])
def test_a_cut_connection_is_replaced(
    proxied: Proxied, gcs: GcsVfs, tmp_path: Path, direction: str
) -> None:
    data = payload(4 * MiB)
    disk = DiskVfs(tmp_path)
    disk.write_bytes("/src", data)
    gcs.write_bytes("/src", data)
    proxy, remote = proxied(2 * MiB, direction, heal=True)
    if direction == "up":
        copy_file(disk, "/src", remote, "/dst", backoff=0)
        assert gcs.read_bytes("/dst") == data
    else:
        copy_file(remote, "/src", disk, "/dst", backoff=0)
        assert disk.read_bytes("/dst") == data
    assert proxy.cut_done.is_set()


def test_a_read_fetches_its_first_block_itself_and_the_rest_several_at_once(
    gcs: GcsVfs, monkeypatch: pytest.MonkeyPatch
) -> None:
    import aft.vfs.gcs

    get, lock = aft.vfs.gcs._get_range, threading.Lock()
    busy, most, callers = [0], [0], []

    def counted(*args: object) -> bytes:
        with lock:
            busy[0] += 1
            most[0] = max(most[0], busy[0])
            callers.append(threading.current_thread())
        time.sleep(0.1)  # long enough for the next blocks to start, were they allowed
        try:
            return get(*args)  # type: ignore[arg-type]
        finally:
            with lock:
                busy[0] -= 1

    data = payload(10 * MiB + 5)  # 11 blocks of 1 MiB
    gcs.write_bytes("/big.bin", data)
    gcs.write_bytes("/small.bin", b"x" * 1000)
    monkeypatch.setattr(aft.vfs.gcs, "_get_range", counted)
    assert gcs.read_bytes("/small.bin") == b"x" * 1000
    assert callers == [threading.current_thread()]  # a batch's small files never queue
    assert gcs.read_bytes("/big.bin") == data
    assert most[0] == gcs.concurrency > 1
    with gcs.open_read("/big.bin", 3 * MiB + 7) as f:
        assert f.read() == data[3 * MiB + 7 :]
