"""The Python side of GetVFS, VirtualFS and the remote clients (see vfs.js).

A script holds opaque handles (small integers); each names an open :class:`~aft.vfs.base.Vfs`
here. A remote client is a ``Vfs`` opened from its connection fields (rebuilt into the VFS
Library's ``(type, target, payload)`` form), and its transfers are :func:`~aft.vfs.base.copy_file`
between that ``Vfs`` and a Disk VFS rooted at the local ``/``. Backends are imported on
first use, so a script that touches no VFS pays nothing.

Where the contract leaves room, this module chooses:

- ``new VirtualFS(name)`` for a missing entry cannot be ``null`` (a JS constructor always
  gives an object): it gives a VirtualFS whose every call fails (``Ok()`` false).
- ``ReadFileAs*``/``WriteFileAs*`` positions: ``FromStart`` counts ``offset`` from the start;
  ``FromEnd`` counts it back from the end (its sign is ignored: ``-512`` and ``512`` both
  mean the last 512 bytes); ``FromCurrent`` continues from where the last read or write of
  the same file through the same VirtualFS ended. A length of 0 (or none) reads to the end.
- ``WriteFileAs*`` without an offset replaces the file (written under a temporary name,
  renamed when complete). With an offset it writes *into* the file at that position,
  keeping the bytes around it (``FromEnd`` 0 appends; a gap past the end is zero-filled).
  No backend offers random-access writes, so that is a read-modify-write of the whole
  file through a temporary name, on every backend: meant for small files.
- Kept versions of a replaced file (``VersionedUpload``/``VersionedDownload``) are named
  ``name.~1~`` (the newest) up to ``name.~N~`` (N = ``VersionsToKeepRemote``/``Local``);
  older ones are deleted. A file skipped by the overwrite policy is not versioned.
- ``Upload``/``Download``: a path without ``*?[`` must name a file; a glob (in the last part
  only) that matches nothing is no failure (logged at info). A file skipped by the
  overwrite policy counts as done.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import unquote, urlsplit, urlunsplit

from aft.exceptions import (
    VfsError,
    VfsIsADirectory,
    VfsNotADirectory,
    VfsNotFound,
    VfsPathError,
    VfsUnsupported,
)
from aft.syncjs.engine import HostFunction, HostTypeError
from aft.syncjs.host import HaltSignal, _dir_item, io_call, want

if TYPE_CHECKING:
    from aft.models import FileInfo
    from aft.vfs.base import Vfs
    from aft.vfs.library import VfsLibrary

FROM_START, FROM_CURRENT, FROM_END = 0, 1, 2
LIST_ALL, LIST_FILES, LIST_DIRS = 0, 1, 2
NEVER, ALWAYS, IF_DIFF_SIZE, IF_NEWER = 0, 1, 2, 3
POLICIES = ("NeverOverwrite", "AlwaysOverwrite", "OverwriteIfDiffSize", "OverwriteIfNewer")

#: ``client.Options`` and their defaults.
OPTIONS: dict[str, Any] = {
    "UploadPolicy": NEVER,
    "DownloadPolicy": NEVER,
    "StopOnTransferError": False,
    "UploadWithTempName": True,
    "DownloadWithTempName": True,
    "DeleteSourceAfterUpload": False,
    "DeleteSourceAfterDownload": False,
    "AdjustTimeOnUpload": False,
    "AdjustTimeOnDownload": False,
    "VersionedUpload": False,
    "VersionedDownload": False,
    "VersionsToKeepRemote": 3,
    "VersionsToKeepLocal": 3,
}

#: Each client's VFS type and connection fields with their defaults.
CLIENT_FIELDS: dict[str, dict[str, Any]] = {
    "SFTP": {
        "Host": "", "User": "", "Pass": "", "PassFromSecret": "", "KeyFile": "",
        "KeyFilePass": "", "KeyFileSecret": "", "HostID": "",
        "HostKeySHA256": "", "HostKeySHA1": "", "HostKeyMD5": "",
    },
    "FTP": {
        "Host": "", "User": "", "Pass": "", "PassFromSecret": "", "TLSMode": "explicit",
        "TLSInsecure": False,
    },
    "S3": {
        "Endpoint": "", "Region": "", "Bucket": "", "APIKeyID": "", "APIKeySecret": "",
        "APIKeySecretFromSecret": "", "UseMetadataWhenListing": False,
    },
    "Azure": {"Account": "", "Container": "", "Key": "", "SAS": "", "Endpoint": ""},
    "GCP": {"Bucket": "", "CredentialsJSON": "", "Endpoint": ""},
}  # fmt: skip
#: Each client's fields that are fields of its VFS target (client field: target field);
#: ``Host`` is the target's host and port.
_TARGET_FIELDS = {
    "SFTP": {
        "User": "user", "HostKeySHA256": "hostKeySHA256", "HostKeySHA1": "hostKeySHA1",
        "HostKeyMD5": "hostKeyMD5",
    },
    "FTP": {"User": "user", "TLSMode": "tls", "TLSInsecure": "insecure"},
    "S3": {"Bucket": "bucket", "Endpoint": "endpoint", "Region": "region"},
    "Azure": {"Account": "account", "Container": "container", "Endpoint": "endpoint"},
    "GCP": {"Bucket": "bucket", "Endpoint": "endpoint"},
}  # fmt: skip
#: Each client's credentials: payload key -> (its field, the field naming a secret that holds
#: it instead). (SftpClient's ``KeyFile`` names a file: its text is the payload's ``key``.)
_PAYLOAD_FIELDS = {
    "SFTP": {"pass": ("Pass", "PassFromSecret"), "keyPass": ("KeyFilePass", "KeyFileSecret")},
    "FTP": {"pass": ("Pass", "PassFromSecret")},
    "S3": {
        "accessKeyId": ("APIKeyID", ""),
        "secretAccessKey": ("APIKeySecret", "APIKeySecretFromSecret"),
    },
    "Azure": {"key": ("Key", ""), "sas": ("SAS", "")},
    "GCP": {"credentialsJSON": ("CredentialsJSON", "")},
}
#: Fields whose values are credentials: masked in every log line once seen.
CREDENTIALS = ("Pass", "KeyFilePass", "APIKeySecret", "Key", "SAS", "CredentialsJSON")
#: ``Configure`` names besides the fields' own (any case): the VFS Library's payload keys.
_ALIASES = {
    "password": "Pass", "keypass": "KeyFilePass", "tls": "TLSMode", "insecure": "TLSInsecure",
    "accesskeyid": "APIKeyID", "secretaccesskey": "APIKeySecret",
}  # fmt: skip
_CLASSES = {
    "SFTP": "SftpClient",
    "FTP": "FtpsClient",
    "S3": "S3Client",
    "Azure": "AzureClient",
    "GCP": "GCSClient",
}

_SORT_KEYS: dict[str, Callable[[FileInfo], Any]] = {
    "name": lambda i: i.name,
    "namedf": lambda i: i.name,
    "size": lambda i: (i.size, i.name),
    "time": lambda i: (i.mtime, i.name),
}
_FAILED = object()


def _item(info: FileInfo) -> dict[str, Any]:
    return _dir_item(info.name, info.path, info.is_dir, info.size, info.mtime)


def _lookup(vfs: Vfs, path: str) -> FileInfo | None:
    try:
        return vfs.stat(path)
    except VfsNotFound:
        return None


def responding(method: Callable[..., Any]) -> Callable[..., dict[str, Any]]:
    """Make a VirtualFS method return a response: ``{ok, error}`` plus what it returned.

    An I/O failure is logged by :func:`io_call` and becomes ``ok: false`` with that text.
    """
    guarded = io_call(_FAILED)(method)

    @functools.wraps(method)
    def run(self: _Handle, *args: Any) -> dict[str, Any]:
        result = guarded(self, *args)
        if result is _FAILED:
            return {"ok": False, "error": self.failure}
        return {"ok": True, "error": "", **(result or {})}

    return run


class VfsHost:
    """Host functions for the VFS objects of one script run.

    Args:
        library: the VFS Library (None: no named VFS exists).
        log: ``log(level, text)`` into the job log.
        reveal: registers a credential that must be masked in every log line.
        halt: the run's halt signal (long transfers stop early when it is set).
        secret: looks up a secret's plaintext by name (None when missing), for the
            clients' ``PassFromSecret``, ``KeyFileSecret`` and ``APIKeySecretFromSecret``.
        mask: hides revealed values in a text (for ``ErrorMsg()``).
    """

    def __init__(
        self,
        *,
        library: VfsLibrary | None,
        log: Callable[[str, str], None],
        reveal: Callable[[str], None],
        halt: HaltSignal,
        secret: Callable[[str], str | None] | None = None,
        mask: Callable[[str], str] | None = None,
    ) -> None:
        self._library = library
        self._log = log
        self._reveal = reveal
        self.halt = halt
        self._secret = secret
        self.mask = mask or (lambda text: text)
        self._handles: dict[int, _Handle] = {}
        self._local: Vfs | None = None

    def functions(self) -> dict[str, HostFunction]:
        return {
            "vfs.get": self.GetVFS,
            "vfs.new": self.VirtualFS,
            "vfs.call": self.vfs_call,
            "client.new": self.client_new,
            "client.configure": self.Configure,
            "client.connect": self.Connect,
            "client.close": self.Close,
            "client.call": self.client_call,
        }

    def close(self) -> None:
        """Close every connection the script opened."""
        handles, self._handles = self._handles, {}
        for handle in handles.values():
            handle.close()

    def log(self, level: str, text: str) -> None:
        self._log(level, text)

    @property
    def local(self) -> Vfs:
        """This machine's file system as a Disk VFS rooted at ``/``."""
        if self._local is None:
            from aft.vfs.disk import DiskVfs

            self._local = DiskVfs("/")
        return self._local

    def _open(self, type_name: str, target: str, payload: dict[str, Any]) -> Vfs:
        """Open a VFS from a profile triple, once every credential in ``payload`` is masked."""
        from aft.vfs import open_vfs
        from aft.vfs.library import secret_values

        for value in secret_values(payload):
            self._reveal(value)
        return open_vfs(type_name, target, payload)

    def _add(self, handle: _Handle) -> int:
        number = max(self._handles, default=0) + 1
        self._handles[number] = handle
        return number

    def handle(self, number: Any, kind: type[_Handle]) -> Any:
        """The handle ``number`` names; None gives one whose every call fails."""
        if number is None:
            return kind(self, None)
        handle = self._handles.get(number) if isinstance(number, int) else None
        if not isinstance(handle, kind):
            raise HostTypeError(f"not an open {kind.__name__.strip('_')}")
        return handle

    # ---- VirtualFS ---------------------------------------------------------------------

    @io_call(None)
    def GetVFS(self, name: Any) -> int | None:
        """Open the VFS Library entry ``name``; None (logged) when there is none."""
        want(name, str, "GetVFS(name): name")
        if self._library is None:
            raise VfsNotFound(f"no VFS named {name!r}: this run has no VFS Library")
        profile = self._library.get(name)
        vfs = self._open(profile.type, profile.target, self._library.payload(profile.name))
        return self._add(_VirtualFS(self, vfs))

    @io_call(None)
    def VirtualFS(self, type_name: Any, target: Any, payload: Any = None) -> int | None:
        """Open an ephemeral VFS; None (logged) when the target or payload does not fit."""
        from aft.vfs import BACKENDS

        want(type_name, str, "new VirtualFS(type, target, payload): type")
        want(target, str, "new VirtualFS(type, target, payload): target")
        if type_name not in BACKENDS:
            raise HostTypeError(
                f"new VirtualFS: unknown VFS type {type_name!r} (known: {', '.join(BACKENDS)})"
            )
        payload = _json_object(payload, "new VirtualFS(type, target, payload): payload")
        return self._add(_VirtualFS(self, self._open(type_name, target, payload)))

    def vfs_call(self, number: Any, method: Any, *args: Any) -> dict[str, Any]:
        if method not in _VirtualFS.METHODS:
            raise HostTypeError(f"VirtualFS has no method {method!r}")
        return _invoke(getattr(self.handle(number, _VirtualFS), method), method, args)

    # ---- remote clients ----------------------------------------------------------------

    def client_new(self, kind: Any) -> dict[str, Any]:
        """A new client's fields and options, at their defaults."""
        return {"fields": dict(_fields_of(kind)), "options": dict(OPTIONS)}

    def Configure(self, kind: Any, url: Any, payload: Any = None) -> dict[str, Any]:
        """The fields (and options) a URL plus a JSON payload set; see ``_ALIASES``.

        The URL is the client's VFS target (read by its backend) whose user may carry a
        password and whose query may set any field or option; ``FtpsClient`` also takes
        ``ftps://`` for explicit TLS.
        """
        from aft.vfs import schema_class

        defaults = _fields_of(kind)
        schema = schema_class(kind)
        what = f"{_CLASSES[kind]}.Configure(url, payload)"
        want(url, str, f"{what}: url")
        parts = urlsplit(url)
        userinfo, at, where = parts.netloc.rpartition("@")
        user, colon, password = userinfo.partition(":")
        ftps = kind == "FTP" and parts.scheme.lower() == "ftps"
        scheme = schema.schemes[0] if ftps else parts.scheme
        place = urlunsplit((scheme, user + at + where, parts.path, "", ""))
        try:
            target = schema.parse_target(place)
        except VfsPathError:
            raise HostTypeError(
                f"{what}: url must look like {schema.schemes[0]}://..., not {url!r}"
            ) from None
        fields: dict[str, Any] = {
            field: target[name]
            for field, name in _TARGET_FIELDS[kind].items()
            if schema.field(name).part != "query"
        }
        if "host" in target:
            port = target["port"] or schema.field("port").initial or ""
            fields["Host"] = _join_host(target["host"], port)
        if colon:
            fields["Pass"] = unquote(password)
        if kind == "FTP":
            fields["TLSMode"] = "explicit" if ftps else "none"
        if target.get("prefix") and "Container" in fields:  # the client's container holds it
            fields["Container"] += "/" + target["prefix"]
        names = {**{f.lower(): f for f in defaults}, **_ALIASES}
        options = {}
        query = [item.partition("=") for item in parts.query.split("&") if item]
        settings = [(unquote(k), unquote(v)) for k, _, v in query]  # unquote keeps "+"
        settings += _json_object(payload, f"{what}: payload").items()
        for key, value in settings:
            option = next((o for o in OPTIONS if o.lower() == key.lower()), None)
            if option is not None:
                options[option] = value
            elif names.get(key.lower()) in defaults:
                field = names[key.lower()]
                fields[field] = _setting(value, defaults[field], f"{what}: {key}")
            else:
                raise HostTypeError(f"{what}: unknown setting {key!r}")
        for field in CREDENTIALS:
            self._reveal(fields.get(field, ""))
        return {"fields": fields, "options": options}

    @io_call(None)
    def Connect(self, kind: Any, fields: Any, old: Any = None) -> int | None:
        """Open and check the client's connection; its handle, or None (logged) when refused."""
        fields = _client_fields(kind, fields)
        if old is not None:
            self.Close(old)
        target, payload, label = self._profile(kind, fields)
        vfs = self._open(kind, target, payload)
        try:
            vfs.stat("/")  # logs in
        except BaseException:
            vfs.close()
            raise
        self.log("info", f"Connect: connected to {label}")
        return self._add(_Client(self, vfs))

    def Close(self, number: Any) -> bool:
        """Close a client's connection; False when it was not connected."""
        if number is None:
            return False
        handle = self.handle(number, _Client)
        del self._handles[number]
        handle.close()
        return True

    def client_call(self, number: Any, method: Any, options: Any, *args: Any) -> Any:
        if method not in _Client.METHODS:
            raise HostTypeError(f"the client has no method {method!r}")
        client = self.handle(number, _Client)
        if method in ("Upload", "Download"):
            args = (options, *args)
        return _invoke(getattr(client, method), method, args)

    def _profile(self, kind: str, f: dict[str, Any]) -> tuple[str, dict[str, Any], str]:
        """The VFS Library target and payload of a client's fields, and a label for logs."""
        from aft.vfs import schema_class

        schema = schema_class(kind)
        fields = {name: _text(f[field]) for field, name in _TARGET_FIELDS[kind].items()}
        for field, name in _TARGET_FIELDS[kind].items():
            choice = schema.field(name)
            if choice.kind == "choice" and (problem := choice.problem(f[field])):
                raise HostTypeError(f"{_CLASSES[kind]}.{field}: {problem}")
        if "Host" in f:
            fields["host"], fields["port"] = _host_port(f["Host"])
        payload = {
            key: self._credential(f, field, from_secret)
            for key, (field, from_secret) in _PAYLOAD_FIELDS[kind].items()
        }
        if f.get("KeyFile"):
            with open(f["KeyFile"], encoding="utf-8") as key_file:
                payload["key"] = key_file.read()
        target = schema.compose_target(fields)
        return target, _present(payload), f.get("HostID") or target.partition("?")[0]

    def _credential(self, fields: dict[str, Any], field: str, from_secret: str) -> str:
        """A credential field, or the secret its old-style ``...FromSecret`` field names."""
        name = fields[from_secret] if from_secret else ""
        if not name:
            return fields[field]
        value = self._secret(name) if self._secret is not None else None
        if value is None:
            raise VfsError(f"{from_secret}: no secret named {name!r}")
        return value


class _Handle:
    """What a script's handle names: an open VFS (None: it failed to open, every call fails).

    Error lines logged through :meth:`log` are kept as :attr:`failure` for ``ErrorMsg()``.
    """

    METHODS: frozenset[str] = frozenset()
    #: Why every call fails when there is no VFS.
    MISSING = "not open"

    def __init__(self, host: VfsHost, vfs: Vfs | None) -> None:
        self.host = host
        self._vfs = vfs
        self.failure = ""

    @property
    def fs(self) -> Vfs:
        if self._vfs is None:
            raise VfsError(self.MISSING)
        return self._vfs

    def log(self, level: str, text: str) -> None:
        if level == "error":
            self.failure = self.host.mask(text)
        self.host.log(level, text)

    def close(self) -> None:
        if self._vfs is not None:
            with contextlib.suppress(Exception):
                self._vfs.close()


class _VirtualFS(_Handle):
    """The methods of a script's VirtualFS, each returning a response (see :func:`responding`)."""

    METHODS = frozenset(
        "Stat Lstat ReadDir Mkdir MkdirAll Rmdir Rename Remove RemoveAll TreeSize Chmod Chtimes "
        "Truncate Symlink ReadFileAsText ReadFileAsHex ReadFileAsBytes WriteFileAsText "
        "WriteFileAsHex WriteFileAsBytes ImportFile ExportFile CopyToVFS MoveToVFS".split()
    )
    MISSING = "this VirtualFS could not be opened (see the error logged when it was made)"

    def __init__(self, host: VfsHost, vfs: Vfs | None) -> None:
        super().__init__(host, vfs)
        self._positions: dict[str, int] = {}  # path -> where its last read or write ended

    @responding
    def Stat(self, path: Any) -> dict[str, Any]:
        return {"Info": _item(self.fs.stat(want(path, str, "Stat(p): p")))}

    @responding
    def Lstat(self, path: Any) -> dict[str, Any]:
        return {"Info": _item(self.fs.lstat(want(path, str, "Lstat(p): p")))}

    @responding
    def ReadDir(self, path: Any, sort_by: Any = None, sort_dir: Any = None) -> dict[str, Any]:
        what = "ReadDir(p, sortBy, sortDir)"
        want(path, str, f"{what}: p")
        sort_by = "name" if sort_by is None else sort_by
        sort_dir = "asc" if sort_dir is None else sort_dir
        if sort_by not in _SORT_KEYS:
            raise HostTypeError(f"{what}: unknown sortBy {sort_by!r} (use a SortBy... constant)")
        if sort_dir not in ("asc", "desc"):
            raise HostTypeError(f"{what}: unknown sortDir {sort_dir!r} (use SortAsc or SortDesc)")
        infos = sorted(self.fs.listdir(path), key=_SORT_KEYS[sort_by], reverse=sort_dir == "desc")
        if sort_by == "namedf":
            infos.sort(key=lambda i: not i.is_dir)  # stable: directories first, each in name order
        return {"Infos": [_item(i) for i in infos]}

    @responding
    def Mkdir(self, path: Any) -> None:
        self.fs.mkdir(want(path, str, "Mkdir(p): p"))

    @responding
    def MkdirAll(self, path: Any) -> None:
        self.fs.makedirs(want(path, str, "MkdirAll(p): p"))

    @responding
    def Rmdir(self, path: Any) -> None:
        self.fs.rmdir(want(path, str, "Rmdir(p): p"))

    @responding
    def Rename(self, src: Any, dst: Any) -> None:
        self.fs.rename(
            want(src, str, "Rename(src, dst): src"), want(dst, str, "Rename(src, dst): dst")
        )

    @responding
    def Remove(self, path: Any) -> None:
        self.fs.remove(want(path, str, "Remove(file): file"))

    @responding
    def RemoveAll(self, path: Any) -> None:
        """Remove ``path`` and everything below it; a missing path is fine (as Go's RemoveAll)."""
        with contextlib.suppress(VfsNotFound):
            self.fs.remove_tree(want(path, str, "RemoveAll(p): p"))

    @responding
    def TreeSize(self, path: Any) -> dict[str, Any]:
        return {"Size": self.fs.tree_size(want(path, str, "TreeSize(p): p"))}

    @responding
    def Chmod(self, path: Any, mode: Any) -> None:
        want(mode, int, "Chmod(p, mode): mode")
        self.fs.chmod(want(path, str, "Chmod(p, mode): p"), mode)

    @responding
    def Chtimes(self, path: Any, atime: Any, mtime: Any) -> None:
        what = "Chtimes(p, atime, mtime)"
        want(atime, (int, float), f"{what}: atime")
        want(mtime, (int, float), f"{what}: mtime")
        self.fs.chtimes(want(path, str, f"{what}: p"), atime, mtime)

    @responding
    def Truncate(self, path: Any, size: Any) -> None:
        want(size, int, "Truncate(file, size): size")
        self.fs.truncate(want(path, str, "Truncate(file, size): file"), size)

    @responding
    def Symlink(self, path: Any, link: Any) -> None:
        self.fs.symlink(
            want(path, str, "Symlink(p, link): p"), want(link, str, "Symlink(p, link): link")
        )

    # ---- file contents -------------------------------------------------------------------

    @responding
    def ReadFileAsText(
        self, path: Any, length: Any = None, offset: Any = None, whence: Any = None
    ) -> dict[str, Any]:
        data = self._read("ReadFileAsText", path, length, offset, whence)
        return {"Data": data.decode("utf-8", errors="replace")}

    @responding
    def ReadFileAsHex(
        self, path: Any, length: Any = None, offset: Any = None, whence: Any = None
    ) -> dict[str, Any]:
        return {"Data": self._read("ReadFileAsHex", path, length, offset, whence).hex()}

    @responding
    def ReadFileAsBytes(
        self, path: Any, length: Any = None, offset: Any = None, whence: Any = None
    ) -> dict[str, Any]:
        return {"Data": list(self._read("ReadFileAsBytes", path, length, offset, whence))}

    @responding
    def WriteFileAsText(self, path: Any, data: Any, offset: Any = None, whence: Any = None) -> None:
        want(data, str, "WriteFileAsText(file, data, offset, whence): data")
        self._write("WriteFileAsText", path, data.encode("utf-8"), offset, whence)

    @responding
    def WriteFileAsHex(self, path: Any, data: Any, offset: Any = None, whence: Any = None) -> None:
        what = "WriteFileAsHex(file, data, offset, whence): data"
        try:
            raw = bytes.fromhex(want(data, str, what))
        except ValueError:
            raise HostTypeError(f"{what} must be a hex string") from None
        self._write("WriteFileAsHex", path, raw, offset, whence)

    @responding
    def WriteFileAsBytes(
        self, path: Any, data: Any, offset: Any = None, whence: Any = None
    ) -> None:
        what = "WriteFileAsBytes(file, data, offset, whence): data"
        want(data, list, what)
        if not all(isinstance(b, int) and not isinstance(b, bool) and 0 <= b < 256 for b in data):
            raise HostTypeError(f"{what} must be an array of byte values (0-255)")
        self._write("WriteFileAsBytes", path, bytes(data), offset, whence)

    def _start(
        self, what: str, path: str, offset: Any, whence: Any, size: Callable[[], int]
    ) -> int:
        """The byte position ``offset``/``whence`` name in ``path`` (see the module docstring)."""
        want(offset, int, f"{what}: offset")
        if whence not in (FROM_START, FROM_CURRENT, FROM_END):
            raise HostTypeError(f"{what}: whence must be FromStart, FromCurrent or FromEnd")
        if whence == FROM_END:
            return max(size() - abs(offset), 0)
        return max(offset + (self._positions.get(path, 0) if whence == FROM_CURRENT else 0), 0)

    def _read(self, name: str, path: Any, length: Any, offset: Any, whence: Any) -> bytes:
        what = f"{name}(file, length, offset, whence)"
        want(path, str, f"{what}: file")
        length = 0 if length is None else want(length, int, f"{what}: length")
        start = self._start(
            what, path, offset or 0, whence or FROM_START, lambda: self.fs.stat(path).size
        )
        with self.fs.open_read(path, start) as f:
            data = f.read(length) if length > 0 else f.read()
        self._positions[path] = start + len(data)
        return data

    def _write(self, name: str, path: Any, data: bytes, offset: Any, whence: Any) -> None:
        what = f"{name}(file, data, offset, whence)"
        want(path, str, f"{what}: file")
        if offset is None and whence is None:
            self.fs.write_bytes(path, data)
            self._positions[path] = len(data)
            return
        try:
            old = self.fs.read_bytes(path)
        except VfsNotFound:
            old = b""
        start = self._start(what, path, offset or 0, whence or FROM_START, lambda: len(old))
        self.fs.write_bytes(path, old[:start].ljust(start, b"\0") + data + old[start + len(data) :])
        self._positions[path] = start + len(data)

    # ---- copies between file systems -------------------------------------------------------

    @responding
    def ImportFile(self, local_file: Any, vfs_file: Any) -> None:
        """Copy a file of this machine into the VFS."""
        local = os.path.abspath(want(local_file, str, "ImportFile(localFile, vfsFile): localFile"))
        _copy(
            self.host.local,
            local,
            self.fs,
            want(vfs_file, str, "ImportFile(localFile, vfsFile): vfsFile"),
        )

    @responding
    def ExportFile(self, vfs_file: Any, local_file: Any) -> None:
        """Copy a file of the VFS to this machine."""
        local = os.path.abspath(want(local_file, str, "ExportFile(vfsFile, localFile): localFile"))
        _copy(
            self.fs,
            want(vfs_file, str, "ExportFile(vfsFile, localFile): vfsFile"),
            self.host.local,
            local,
        )

    @responding
    def CopyToVFS(self, src: Any, dst_vfs: Any, dst: Any) -> None:
        self._copy_to("CopyToVFS", src, dst_vfs, dst)

    @responding
    def MoveToVFS(self, src: Any, dst_vfs: Any, dst: Any) -> None:
        """Copy, then remove the source (only once the copy is complete and verified)."""
        self._copy_to("MoveToVFS", src, dst_vfs, dst)
        self.fs.remove(src)

    def _copy_to(self, name: str, src: Any, dst_vfs: Any, dst: Any) -> None:
        what = f"{name}(srcPath, dstVfs, dstPath)"
        want(src, str, f"{what}: srcPath")
        want(dst, str, f"{what}: dstPath")
        target = self.host.handle(dst_vfs, _VirtualFS)
        _copy(self.fs, src, target.fs, dst)


class _Transfer(NamedTuple):
    """What ``client.Options`` say for one Upload or Download batch."""

    op: str
    policy: int
    temp_name: bool
    delete_source: bool
    adjust_time: bool
    versions: int  # versions of a replaced file to keep; 0: none
    stop_on_error: bool

    @classmethod
    def read(cls, options: Any, op: str) -> _Transfer:
        """Read and check the options for ``op`` ("Upload" or "Download")."""
        given = {**OPTIONS, **want(options, dict, "client.Options")}

        def get(name: str, kind: type) -> Any:
            return want(given[name], kind, f"Options.{name}")

        policy = get(f"{op}Policy", int)
        if policy not in range(len(POLICIES)):
            raise HostTypeError(
                f"Options.{op}Policy: unknown policy {policy} (use {', '.join(POLICIES)})"
            )
        keep = get("VersionsToKeepRemote" if op == "Upload" else "VersionsToKeepLocal", int)
        return cls(
            op,
            policy,
            get(f"{op}WithTempName", bool),
            get(f"DeleteSourceAfter{op}", bool),
            get(f"AdjustTimeOn{op}", bool),
            max(keep, 0) if get(f"Versioned{op}", bool) else 0,
            get("StopOnTransferError", bool),
        )

    def replaces(self, src: FileInfo, existing: FileInfo) -> bool:
        """Whether the policy lets ``src`` replace the ``existing`` target."""
        return (
            self.policy == ALWAYS
            or (self.policy == IF_DIFF_SIZE and src.size != existing.size)
            or (self.policy == IF_NEWER and int(src.mtime) > int(existing.mtime))
        )


class _Client(_Handle):
    """The methods of a connected remote client (SftpClient, FtpsClient, ...)."""

    METHODS = frozenset(
        "ListDir ListDirR ListFiles ListFilesR MakeDir RenDir DelDir DelTree DelFile RenFile "
        "Upload Download Stat".split()
    )
    MISSING = "not connected: call Connect() first"

    @io_call([])
    def ListDir(self, directory: Any, types: Any = LIST_ALL) -> list[dict[str, Any]]:
        return self._list("ListDir(dir, types)", directory, _of_type(types), self.fs.listdir)

    @io_call([])
    def ListDirR(self, directory: Any, types: Any = LIST_ALL) -> list[dict[str, Any]]:
        return self._list("ListDirR(dir, types)", directory, _of_type(types), self.fs.walk)

    @io_call([])
    def ListFiles(self, directory: Any, mask: Any = "*") -> list[dict[str, Any]]:
        return self._list("ListFiles(dir, mask)", directory, _matching(mask), self.fs.listdir)

    @io_call([])
    def ListFilesR(self, directory: Any, mask: Any = "*") -> list[dict[str, Any]]:
        return self._list("ListFilesR(dir, mask)", directory, _matching(mask), self.fs.walk)

    def _list(
        self,
        what: str,
        directory: Any,
        keep: Callable[[FileInfo], bool],
        lister: Callable[[str], Any],
    ) -> list[dict[str, Any]]:
        want(directory, str, f"{what}: dir")
        return [_item(i) for i in sorted(lister(directory), key=lambda i: i.path) if keep(i)]

    @io_call(False)
    def MakeDir(self, directory: Any) -> bool:
        self.fs.makedirs(want(directory, str, "MakeDir(dir): dir"))
        return True

    @io_call(False)
    def RenDir(self, src: Any, dst: Any) -> bool:
        return self._rename("RenDir", src, dst, is_dir=True)

    @io_call(False)
    def RenFile(self, src: Any, dst: Any) -> bool:
        return self._rename("RenFile", src, dst, is_dir=False)

    def _rename(self, name: str, src: Any, dst: Any, *, is_dir: bool) -> bool:
        want(src, str, f"{name}(from, to): from")
        want(dst, str, f"{name}(from, to): to")
        self._check(src, is_dir)
        self.fs.rename(src, dst)
        return True

    def _check(self, path: str, is_dir: bool) -> None:
        """Raise unless ``path`` is a directory (``is_dir``) or a file."""
        if self.fs.stat(path).is_dir != is_dir:
            raise (
                VfsNotADirectory(f"{path}: not a directory")
                if is_dir
                else VfsIsADirectory(f"{path}: is a directory")
            )

    @io_call(False)
    def DelDir(self, directory: Any) -> bool:
        self.fs.rmdir(want(directory, str, "DelDir(dir): dir"))
        return True

    @io_call(False)
    def DelTree(self, directory: Any) -> bool:
        self._check(want(directory, str, "DelTree(dir): dir"), True)
        self.fs.remove_tree(directory)
        return True

    @io_call(False)
    def DelFile(self, path: Any) -> bool:
        self.fs.remove(want(path, str, "DelFile(path): path"))
        return True

    @io_call({"Valid": False, "Exists": False, "Stat": None})
    def Stat(self, path: Any) -> dict[str, Any]:
        info = _lookup(self.fs, want(path, str, "Stat(path): path"))
        return {"Valid": True, "Exists": info is not None, "Stat": info and _item(info)}

    # ---- transfers ---------------------------------------------------------------------------

    @io_call(False)
    def Upload(self, options: Any, pattern: Any, remote_dir: Any) -> bool:
        """Send the local files ``pattern`` names into ``remote_dir``; True if every one went."""
        want(pattern, str, "Upload(localPathOrGlob, remoteDir): localPathOrGlob")
        want(remote_dir, str, "Upload(localPathOrGlob, remoteDir): remoteDir")
        transfer = _Transfer.read(options, "Upload")
        return self._batch(transfer, self.host.local, os.path.abspath(pattern), self.fs, remote_dir)

    @io_call(False)
    def Download(self, options: Any, pattern: Any, local_dir: Any) -> bool:
        """Fetch the remote files ``pattern`` names into ``local_dir``; True if every one went."""
        want(pattern, str, "Download(remotePathOrGlob, localDir): remotePathOrGlob")
        want(local_dir, str, "Download(remotePathOrGlob, localDir): localDir")
        transfer = _Transfer.read(options, "Download")
        return self._batch(transfer, self.fs, pattern, self.host.local, os.path.abspath(local_dir))

    def _batch(self, transfer: _Transfer, src: Vfs, pattern: str, dst: Vfs, dst_dir: str) -> bool:
        from aft.vfs.base import join

        if not any(c in pattern for c in "*?["):
            info = src.stat(pattern)
            if info.is_dir:
                raise VfsIsADirectory(
                    f"{pattern}: is a directory (to send its files, use {join(pattern, '*')})"
                )
            files = [info]
        else:
            files = src.glob(pattern)
            if not files:
                self.log("info", f"{transfer.op}: no file matches {pattern}")
        ok = True
        for done, info in enumerate(files):
            if self.host.halt.is_set():
                stopped = f"stopped after {done} of {len(files)} files"
                self.log("warn", f"{transfer.op}: halt signal received; {stopped}")
                return False
            try:
                self._send(transfer, src, info, dst, join(dst_dir, info.name))
            except VfsError as exc:
                self.log("error", f"{transfer.op}: {info.path}: {exc}")
                ok = False
                if transfer.stop_on_error:
                    self.log(
                        "warn",
                        f"{transfer.op}: stopped at the first failed file (StopOnTransferError)",
                    )
                    break
        return ok

    def _send(self, transfer: _Transfer, src: Vfs, info: FileInfo, dst: Vfs, dst_path: str) -> None:
        """One file of a batch, as the options say."""
        from aft.vfs.base import temp_name

        existing = _lookup(dst, dst_path)
        if existing is not None:
            if existing.is_dir:
                raise VfsIsADirectory(f"{dst_path}: is a directory")
            if not transfer.replaces(info, existing):
                why = f"{dst_path} exists ({POLICIES[transfer.policy]})"
                self.log("info", f"{transfer.op}: skipped {info.path}: {why}")
                return
        temp = transfer.temp_name and not dst.atomic_writes
        keep = transfer.versions if existing is not None else 0
        if keep and temp:  # the old file is kept as a version only once the new one is complete
            tmp = temp_name(dst_path)
            _copy(src, info.path, dst, tmp, use_temp_name=False)
            try:
                _keep_version(dst, dst_path, keep)
                dst.rename(tmp, dst_path)
            except BaseException:
                with contextlib.suppress(VfsError):
                    dst.remove(tmp)
                raise
        else:
            if keep:
                _keep_version(dst, dst_path, keep)
            _copy(src, info.path, dst, dst_path, use_temp_name=temp)
        if transfer.adjust_time:
            try:
                dst.chtimes(dst_path, info.mtime, info.mtime)
            except VfsUnsupported as exc:
                self.log("warn", f"{transfer.op}: {dst_path}: time not kept ({exc})")
        if transfer.delete_source:
            src.remove(info.path)
        self.log("info", f"{transfer.op}: {info.path} -> {dst_path} ({info.size} bytes)")


def _copy(src: Vfs, src_path: str, dst: Vfs, dst_path: str, *, use_temp_name: bool = True) -> None:
    """:func:`aft.vfs.base.copy_file`, imported on first use."""
    from aft.vfs.base import copy_file

    copy_file(src, src_path, dst, dst_path, use_temp_name=use_temp_name)


def _invoke(method: Callable[..., Any], name: str, args: tuple[Any, ...]) -> Any:
    """Call a host method with a script's arguments; a wrong count is a JS TypeError."""
    import inspect

    try:
        inspect.signature(method).bind(*args)
    except TypeError:
        raise HostTypeError(f"{name}: wrong number of arguments ({len(args)})") from None
    return method(*args)


def _keep_version(vfs: Vfs, path: str, keep: int) -> None:
    """Rename ``path`` to ``path.~1~``, shifting older versions up to ``path.~keep~``."""
    names = [path, *(f"{path}.~{n}~" for n in range(1, keep + 1))]
    with contextlib.suppress(VfsNotFound):
        vfs.remove(names[-1])
    for n in range(keep, 0, -1):
        with contextlib.suppress(VfsNotFound):
            vfs.rename(names[n - 1], names[n])


def _of_type(types: Any) -> Callable[[FileInfo], bool]:
    """Which listed entries a ``LIST_*`` constant keeps (null: all)."""
    if isinstance(types, bool) or types not in (None, LIST_ALL, LIST_FILES, LIST_DIRS):
        raise HostTypeError("types must be LIST_ALL, LIST_FILES or LIST_DIRS")
    if types in (None, LIST_ALL):
        return lambda info: True
    return lambda info: info.is_dir == (types == LIST_DIRS)


def _matching(mask: Any) -> Callable[[FileInfo], bool]:
    """Keeps the files whose name matches the glob ``mask`` (null: all files)."""
    import fnmatch

    mask = "*" if mask is None else want(mask, str, "mask")
    return lambda info: not info.is_dir and fnmatch.fnmatchcase(info.name, mask)


def _json_object(value: Any, what: str) -> dict[str, Any]:
    """A payload given as a JSON object or its text (``""`` and null: empty)."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise HostTypeError(f"{what} is not valid JSON") from None  # never quote it
    if not isinstance(value, dict):
        raise HostTypeError(f"{what} must be a JSON object")
    return value


def _present(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v}


def _host_port(value: str) -> tuple[str, str]:
    """The host and the port (``""``: none given) of a ``Host`` field such as ``h:2222``."""
    parts = urlsplit("//" + value)
    try:
        port = parts.port
    except ValueError:
        raise VfsError(f"Host {value!r} has a bad port") from None
    if not parts.hostname:
        raise VfsError(f"Host {value!r} names no host")
    return parts.hostname, str(port or "")


def _join_host(host: str, port: str) -> str:
    """A ``Host`` field's value: ``host:port`` (an IPv6 address in brackets)."""
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port}" if port else host


def _text(value: Any) -> str:
    """A client field's value as a target field's: a flag is ``"true"`` or ``"false"``."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _fields_of(kind: Any) -> dict[str, Any]:
    if kind not in CLIENT_FIELDS:
        raise HostTypeError(f"unknown client kind {kind!r}")
    return CLIENT_FIELDS[kind]


def _client_fields(kind: Any, given: Any) -> dict[str, Any]:
    """The client's connection fields, checked against their defaults' types."""
    defaults = _fields_of(kind)
    want(given, dict, f"{_CLASSES[kind]} fields")
    return {
        name: want(given.get(name, default), type(default), f"{_CLASSES[kind]}.{name}")
        for name, default in defaults.items()
    }


def _setting(value: Any, default: Any, what: str) -> Any:
    """A ``Configure`` value for a field of the type of ``default`` (bools may be text)."""
    if isinstance(default, bool) and isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return want(value, type(default), what)
