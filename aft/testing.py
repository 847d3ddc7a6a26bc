"""Testing with aft: pytest fixtures, shipped as a pytest plugin, and the Memory VFS.

Installed with aft, the plugin is active in every pytest run (entry point ``pytest11``;
``pytest -p no:aft.testing`` turns it off). Its fixtures:

``aft_instance``
    an :class:`~aft.Instance` in a fresh temporary home, with the ``Memory`` VFS type
    registered for the test (``memory://NAME``: files in memory, shared by name, gone
    after the test; see :mod:`aft.vfs.memory`).
``aft_service``
    that instance's whole service (REST API, console, workers), embedded on
    ``127.0.0.1``, a free port, plain HTTP, with an admin API key:
    an :class:`EmbeddedService`. It needs ``aft[server]``.

A test of a transfer script::

    def test_report_is_archived(aft_instance):
        aft_instance.vfs.add("partner", "Memory", "memory://partner")
        partner = aft_instance.vfs.open("partner")
        partner.makedirs("/out")
        partner.write_bytes("/out/report.csv", b"id,total\\n1,9.50\\n")
        result = aft_instance.executor().run(
            'GetVFS("partner").CopyToVFS("/out/report.csv", GetVFS("partner"), "/archive/r.csv")'
        )
        assert result.ok, result.error
        assert partner.read_bytes("/archive/r.csv") == b"id,total\\n1,9.50\\n"
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import pytest

from aft.exceptions import MissingExtra
from aft.instance import Instance
from aft.vfs import BACKENDS, register_backend, unregister_backend
from aft.vfs.memory import MemoryVfs

if TYPE_CHECKING:
    from aft.client import AftClient
    from aft.server.service import Service

__all__ = ["EmbeddedService", "MemoryVfs", "aft_instance", "aft_service", "memory_vfs_type"]


class EmbeddedService(NamedTuple):
    """The service an ``aft_service`` fixture runs.

    Attributes:
        service: the running :class:`~aft.server.service.Service`.
        instance: the instance it serves (the ``aft_instance`` of the same test).
        url: where it listens: ``http://127.0.0.1:PORT``.
        api_key: an admin API key, allowed from 127.0.0.1.
    """

    service: Service
    instance: Instance
    url: str
    api_key: str

    def client(self) -> AftClient:
        """A REST client of the service with the fixture's key (close it, or use ``with``)."""
        from aft.client import AftClient

        return AftClient(self.url, api_key=self.api_key)


@pytest.fixture
def memory_vfs_type() -> Iterator[type[MemoryVfs]]:
    """The ``Memory`` VFS type, registered for one test; its files are dropped after it."""
    registered = "Memory" not in BACKENDS
    if registered:
        register_backend("Memory", MemoryVfs)
    try:
        yield MemoryVfs
    finally:
        MemoryVfs.forget()
        if registered:
            unregister_backend("Memory")


@pytest.fixture
def aft_instance(tmp_path: Path, memory_vfs_type: type[MemoryVfs]) -> Iterator[Instance]:
    """An :class:`~aft.Instance` in a fresh home under the test's ``tmp_path``."""
    with Instance(tmp_path / "aft-home") as instance:
        yield instance


@pytest.fixture
def aft_service(aft_instance: Instance) -> Iterator[EmbeddedService]:
    """``aft_instance``'s service on 127.0.0.1, a free port, HTTP, with an admin key."""
    try:
        from aft.server.service import Service
    except ImportError as exc:
        raise MissingExtra(
            f"the aft_service fixture needs the service's {exc.name!r} package:"
            " pip install 'aft[server]'"
        ) from exc

    _, key = aft_instance.api_keys.create("aft-testing", allow=["127.0.0.1"], scope="admin")
    with Service(aft_instance, bind="127.0.0.1", port=0, tls=False) as service:
        yield EmbeddedService(service, aft_instance, service.url, key)
