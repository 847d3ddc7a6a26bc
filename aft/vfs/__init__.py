"""Virtual file systems: the ``Vfs`` interface, its backends, and the VFS Library.

Backends load lazily by type name, so ``import aft`` pulls in no SSH or cloud library.
Each backend module defines one ``Vfs`` subclass with a ``from_target(target, payload)``
classmethod that reads the profile triple described in the service contract.
"""

from __future__ import annotations

import importlib
from typing import Any

from aft.exceptions import MissingExtra, VfsError
from aft.vfs.base import Vfs

#: type name -> (module, class, extra that installs its library)
BACKENDS: dict[str, tuple[str, str, str | None]] = {
    "Disk": ("aft.vfs.disk", "DiskVfs", None),
    "SFTP": ("aft.vfs.sftp", "SftpVfs", "sftp"),
    "FTP": ("aft.vfs.ftp", "FtpVfs", None),
    "S3": ("aft.vfs.s3", "S3Vfs", "s3"),
    "Azure": ("aft.vfs.azure", "AzureVfs", "azure"),
    "GCP": ("aft.vfs.gcs", "GcsVfs", "gcp"),
}


def backend_class(type_name: str) -> type[Vfs]:
    """The ``Vfs`` class serving ``type_name``, imported on first use.

    Raises:
        VfsError: for an unknown type.
        MissingExtra: when the backend's library is not installed.
    """
    try:
        module_name, class_name, extra = BACKENDS[type_name]
    except KeyError:
        known = ", ".join(BACKENDS)
        raise VfsError(f"unknown VFS type {type_name!r} (known: {known})") from None
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if extra is None or exc.name is None or exc.name.startswith("aft"):
            raise
        raise MissingExtra(
            f"the {type_name} VFS needs the {exc.name!r} package: pip install 'aft[{extra}]'"
        ) from exc
    return getattr(module, class_name)


def open_vfs(type_name: str, target: str, payload: dict[str, Any] | None = None) -> Vfs:
    """Open a VFS from a profile triple (type, target, payload)."""
    return backend_class(type_name).from_target(target, payload or {})
