"""The S3 VFS against a real SeaweedFS, directly and through a TCP proxy the tests cut."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import secrets
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aft.exceptions import VfsConnectionError, VfsError, VfsNotFound
from aft.vfs import open_vfs
from aft.vfs.base import Vfs, copy_file
from aft.vfs.disk import DiskVfs
from aft.vfs.s3 import MiB, S3Vfs
from tests.servers.ftpd import make_tls_files
from tests.servers.seaweedfs import S3Server
from tests.vfs.contract import VfsContract, VfsFactory, names, payload


class TestS3Contract(VfsContract):
    """A prefix of a shared bucket per VFS."""

    real_dirs = False

    @pytest.fixture
    def vfs_factory(self, s3_server: S3Server, s3_bucket: str) -> Iterator[VfsFactory]:
        made: list[Vfs] = []

        def make() -> Vfs:
            target = s3_server.target(s3_bucket, f"runs/{secrets.token_hex(4)}")
            made.append(open_vfs("S3", target, s3_server.payload))
            return made[-1]

        yield make
        for vfs in made:
            vfs.close()


class TestS3BucketRootContract(TestS3Contract):
    """A whole bucket per VFS."""

    @pytest.fixture
    def vfs_factory(self, s3_server: S3Server) -> Iterator[VfsFactory]:
        made: list[Vfs] = []

        buckets: list[str] = []

        def make() -> Vfs:
            buckets.append(s3_server.new_bucket())
            made.append(open_vfs("S3", s3_server.target(buckets[-1]), s3_server.payload))
            return made[-1]

        yield make
        for vfs in made:
            vfs.close()
        for bucket in buckets:
            s3_server.drop_bucket(bucket)


@pytest.fixture
def s3(s3_server: S3Server, s3_bucket: str) -> Iterator[S3Vfs]:
    vfs = S3Vfs.from_target(s3_server.target(s3_bucket), s3_server.payload)
    vfs.part_size = 5 * MiB  # the smallest S3 allows: multipart tests stay small
    yield vfs
    vfs.close()


# ---- targets ------------------------------------------------------------------------


def test_from_target_reads_every_part() -> None:
    vfs = S3Vfs.from_target(
        "s3://bucket/some/prefix/?endpoint=http://127.0.0.1:1&region=eu-west-1",
        {"accessKeyId": "AK", "secretAccessKey": "TOPSECRET"},
    )
    assert repr(vfs) == "<S3Vfs s3://bucket/some/prefix/ at http://127.0.0.1:1>"
    assert (vfs._key("/a/b"), vfs._dir_key("/"), vfs._region) == (
        "some/prefix/a/b",
        "some/prefix/",
        "eu-west-1",
    )
    assert S3Vfs.from_target("s3://bucket", {})._key("/a") == "a"


@pytest.mark.parametrize(
    "target", ["sftp://b/", "s3:///prefix", "s3://b/?colour=blue", "s3://b/../x"]
)
def test_bad_targets_are_refused(target: str) -> None:
    with pytest.raises(VfsError):
        S3Vfs.from_target(target, {})


# ---- errors and credentials -----------------------------------------------------------


def test_wrong_secret_is_a_connection_error_that_hides_it(
    s3_server: S3Server, s3_bucket: str
) -> None:
    wrong = "Wr0ng-" + secrets.token_hex(12)
    vfs = open_vfs(
        "S3",
        s3_server.target(s3_bucket),
        {"accessKeyId": s3_server.access_key, "secretAccessKey": wrong},
    )
    with pytest.raises(VfsConnectionError, match="credentials") as caught:
        vfs.listdir("/")
    assert wrong not in str(caught.value) and wrong not in repr(vfs)
    vfs.close()


def test_missing_bucket_is_not_found(s3_server: S3Server) -> None:
    with open_vfs("S3", s3_server.target("aft-no-such-bucket"), s3_server.payload) as vfs:
        with pytest.raises(VfsNotFound, match="aft-no-such-bucket"):
            vfs.listdir("/")


def test_a_small_upload_with_a_wrong_secret_fails_and_hides_it(
    s3_server: S3Server, s3_bucket: str, s3: S3Vfs
) -> None:
    wrong = "Wr0ng-" + secrets.token_hex(12)
    payload = {"accessKeyId": s3_server.access_key, "secretAccessKey": wrong}
    with open_vfs("S3", s3_server.target(s3_bucket), payload) as vfs:
        with pytest.raises(VfsConnectionError, match="credentials") as caught:
            vfs.write_bytes("/x", b"small")
    assert wrong not in str(caught.value)
    assert names(s3) == []


def test_unreachable_endpoint_is_a_connection_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once closed
    with open_vfs("S3", f"s3://b?endpoint=http://127.0.0.1:{port}", {}) as vfs:
        with pytest.raises(VfsConnectionError):
            vfs.stat("/x")


# ---- objects, prefixes and uploads ----------------------------------------------------


def test_directories_are_prefixes(s3: S3Vfs, s3_server: S3Server, s3_bucket: str) -> None:
    s3.write_bytes("/a/b/c.txt", b"x")  # no mkdir needed in an object store
    assert s3.isdir("/a") and s3.isdir("/a/b")
    assert [(i.path, i.is_dir) for i in s3.walk("/")] == [
        ("/a", True),
        ("/a/b", True),
        ("/a/b/c.txt", False),
    ]
    s3.mkdir("/m")
    keys = [o["Key"] for o in s3_server.client().list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert sorted(keys) == ["a/b/c.txt", "m/"]
    s3.rmdir("/m")
    assert names(s3) == ["a"]


def test_small_objects_have_an_md5_checksum(s3: S3Vfs) -> None:
    s3.write_bytes("/f", b"hello")
    assert s3.checksum("/f") == ("md5", hashlib.md5(b"hello").hexdigest())


def test_big_stream_goes_up_in_parts(s3: S3Vfs, s3_server: S3Server, s3_bucket: str) -> None:
    data = payload(12 * MiB + 5)
    with s3.open_write("/big") as f:
        for start in range(0, len(data), MiB):
            f.write(data[start : start + MiB])
        assert not s3.exists("/big")  # nothing visible before close
    assert s3.read_bytes("/big") == data
    assert s3.checksum("/big") is None  # a multipart ETag is no MD5
    assert s3_server.client().head_object(Bucket=s3_bucket, Key="big")["ETag"].endswith('-3"')


@pytest.mark.parametrize("size", [100, 7 * MiB])
def test_an_error_inside_the_block_uploads_nothing(
    s3: S3Vfs, s3_server: S3Server, s3_bucket: str, size: int
) -> None:
    with pytest.raises(RuntimeError):
        with s3.open_write("/f") as f:
            f.write(payload(size))
            raise RuntimeError("the source failed")
    assert not s3.exists("/f")
    assert not s3_server.client().list_multipart_uploads(Bucket=s3_bucket).get("Uploads")


def test_an_unclosed_stream_uploads_nothing(s3: S3Vfs, s3_server: S3Server, s3_bucket: str) -> None:
    f = s3.open_write("/f")
    f.write(payload(6 * MiB))
    del f
    gc.collect()
    assert not s3.exists("/f")
    assert not s3_server.client().list_multipart_uploads(Bucket=s3_bucket).get("Uploads")


# ---- cut connections ----------------------------------------------------------------


class CuttingProxy:
    """A TCP proxy on 127.0.0.1 that resets every connection after ``limit`` bytes.

    ``direction`` is ``"up"`` (client to server) or ``"down"``. After the cut the proxy
    refuses new connections, unless ``heal`` is set: then it goes on forwarding.
    """

    def __init__(
        self,
        port: int,
        limit: int,
        direction: str,
        heal: bool = False,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.upstream, self.limit, self.direction, self.heal = port, limit, direction, heal
        self.tls = tls  # given: clients speak TLS to the proxy (it terminates it)
        self.cut_done = threading.Event()
        self._counted = 0
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.tls is not None:
                try:
                    client = self.tls.wrap_socket(client, server_side=True)
                except OSError:  # a client that refused the certificate
                    client.close()
                    continue
            server = socket.create_connection(("127.0.0.1", self.upstream))
            with self._lock:  # one accepted while the cut happened does not outlive it
                refused = self.cut_done.is_set() and not self.heal
                if not refused:
                    self._sockets += [client, server]
            if refused:
                client.close()
                server.close()
                return
            threading.Thread(target=self._pump, args=(client, server, "up"), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, "down"), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, direction: str) -> None:
        try:
            while data := source.recv(65536):
                if self.cut_done.is_set() and not self.heal:
                    break  # a pump that saw data before its socket was reset forwards none
                if direction == self.direction and not self.cut_done.is_set():
                    with self._lock:
                        self._counted += len(data)
                        over = self._counted > self.limit
                    if over:
                        self.cut()
                        return
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Reset every open connection (and stop listening unless healing)."""
        self.cut_done.set()
        if not self.heal:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:  # shutdown wakes the pumps blocked on it; close then resets
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self.heal = False
        self.cut()


Proxied = Callable[..., tuple[CuttingProxy, S3Vfs]]


@pytest.fixture
def proxied(s3_server: S3Server, s3_bucket: str) -> Iterator[Proxied]:
    """``open(limit, direction, heal)`` -> (proxy, S3Vfs through it)."""
    opened: list[tuple[CuttingProxy, Vfs]] = []

    def open_(limit: int, direction: str, heal: bool = False) -> tuple[CuttingProxy, S3Vfs]:
        proxy = CuttingProxy(int(s3_server.endpoint.rsplit(":", 1)[1]), limit, direction, heal)
        vfs = S3Vfs.from_target(
            s3_server.target(s3_bucket, endpoint=proxy.endpoint), s3_server.payload
        )
        vfs.part_size = 5 * MiB
        opened.append((proxy, vfs))
        return proxy, vfs

    yield open_
    for proxy, vfs in opened:
        vfs.close()
        proxy.close()


@pytest.mark.parametrize("size", [3 * MiB, 16 * MiB], ids=["single", "multipart"])
def test_connection_cut_mid_upload(proxied: Proxied, s3: S3Vfs, tmp_path: Path, size: int) -> None:
    """copy_file fails loudly; no object, not even a pending multipart upload, appears."""
    disk = DiskVfs(tmp_path)
    disk.write_bytes("/src", payload(size))
    proxy, remote = proxied(size // 2, "up")
    with pytest.raises(VfsConnectionError):
        copy_file(disk, "/src", remote, "/dst", retries=0)
    assert proxy.cut_done.is_set()
    assert names(s3) == []


def test_connection_cut_mid_download(proxied: Proxied, s3: S3Vfs, tmp_path: Path) -> None:
    data = payload(8 * MiB)
    s3.write_bytes("/src", data)
    proxy, remote = proxied(2 * MiB, "down")
    disk = DiskVfs(tmp_path)
    with pytest.raises(VfsConnectionError):
        copy_file(remote, "/src", disk, "/dst", retries=1, backoff=0)
    assert proxy.cut_done.is_set()
    assert names(disk) == []  # neither the final name nor the temporary one


def test_a_kept_alive_connection_the_server_dropped_is_replaced(
    proxied: Proxied, s3: S3Vfs
) -> None:
    """Small uploads reuse their thread's connection; one reset between two is no error."""
    proxy, remote = proxied(10**12, "up", heal=True)  # cuts only when told to
    remote.write_bytes("/a", b"first")
    proxy.cut()  # resets the idle kept-alive connection; new ones are still accepted
    remote.write_bytes("/b", b"second")
    assert (s3.read_bytes("/a"), s3.read_bytes("/b")) == (b"first", b"second")


def test_an_https_endpoint_is_verified(
    s3_server: S3Server, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small PUTs (http.client) and client calls (botocore) both check the certificate
    against AWS_CA_BUNDLE; a certificate it does not vouch for is refused."""
    tls_files = make_tls_files(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls_files.certfile, tls_files.keyfile)
    relay = CuttingProxy(int(s3_server.endpoint.rsplit(":", 1)[1]), 10**12, "up", tls=context)
    target = s3_server.target(s3_bucket, endpoint=relay.endpoint)
    try:
        monkeypatch.setenv("AWS_CA_BUNDLE", str(tls_files.cafile))
        with S3Vfs.from_target(target, s3_server.payload) as remote:
            remote.write_bytes("/tls", b"over TLS")
            assert remote.read_bytes("/tls") == b"over TLS"
        monkeypatch.delenv("AWS_CA_BUNDLE")
        with S3Vfs.from_target(target, s3_server.payload) as remote:
            with pytest.raises(VfsConnectionError, match="certificate verify failed"):
                remote.write_bytes("/untrusted", b"x")
            with pytest.raises(VfsConnectionError, match="certificate verify failed"):
                remote.read_bytes("/tls")
    finally:
        relay.close()


def test_small_uploads_go_through_an_environment_proxy(
    s3_server: S3Server, s3_bucket: str, s3: S3Vfs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With HTTP_PROXY set, a small PUT is a client call that the proxy forwards."""
    port = int(s3_server.endpoint.rsplit(":", 1)[1])
    proxy = CuttingProxy(port, 10**12, "up")  # a TCP relay: an absolute-URI HTTP proxy
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy.endpoint)
    try:
        with S3Vfs.from_target(s3_server.target(s3_bucket), s3_server.payload) as remote:
            remote.write_bytes("/via-proxy", b"through the proxy")
        assert proxy._counted > len(b"through the proxy")  # the request passed through it
        assert s3.read_bytes("/via-proxy") == b"through the proxy"
    finally:
        proxy.close()


def test_listings_and_lookups_behind_a_proxy_are_client_calls(
    s3_server: S3Server, s3_bucket: str, s3: S3Vfs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With HTTP_PROXY set, listing and looking up go through the proxy too, and say the
    same as without it."""
    s3.write_bytes("/seen/a b+c.txt", b"listed")
    port = int(s3_server.endpoint.rsplit(":", 1)[1])
    proxy = CuttingProxy(port, 10**12, "up")
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy.endpoint)
    try:
        with S3Vfs.from_target(s3_server.target(s3_bucket), s3_server.payload) as remote:
            assert [i.name for i in remote.listdir("/seen")] == ["a b+c.txt"]
            assert remote.stat("/seen/a b+c.txt") == s3.stat("/seen/a b+c.txt")
            with pytest.raises(VfsNotFound):
                remote.stat("/seen/missing")
        assert proxy._counted > 0
    finally:
        proxy.close()


def test_a_listing_goes_on_page_after_page(s3: S3Vfs) -> None:
    """aft's own ListObjectsV2 follows continuation tokens (two keys to a page here)."""
    names_written = [f"k{n} +%.txt" for n in range(5)]
    for name in names_written:
        s3.write_bytes(f"/paged/{name}", b"x")
    keys, token = [], {}
    for _ in range(5):
        page = s3._list("/paged", Prefix="paged/", MaxKeys=2, **token)
        keys += [obj["Key"] for obj in page["Contents"]]
        if not page["IsTruncated"]:
            break
        token = {"ContinuationToken": page["NextContinuationToken"]}
    assert keys == [f"paged/{name}" for name in names_written]


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_batch_of_small_files_to_an_endpoint_does_not_load_botocore(
    s3_server: S3Server, s3_bucket: str, tmp_path: Path, scheme: str
) -> None:
    """Small uploads, listings, lookups and folders use aft's own requests: botocore (a
    quarter of a second with its client) is not imported for them, over TLS either."""
    env = {**os.environ}
    target = s3_server.target(s3_bucket)
    relay = None
    if scheme == "https":
        tls_files = make_tls_files(tmp_path)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(tls_files.certfile, tls_files.keyfile)
        port = int(s3_server.endpoint.rsplit(":", 1)[1])
        relay = CuttingProxy(port, 10**12, "up", tls=context)
        target = s3_server.target(s3_bucket, endpoint=relay.endpoint)
        env["AWS_CA_BUNDLE"] = str(tls_files.cafile)
    program = f"""
import sys
from aft.vfs.s3 import S3Vfs
from aft.exceptions import VfsNotFound
vfs = S3Vfs.from_target({target!r}, {s3_server.payload!r})
vfs.makedirs("/nb/in")
for n in range(3):
    vfs.write_bytes(f"/nb/in/f{{n}}", b"x" * n)
assert [i.size for i in sorted(vfs.listdir("/nb/in"), key=lambda i: i.name)] == [0, 1, 2]
assert vfs.stat("/nb/in/f2").size == 2 and vfs.stat("/nb").is_dir
try:
    vfs.stat("/nb/none")
except VfsNotFound:
    pass
vfs.close()
print(sorted(m for m in sys.modules if m.split(".")[0] in ("botocore", "urllib3")))
"""
    import subprocess
    import sys

    try:
        run = subprocess.run(
            [sys.executable, "-c", program], capture_output=True, text=True, env=env
        )
    finally:
        if relay is not None:
            relay.close()
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
    if relay is not None:
        assert relay._counted > 0  # the requests went over TLS, through the relay


@pytest.mark.parametrize("direction", ["up", "down"])
def test_a_cut_connection_is_replaced(
    proxied: Proxied, s3: S3Vfs, tmp_path: Path, direction: str
) -> None:
    """After one cut the next attempt reconnects, and the copy arrives whole."""
    data = payload(12 * MiB)
    disk = DiskVfs(tmp_path)
    disk.write_bytes("/src", data)
    s3.write_bytes("/src", data)
    proxy, remote = proxied(4 * MiB, direction, heal=True)
    if direction == "up":
        copy_file(disk, "/src", remote, "/dst", backoff=0)
        assert s3.read_bytes("/dst") == data
    else:
        copy_file(remote, "/src", disk, "/dst", backoff=0)
        assert disk.read_bytes("/dst") == data
    assert proxy.cut_done.is_set()
    assert remote.listdir("/")
