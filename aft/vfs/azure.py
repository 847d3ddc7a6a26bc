"""Azure Blob Storage as a VFS, on ``azure-storage-blob``.

Target ``azure://account/container/prefix?endpoint=URL``: without ``endpoint`` the
account's public endpoint ``https://{account}.blob.core.windows.net`` is used; for
Azurite give ``endpoint=http://127.0.0.1:10000/devstoreaccount1``. Payload
``{"key": ...}`` (the account key) or ``{"sas": ...}`` (a SAS token); with neither,
the container is read anonymously. Neither credential ever shows in a message or
``repr``.

Directories are blob-name prefixes: a directory exists when a blob lies below it or a
zero-byte ``dir/`` marker exists; :meth:`AzureVfs.mkdir` writes such a marker and
:meth:`AzureVfs.rmdir` removes it. Like the store itself, writing or renaming to
``a/b/c`` needs no directory ``a/b`` first; only ``mkdir`` insists on an existing
parent. Files are block blobs: a stream from :meth:`AzureVfs.open_write` stages blocks
(:data:`CONCURRENCY` at once) and commits the block list on close, so nothing appears
under the name until the upload is complete (``atomic_writes``); a read fetches the
blocks after the first as ranged GETs, as many at once, that must match the blob's
ETag. Times are the blobs' ``Last-Modified``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hashlib
import io
import itertools
import posixpath
import re
import secrets
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, BinaryIO, cast

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import (
    BlobBlock,
    BlobClient,
    BlobPrefix,
    BlobProperties,
    BlobServiceClient,
    ContainerClient,
    ContentSettings,
    LinearRetry,
    StorageStreamDownloader,
)

from aft.exceptions import (
    VfsConnectionError,
    VfsDirectoryNotEmpty,
    VfsError,
    VfsExists,
    VfsIntegrityError,
    VfsIsADirectory,
    VfsNotADirectory,
    VfsNotFound,
    VfsPermission,
)
from aft.models import FileInfo
from aft.vfs.azure_schema import AzureSchema
from aft.vfs.base import TRANSFER_WORKERS, join, normalize
from aft.vfs.objectstore import AbortingUpload, ObjectStoreVfs, key_prefix, plain, take_front

MiB = 1024 * 1024
#: Bytes per staged block.
BLOCK_SIZE = 8 * MiB
#: Bytes per ranged GET when reading. A read holds :data:`CONCURRENCY` of them ahead, and
#: each GET briefly twice its size (the SDK joins the response's chunks): 4 MiB keeps a
#: read well under 64 MiB (8 MiB blocks held ~100 MiB at their peak).
READ_SIZE = 4 * MiB
#: Blocks of one upload staged at once, and ranged GETs of one read asked ahead: a big
#: blob is not held to one request's round trip, and an upload holds at most this many
#: blocks (and one being filled) in memory.
CONCURRENCY = 4
_MASK = "********"
_UNCHANGED = MatchConditions.IfNotModified
_SAS_SIGNATURE = re.compile(r"(?i)\bsig=[^&\s'\"]+")


class AzureVfs(AzureSchema, ObjectStoreVfs):
    """One container of an Azure storage account, or a name prefix inside it.

    Args:
        container: the container's client (holding the credential); the VFS closes it.
        prefix: blob-name prefix that is this VFS's root (``""`` for the whole container).
        secrets: credential strings to mask in every error message.
    """

    def __init__(
        self, container: ContainerClient, prefix: str = "", secrets: Iterable[str] = ()
    ) -> None:
        self._container = container
        self._prefix = key_prefix(prefix)
        self._secrets = tuple(s for s in secrets if s)
        self.block_size = BLOCK_SIZE
        self.read_size = READ_SIZE
        self.concurrency = CONCURRENCY
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    @classmethod
    def from_target(cls, target: str, payload: dict[str, Any]) -> AzureVfs:
        """Open ``azure://account/container/prefix?endpoint=URL`` with ``{"key"|"sas": ...}``.

        Raises:
            VfsError: for a malformed target or key (never quoting the credential).
        """
        fields = cls.parse_target(target)
        account, container, prefix = fields["account"], fields["container"], fields["prefix"]
        if not container:
            raise VfsError(f"{cls.noun} looks like {cls.shape}, not {target!r}")
        endpoint = fields["endpoint"] or f"https://{account}.blob.core.windows.net"
        key, sas = payload.get("key") or "", payload.get("sas") or ""
        credential: Any = None
        if key:
            try:
                base64.b64decode(key, validate=True)
            except (binascii.Error, TypeError, ValueError):
                raise VfsError("the Azure account key in the payload is not base64") from None
            credential = {"account_name": account, "account_key": key}
        elif sas:
            credential = str(sas).lstrip("?")
        service = BlobServiceClient(
            endpoint.rstrip("/"),
            credential=credential,
            retry_policy=LinearRetry(backoff=1, retry_total=2, random_jitter_range=1),
            max_single_get_size=BLOCK_SIZE,
            max_chunk_get_size=BLOCK_SIZE,
        )
        return cls(service.get_container_client(container), prefix, (key, sas))

    def __repr__(self) -> str:
        return f"<AzureVfs {self._container.url.split('?')[0]}/{self._prefix}>"

    # ---- errors: the one place that knows azure.core's ---------------------------

    @contextlib.contextmanager
    def _errors(self, path: str) -> Iterator[None]:
        """Translate the Azure errors raised inside the block into :mod:`aft.exceptions`."""
        try:
            yield
        except AzureError as exc:
            raise self._translate(exc, path) from None

    def _translate(self, exc: AzureError, path: str) -> VfsError:
        status = getattr(exc, "status_code", None)
        code = getattr(exc, "error_code", None)
        code = getattr(code, "value", code)
        reason = (str(exc.message or "").strip().splitlines() or [type(exc).__name__])[0]
        service = f"Azure at {self._container.primary_hostname}"
        detail = f" ({code or 'HTTP'} {status})" if status else ""
        if code == "ContainerNotFound":
            return VfsNotFound(f"{service}: no container {self._container.container_name!r}")
        if isinstance(exc, ResourceNotFoundError) or status == 404:
            return VfsNotFound(f"{path}: no such file or directory")
        if isinstance(exc, ClientAuthenticationError) or status in (401, 403):
            return VfsPermission(
                self._scrub(f"{path}: {service} refused the credentials: {reason}{detail}")
            )
        if isinstance(exc, ResourceExistsError):
            return VfsExists(self._scrub(f"{path}: {reason}{detail}"))
        if isinstance(exc, (ServiceRequestError, ServiceResponseError)) or (status or 0) >= 500:
            return VfsConnectionError(self._scrub(f"{path}: {service}: {reason}{detail}"))
        return VfsError(self._scrub(f"{path}: {service}: {reason}{detail}"))

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, _MASK)
        return _SAS_SIGNATURE.sub("sig=" + _MASK, text)

    # ---- names ------------------------------------------------------------------

    def _blob(self, name: str) -> BlobClient:
        return self._container.get_blob_client(name)

    def _head(self, path: str) -> BlobProperties | None:
        with self._errors(path):
            try:
                return self._blob(self._key(path)).get_blob_properties()
            except ResourceNotFoundError:
                return None

    def _below(self, path: str, limit: int | None = None) -> list[BlobProperties]:
        """Up to ``limit`` blobs below directory ``path``, in name order (its marker first)."""
        with self._errors(path):
            blobs = self._container.list_blobs(
                name_starts_with=self._dir_key(path), results_per_page=limit
            )
            return list(itertools.islice(blobs, limit))

    def _lookup(self, path: str) -> FileInfo | None:
        if path == "/":
            return FileInfo("/", True)
        props = self._head(path)
        if props is not None:
            return FileInfo(path, False, props.size, _mtime(props))
        below = self._below(path, 1)
        if not below:
            return None
        return FileInfo(
            path, True, 0, _mtime(below[0]) if below[0].name == self._dir_key(path) else 0.0
        )

    # ---- primitives -------------------------------------------------------------

    def listdir(self, path: str) -> list[FileInfo]:
        path = normalize(path)
        dir_key = self._dir_key(path)
        entries: list[FileInfo] = []
        marker = False
        with self._errors(path):
            for item in self._container.walk_blobs(name_starts_with=dir_key, delimiter="/"):
                name = item.name[len(dir_key) :]
                marker = marker or not name
                if isinstance(item, BlobPrefix):
                    if plain(name[:-1]):
                        entries.append(FileInfo(join(path, name), True))
                elif plain(name):
                    entries.append(FileInfo(join(path, name), False, item.size, _mtime(item)))
        if not entries and not marker and not self.stat(path).is_dir:
            raise VfsNotADirectory(f"{path}: not a directory")
        return entries

    def open_read(self, path: str, offset: int = 0) -> BinaryIO:
        path = normalize(path)
        with self._file_op(path):
            blob = self._blob(self._key(path))
            try:
                download = blob.download_blob(offset=max(offset, 0), length=self.read_size)
            except HttpResponseError as exc:
                if exc.status_code != 416:
                    raise
                return io.BytesIO(b"")  # the offset is past the end (or the blob is empty)
        reader = _Reader(self, path, blob, download, max(offset, 0))
        return cast(BinaryIO, io.BufferedReader(reader, self.read_size))

    def open_write(self, path: str) -> BinaryIO:
        path = normalize(path)
        if path == "/" or self._below(path, 1):
            raise VfsIsADirectory(f"{path}: is a directory")
        return cast(BinaryIO, _Writer(self, path, self._blob(self._key(path))))

    def mkdir(self, path: str) -> None:
        path = normalize(path)
        if self._lookup(path) is not None:
            raise VfsExists(f"{path}: already exists")
        parent = posixpath.dirname(path)
        if not self.stat(parent).is_dir:
            raise VfsNotADirectory(f"{parent}: not a directory")
        with self._errors(path):
            self._container.upload_blob(self._dir_key(path), b"", overwrite=True)

    def remove(self, path: str) -> None:
        path = normalize(path)
        with self._file_op(path):
            self._blob(self._key(path)).delete_blob()

    def rmdir(self, path: str) -> None:
        path = normalize(path)
        if path == "/":
            raise VfsPermission("/: the root cannot be removed")
        dir_key = self._dir_key(path)
        below = self._below(path, 2)
        if any(blob.name != dir_key for blob in below):
            raise VfsDirectoryNotEmpty(f"{path}: directory not empty")
        if not below:
            self.stat(path)  # VfsNotFound when nothing is there
            raise VfsNotADirectory(f"{path}: not a directory")
        with self._errors(path):
            self._blob(dir_key).delete_blob()

    def rename(self, src: str, dst: str) -> None:
        """Server-side copy, then delete: a directory moves blob by blob, so not atomically."""
        src, dst = normalize(src), normalize(dst)
        source = self._rename_checks(src, dst)
        if source is None:
            return
        if not source.is_dir:
            self._move(self._key(src), self._key(dst), src)
            return
        old, new = self._dir_key(src), self._dir_key(dst)
        blobs = self._below(src)
        with self._errors(dst):
            self._container.upload_blob(new, b"", overwrite=True)
        for blob in blobs:
            if blob.name != old:
                self._move(blob.name, new + blob.name[len(old) :], src)
        if blobs and blobs[0].name == old:
            with self._errors(src):
                self._blob(old).delete_blob()

    def checksum(self, path: str) -> tuple[str, str] | None:
        """``("md5", hex)`` from the blob's Content-MD5, when it has one."""
        path = normalize(path)
        props = self._head(path) if path != "/" else None
        if props is None:
            raise VfsNotFound(f"{path}: no such file")
        md5 = props.content_settings.content_md5
        return ("md5", bytes(md5).hex()) if md5 else None

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        self._container.close()

    def _pool(self) -> ThreadPoolExecutor:
        """The threads that stage and fetch blocks, ``concurrency`` for each file a batch
        keeps in flight by default (a thread starts only when there is work for it)."""
        with self._lock:
            if self._executor is None:
                workers = self.concurrency * TRANSFER_WORKERS
                self._executor = ThreadPoolExecutor(workers, "aft-azure")
            return self._executor

    # ---- helpers ----------------------------------------------------------------

    @contextlib.contextmanager
    def _file_op(self, path: str) -> Iterator[None]:
        """Like :meth:`_errors`, for a file: the root or a directory raise VfsIsADirectory."""
        if path == "/":
            raise VfsIsADirectory("/: is a directory")
        try:
            with self._errors(path):
                yield
        except VfsNotFound:
            if self._below(path, 1):
                raise VfsIsADirectory(f"{path}: is a directory") from None
            raise

    def _move(self, old: str, new: str, path: str) -> None:
        source, target = self._blob(old), self._blob(new)
        with self._errors(path):
            status = str(target.start_copy_from_url(source.url)["copy_status"])
            while status == "pending":
                time.sleep(0.1)
                status = str(target.get_blob_properties().copy.status)
            if status != "success":
                raise VfsError(f"{path}: the server-side copy ended as {status}")
            source.delete_blob()


def _mtime(props: BlobProperties) -> float:
    return props.last_modified.timestamp() if props.last_modified else 0.0


class _Reader(io.RawIOBase):
    """A blob download as a raw stream, its errors translated.

    ``first`` is the download of the first block, which brings the blob's size and ETag;
    the blocks after it are asked for :data:`CONCURRENCY` at a time (ranged GETs that
    must match that ETag, so a blob replaced meanwhile fails the read) and handed over
    in order. At most that many blocks and the one being read are held.
    """

    def __init__(
        self,
        vfs: AzureVfs,
        path: str,
        blob: BlobClient,
        first: StorageStreamDownloader[bytes],
        offset: int,
    ) -> None:
        super().__init__()
        self._vfs, self._path, self._blob, self._first = vfs, path, blob, first
        self._next = offset + first.size  # the next offset to ask for
        # "bytes 0-1048575/4194304": the range given and the blob's whole size
        whole = (first.properties.content_range or "").rpartition("/")[2]
        self._end = int(whole) if whole.isdigit() else self._next
        self._ahead: list[Future[bytes]] = []
        self._current = memoryview(b"")
        self._started = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._current:
            if not self._started:
                self._started = True
                with self._vfs._errors(self._path):
                    self._current = memoryview(self._first.readall())
                continue
            self._ask_ahead()
            if not self._ahead:
                return 0
            self._current = memoryview(self._ahead.pop(0).result())
        n = min(len(buffer), len(self._current))
        buffer[:n] = self._current[:n]
        self._current = self._current[n:]
        return n

    def _ask_ahead(self) -> None:
        etag = self._first.properties.etag
        while len(self._ahead) < self._vfs.concurrency and self._next < self._end:
            length = min(self._vfs.read_size, self._end - self._next)
            get = functools.partial(
                _get_range, self._vfs, self._path, self._blob, etag, self._next, length
            )
            self._ahead.append(self._vfs._pool().submit(get))
            self._next += length

    def close(self) -> None:
        for future in self._ahead:
            future.cancel()
        self._ahead = []
        super().close()


class _Writer(AbortingUpload, io.RawIOBase):
    """Stages a block per ``block_size`` bytes and commits the block list on :meth:`close`.

    Full blocks are staged from the VFS's threads while the caller keeps writing, at most
    ``concurrency`` at a time (so memory stays bounded); the first that failed is raised
    by the next write or by close.

    Leaving a ``with`` block with an exception, :meth:`abort`, or dropping the stream
    unclosed commits nothing: staged blocks that no blob uses are discarded by the service.
    """

    def __init__(self, vfs: AzureVfs, path: str, blob: BlobClient) -> None:
        super().__init__()
        self._vfs, self._path, self._blob = vfs, path, blob
        self._buffer = bytearray()
        self._blocks: list[BlobBlock] = []
        self._staging: list[Future[None]] = []
        self._md5 = hashlib.md5()
        self._id = secrets.token_hex(8)  # block ids unique to this upload

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self.closed:
            raise ValueError("write to a closed Azure upload")
        self._buffer += data
        self._md5.update(data)
        size = self._vfs.block_size
        try:
            while len(self._buffer) >= size:
                self._stage(take_front(self._buffer, size))
        except BaseException:
            self.abort()
            raise
        return memoryview(data).nbytes

    def _stage(self, data: bytes, *, here: bool = False) -> None:
        """Stage ``data`` as the next block: from the VFS's threads, or ``here`` (the last
        block, which close waits for anyway: a small file's uploads in a batch never
        queue for those threads)."""
        block_id = f"{self._id}-{len(self._blocks):06d}"
        self._blocks.append(BlobBlock(block_id))
        if here:
            _stage_block(self._vfs, self._path, self._blob, block_id, data)
            return
        room = self._vfs.concurrency
        if len(self._staging) >= room:
            self._staging[-room].result()  # wait for room (and fail early)
        # The task holds no reference to the stream, so an abandoned one is collected
        # (and aborted) at once.
        stage = functools.partial(_stage_block, self._vfs, self._path, self._blob, block_id)
        self._staging.append(self._vfs._pool().submit(stage, data))

    def close(self) -> None:
        if self.closed:
            return
        try:
            if self._buffer:
                self._stage(bytes(self._buffer), here=True)
            for staged in self._staging:
                staged.result()
            with self._vfs._errors(self._path):
                settings = ContentSettings(content_md5=bytearray(self._md5.digest()))
                self._blob.commit_block_list(self._blocks, content_settings=settings)
        except BaseException:
            self.abort()
            raise
        self._buffer = bytearray()
        super().close()

    def abort(self) -> None:
        """Discard everything written; nothing appears under the name."""
        self._buffer = bytearray()
        for staged in self._staging:
            staged.cancel()
        wait(self._staging)
        super().close()


def _stage_block(vfs: AzureVfs, path: str, blob: BlobClient, block_id: str, data: bytes) -> None:
    with vfs._errors(path):
        blob.stage_block(block_id, data, validate_content=True)


def _get_range(
    vfs: AzureVfs, path: str, blob: BlobClient, etag: str, offset: int, length: int
) -> bytes:
    with vfs._errors(path):
        try:
            got = blob.download_blob(
                offset=offset, length=length, etag=etag, match_condition=_UNCHANGED
            ).readall()
        except ResourceModifiedError:
            raise VfsIntegrityError(f"{path}: the blob changed while it was read") from None
    if len(got) != length:
        raise VfsIntegrityError(f"{path}: the blob changed while it was read")
    return got
