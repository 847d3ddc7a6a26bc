"""Google Cloud Storage as a VFS, on ``google-cloud-storage``.

Target ``gs://bucket/prefix?endpoint=URL`` (no endpoint means Google's service).
Payload ``{"credentialsJSON": ...}``: a service-account (or authorized-user) key as a
JSON string or object. Without credentials the requests go anonymously (public
buckets, or an emulator): credentials from the environment or the host are never
picked up, and the private key never shows in a message or ``repr``.

Directories are object-name prefixes: a directory exists when an object lies below it
or a zero-byte ``dir/`` marker exists; :meth:`GcsVfs.mkdir` writes such a marker and
:meth:`GcsVfs.rmdir` removes it. Like the store itself, writing or renaming to
``a/b/c`` needs no directory ``a/b`` first; only ``mkdir`` insists on an existing
parent. A stream from :meth:`GcsVfs.open_write` is a resumable upload that is
finalised on close, so nothing appears under the name until it is complete
(``atomic_writes``); a read is ranged GETs of one generation, :data:`CONCURRENCY` at
once past the first block. Times are the objects' ``updated`` times.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import io
import json
import posixpath
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO, NoReturn, cast

import google.api_core.exceptions as api_errors
import google.auth.exceptions as auth_errors
import requests.exceptions
from google.auth.credentials import AnonymousCredentials, Credentials
from google.cloud.storage import Blob, Bucket, Client
from google.cloud.storage.exceptions import DataCorruption, InvalidResponse
from google.cloud.storage.fileio import BlobWriter
from google.cloud.storage.retry import DEFAULT_RETRY
from google.oauth2 import credentials as user_account
from google.oauth2 import service_account

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
from aft.vfs.base import TRANSFER_WORKERS, join, normalize
from aft.vfs.gcs_schema import GcsSchema
from aft.vfs.objectstore import AbortingUpload, ObjectStoreVfs, key_prefix, plain

MiB = 1024 * 1024
#: Bytes per upload request (a multiple of 256 KiB).
BLOCK_SIZE = 8 * MiB
#: Bytes per ranged GET when reading. A read holds :data:`CONCURRENCY` of them ahead, and
#: each GET briefly twice its size (the client joins the response's chunks): 4 MiB keeps
#: a read well under 64 MiB (8 MiB ranges held up to ~80 MiB at their peak).
READ_SIZE = 4 * MiB
#: Ranged GETs of one read in flight at once past its first block: a big object is not
#: held to one request's round trip, and a read holds at most this many blocks (and the
#: one being read).
CONCURRENCY = 4
#: How long one call keeps retrying transient failures (503, refused connections).
RETRY_SECONDS = 10.0
_MASK = "********"
_CONNECTION_ERRORS = (
    ConnectionError,
    requests.exceptions.RequestException,
    api_errors.RetryError,
    auth_errors.TransportError,
)


class GcsVfs(GcsSchema, ObjectStoreVfs):
    """One bucket of Google Cloud Storage, or a name prefix inside it.

    Args:
        client: the storage client (holding the credentials); the VFS closes it.
        bucket: bucket name.
        prefix: object-name prefix that is this VFS's root (``""`` for the whole bucket).
        secrets: credential strings to mask in every error message.
    """

    def __init__(
        self, client: Client, bucket: str, prefix: str = "", secrets: Iterable[str] = ()
    ) -> None:
        if not bucket:
            raise VfsError("a GCS VFS needs a bucket")
        self._client = client
        self._bucket: Bucket = client.bucket(bucket)
        self._prefix = key_prefix(prefix)
        self._secrets = tuple(s for s in secrets if s)
        self._retry = DEFAULT_RETRY.with_delay(initial=0.5, maximum=4.0).with_timeout(RETRY_SECONDS)
        self.block_size = BLOCK_SIZE
        self.read_size = READ_SIZE
        self.concurrency = CONCURRENCY
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    @classmethod
    def from_target(cls, target: str, payload: dict[str, Any]) -> GcsVfs:
        """Open ``gs://bucket/prefix?endpoint=URL`` with ``{"credentialsJSON": ...}``.

        Raises:
            VfsError: for a malformed target or credentials (never quoting the key).
        """
        fields = cls.parse_target(target)
        endpoint = fields["endpoint"]
        info = _credentials_info(payload.get("credentialsJSON"))
        credentials, project = _credentials(info) if info else (AnonymousCredentials(), None)
        client = Client(
            project=project,
            credentials=credentials,
            client_options={"api_endpoint": endpoint.rstrip("/")} if endpoint else None,
        )
        secrets = [
            str(info.get(field, ""))
            for field in ("private_key", "private_key_id", "refresh_token", "client_secret")
        ]
        return cls(client, fields["bucket"], fields["prefix"], secrets)

    def __repr__(self) -> str:
        return f"<GcsVfs gs://{self._bucket.name}/{self._prefix} at {self._client.api_endpoint}>"

    # ---- errors: the one place that knows google's -------------------------------

    @contextlib.contextmanager
    def _errors(self, path: str, listing: bool = False) -> Iterator[None]:
        """Translate the Google errors raised inside the block into :mod:`aft.exceptions`.

        ``listing`` says the block lists the bucket: a 404 then means no bucket.
        """
        try:
            yield
        except (
            *_CONNECTION_ERRORS,
            api_errors.GoogleAPIError,
            auth_errors.GoogleAuthError,
            InvalidResponse,
            DataCorruption,
        ) as exc:
            raise self._translate(exc, path, listing) from None

    def _translate(self, exc: Exception, path: str, listing: bool) -> VfsError:
        status = getattr(exc, "code", None)
        if isinstance(exc, InvalidResponse):
            status = getattr(getattr(exc, "response", None), "status_code", None)
        text = exc.args[0] if isinstance(exc, auth_errors.GoogleAuthError) and exc.args else exc
        reason = (
            str(getattr(exc, "message", None) or text).strip().splitlines() or [type(exc).__name__]
        )[0]
        service = f"GCS at {self._client.api_endpoint}"
        if status == 404 and listing:
            return VfsNotFound(f"{service}: no bucket {self._bucket.name!r}")
        if status == 404:
            return VfsNotFound(f"{path}: no such file or directory")
        message = self._scrub(f"{path}: {service}: {reason}")
        if isinstance(exc, auth_errors.RefreshError) or status in (401, 403):
            return VfsPermission(
                self._scrub(f"{path}: {service} refused the credentials: {reason}")
            )
        if isinstance(exc, DataCorruption):
            return VfsIntegrityError(message)
        if status in (409, 412):
            return VfsExists(message)
        if isinstance(exc, _CONNECTION_ERRORS) or (
            isinstance(status, int) and (status >= 500 or status == 429)
        ):
            return VfsConnectionError(message)
        return VfsError(message)

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, _MASK)
        return text

    # ---- names ------------------------------------------------------------------

    def _head(self, path: str) -> Blob | None:
        with self._errors(path):
            return self._bucket.get_blob(self._key(path), retry=self._retry)

    def _below(self, path: str, limit: int | None = None) -> list[Blob]:
        """Up to ``limit`` objects below directory ``path``, in name order (marker first)."""
        with self._errors(path, listing=True):
            blobs = self._client.list_blobs(
                self._bucket, prefix=self._dir_key(path), max_results=limit, retry=self._retry
            )
            return list(blobs)

    def _lookup(self, path: str) -> FileInfo | None:
        if path == "/":
            return FileInfo("/", True)
        blob = self._head(path)
        if blob is not None:
            return FileInfo(path, False, blob.size or 0, _mtime(blob))
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
        with self._errors(path, listing=True):
            listing = self._client.list_blobs(
                self._bucket, prefix=dir_key, delimiter="/", retry=self._retry
            )
            for blob in listing:
                name = blob.name[len(dir_key) :]
                marker = marker or not name
                if plain(name):
                    entries.append(FileInfo(join(path, name), False, blob.size or 0, _mtime(blob)))
            for prefix in listing.prefixes:
                if plain(prefix[len(dir_key) : -1]):
                    entries.append(FileInfo(join(path, prefix[len(dir_key) :]), True))
        if not entries and not marker and not self.stat(path).is_dir:
            raise VfsNotADirectory(f"{path}: not a directory")
        return entries

    def open_read(self, path: str, offset: int = 0) -> BinaryIO:
        path = normalize(path)
        blob = self._head(path) if path != "/" else None
        if blob is None:
            self._raise_missing(path)
        # A fresh handle on the same generation: downloads then build their own URL.
        source = self._bucket.blob(blob.name, generation=blob.generation)
        reader = _Reader(self, path, source, blob.size or 0, max(offset, 0))
        return cast(BinaryIO, io.BufferedReader(reader, self.read_size))

    def open_write(self, path: str) -> BinaryIO:
        path = normalize(path)
        if path == "/" or self._below(path, 1):
            raise VfsIsADirectory(f"{path}: is a directory")
        return cast(BinaryIO, _Writer(self, path, self._bucket.blob(self._key(path))))

    def mkdir(self, path: str) -> None:
        path = normalize(path)
        if self._lookup(path) is not None:
            raise VfsExists(f"{path}: already exists")
        parent = posixpath.dirname(path)
        if not self.stat(parent).is_dir:
            raise VfsNotADirectory(f"{parent}: not a directory")
        self._put_marker(path)

    def remove(self, path: str) -> None:
        path = normalize(path)
        if path == "/":
            raise VfsIsADirectory("/: is a directory")
        try:
            with self._errors(path):
                self._bucket.blob(self._key(path)).delete(retry=self._retry)
        except VfsNotFound:
            self._raise_missing(path)

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
            below[0].delete(retry=self._retry)

    def rename(self, src: str, dst: str) -> None:
        """Server-side rewrite, then delete: a directory moves object by object (not atomic)."""
        src, dst = normalize(src), normalize(dst)
        source = self._rename_checks(src, dst)
        if source is None:
            return
        if not source.is_dir:
            self._move(self._bucket.blob(self._key(src)), self._key(dst), src)
            return
        old, new = self._dir_key(src), self._dir_key(dst)
        blobs = self._below(src)
        self._put_marker(dst)
        for blob in blobs:
            if blob.name != old:
                self._move(blob, new + blob.name[len(old) :], src)
        if blobs and blobs[0].name == old:
            with self._errors(src):
                blobs[0].delete(retry=self._retry)

    def checksum(self, path: str) -> tuple[str, str] | None:
        """``("md5", hex)`` from the object's MD5 hash, when it has one (not composites)."""
        path = normalize(path)
        blob = self._head(path) if path != "/" else None
        if blob is None:
            raise VfsNotFound(f"{path}: no such file")
        md5 = blob.md5_hash
        return ("md5", base64.b64decode(md5).hex()) if md5 else None

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    def _pool(self) -> ThreadPoolExecutor:
        """The threads that fetch blocks ahead, ``concurrency`` for each file a batch keeps
        in flight by default (a thread starts only when there is work for it)."""
        with self._lock:
            if self._executor is None:
                workers = self.concurrency * TRANSFER_WORKERS
                self._executor = ThreadPoolExecutor(workers, "aft-gcs")
            return self._executor

    # ---- helpers ----------------------------------------------------------------

    def _raise_missing(self, path: str) -> NoReturn:
        """Raise VfsIsADirectory if ``path`` is a directory, else VfsNotFound."""
        if path == "/" or self._below(path, 1):
            raise VfsIsADirectory(f"{path}: is a directory")
        raise VfsNotFound(f"{path}: no such file")

    def _put_marker(self, path: str) -> None:
        with self._errors(path):
            self._bucket.blob(self._dir_key(path)).upload_from_string(b"", retry=self._retry)

    def _move(self, source: Blob, name: str, path: str) -> None:
        target = self._bucket.blob(name)
        with self._errors(path):
            token, _, _ = target.rewrite(source, retry=self._retry)
            while token is not None:
                token, _, _ = target.rewrite(source, token=token, retry=self._retry)
            source.delete(retry=self._retry)


def _credentials_info(value: Any) -> dict[str, Any]:
    if not value:
        return {}
    if isinstance(value, dict):
        return value
    try:
        info = json.loads(value)
    except (TypeError, ValueError):
        raise VfsError("the GCS credentialsJSON in the payload is not JSON") from None
    if not isinstance(info, dict):
        raise VfsError("the GCS credentialsJSON in the payload is not a JSON object")
    return info


def _credentials(info: dict[str, Any]) -> tuple[Credentials, str | None]:
    """Credentials and project from a service-account or authorized-user key."""
    kind = info.get("type")
    try:
        if kind == "service_account":
            return service_account.Credentials.from_service_account_info(info), info.get(
                "project_id"
            )
        if kind == "authorized_user":
            return user_account.Credentials.from_authorized_user_info(info), info.get(
                "quota_project_id"
            )
    except (ValueError, KeyError, auth_errors.GoogleAuthError) as exc:
        raise VfsError(
            f"the GCS credentialsJSON is not a usable {kind} key: {type(exc).__name__}"
        ) from None
    raise VfsError(
        f"the GCS credentialsJSON must be a service_account or authorized_user key, not {kind!r}"
    )


def _mtime(blob: Blob) -> float:
    return blob.updated.timestamp() if blob.updated else 0.0


class _Reader(io.RawIOBase):
    """Ranged GETs of one object generation, its errors translated.

    The first block is fetched by the reading thread; the blocks after it are asked for
    ``concurrency`` at a time from the VFS's threads and handed over in order. At most
    that many blocks and the one being read are held.
    """

    def __init__(self, vfs: GcsVfs, path: str, blob: Blob, size: int, offset: int) -> None:
        super().__init__()
        self._vfs, self._path, self._blob, self._size = vfs, path, blob, size
        self._next = offset  # the next offset to ask for
        self._ahead: list[Future[bytes]] = []
        self._current = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._current:
            if self._next >= self._size and not self._ahead:
                return 0
            if not self._ahead:  # the first block, or a read that stopped asking ahead
                self._current = memoryview(self._get(self._next))
                continue
            self._ask_ahead()
            self._current = memoryview(self._ahead.pop(0).result())
        self._ask_ahead()
        n = min(len(buffer), len(self._current))
        buffer[:n] = self._current[:n]
        self._current = self._current[n:]
        return n

    def _get(self, offset: int) -> bytes:
        length = min(self._vfs.read_size, self._size - offset)
        self._next = offset + length
        return _get_range(self._vfs, self._path, self._blob, offset, length)

    def _ask_ahead(self) -> None:
        while len(self._ahead) < self._vfs.concurrency and self._next < self._size:
            length = min(self._vfs.read_size, self._size - self._next)
            get = functools.partial(
                _get_range, self._vfs, self._path, self._blob, self._next, length
            )
            self._ahead.append(self._vfs._pool().submit(get))
            self._next += length

    def close(self) -> None:
        for future in self._ahead:
            future.cancel()
        self._ahead = []
        super().close()


def _get_range(vfs: GcsVfs, path: str, blob: Blob, offset: int, length: int) -> bytes:
    # a handle of its own per request: a Blob takes in what each download reports
    handle = blob.bucket.blob(blob.name, generation=blob.generation)
    with vfs._errors(path):
        data: bytes = handle.download_as_bytes(
            start=offset, end=offset + length - 1, checksum=None, retry=vfs._retry
        )
    if len(data) != length:
        raise VfsIntegrityError(f"{path}: got {len(data)} of {length} bytes at {offset}")
    return data


class _Writer(AbortingUpload, BlobWriter):
    """A resumable upload, finalised on :meth:`close`.

    Leaving a ``with`` block with an exception, :meth:`abort`, or dropping the stream
    unclosed cancels the upload: nothing appears under the name.
    """

    def __init__(self, vfs: GcsVfs, path: str, blob: Blob) -> None:
        super().__init__(blob, chunk_size=vfs.block_size, ignore_flush=True, retry=vfs._retry)
        self._vfs, self._path = vfs, path

    def write(self, data: Any) -> int:
        try:
            with self._vfs._errors(self._path):
                super().write(data)
        except BaseException:
            self.abort()
            raise
        return memoryview(data).nbytes

    def close(self) -> None:
        if self.closed:
            return
        try:
            with self._vfs._errors(self._path):
                super().close()
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Cancel the upload (best effort: an abandoned one expires by itself)."""
        if self.closed:
            return
        with contextlib.suppress(Exception):
            self.terminate()
        self._buffer.close()
