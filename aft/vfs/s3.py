"""Amazon S3 and S3-compatible object stores (SeaweedFS, MinIO, ...) on botocore.

Target ``s3://bucket/prefix?endpoint=http://127.0.0.1:8333&region=us-east-1`` (no
endpoint means AWS), payload ``{"accessKeyId": ..., "secretAccessKey": ...}`` plus an
optional ``"sessionToken"``. Without keys the requests go unsigned (public buckets):
credentials from the environment or the host are never picked up.

Directories are key prefixes: a directory exists when a key lies below it or a
zero-byte ``dir/`` marker exists; :meth:`S3Vfs.mkdir` writes such a marker. Objects
appear only when complete (``atomic_writes``): a stream from :meth:`S3Vfs.open_write`
uploads on close, as one ``PutObject`` when small, else as a multipart upload whose
parts go up from background threads while the caller writes; an error aborts it.
A small ``PutObject``, ``HeadObject`` and ``ListObjectsV2`` are signed by aft's own SigV4
code and sent on a kept-alive ``http.client`` connection of the calling thread:
botocore's per-call machinery, and urllib3's, cost more CPU than a small upload takes on
the wire, and that bounds a tree of small files. botocore itself is imported when a call
first needs it (about a quarter of a second with its client), so a batch of small files
to an endpoint never loads it. Behind a proxy every call is an ordinary client call.
Like the store itself, writing or renaming to ``a/b/c`` needs no directory ``a/b``
first; only :meth:`S3Vfs.mkdir` insists on an existing parent. Times are the
objects' ``LastModified`` and cannot be set.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import hmac
import http.client
import importlib.util
import io
import os
import posixpath
import ssl
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Collection
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import datetime
from typing import Any, BinaryIO

from aft.exceptions import (
    VfsConnectionError,
    VfsDirectoryNotEmpty,
    VfsError,
    VfsExists,
    VfsIsADirectory,
    VfsNotADirectory,
    VfsNotFound,
    VfsPathError,
    VfsPermission,
)
from aft.models import FileInfo
from aft.vfs.base import TRANSFER_WORKERS, join, normalize
from aft.vfs.objectstore import AbortingUpload, ObjectStoreVfs, key_prefix, plain, take_front
from aft.vfs.s3_schema import S3Schema

MiB = 1024 * 1024
#: Parts of a multipart upload start at this size and double every 1,000 parts.
PART_SIZE = 8 * MiB
#: Parts in flight per upload (and threads per VFS).
CONCURRENCY = 4
_MAX_PART = 5 * 1024 * MiB
_MAX_COPY = 5 * 1024 * MiB
_NOT_FOUND = ("404", "NoSuchKey", "NotFound")
_BAD_CREDENTIALS = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken")


if importlib.util.find_spec("botocore") is None:  # the s3 extra is missing: said at once
    raise ModuleNotFoundError("No module named 'botocore'", name="botocore")

_SESSION_LOCK = threading.Lock()
#: The reply headers :meth:`S3Vfs._head` keeps, by the names botocore gives them.
_HEAD_FIELDS = {
    "ETag": "etag",
    "ServerSideEncryption": "x-amz-server-side-encryption",
    "SSECustomerAlgorithm": "x-amz-server-side-encryption-customer-algorithm",
}
#: ``ListObjectsV2`` parameters by botocore's names.
_LIST_PARAMS = {
    "Prefix": "prefix",
    "Delimiter": "delimiter",
    "MaxKeys": "max-keys",
    "ContinuationToken": "continuation-token",
}


@functools.cache
def _shared_session() -> Any:
    """One botocore session per process, holding no credentials (each client gets its own).

    Loading the service models costs about 50 ms; a client from a loaded session, 3 ms.
    Called under ``_SESSION_LOCK``. (botocore, not boto3: boto3's import brings
    s3transfer and costs about 190 ms more, for a resource layer aft does not use.)
    """
    import botocore.session  # type: ignore[import-untyped]

    return botocore.session.get_session()


class S3Vfs(S3Schema, ObjectStoreVfs):
    """A bucket, or a prefix inside one, of an S3-compatible object store.

    Args:
        bucket: bucket name.
        prefix: key prefix that is this VFS's root ("" for the whole bucket).
        endpoint: service URL; None for AWS.
        region: signing region.
        access_key: access key id; None for unsigned requests.
        secret_key: secret access key (never shown in messages or ``repr``).
        session_token: optional temporary-credentials token.
        part_size: first part size of multipart uploads (at least 5 MiB).
        concurrency: parts uploaded at once.
        connect_timeout: seconds to wait for the endpoint to accept a connection.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint: str | None = None,
        region: str = "us-east-1",
        access_key: str | None = None,
        secret_key: str | None = None,
        session_token: str | None = None,
        part_size: int = PART_SIZE,
        concurrency: int = CONCURRENCY,
        connect_timeout: float = 10.0,
    ) -> None:
        if not bucket:
            raise VfsError("an S3 VFS needs a bucket")
        self._bucket = bucket
        self._prefix = key_prefix(prefix)
        self._endpoint = endpoint
        self._region = region
        self._credentials = (access_key, secret_key, session_token)
        self._connect_timeout = connect_timeout
        self.part_size = max(part_size, 5 * MiB)
        self.concurrency = max(concurrency, 1)
        self._client: Any = None
        self._object_url_base: str | None = None
        self._direct = True  # small PUTs on http.client: no proxy for the object URLs
        self._local = threading.local()  # each thread's http.client connection
        self._connections: list[http.client.HTTPConnection] = []
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._signing_keys: dict[str, bytes] = {}  # SigV4 key of each day (see _signed)

    @classmethod
    def from_target(cls, target: str, payload: dict[str, Any]) -> S3Vfs:
        """Open ``s3://bucket/prefix?endpoint=...&region=...``."""
        fields = cls.parse_target(target)
        return cls(
            fields["bucket"],
            fields["prefix"],
            endpoint=fields["endpoint"] or None,
            region=fields["region"] or "us-east-1",
            access_key=payload.get("accessKeyId") or None,
            secret_key=payload.get("secretAccessKey") or None,
            session_token=payload.get("sessionToken") or None,
            connect_timeout=float(fields["timeout"] or 10),
        )

    def __repr__(self) -> str:
        where = f" at {self._endpoint}" if self._endpoint else ""
        return f"<S3Vfs s3://{self._bucket}/{self._prefix}{where}>"

    # ---- the client and its errors ---------------------------------------------------

    @property
    def _s3(self) -> Any:
        with self._lock:
            if self._client is None:
                import botocore  # type: ignore[import-untyped]
                import botocore.config  # type: ignore[import-untyped]

                access_key, secret_key, token = self._credentials
                # SigV4 everywhere: presigned URLs too (a SigV2 one would sign Content-MD5).
                options: dict[str, Any] = {"signature_version": "s3v4"}
                if not (access_key and secret_key):
                    options["signature_version"] = botocore.UNSIGNED
                config = botocore.config.Config(
                    region_name=self._region,
                    # a connection for each part of each file a batch keeps in flight, by
                    # default (opened only when needed)
                    max_pool_connections=self.concurrency * TRANSFER_WORKERS,
                    retries={"max_attempts": 3, "mode": "standard"},
                    connect_timeout=self._connect_timeout,
                    read_timeout=60,
                    tcp_keepalive=True,
                    s3={"addressing_style": "path"} if self._endpoint else {},
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                    **options,
                )
                with _SESSION_LOCK:  # a session is not thread-safe; its clients are
                    self._client = _shared_session().create_client(
                        "s3",
                        endpoint_url=self._endpoint,
                        config=config,
                        region_name=self._region,
                        aws_access_key_id=access_key,
                        aws_secret_access_key=secret_key,
                        aws_session_token=token,
                    )
            return self._client

    def _connection(self, url: urllib.parse.SplitResult) -> tuple[http.client.HTTPConnection, bool]:
        """This thread's connection to the objects' host (``url`` is one of theirs), and
        whether it was used before. TLS is verified against the CA bundle botocore uses."""
        conn = getattr(self._local, "connection", None)
        if conn is not None:
            return conn, True
        host = url.hostname or ""
        if url.scheme == "https":
            context = _tls_context(_ca_bundle())
            conn = http.client.HTTPSConnection(host, url.port, timeout=60, context=context)
        else:
            conn = http.client.HTTPConnection(host, url.port, timeout=60)
        with self._lock:
            self._connections.append(conn)
        self._local.connection = conn
        return conn, False

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "connection", None)
        self._local.connection = None
        if conn is not None:
            conn.close()
            with self._lock, contextlib.suppress(ValueError):
                self._connections.remove(conn)

    def _object_url(self, key: str) -> str:
        """The URL of object ``key``, as the client addresses it (path or virtual-host style).

        With an endpoint, the client addresses objects by path (see :attr:`_s3`): the
        endpoint, the bucket, the key. On AWS the part before the key comes from one
        presigned URL per VFS. Learning it also tells whether an environment proxy stands
        in the way of aft's own requests (``_direct``).
        """
        if self._object_url_base is None:
            if self._endpoint:
                bucket = urllib.parse.quote(self._bucket, safe="")
                base = f"{self._endpoint.rstrip('/')}/{bucket}/"
            else:
                probe = "probe"
                url = self._s3.generate_presigned_url(
                    "put_object", Params={"Bucket": self._bucket, "Key": probe}, ExpiresIn=60
                )
                base = url.split("?", 1)[0]
                if not base.endswith("/" + probe):
                    raise VfsError(f"unexpected S3 object URL layout: {base}")
                base = base[: -len(probe)]
            self._direct = not _proxied(base)
            self._object_url_base = base
        return self._object_url_base + urllib.parse.quote(key, safe="/~")

    def _direct_url(self, key: str | None, path: str) -> str | None:
        """The URL aft's own request for ``key`` goes to (None: the bucket), or None
        when a proxy stands in the way and the client must make the call."""
        try:
            url = self._object_url(key or "")
        except VfsError:
            raise
        except Exception as exc:
            raise self._error(exc, path) from exc
        if not self._direct:
            return None
        if key is None:  # the bucket: path style without the slash after it
            parts = urllib.parse.urlsplit(url)
            if parts.path != "/":
                url = urllib.parse.urlunsplit(parts._replace(path=parts.path.rstrip("/")))
        return url

    def _send(
        self,
        method: str,
        url: str,
        path: str,
        operation: str,
        *,
        query: dict[str, str] | None = None,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        attempts: int = 3,
    ) -> tuple[http.client.HTTPMessage, bytes]:
        """One request aft signs and sends on this thread's connection: the reply's
        headers and body. Failed connections and server errors are retried like the
        client's calls; a refused request raises its :class:`VfsError` (see :meth:`_error`)."""
        parts = urllib.parse.urlsplit(url)
        target = parts.path + (f"?{_query_string(query)}" if query else "")
        signed = self._signed(method, parts, body, headers or {}, query)
        for attempt in range(1, attempts + 1):
            conn, reused = self._connection(parts)
            failure: BaseException
            try:
                conn.request(method, target, body=body, headers=signed)
                reply = conn.getresponse()
                answer = reply.read()
            except (OSError, http.client.HTTPException) as exc:
                self._drop_connection()
                failure = exc
            else:
                if reply.status < 300:
                    return reply.headers, answer
                failure = _ReplyError(reply.status, answer, operation)
            error = self._error(failure, path)
            if attempt == attempts or not isinstance(error, VfsConnectionError):
                raise error from failure
            if not reused:  # a kept-alive connection the server had closed: at once
                time.sleep(0.1 * 2**attempt)
        raise AssertionError("unreachable")

    def _put_small(self, path: str, key: str, body: bytes) -> None:
        """One ``PutObject`` of a whole object, ``Content-MD5`` for the store to check the
        bytes."""
        md5 = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
        url = self._direct_url(key, path)
        if url is None:
            self._call("put_object", path, Key=key, Body=body, ContentMD5=md5)
            return
        self._send("PUT", url, path, "PutObject", body=body, headers={"Content-MD5": md5})

    def _list(self, path: str, **params: Any) -> dict[str, Any]:
        """One page of ``ListObjectsV2`` (``params`` by botocore's names), as the client
        returns it: ``Contents`` (``Key``, ``Size``, ``LastModified``, ``ETag``),
        ``CommonPrefixes``, ``KeyCount``, ``IsTruncated``, ``NextContinuationToken``."""
        url = self._direct_url(None, path)
        if url is None:
            return self._call("list_objects_v2", path, **params)  # type: ignore[no-any-return]
        query = {"list-type": "2", "encoding-type": "url"}
        query.update((_LIST_PARAMS[name], str(value)) for name, value in params.items())
        _, answer = self._send("GET", url, path, "ListObjectsV2", query=query)
        return _list_page(answer)

    def _signed(
        self,
        method: str,
        url: urllib.parse.SplitResult,
        body: bytes,
        headers: dict[str, str],
        query: dict[str, str] | None = None,
    ) -> dict[str, str]:
        """``headers`` with AWS Signature Version 4 added for ``method`` on ``url`` (its
        query in ``query``) with ``body``; unchanged without keys.

        The same signature botocore's S3SigV4Auth makes, in a tenth of its time (it takes
        about 0.3 ms a request, a fifth of aft's work for a small file). The payload is
        always hashed (valid over HTTP and HTTPS alike), and ``host`` is signed as
        http.client sends it.
        """
        access_key, secret_key, token = self._credentials
        if not (access_key and secret_key):
            return headers
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        day = stamp[:8]
        payload = hashlib.sha256(body).hexdigest()
        added = {"x-amz-content-sha256": payload, "x-amz-date": stamp}
        if token:
            added["x-amz-security-token"] = token
        host = url.hostname or ""
        if ":" in host:  # IPv6
            host = f"[{host}]"
        if url.port and url.port != (443 if url.scheme == "https" else 80):
            host = f"{host}:{url.port}"
        signed = {k.lower(): " ".join(v.split()) for k, v in {**headers, **added}.items()}
        signed["host"] = host
        names = sorted(signed)
        canonical = "\n".join(
            [method, url.path or "/", _query_string(query or {}),
             *(f"{n}:{signed[n]}" for n in names), "",
             ";".join(names), payload]
        )  # fmt: skip
        scope = f"{day}/{self._region}/s3/aws4_request"
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        key = self._signing_keys.get(day)
        if key is None:
            key = f"AWS4{secret_key}".encode()
            for part in (day, self._region, "s3", "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            self._signing_keys = {day: key}
        text = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{digest}"
        signature = hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
        authorization = (
            f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
            f"SignedHeaders={';'.join(names)}, Signature={signature}"
        )
        return {**headers, **added, "Authorization": authorization}

    def _call(
        self, operation: str, path: str = "", tolerate: Collection[str] = (), **kwargs: Any
    ) -> Any:
        """Call a client method on the bucket; None when its error code is in ``tolerate``."""
        try:
            return getattr(self._s3, operation)(Bucket=self._bucket, **kwargs)
        except Exception as exc:
            if tolerate and _code(exc) in tolerate:
                return None
            raise self._error(exc, path) from exc

    def _error(self, exc: BaseException, path: str = "") -> VfsError:
        """Translate a botocore or http.client error, or a refused request of aft's own:
        the one place that does."""
        if isinstance(exc, VfsError):
            return exc
        where = f"{path}: " if path else ""
        service = f"S3 at {self._endpoint or 'AWS'}"
        botocore_errors = sys.modules.get("botocore.exceptions")  # none before botocore loads
        reply = _reply_of(exc)
        if reply is not None:
            code, status, message = reply
            if code == "NoSuchBucket":
                return VfsNotFound(f"{service}: no bucket {self._bucket!r}")
            if code in _NOT_FOUND or status == 404:
                return VfsNotFound(f"{where}no such file or directory")
            if code in _BAD_CREDENTIALS:
                return VfsConnectionError(f"{service} refused the credentials: {message}")
            if code == "AccessDenied" or status == 403:
                return VfsPermission(f"{where}access denied by {service}: {message}")
            if status >= 500 or code in ("SlowDown", "RequestTimeout"):
                return VfsConnectionError(f"{service} failed: {code}: {message}")
            return VfsError(f"{where}{service}: {code}: {message}")
        connection_errors: tuple[type[BaseException], ...] = (http.client.HTTPException, OSError)
        if botocore_errors is not None:
            connection_errors += (
                botocore_errors.ConnectionError,
                botocore_errors.HTTPClientError,
                botocore_errors.IncompleteReadError,
            )
        if isinstance(exc, connection_errors):
            return VfsConnectionError(f"{service}: connection failed: {exc}")
        if botocore_errors is not None and isinstance(exc, botocore_errors.ParamValidationError):
            return VfsPathError(f"{where}{exc}")
        return VfsError(f"{where}{type(exc).__name__}: {exc}")

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                # concurrency parts for each file a batch keeps in flight by default (a
                # thread starts only when there is work for it)
                workers = self.concurrency * TRANSFER_WORKERS
                self._executor = ThreadPoolExecutor(workers, thread_name_prefix="aft-s3")
            return self._executor

    # ---- keys ---------------------------------------------------------------------------

    def _head(self, key: str, path: str) -> dict[str, Any] | None:
        """``HeadObject`` as the client returns it (``ContentLength``, ``LastModified``
        and the fields of :data:`_HEAD_FIELDS`), or None when there is no such object."""
        url = self._direct_url(key, path)
        if url is None:
            return self._call("head_object", path, _NOT_FOUND, Key=key)  # type: ignore[no-any-return]
        try:  # a HEAD reply has no body: its code is its status, 404 for no such object
            headers, _ = self._send("HEAD", url, path, "HeadObject")
        except VfsNotFound:
            return None
        import email.utils

        head: dict[str, Any] = {
            "ContentLength": int(headers.get("content-length", 0)),
            "LastModified": email.utils.parsedate_to_datetime(headers["last-modified"]),
        }
        head.update((name, headers[h]) for name, h in _HEAD_FIELDS.items() if h in headers)
        return head

    def _dir_exists(self, path: str) -> bool:
        dir_key = self._dir_key(path)
        if not dir_key:
            return True
        if self._list(path, Prefix=dir_key, MaxKeys=1).get("KeyCount"):
            return True
        # A marker is listed above; some servers (SeaweedFS) also answer for a directory
        # that still shows in listings although its last key is gone.
        return self._head(dir_key, path) is not None

    def _lookup(self, path: str) -> FileInfo | None:
        path = normalize(path)
        if path == "/":
            return FileInfo("/", True)
        head = self._head(self._key(path), path)
        if head is not None:
            return FileInfo(path, False, head["ContentLength"], head["LastModified"].timestamp())
        return FileInfo(path, True) if self._dir_exists(path) else None

    def _check_parent(self, path: str) -> None:
        """Raise unless ``path``'s parent is a directory."""
        parent = posixpath.dirname(normalize(path))
        if parent == "/" or self._dir_exists(parent):
            return
        if self._head(self._key(parent), parent) is not None:
            raise VfsNotADirectory(f"{parent}: not a directory")
        raise VfsNotFound(f"{parent}: no such directory")

    # ---- primitives -----------------------------------------------------------------------

    def listdir(self, path: str) -> list[FileInfo]:
        path = normalize(path)
        dir_key = self._dir_key(path)
        entries: list[FileInfo] = []
        marker = False
        token: dict[str, str] = {}
        while True:
            page = self._list(path, Prefix=dir_key, Delimiter="/", **token)
            for obj in page.get("Contents", ()):
                name = obj["Key"][len(dir_key) :]
                marker = marker or not name
                if plain(name):
                    mtime = obj["LastModified"].timestamp()
                    entries.append(FileInfo(join(path, name), False, obj["Size"], mtime))
            for common in page.get("CommonPrefixes", ()):
                name = common["Prefix"][len(dir_key) : -1]
                if plain(name):
                    entries.append(FileInfo(join(path, name), True))
            if not page.get("IsTruncated"):
                break
            token = {"ContinuationToken": page["NextContinuationToken"]}
        if not entries and not marker and path != "/":
            info = self._lookup(path)
            if info is None:
                raise VfsNotFound(f"{path}: no such directory")
            if not info.is_dir:
                raise VfsNotADirectory(f"{path}: not a directory")
        return entries

    def open_read(self, path: str, offset: int = 0) -> BinaryIO:
        path = normalize(path)
        extra = {"Range": f"bytes={offset}-"} if offset > 0 else {}
        try:
            reply = self._call("get_object", path, ("InvalidRange",), Key=self._key(path), **extra)
        except VfsNotFound:
            if path != "/" and self._dir_exists(path):
                raise VfsIsADirectory(f"{path}: is a directory") from None
            raise
        if reply is None:  # the offset is at or past the end
            return io.BytesIO(b"")
        return _Reader(self, path, reply["Body"])  # type: ignore[return-value]

    def open_write(self, path: str) -> BinaryIO:
        path = normalize(path)
        if path == "/":
            raise VfsIsADirectory("/: is a directory")
        return _Writer(self, path, self._key(path))  # type: ignore[return-value]

    def mkdir(self, path: str) -> None:
        if self._lookup(path) is not None:
            raise VfsExists(f"{normalize(path)}: already exists")
        self._check_parent(path)
        self._put_small(path, self._dir_key(path), b"")

    def remove(self, path: str) -> None:
        path = normalize(path)
        key = self._key(path)
        if path == "/" or self._head(key, path) is None:
            if path == "/" or self._dir_exists(path):
                raise VfsIsADirectory(f"{path}: is a directory")
            raise VfsNotFound(f"{path}: no such file")
        self._call("delete_object", path, Key=key)

    def rmdir(self, path: str) -> None:
        path = normalize(path)
        if path == "/":
            raise VfsPermission("/: the root cannot be removed")
        dir_key = self._dir_key(path)
        page = self._list(path, Prefix=dir_key, MaxKeys=2)
        keys = [obj["Key"] for obj in page.get("Contents", ())]
        if any(key != dir_key for key in keys):
            raise VfsDirectoryNotEmpty(f"{path}: directory not empty")
        if not keys:
            info = self._lookup(path)
            if info is None:
                raise VfsNotFound(f"{path}: no such directory")
            if not info.is_dir:
                raise VfsNotADirectory(f"{path}: not a directory")
        self._call("delete_object", path, Key=dir_key)

    def rename(self, src: str, dst: str) -> None:
        """Copy then delete: a directory moves key by key, so it is not atomic."""
        src, dst = normalize(src), normalize(dst)
        source = self._rename_checks(src, dst)
        if source is None:
            return
        if not source.is_dir:
            self._copy(self._key(src), self._key(dst), source.size, dst)
            self._call("delete_object", src, Key=self._key(src))
            return
        old, new = self._dir_key(src), self._dir_key(dst)
        objects = self._objects(old, src)
        self._put_small(dst, new, b"")
        for obj in objects:
            if obj["Key"].endswith("/"):  # a marker: some servers cannot copy those
                self._put_small(dst, new + obj["Key"][len(old) :], b"")
            else:
                self._copy(obj["Key"], new + obj["Key"][len(old) :], obj["Size"], dst)
        # Children before parents: servers with real directories (SeaweedFS) keep a
        # directory whose contents are still there when it is deleted.
        keys = sorted({obj["Key"] for obj in objects} | {old}, reverse=True)
        for start in range(0, len(keys), 1000):
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            self._call("delete_objects", src, Delete={"Objects": batch, "Quiet": True})

    def _objects(self, prefix: str, path: str) -> list[dict[str, Any]]:
        objects: list[dict[str, Any]] = []
        token: dict[str, str] = {}
        while True:
            page = self._list(path, Prefix=prefix, **token)
            objects += page.get("Contents", ())
            if not page.get("IsTruncated"):
                return objects
            token = {"ContinuationToken": page["NextContinuationToken"]}

    def _copy(self, src_key: str, dst_key: str, size: int, path: str) -> None:
        source = {"Bucket": self._bucket, "Key": src_key}
        if size <= _MAX_COPY:
            self._call("copy_object", path, Key=dst_key, CopySource=source)
        else:  # a managed multipart copy
            self._call("copy", path, Key=dst_key, CopySource=source)

    # ---- optional operations ----------------------------------------------------------------

    def checksum(self, path: str) -> tuple[str, str] | None:
        """``("md5", etag)`` for an object uploaded in one piece, else None."""
        path = normalize(path)
        head = self._head(self._key(path), path) if path != "/" else None
        if head is None:
            raise VfsNotFound(f"{path}: no such file")
        etag = head.get("ETag", "").strip('"')
        encrypted = "SSECustomerAlgorithm" in head or head.get("ServerSideEncryption") == "aws:kms"
        if len(etag) != 32 or "-" in etag or encrypted:
            return None
        return ("md5", etag)

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
            connections, self._connections = self._connections, []
            self._local = threading.local()
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        if client is not None:
            client.close()
        for conn in connections:
            conn.close()


class _Reader(io.RawIOBase):
    """The body of a ``GetObject``, its errors translated."""

    def __init__(self, vfs: S3Vfs, path: str, body: Any) -> None:
        super().__init__()
        self._vfs, self._path, self._body = vfs, path, body

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        try:
            return self._body.read(None if size is None or size < 0 else size)
        except Exception as exc:
            raise self._vfs._error(exc, self._path) from exc

    def readall(self) -> bytes:
        return self.read()

    def readinto(self, buffer: Any) -> int:
        try:
            return self._body.readinto(buffer)
        except Exception as exc:
            raise self._vfs._error(exc, self._path) from exc

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


class _Writer(AbortingUpload, io.RawIOBase):
    """Upload on close: one ``PutObject`` when small, else a multipart upload.

    Full parts go up from the VFS's threads while the caller keeps writing, at most
    ``concurrency`` at a time (so memory stays bounded). Leaving a ``with`` block with
    an exception, :meth:`abort`, or dropping the stream unclosed uploads nothing.
    """

    def __init__(self, vfs: S3Vfs, path: str, key: str) -> None:
        super().__init__()
        self._vfs, self._path, self._key = vfs, path, key
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[Future[dict[str, Any]]] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self.closed:
            raise ValueError("write to a closed S3 upload")
        self._buffer += data
        try:
            while len(self._buffer) >= self._next_part_size():
                self._send_part(self._next_part_size())
        except BaseException:
            self.abort()
            raise
        return memoryview(data).nbytes

    def close(self) -> None:
        if self.closed:
            return
        try:
            if self._upload_id is None:
                self._vfs._put_small(self._path, self._key, bytes(self._buffer))
            else:
                if self._buffer:
                    self._send_part(len(self._buffer))
                parts = [part.result() for part in self._parts]
                self._vfs._call(
                    "complete_multipart_upload",
                    self._path,
                    Key=self._key,
                    UploadId=self._upload_id,
                    MultipartUpload={"Parts": parts},
                )
        except BaseException:
            self.abort()
            raise
        self._buffer = bytearray()
        super().close()

    def abort(self) -> None:
        """Discard everything written; nothing appears under the key."""
        if self.closed:
            return
        self._buffer = bytearray()
        for part in self._parts:
            part.cancel()
        wait(self._parts)
        if self._upload_id is not None:
            with contextlib.suppress(VfsError):
                self._vfs._call(
                    "abort_multipart_upload", self._path, Key=self._key, UploadId=self._upload_id
                )
        super().close()

    def _next_part_size(self) -> int:
        return min(self._vfs.part_size << (len(self._parts) // 1000), _MAX_PART)

    def _send_part(self, size: int) -> None:
        if self._upload_id is None:
            reply = self._vfs._call("create_multipart_upload", self._path, Key=self._key)
            self._upload_id = reply["UploadId"]
        if len(self._parts) >= self._vfs.concurrency:
            self._parts[-self._vfs.concurrency].result()  # wait for room (and fail early)
        body = take_front(self._buffer, size)
        number = len(self._parts) + 1
        # The task holds no reference to the stream, so an abandoned one is collected
        # (and aborted) at once.
        part = functools.partial(
            self._vfs._call,
            "upload_part",
            self._path,
            Key=self._key,
            UploadId=self._upload_id,
            PartNumber=number,
        )
        self._parts.append(self._vfs._pool().submit(_upload_part, part, number, body))


def _upload_part(call: Callable[..., Any], number: int, body: bytes | bytearray) -> dict[str, Any]:
    return {"PartNumber": number, "ETag": call(Body=body)["ETag"]}


class _ReplyError(Exception):
    """A refused request of aft's own: its status and the code and message of its body,
    as botocore's ClientError would give them."""

    def __init__(self, status: int, body: bytes, operation: str) -> None:
        import xml.etree.ElementTree as ElementTree

        self.status, self.code, self.message = status, str(status), ""
        with contextlib.suppress(ElementTree.ParseError):
            root = ElementTree.fromstring(body or b"<Error/>")
            self.code = root.findtext("Code") or self.code
            self.message = root.findtext("Message") or ""
        super().__init__(f"{operation}: {self.code}: {self.message or status}")


def _reply_of(exc: BaseException) -> tuple[str, int, str] | None:
    """The code, status and message of a refused request (aft's or the client's)."""
    if isinstance(exc, _ReplyError):
        return exc.code, exc.status, exc.message or exc.code
    botocore_errors = sys.modules.get("botocore.exceptions")
    if botocore_errors is not None and isinstance(exc, botocore_errors.ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code, status, exc.response.get("Error", {}).get("Message") or code
    return None


def _code(exc: BaseException) -> str:
    reply = _reply_of(exc)
    return reply[0] if reply else ""


def _query_string(query: dict[str, str]) -> str:
    """``query`` in SigV4's canonical form, which is also how it is sent."""
    quote = functools.partial(urllib.parse.quote, safe="-_.~")
    return "&".join(f"{quote(k)}={quote(v)}" for k, v in sorted(query.items()))


def _list_page(answer: bytes) -> dict[str, Any]:
    """A ``ListBucketResult`` as botocore parses it (url-encoded keys decoded)."""
    import xml.etree.ElementTree as ElementTree

    root = ElementTree.fromstring(answer)
    ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""

    def text(element: ElementTree.Element, name: str) -> str:
        return element.findtext(ns + name) or ""

    encoded = text(root, "EncodingType") == "url"

    def name(value: str) -> str:
        return urllib.parse.unquote_plus(value) if encoded else value

    contents = [
        {
            "Key": name(text(item, "Key")),
            "Size": int(text(item, "Size") or 0),
            "LastModified": _iso_time(text(item, "LastModified")),
            "ETag": text(item, "ETag"),
        }
        for item in root.iterfind(ns + "Contents")
    ]
    prefixes = [{"Prefix": name(text(p, "Prefix"))} for p in root.iterfind(ns + "CommonPrefixes")]
    page: dict[str, Any] = {
        "Contents": contents,
        "CommonPrefixes": prefixes,
        "KeyCount": int(text(root, "KeyCount") or len(contents) + len(prefixes)),
        "IsTruncated": text(root, "IsTruncated") == "true",
    }
    if text(root, "NextContinuationToken"):
        page["NextContinuationToken"] = text(root, "NextContinuationToken")
    return page


def _iso_time(value: str) -> datetime:
    """An S3 listing's time (``2026-01-02T03:04:05.000Z``), aware, in UTC."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _ca_bundle() -> str:
    """The CA bundle botocore verifies against: ``AWS_CA_BUNDLE``, else certifi's, else
    the one botocore carries."""
    if os.environ.get("AWS_CA_BUNDLE"):
        return os.environ["AWS_CA_BUNDLE"]
    try:
        import certifi  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        spec = importlib.util.find_spec("botocore")
        assert spec is not None and spec.origin is not None
        return os.path.join(os.path.dirname(spec.origin), "cacert.pem")
    return str(certifi.where())


@functools.lru_cache(maxsize=4)
def _tls_context(cafile: str) -> ssl.SSLContext:
    """A client TLS context that trusts ``cafile``: made once, shared by every thread's
    connection (loading a CA bundle takes about 30 ms)."""
    return ssl.create_default_context(cafile=cafile)


def _proxied(url: str) -> bool:
    """Whether the environment's proxy settings send requests to ``url`` through a proxy
    (as botocore reads them)."""
    import urllib.request

    parts = urllib.parse.urlsplit(url)
    with contextlib.suppress(TypeError, OSError):
        if urllib.request.proxy_bypass(parts.netloc):
            return False
    return parts.scheme in urllib.request.getproxies()
