"""The ``Vfs`` interface every backend implements, and the helpers built on it.

A backend implements a handful of primitives (``stat``, ``listdir``, ``open_read``,
``open_write``, ``mkdir``, ``remove``, ``rmdir``, ``rename``); everything else
(``walk``, ``glob``, ``makedirs``, ``remove_tree``, ``copy_file`` ...) is built on
them here, once.

Paths are ``/``-separated and rooted at the VFS's own root: ``"a/b"``, ``"/a/b"``
and ``"/a/./c/../b"`` all name the same entry. :func:`normalize` is the only place
that parses a path; it refuses NUL, backslashes and any ``..`` that would climb
above the root.

Backends translate their library's errors into :mod:`aft.exceptions` in one place
each. Remote backends connect lazily and, after a :class:`VfsConnectionError`,
reconnect on the next call, so a caller may simply retry.

Each backend also describes its profile (:class:`VfsSchema`): the fields of its target
and payload, the target's grammar and its checks. The VFS Library, the script host and
the web console use that description and keep no rules of their own.
"""

from __future__ import annotations

import abc
import contextlib
import errno
import fnmatch
import os
import posixpath
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, BinaryIO, ClassVar, NamedTuple, TypeVar, cast
from urllib.parse import quote, unquote, urlsplit

from aft.exceptions import (
    VfsConnectionError,
    VfsDirectoryNotEmpty,
    VfsError,
    VfsExists,
    VfsIntegrityError,
    VfsIsADirectory,
    VfsNotADirectory,
    VfsNotFound,
    VfsPathError,
    VfsPermission,
    VfsUnsupported,
)
from aft.journal import FileRecord, Progress, Tracker
from aft.models import FileInfo

CHUNK_SIZE = 1024 * 1024
#: Files a batch (a client's Upload or Download, :func:`copy_tree`) keeps in flight at once
#: unless told otherwise (the setting ``transfer_files_in_flight``) or unless a side asks
#: for another number (:meth:`Vfs.batch_width`: SFTP and FTP connections ask by their
#: round trip, 4 near the server and up to 64 across the internet).
TRANSFER_WORKERS = 16
TEMP_MARKER = ".aft-part-"
#: Files up to this size go through a remote side's batch of small files
#: (:meth:`Vfs.write_many`, :meth:`Vfs.read_many`) where it has one: each whole file in
#: memory, a few requests each, many files in flight from one thread. 200 files of
#: 256 KiB over loopback SFTP: 0.24-0.33 s down in a batch, 0.45-0.6 s one per thread
#: (up: the same either way).
SMALL_FILE = 1024 * 1024

_ERRNO_ERRORS: dict[int, type[VfsError]] = {
    errno.ENOENT: VfsNotFound,
    errno.EEXIST: VfsExists,
    errno.ENOTDIR: VfsNotADirectory,
    errno.EISDIR: VfsIsADirectory,
    errno.ENOTEMPTY: VfsDirectoryNotEmpty,
    errno.EACCES: VfsPermission,
    errno.EPERM: VfsPermission,
    errno.EROFS: VfsPermission,
    errno.ELOOP: VfsPathError,
    errno.ENAMETOOLONG: VfsPathError,
}
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
T = TypeVar("T")


def vfs_error(exc: OSError, what: str) -> VfsError:
    """The aft error for an ``OSError`` met while working on ``what`` (a VFS path).

    Args:
        exc: the error, whose ``errno`` picks the class (plain :class:`VfsError` if unknown).
        what: names the subject in the one-line message, e.g. ``"/in/a.csv"``.
    """
    cls = _ERRNO_ERRORS.get(exc.errno or 0, VfsError)
    if exc.errno in _NO_SPACE:
        reason = "no space left on the device (or quota exceeded)"
    else:
        reason = exc.strerror or str(exc) or type(exc).__name__
    return cls(f"{what}: {reason}")


def normalize(path: str) -> str:
    """Return ``path`` as an absolute, normalised VFS path (``"/"`` for the root).

    Raises:
        VfsPathError: for a non-string, NUL, a backslash, or ``..`` above the root.
    """
    if not isinstance(path, str):
        raise VfsPathError(f"path must be a string, not {type(path).__name__}")
    if "\x00" in path:
        raise VfsPathError("path contains a NUL character")
    if "\\" in path:
        raise VfsPathError(f"path contains a backslash: {path!r}")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise VfsPathError(f"path escapes the VFS root: {path!r}")
            parts.pop()
        else:
            parts.append(part)
    return "/" + "/".join(parts)


def join(*parts: str) -> str:
    """Join VFS path parts and normalise the result."""
    return normalize(posixpath.join("/", *parts))


def temp_name(path: str) -> str:
    """A hidden sibling name for writing ``path`` before it is complete."""
    head, tail = posixpath.split(normalize(path))
    return posixpath.join(head, f".{tail}{TEMP_MARKER}{os.urandom(4).hex()}")


_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")
#: Characters a query value keeps as they are (``+`` and ``&`` never: they would change it).
_QUERY_SAFE = ":/@,"
_BAD_NAME = re.compile(r"[\s/:@?#\\\[\]]")
_BAD_HOST = re.compile(r"[\s/@?#\\]")
_URL = re.compile(r"https?://[^\s/?#]+(?:[/?#]\S*)?", re.IGNORECASE)


class Field(NamedTuple):
    """One input of a VFS profile: a part of its target, or a key of its payload.

    Attributes:
        name: its key in a fields (or payload) mapping; for a query part, the URL parameter.
        label: what a form calls it (and what a message about it names).
        part: where a target field is written: ``"user"``, ``"host"``, ``"port"``, ``"path"``
            (several path fields share the path, one segment each, the last takes the rest)
            or ``"query"`` (``?name=value``). Unused for a payload field.
        kind: what it holds, which decides its check: ``"text"``, ``"host"`` (a server's name
            or address), ``"name"`` (a bucket, account or container), ``"port"``, ``"number"``,
            ``"path"`` (absolute), ``"prefix"`` (a key prefix), ``"choice"``, ``"flag"``
            (``"true"`` or ``"false"``), ``"url"`` (http or https), ``"multiline"`` or ``"json"``.
        required: a profile needs a value.
        default: what the backend assumes when the target leaves it out.
        initial: what a new profile starts with, when that is not ``default``.
        help: a sentence for the person filling it in.
        placeholder: an example value.
        choices: the ``(value, label)`` pairs of a ``"choice"``.
        secret: a credential: write-only, never shown again.
        advanced: seldom needed (a form tucks it away).
        about: a regular expression (the same in Python and JavaScript, matched ignoring
            case) for the error messages that are about this field.
        action: a helper a form offers next to it: ``"hostkey"`` fetches the fingerprint of
            the server's host key.
    """

    name: str
    label: str
    part: str = "query"
    kind: str = "text"
    required: bool = False
    default: str = ""
    initial: str | None = None
    help: str = ""
    placeholder: str = ""
    choices: tuple[tuple[str, str], ...] = ()
    secret: bool = False
    advanced: bool = False
    about: str = ""
    action: str = ""

    def problem(self, value: str) -> str | None:
        """What is wrong with ``value`` (not empty) for this field's kind; None when nothing.

        A secret's value is never quoted.
        """
        shown = "" if self.secret else f", not {value!r}"
        kind = self.kind
        if kind == "host" and (_BAD_HOST.search(value) or ":" in value and not _ipv6(value)):
            return f"{self.label} is a name or address, without user, port, path or spaces{shown}"
        if kind == "name" and _BAD_NAME.search(value):
            return f"{self.label} is a plain name, without /, :, @, ? or spaces{shown}"
        if kind == "port" and not (value.isdigit() and 1 <= int(value) <= 65535):
            return f"{self.label} is a number from 1 to 65535{shown}"
        if kind == "number" and not _positive(value):
            return f"{self.label} is a positive number{shown}"
        if kind == "path" and not value.startswith("/"):
            return f"{self.label} is an absolute path, starting with /{shown}"
        if kind == "choice" and value.lower() not in (v for v, _ in self.choices):
            return f"{self.label} is one of {', '.join(v for v, _ in self.choices)}{shown}"
        if kind == "flag" and value.lower() not in _TRUE + _FALSE:
            return f"{self.label} is true or false{shown}"
        if kind == "url" and not _URL.fullmatch(value):
            return f"{self.label} is a URL starting with http:// or https://{shown}"
        if kind == "json" and not _json_object(value):
            return f"{self.label} is not a valid JSON object"
        return None

    def normal(self, value: str) -> str:
        """``value`` as written in a target: a choice or flag in its one spelling."""
        if self.kind == "choice":
            return value.lower()
        if self.kind == "flag" and value.lower() in _TRUE + _FALSE:
            return "true" if value.lower() in _TRUE else "false"
        return value

    def describe(self) -> dict[str, Any]:
        """This field as JSON."""
        return {
            **self._asdict(),
            "initial": self.default if self.initial is None else self.initial,
            "choices": [list(choice) for choice in self.choices],
        }


def _ipv6(value: str) -> bool:
    import ipaddress

    try:
        ipaddress.IPv6Address(value.strip("[]"))
    except ValueError:
        return False
    return True


def _positive(value: str) -> bool:
    try:
        return float(value) > 0
    except ValueError:
        return False


def _json_object(value: str) -> bool:
    import json

    try:
        return isinstance(json.loads(value), dict)
    except ValueError:
        return False


class VfsSchema:
    """What a VFS type's profile holds, how its target is written, and its checks.

    A backend declares its ``type_name``, URL ``schemes`` (the first is the one written),
    its ``target_fields`` and ``payload_fields``; from the fields' parts this class reads
    and writes ``scheme://user@host:port/path?name=value`` targets. (A target that is no
    URL, like a Disk folder, overrides :meth:`compose_target` and :meth:`parse_target`.)
    Field values are strings; a flag is ``"true"`` or ``"false"``. A schema is importable
    without its backend's library; the backend's ``Vfs`` class inherits it.
    """

    #: The profile type ("Disk", "SFTP", ...).
    type_name: ClassVar[str] = ""
    #: A line that says what the type is, for a person choosing one.
    summary: ClassVar[str] = ""
    #: How messages name its target: "an SFTP target".
    noun: ClassVar[str] = ""
    #: The target's shape, for messages: "sftp://user@host:port/path".
    shape: ClassVar[str] = ""
    schemes: ClassVar[tuple[str, ...]] = ()
    target_fields: ClassVar[tuple[Field, ...]] = ()
    payload_fields: ClassVar[tuple[Field, ...]] = ()

    @classmethod
    def field(cls, name: str) -> Field:
        """The target or payload field ``name``. Raises KeyError."""
        for field in cls.target_fields + cls.payload_fields:
            if field.name == name:
                return field
        raise KeyError(name)

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """The schema as JSON: what a form needs to ask for a profile of this type."""
        return {
            "type": cls.type_name,
            "summary": cls.summary,
            "schemes": list(cls.schemes),
            "shape": cls.shape,
            # a file: target is on the machine that runs aft: testing it costs nothing
            "local": "file" in cls.schemes,
            "target": [field.describe() for field in cls.target_fields],
            "payload": [field.describe() for field in cls.payload_fields],
        }

    @classmethod
    def compose_target(cls, fields: Mapping[str, str]) -> str:
        """The target the fields describe; a field left out or empty is its default.

        Composing checks nothing: :meth:`check_fields` says what is wrong with the fields.
        """
        user = host = port = ""
        path: list[str] = []
        query: list[str] = []
        for field in cls.target_fields:
            value = field.normal(str(fields.get(field.name) or "").strip())
            if field.part == "user":
                user = f"{quote(value, safe='')}@" if value else ""
            elif field.part == "host":
                bracket = field.kind == "host" and ":" in value and not value.startswith("[")
                host = f"[{value}]" if bracket else value
            elif field.part == "port":
                port = f":{value}" if value and value != field.default else ""
            elif field.part == "path":
                path.append(quote(value.strip("/"), safe="/"))
            elif value and value != field.default:
                query.append(f"{field.name}={quote(value, safe=_QUERY_SAFE)}")
        where = "/" + "/".join(filter(None, path)) if path else ""
        return f"{cls.schemes[0]}://{user}{host}{port}{where}" + (
            "?" + "&".join(query) if query else ""
        )

    @classmethod
    def parse_target(cls, target: str) -> dict[str, str]:
        """Every target field's value in ``target`` (its default when left out).

        Query parameter names match ignoring case; a choice or flag comes back in its one
        spelling.

        Raises:
            VfsPathError: a target of another shape, a password in it, an unknown
                parameter, or a value its field's kind refuses.
        """
        try:
            parts = urlsplit(target)
        except ValueError:  # not quoted: a password may be what broke it
            raise VfsPathError(f"{cls.noun} looks like {cls.shape}") from None
        if parts.password is not None:
            raise VfsPathError(f"{cls.noun} must not hold a password: put it in the payload")
        userinfo, _, hostport = parts.netloc.rpartition("@")
        fields = {field.name: field.default for field in cls.target_fields}
        parts_of = {field.part for field in cls.target_fields}
        if (
            parts.scheme.lower() not in cls.schemes
            or not hostport
            or (userinfo and "user" not in parts_of)
        ):
            raise VfsPathError(f"{cls.noun} looks like {cls.shape}, not {target!r}")
        for field in cls.target_fields:
            if field.part == "user":
                fields[field.name] = unquote(userinfo)
            elif field.part == "host":
                fields[field.name] = (parts.hostname or "") if "port" in parts_of else hostport
            elif field.part == "port":
                try:
                    fields[field.name] = str(parts.port or field.default)
                except ValueError:
                    raise VfsPathError(f"{cls.noun} has a bad port: {hostport!r}") from None
        paths = [field for field in cls.target_fields if field.part == "path"]
        segments = unquote(parts.path).strip("/").split("/", max(len(paths) - 1, 0))
        for field, segment in zip(paths, segments, strict=False):  # the path may be short
            if segment:
                fields[field.name] = "/" + segment if field.kind == "path" else segment
        by_name = {f.name.lower(): f for f in cls.target_fields if f.part == "query"}
        unknown = []
        for item in filter(None, parts.query.split("&")):
            name, _, value = (unquote(text) for text in item.partition("="))
            if name.lower() not in by_name:
                unknown.append(name)
            elif value:
                fields[by_name[name.lower()].name] = value
        if unknown:
            raise VfsPathError(
                f"unknown {cls.type_name} target parameter(s): {', '.join(sorted(unknown))}"
            )
        if not any(fields[field.name] for field in cls.target_fields if field.part == "host"):
            raise VfsPathError(f"{cls.noun} looks like {cls.shape}, not {target!r}")
        for field in cls.target_fields:
            if value := fields[field.name]:
                if problem := field.problem(value):
                    raise VfsPathError(problem)
                fields[field.name] = field.normal(value)
        return fields

    @classmethod
    def check_fields(cls, fields: Mapping[str, str]) -> dict[str, str]:
        """What is wrong with the target's fields, as ``{field name: message}``.

        A backend adds the rules its fields cannot say alone (SFTP: one host key pin).
        """
        problems = {}
        for field in cls.target_fields:
            value = str(fields.get(field.name) or "").strip()
            problem = field.problem(value) if value else None
            if not value and field.required:
                problem = f"{field.label} is required"
            if problem:
                problems[field.name] = problem
        return problems

    @classmethod
    def check_payload(cls, payload: Mapping[str, Any]) -> dict[str, str]:
        """What is wrong with a payload, as ``{field name: message}`` (never quoting a value)."""
        problems = {}
        for field in cls.payload_fields:
            value = payload.get(field.name)
            if isinstance(value, str) and value.strip() and (problem := field.problem(value)):
                problems[field.name] = problem
        return problems

    @classmethod
    def check_target(cls, target: str) -> None:
        """Refuse a target that does not fit this type or lacks what a profile needs.

        Raises:
            VfsPathError: saying every problem, in plain words.
        """
        problems = cls.check_fields(cls.parse_target(target))
        if problems:
            raise VfsPathError("; ".join(problems.values()))


class Vfs(VfsSchema, abc.ABC):
    """A file system rooted at its own ``/``.

    Every object that holds a connection is closed by :meth:`close` and works as a
    context manager. Its class describes its profiles (see :class:`VfsSchema`).
    """

    #: True when a written file only becomes visible once complete (object stores):
    #: then uploads need no temporary name.
    atomic_writes: bool = False
    #: True when several threads may use one instance at once (an HTTP connection pool,
    #: a local disk); a session-based protocol (SFTP, FTP) is one thread at a time.
    thread_safe: bool = False
    #: True when its files are on this machine (a disk, memory): reading or writing one
    #: costs no round trip, so it can feed or drain a remote side's batch of small files.
    local: bool = False
    #: How transfer records name this VFS (a VFS Library name, a client's host); "" for
    #: its type. A :meth:`sibling` used by a batch carries it too.
    label: str = ""

    @classmethod
    @abc.abstractmethod
    def from_target(cls, target: str, payload: dict[str, Any]) -> Vfs:
        """Open the VFS a profile describes: ``target`` URL plus decrypted ``payload``."""

    def connect(self) -> None:
        """Connect now (logging in, where there is a login) and look at the root: a
        server that cannot be reached, a refused login or a missing root is an error here.
        Every other call connects by itself when it needs to."""
        self.stat("/")

    # ---- primitives -------------------------------------------------------------

    @abc.abstractmethod
    def stat(self, path: str) -> FileInfo:
        """Describe ``path`` (following symlinks). Raises VfsNotFound."""

    @abc.abstractmethod
    def listdir(self, path: str) -> list[FileInfo]:
        """The entries directly inside directory ``path``, in no particular order."""

    @abc.abstractmethod
    def open_read(self, path: str, offset: int = 0) -> BinaryIO:
        """A readable binary stream of file ``path``, starting at ``offset``."""

    @abc.abstractmethod
    def open_write(self, path: str) -> BinaryIO:
        """A writable binary stream that creates or truncates file ``path``.

        The parent directory must exist. For non-atomic backends the bytes are
        visible under ``path`` while being written: use :func:`copy_file` or
        :meth:`write_bytes` for a write that is renamed into place when complete.
        """

    @abc.abstractmethod
    def mkdir(self, path: str) -> None:
        """Create directory ``path``; its parent must exist. Raises VfsExists."""

    @abc.abstractmethod
    def remove(self, path: str) -> None:
        """Delete file ``path``."""

    @abc.abstractmethod
    def rmdir(self, path: str) -> None:
        """Delete the empty directory ``path``."""

    @abc.abstractmethod
    def rename(self, src: str, dst: str) -> None:
        """Rename ``src`` to ``dst``, replacing ``dst`` if it is a file."""

    # ---- optional operations: unsupported unless a backend says otherwise --------

    def lstat(self, path: str) -> FileInfo:
        """Like :meth:`stat` without following a final symlink."""
        return self.stat(path)

    def chmod(self, path: str, mode: int) -> None:
        raise VfsUnsupported(f"{self.type_name} VFS does not support chmod")

    def chown(self, path: str, uid: int, gid: int) -> None:
        """Set the owner and group of ``path`` by number (-1 leaves one as it is)."""
        raise VfsUnsupported(f"{self.type_name} VFS has no file owners, so it cannot chown")

    def chtimes(self, path: str, atime: float, mtime: float) -> None:
        raise VfsUnsupported(f"{self.type_name} VFS does not support setting times")

    def truncate(self, path: str, size: int) -> None:
        raise VfsUnsupported(f"{self.type_name} VFS does not support truncate")

    def symlink(self, target: str, link: str) -> None:
        raise VfsUnsupported(f"{self.type_name} VFS does not support symlinks")

    def checksum(self, path: str) -> tuple[str, str] | None:
        """A server-side ``(algorithm, hexdigest)`` of file ``path``, if the protocol offers one."""
        return None

    def prepare_write(self, size: int) -> None:  # noqa: B027 - optional hook
        """A file of ``size`` bytes is about to be written: a backend may start getting
        ready for it meanwhile (SFTP opens the extra sessions a big file is written over).
        Nothing is promised: writing it works the same without this call."""

    def batch_width(self) -> int | None:
        """How many files a batch with this VFS on one side should keep in flight, when
        not told: None for no preference (:data:`TRANSFER_WORKERS`)."""
        return None

    def write_many(
        self,
        files: Iterable[tuple[str, bytes]],
        *,
        use_temp_name: bool = True,
        in_flight: int | None = None,
    ) -> Iterator[tuple[str, VfsError | None]]:
        """Write each ``(path, data)`` of ``files`` (small files, whole in memory), up to
        ``in_flight`` at once over one connection from the calling thread (None: as many as
        the connection wants); ``files`` is read as room frees up.

        Yields ``(path, None)`` as each file is complete under its name, ``(path, error)``
        for one that is not, of which nothing is left (what was written is removed). With
        ``use_temp_name`` the bytes go to a temporary name first, renamed only once they
        are all written and closed. A missing folder is not made: its files fail.

        Raises:
            VfsConnectionError: the connection dropped; with ``use_temp_name`` no file not
                yet yielded has its name.
            VfsUnsupported: the backend has no such batch (see :func:`pipelines`).
        """
        raise VfsUnsupported(f"{self.type_name} VFS has no batch of small files")

    def read_many(
        self, files: Iterable[FileInfo], *, in_flight: int | None = None
    ) -> Iterator[tuple[FileInfo, bytes | VfsError]]:
        """Read each file of ``files`` (small files, as a listing describes them), up to
        ``in_flight`` at once over one connection from the calling thread (None: as many
        as the connection wants); ``files`` is read as room frees up.

        Yields ``(info, data)`` as each file is read whole, ``(info, error)`` for one that
        could not be, or whose size is not the listed one.

        Raises:
            VfsConnectionError: the connection dropped.
            VfsUnsupported: the backend has no such batch (see :func:`pipelines`).
        """
        raise VfsUnsupported(f"{self.type_name} VFS has no batch of small files")

    def sibling(self) -> Vfs:
        """A handle on the same file system for another thread: ``self`` when thread-safe.

        A backend that is one thread at a time may return a new handle sharing what it
        safely can (SFTP: the SSH connection); whoever asked closes it. The default, for a
        backend that offers none, raises VfsUnsupported: its batches go one file at a time.
        """
        if self.thread_safe:
            return self
        raise VfsUnsupported(f"{self.type_name} VFS has no handle for a second thread")

    def close(self) -> None:  # noqa: B027 - optional hook: a Disk VFS holds nothing
        """Release the connection; the object may not be used afterwards."""

    def __enter__(self) -> Vfs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- helpers built on the primitives ---------------------------------------

    def exists(self, path: str) -> bool:
        try:
            self.stat(path)
        except VfsNotFound:
            return False
        return True

    def isdir(self, path: str) -> bool:
        try:
            return self.stat(path).is_dir
        except VfsNotFound:
            return False

    def makedirs(self, path: str) -> None:
        """Create ``path`` and any missing parents; an existing directory is fine.

        For ``/`` nothing is created, but the root is looked at: a server that cannot be
        reached, or a root that is not there, is an error here too.
        """
        path = normalize(path)
        if path == "/":
            if not self.stat("/").is_dir:
                raise VfsNotADirectory("/: not a directory")
            return
        if self.isdir(path):
            return
        self.makedirs(posixpath.dirname(path))
        try:
            self.mkdir(path)
        except VfsExists:
            if not self.isdir(path):
                raise

    def walk(self, path: str = "/") -> Iterator[FileInfo]:
        """Every entry below directory ``path``, depth first, parents before children."""
        for info in sorted(self.listdir(path), key=lambda i: i.path):
            yield info
            if info.is_dir:
                yield from self.walk(info.path)

    def glob(self, pattern: str) -> list[FileInfo]:
        """Files whose name matches the glob in the last part of ``pattern`` (``/in/*.csv``)."""
        pattern = normalize(pattern)
        head, mask = posixpath.split(pattern)
        return sorted(
            (i for i in self.listdir(head) if not i.is_dir and fnmatch.fnmatchcase(i.name, mask)),
            key=lambda i: i.path,
        )

    def tree_size(self, path: str = "/") -> int:
        info = self.stat(path)
        if not info.is_dir:
            return info.size
        return sum(i.size for i in self.walk(path) if not i.is_dir)

    def remove_tree(
        self,
        path: str,
        each: Callable[[FileInfo, BaseException | None], object] | None = None,
    ) -> None:
        """Delete ``path`` and everything below it.

        Args:
            path: a directory (or a file).
            each: called for every file (not directory) once it is deleted, with None, or
                with the error that stopped its deletion (which is then raised).
        """
        path = normalize(path)
        info = self.lstat(path)
        if not info.is_dir:
            try:
                self.remove(path)
            except BaseException as exc:
                if each is not None:
                    each(info, exc)
                raise
            if each is not None:
                each(info, None)
            return
        for child in self.listdir(path):
            self.remove_tree(child.path, each)
        if path != "/":
            self.rmdir(path)

    def read_bytes(self, path: str) -> bytes:
        with self.open_read(path) as f:
            return f.read()

    def write_bytes(self, path: str, data: bytes) -> None:
        """Write ``data`` to ``path``, visible only once complete."""
        if self.atomic_writes:
            with self.open_write(path) as f:
                f.write(data)
            return
        tmp = temp_name(path)
        try:
            with self.open_write(tmp) as f:
                f.write(data)
            self.rename(tmp, path)
        except BaseException:
            _discard(self, tmp)
            raise


def _discard(vfs: Vfs, path: str) -> None:
    try:
        vfs.remove(path)
    except (VfsError, OSError):
        pass


def copy_file(
    src: Vfs,
    src_path: str,
    dst: Vfs,
    dst_path: str,
    *,
    use_temp_name: bool = True,
    retries: int = 3,
    backoff: float = 0.5,
    source: FileInfo | None = None,
    progress: Callable[[Progress], object] | Tracker | None = None,
) -> FileInfo:
    """Stream one file from ``src`` to ``dst`` (any two backends, no local staging).

    The bytes go to a temporary sibling name and are renamed to ``dst_path`` only
    when complete and the size (and a server checksum where both sides offer the
    same kind) matches, so a failure never leaves a partial file under the final
    name. A folder missing above ``dst_path`` is created. Errors name ``dst_path``, never
    the temporary name. A dropped connection is retried ``retries`` times with exponential
    backoff. ``source``, when the caller has it from a listing, saves a stat of the source.
    ``progress`` is called with a :class:`~aft.journal.Progress` as the bytes move; a
    :class:`~aft.journal.Tracker` in its place also records the file in its journal.

    Returns:
        The :class:`FileInfo` of the written file.
    Raises:
        VfsIsADirectory: when the source is a directory.
        VfsIntegrityError: when the written size or checksum does not match.
    """
    tracker = Tracker.of(progress)
    record = tracker.start(name_of(src), src_path, name_of(dst), dst_path) if tracker else None
    attempt = 0
    while True:
        try:
            written = _copy_once(src, src_path, dst, dst_path, use_temp_name, source, record)
        except VfsConnectionError as exc:
            attempt += 1
            if attempt > retries:
                if record:
                    record.end(exc)
                raise
            if record:
                record.retry()
            time.sleep(backoff * 2 ** (attempt - 1))
        except BaseException as exc:
            if record:
                record.end(exc)
            raise
        else:
            if record:
                record.end()
            return written


def name_of(vfs: Vfs) -> str:
    """How transfer records name ``vfs``: its :attr:`Vfs.label`, else its type."""
    return vfs.label or vfs.type_name


def _copy_once(
    src: Vfs,
    src_path: str,
    dst: Vfs,
    dst_path: str,
    use_temp_name: bool,
    source: FileInfo | None,
    record: FileRecord | None,
) -> FileInfo:
    info = source or src.stat(src_path)
    if info.is_dir:
        raise VfsIsADirectory(f"{src_path} is a directory")
    direct = dst.atomic_writes or not use_temp_name
    target = dst_path if direct else temp_name(dst_path)
    dst.prepare_write(info.size)
    with _into_place(dst, target, dst_path):
        # The byte count is what the destination acknowledged: a write or close that
        # failed has raised already. (A stat per file would cost a round trip on SFTP.)
        with src.open_read(src_path) as reader, _create(dst, target) as writer:
            out = writer if record is None else _Recorded(writer, record)
            written = _pump(reader, out, info.size)  # type: ignore[arg-type]
        if written != info.size:
            raise VfsIntegrityError(f"{dst_path}: wrote {written} bytes, source has {info.size}")
        src_sum = src.checksum(src_path)
        dst_sum = dst.checksum(target) if src_sum else None
        if src_sum and dst_sum and src_sum[0] == dst_sum[0] and src_sum[1] != dst_sum[1]:
            raise VfsIntegrityError(f"{dst_path}: {src_sum[0]} checksum does not match the source")
        if record and (dst_sum or src_sum):
            record.checksum = ":".join(dst_sum or src_sum or ())
        if not direct:
            dst.rename(target, dst_path)
    return FileInfo(normalize(dst_path), False, written, time.time())


def write_file(dst: Vfs, path: str, data: bytes, *, use_temp_name: bool = True) -> None:
    """Write ``data`` to ``path`` as :func:`copy_file` writes a file: through a temporary
    name renamed once complete (unless not ``use_temp_name``), a missing folder above it
    made, nothing left on failure and errors naming ``path``."""
    direct = dst.atomic_writes or not use_temp_name
    target = path if direct else temp_name(path)
    with _into_place(dst, target, path):
        with _create(dst, target) as writer:
            writer.write(data)
        if not direct:
            dst.rename(target, path)


@contextlib.contextmanager
def _into_place(dst: Vfs, target: str, final: str) -> Iterator[None]:
    """Around the writing of ``target`` on its way to ``final``: on failure what was
    written is removed, and an error names ``final``, never the temporary name."""
    try:
        yield
    except VfsError as exc:
        if not dst.atomic_writes:
            _discard(dst, target)
        raise _naming(exc, target, final) from exc
    except BaseException:
        if not dst.atomic_writes:
            _discard(dst, target)
        raise


def _create(dst: Vfs, path: str) -> BinaryIO:
    """``dst.open_write(path)``, first creating the missing folders above ``path``.

    The folders are made only when the first attempt says they are missing, so a
    transfer into an existing folder costs no extra round trip.
    """
    try:
        return dst.open_write(path)
    except VfsNotFound:
        parent = posixpath.dirname(normalize(path))
        if dst.isdir(parent):
            raise
        dst.makedirs(parent)
        return dst.open_write(path)


def _naming(exc: VfsError, temporary: str, final: str) -> VfsError:
    """``exc`` with the temporary name in its message replaced by the user's ``final`` path."""
    temporary, final = normalize(temporary), normalize(final)
    text = str(exc)
    if temporary == final or temporary not in text:
        return exc
    renamed = type(exc)(
        text.replace(f"rename {temporary} -> {final}", final).replace(temporary, final)
    )
    return renamed


def _pump(reader: BinaryIO, writer: BinaryIO, expect: int = -1) -> int:
    """Move every byte from ``reader`` to ``writer``; returns how many.

    Between two local files (both unbuffered, with file descriptors) the kernel copies
    (``copy_file_range``) without the bytes passing through Python. Once ``expect`` bytes
    have moved, a reader whose ``at_end`` says it knows it is at the end (an SFTP reader,
    after a short read) is not asked once more.
    """
    try:
        source, target = reader.fileno(), writer.fileno()
    except (AttributeError, OSError, ValueError):
        source = target = -1
    total = 0
    if source >= 0 and hasattr(os, "copy_file_range"):
        try:
            while copied := os.copy_file_range(source, target, 1 << 30):
                total += copied
            return total
        except OSError as exc:
            if total or exc.errno not in (
                errno.EXDEV,
                errno.ENOSYS,
                errno.EINVAL,
                errno.EOPNOTSUPP,
            ):
                raise vfs_error(exc, "copy") from None
    while chunk := reader.read(CHUNK_SIZE):
        writer.write(chunk)
        total += len(chunk)
        if total == expect and getattr(reader, "at_end", False):
            break
    return total


class _Recorded:
    """A writer that shows each chunk it writes to a :class:`~aft.journal.FileRecord`
    (which counts and hashes it). It has no file descriptor: the bytes pass through."""

    def __init__(self, writer: BinaryIO, record: FileRecord) -> None:
        self._writer, self._record = writer, record

    def write(self, chunk: bytes) -> int:
        written = self._writer.write(chunk)
        self._record.add(chunk)
        return written


def in_parallel(
    src: Vfs,
    dst: Vfs,
    jobs: Sequence[T],
    work: Callable[[Vfs, Vfs, T], object],
    *,
    workers: int | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> Iterator[tuple[T, VfsError | None]]:
    """Run ``work(src, dst, job)`` for each job, up to ``workers`` at once (None: what
    :func:`batch_width` says for the two sides).

    Raises ValueError when ``workers`` is below 1. Each thread works with its own pair of
    handles (the given ones first, then
    :meth:`Vfs.sibling` handles, closed at the end); a side that offers no sibling keeps
    the batch to one job at a time. Yields ``(job, error)`` as each job ends (``error``
    is the :class:`VfsError` it raised, else None); any other exception is raised here.
    Once ``stop()`` is true no further job starts; those under way end and are yielded.
    """
    if workers is None:
        workers = batch_width(src, dst)
    if workers < 1:
        raise ValueError(f"workers must be 1 or more, not {workers}")
    free: list[tuple[Vfs, Vfs]] = [(src, dst)]
    extra: list[Vfs] = []
    lock = threading.Lock()
    width = min(workers, len(jobs)) if _siblings_possible(src, dst) else 1

    def pair() -> tuple[Vfs, Vfs]:
        with lock:
            if free:
                return free.pop()
        twins = (src.sibling(), dst.sibling())
        for twin, given in zip(twins, (src, dst), strict=True):
            twin.label = given.label
        with lock:
            extra.extend(
                twin for twin, given in zip(twins, (src, dst), strict=True) if twin is not given
            )
        return twins

    def attempt(job: T) -> tuple[T, VfsError | None]:
        handles = pair()
        try:
            work(handles[0], handles[1], job)
        except VfsError as exc:
            return job, exc
        finally:
            with lock:
                free.append(handles)
        return job, None

    if width <= 1:
        for job in jobs:
            if stop():
                return
            yield attempt(job)
        return
    # Each thread takes the next job as soon as it is free, not when this generator has
    # handed on the last result: a batch of small files never waits for its consumer.
    # A failure holds back new starts until the consumer has seen it, so a ``stop`` that
    # looks at failures is as strict as it is one job at a time.
    from queue import SimpleQueue  # here: a run that moves no file in parallel skips it

    queued = iter(jobs)
    ended: SimpleQueue[tuple[T, VfsError | None] | BaseException | None] = SimpleQueue()
    turn = threading.Condition(lock)
    unseen_failures = 0
    closing = False

    def take() -> object:
        """The next job, or ``_NO_JOB`` when there is none or none may start."""
        with turn:
            turn.wait_for(lambda: closing or not unseen_failures)
            if closing or stop():
                return _NO_JOB
            return next(queued, _NO_JOB)

    def worker() -> None:
        nonlocal unseen_failures
        try:
            while (job := take()) is not _NO_JOB:
                result = attempt(cast(T, job))
                if result[1] is not None:
                    with turn:
                        unseen_failures += 1
                ended.put(result)
        except BaseException as exc:  # not a VfsError: raised to the consumer
            ended.put(exc)
        finally:
            ended.put(None)

    threads = [
        threading.Thread(target=worker, name=f"aft-batch-{i}", daemon=True) for i in range(width)
    ]
    for thread in threads:
        thread.start()
    try:
        working = width
        while working:
            item = ended.get()
            if item is None:
                working -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
                if item[1] is not None:
                    with turn:
                        unseen_failures -= 1
                        turn.notify_all()
    finally:
        with turn:
            closing = True
            turn.notify_all()
        for thread in threads:
            thread.join()
        for vfs in extra:
            vfs.close()


_NO_JOB = object()


def batch_width(src: Vfs, dst: Vfs) -> int:
    """Files in flight for a batch from ``src`` to ``dst`` when not told: the smaller of
    what the two sides ask for (:meth:`Vfs.batch_width`), else :data:`TRANSFER_WORKERS`."""
    asked = [w for w in (src.batch_width(), dst.batch_width()) if w is not None]
    return min(asked) if asked else TRANSFER_WORKERS


def pipelines(vfs: Vfs) -> bool:
    """Whether ``vfs`` has batches of small files (:meth:`Vfs.write_many`, ``read_many``)."""
    return type(vfs).write_many is not Vfs.write_many


def batches_between(src: Vfs, dst: Vfs) -> bool:
    """Whether small files from ``src`` to ``dst`` can move in a batch of small files
    (:func:`small_file_batch`): one side has them, the other is on this machine."""
    return (pipelines(dst) and src.local) or (pipelines(src) and dst.local)


def small_file_batch(
    src: Vfs,
    dst: Vfs,
    files: Iterable[tuple[FileInfo, str]],
    left: list[tuple[FileInfo, str]],
    *,
    use_temp_name: bool = True,
    in_flight: int | None = None,
    tracker: Tracker | None = None,
) -> Iterator[tuple[FileInfo, str, VfsError | None]]:
    """Move small files (each whole in memory) in one batch of the remote side, from the
    calling thread (see :func:`batches_between`): up, each file read from ``src`` into
    ``dst.write_many``; or down, from ``src.read_many``, each file written to ``dst`` as
    :func:`write_file` writes one. ``files`` (``(source, target path)``) is read as room
    frees up.

    Yields ``(source, target, error)`` for each file the batch moved (``error``: writing
    it here failed; nothing of it is left), recorded in ``tracker`` as :func:`copy_file`
    records a file. A file the batch did not move (gone or changed since listed, or the
    batch's own error: a folder it does not make, a rename the server refuses) is added
    to ``left``, for :func:`copy_file`, which says why if it fails again; after a dropped
    connection, so is every file not yet yielded, the rest of ``files`` included.
    """
    upload = pipelines(dst)
    under_way: dict[str, tuple[FileInfo, str, float, bytes]] = {}  # by the path that moves
    pending = iter(files)

    def sent() -> Iterator[tuple[str, bytes]]:
        for info, target in pending:
            began = time.time()
            try:
                data: bytes | None = src.read_bytes(info.path)
            except VfsError:
                data = None
            if data is None or len(data) != info.size:  # gone or changed: copy_file says so
                left.append((info, target))
                continue
            under_way[target] = (info, target, began, data)
            yield target, data

    def fetched() -> Iterator[FileInfo]:
        for info, target in pending:
            under_way[info.path] = (info, target, time.time(), b"")
            yield info

    def arrived(info: FileInfo, target: str, began: float, data: bytes) -> VfsError | None:
        record = None
        if tracker:
            record = tracker.start(name_of(src), info.path, name_of(dst), target, started=began)
        try:
            if not upload:
                write_file(dst, target, data, use_temp_name=use_temp_name)
        except VfsError as exc:
            if record:
                record.end(exc)
            return exc
        if record:
            record.add(data)
            record.end()
        return None

    batch: Iterator[tuple[str, bytes | VfsError | None]]
    if upload:
        batch = dst.write_many(sent(), use_temp_name=use_temp_name, in_flight=in_flight)
    else:
        batch = ((i.path, d) for i, d in src.read_many(fetched(), in_flight=in_flight))
    try:
        for key, result in batch:
            info, target, began, data = under_way.pop(key)
            if isinstance(result, VfsError):
                left.append((info, target))
            else:
                got = result if isinstance(result, bytes) else data
                yield info, target, arrived(info, target, began, got)
    except VfsError:  # the connection dropped: what is not done goes the one-file way
        left.extend((info, target) for info, target, _, _ in under_way.values())
        left.extend(pending)


def _siblings_possible(src: Vfs, dst: Vfs) -> bool:
    """Whether both sides can give a second thread a handle (see :meth:`Vfs.sibling`)."""
    return all(v.thread_safe or type(v).sibling is not Vfs.sibling for v in (src, dst))


def copy_tree(
    src: Vfs,
    src_path: str,
    dst: Vfs,
    dst_path: str,
    *,
    use_temp_name: bool = True,
    progress: Callable[[Progress], object] | Tracker | None = None,
    workers: int | None = None,
) -> int:
    """Copy the directory ``src_path`` and everything below it to ``dst_path``.

    Directories are made first. Between a side with batches of small files and one on
    this machine (:func:`batches_between`), the files up to :data:`SMALL_FILE` move in
    one such batch (:func:`small_file_batch`, up to ``workers`` in flight); the others
    (and any the batch did not move) go through :func:`copy_file`, up to ``workers`` at
    once (:func:`in_parallel`; None: as :func:`batch_width` says), which hides the
    per-request latency of remote sides. After a failed file no other starts.
    ``progress``: as for :func:`copy_file`, over the whole tree (its total is known).

    Returns:
        How many files were copied.
    Raises:
        VfsError: the first file that failed (the others under way end first).
        ValueError: ``workers`` is below 1 (nothing is copied).
    """
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be 1 or more, not {workers}")
    root, target = normalize(src_path), normalize(dst_path)
    dst.makedirs(target)
    files = []
    for info in src.walk(root):
        relative = info.path[len(root) :].lstrip("/")
        if info.is_dir:
            dst.makedirs(join(target, relative))
        else:
            files.append((info, join(target, relative)))
    tracker = Tracker.of(progress)
    if tracker:
        tracker.expect(len(files))

    def copy(src: Vfs, dst: Vfs, pair: tuple[FileInfo, str]) -> None:
        copy_file(
            src,
            pair[0].path,
            dst,
            pair[1],
            use_temp_name=use_temp_name,
            source=pair[0],
            progress=tracker,
        )

    failed: list[VfsError] = []
    alone = files
    if batches_between(src, dst):
        alone = [pair for pair in files if pair[0].size > SMALL_FILE]
        small = (pair for pair in files if pair[0].size <= SMALL_FILE and not failed)
        undone: list[tuple[FileInfo, str]] = []
        temp = use_temp_name and not dst.atomic_writes
        for _, _, error in small_file_batch(
            src, dst, small, undone, use_temp_name=temp, in_flight=workers, tracker=tracker
        ):
            if error is not None:
                failed.append(error)
        alone = undone + alone
    for _, error in in_parallel(src, dst, alone, copy, workers=workers, stop=lambda: bool(failed)):
        if error is not None:
            failed.append(error)
    if failed:
        raise failed[0]
    return len(files)
