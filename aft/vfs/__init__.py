"""Virtual file systems: the ``Vfs`` interface, its backends, and the VFS Library.

:data:`BACKENDS` is the one place a backend is registered. Backends load lazily by type
name, so ``import aft`` pulls in no SSH or cloud library; a backend's schema (its target
grammar, fields and checks, see :class:`~aft.vfs.base.VfsSchema`) loads without them too.
Each backend module defines one ``Vfs`` subclass with a ``from_target(target, payload)``
classmethod that reads the profile triple described in the service contract.
"""

from __future__ import annotations

import importlib
import re
from typing import Any, NamedTuple

from aft.exceptions import MissingExtra, VfsConfigError, VfsError
from aft.vfs.base import Vfs, VfsSchema


class Backend(NamedTuple):
    """Where a VFS type lives."""

    #: ``module:Class`` of its ``Vfs`` class (which may import a third-party library).
    vfs: str
    #: ``module:Class`` of its :class:`VfsSchema`, importable without that library.
    schema: str
    #: The extra that installs its library (None: the standard library suffices).
    extra: str | None = None


#: type name -> where its backend lives, in the order a person is offered them.
BACKENDS: dict[str, Backend] = {
    "Disk": Backend("aft.vfs.disk:DiskVfs", "aft.vfs.disk:DiskSchema"),
    "SFTP": Backend("aft.vfs.sftp:SftpVfs", "aft.vfs.sftp_schema:SftpSchema", "sftp"),
    "FTP": Backend("aft.vfs.ftp:FtpVfs", "aft.vfs.ftp:FtpSchema"),
    "S3": Backend("aft.vfs.s3:S3Vfs", "aft.vfs.s3_schema:S3Schema", "s3"),
    "Azure": Backend("aft.vfs.azure:AzureVfs", "aft.vfs.azure_schema:AzureSchema", "azure"),
    "GCP": Backend("aft.vfs.gcs:GcsVfs", "aft.vfs.gcs_schema:GcsSchema", "gcp"),
    "R2FS": Backend("aft.vfs.r2:R2Vfs", "aft.vfs.r2_schema:R2Schema", "s3"),
}
#: The types aft ships; :func:`register_backend` adds others.
_BUILT_IN = frozenset(BACKENDS)


def register_backend(
    type_name: str,
    vfs: str | type[Vfs],
    schema: str | type[VfsSchema] | None = None,
    extra: str | None = None,
) -> None:
    """Make a VFS type known to this process: the VFS Library, scripts' ``GetVFS`` and
    the service in this process open it like a built-in one. (Worker processes started
    by a :class:`~aft.worker.WorkerPool` know only the built-in types and the types their
    own imports register.)

    Args:
        type_name: the name profiles give as their type (letters, digits, ``-``, ``_``).
        vfs: its ``Vfs`` class, or ``"module:Class"`` to import it on first use.
        schema: its :class:`~aft.vfs.base.VfsSchema`, if the ``Vfs`` class imports a heavy
            library (default: the ``Vfs`` class itself).
        extra: the extra that installs that library, for the error when it is missing.

    Raises:
        VfsError: a bad type name, or one already registered for another backend.
    """

    def where(thing: str | type[Any]) -> str:
        if isinstance(thing, str):
            if not re.fullmatch(r"[\w.]+:[\w.]+", thing):
                raise VfsError(f"a backend is given as 'module:Class', not {thing!r}")
            return thing
        return f"{thing.__module__}:{thing.__qualname__}"

    if not re.fullmatch(r"[A-Za-z][\w-]{0,39}", type_name):
        raise VfsError(f"a VFS type name is a letter then letters, digits, - or _: {type_name!r}")
    backend = Backend(where(vfs), where(schema if schema is not None else vfs), extra)
    known = BACKENDS.get(type_name)
    if known is not None and known != backend:
        raise VfsError(f"the VFS type {type_name!r} is already registered ({known.vfs})")
    BACKENDS[type_name] = backend


def unregister_backend(type_name: str) -> None:
    """Forget a type :func:`register_backend` made known (the built-in ones stay).

    Raises:
        VfsError: for an unknown or built-in type.
    """
    if type_name in _BUILT_IN:
        raise VfsError(f"the built-in VFS type {type_name!r} cannot be unregistered")
    if BACKENDS.pop(type_name, None) is None:
        raise VfsError(f"unknown VFS type {type_name!r}")


def _backend(type_name: str) -> Backend:
    try:
        return BACKENDS[type_name]
    except KeyError:
        known = ", ".join(BACKENDS)
        raise VfsConfigError(f"unknown VFS type {type_name!r} (known: {known})") from None


def _load(where: str) -> Any:
    module_name, _, name = where.partition(":")
    return getattr(importlib.import_module(module_name), name)


def schema_class(type_name: str) -> type[VfsSchema]:
    """The schema of ``type_name``: its target grammar, fields and checks (no SDK needed).

    Raises:
        VfsError: for an unknown type.
    """
    schema: type[VfsSchema] = _load(_backend(type_name).schema)
    return schema


def backend_class(type_name: str) -> type[Vfs]:
    """The ``Vfs`` class serving ``type_name``, imported on first use.

    Raises:
        VfsError: for an unknown type.
        MissingExtra: when the backend's library is not installed.
    """
    backend = _backend(type_name)
    try:
        vfs: type[Vfs] = _load(backend.vfs)
    except ImportError as exc:
        if backend.extra is None or exc.name is None or exc.name.startswith("aft"):
            raise
        install = f"pip install 'aft[{backend.extra}]'"
        raise MissingExtra(
            f"the {type_name} VFS needs the {exc.name!r} package: {install}"
        ) from exc
    return vfs


def open_vfs(type_name: str, target: str, payload: dict[str, Any] | None = None) -> Vfs:
    """Open a VFS from a profile triple (type, target, payload)."""
    return backend_class(type_name).from_target(target, payload or {})
