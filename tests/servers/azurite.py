"""A real Azure Blob service for the tests: Azurite (npm) on 127.0.0.1.

Fixture ``azurite_server`` (session-scoped) starts ``azurite-blob`` on a free port with
telemetry off and its data in a temporary folder, and polls until a container can be
made with the well-known development account. ``azurite-blob`` is taken from PATH, else
from the cache folder (``$AFT_TEST_CACHE`` or ``~/.cache/aft-test``), where
``scripts/install-test-deps`` installs it. Without it the tests fail with the reason: they
never skip, and they never download.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HOST = "127.0.0.1"
ACCOUNT = "devstoreaccount1"
#: Azurite's well-known development key (public, documented by Microsoft).
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
_START_TIMEOUT = 60.0


@dataclasses.dataclass
class AzuriteServer:
    """A running Azurite blob endpoint and its development account."""

    endpoint: str
    process: subprocess.Popen[bytes] = dataclasses.field(repr=False)
    account: str = ACCOUNT
    key: str = dataclasses.field(default=ACCOUNT_KEY, repr=False)

    @property
    def payload(self) -> dict[str, str]:
        return {"key": self.key}

    def target(self, container: str, prefix: str = "", endpoint: str | None = None) -> str:
        """An ``azure://`` target for ``container``/``prefix`` (optionally via another endpoint)."""
        where = f"{self.account}/{container}/{prefix.strip('/')}"
        return f"azure://{where}?endpoint={endpoint or self.endpoint}"

    def service(self) -> Any:
        """A ``BlobServiceClient`` with the account key (for checks behind the VFS)."""
        from azure.storage.blob import BlobServiceClient

        credential = {"account_name": self.account, "account_key": self.key}
        return BlobServiceClient(self.endpoint, credential=credential, retry_total=0)

    def new_container(self) -> str:
        """Create a container with a fresh unique name and return the name."""
        name = f"aft-test-{secrets.token_hex(6)}"
        with self.service() as service:
            service.create_container(name)
        return name

    def drop_container(self, name: str) -> None:
        with self.service() as service:
            service.delete_container(name)


def _cache_dir() -> Path:
    return Path(os.environ.get("AFT_TEST_CACHE") or Path.home() / ".cache" / "aft-test")


def azurite_binary() -> str:
    """``azurite-blob`` from PATH, else where ``scripts/install-test-deps`` put it.

    Never installs anything: a fixture only starts what is installed.
    """
    found = shutil.which("azurite-blob")
    if found:
        return found
    binary = _cache_dir() / "azurite" / "node_modules" / ".bin" / "azurite-blob"
    if not binary.exists():
        pytest.fail(
            f"Azurite is needed for the Azure tests but {binary} is missing and azurite-blob "
            "is not on PATH: run scripts/install-test-deps (with the same AFT_TEST_CACHE)"
        )
    return str(binary)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def start_azurite(directory: Path) -> AzuriteServer:
    """Start ``azurite-blob`` with its data in ``directory`` and wait until it serves."""
    port = _free_port()
    command = [
        azurite_binary(),
        "--blobHost",
        HOST,
        "--blobPort",
        str(port),
        "--location",
        str(directory),
    ]
    command += ["--skipApiVersionCheck", "--loose", "--silent", "--disableTelemetry"]
    log = directory / "azurite.log"
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=directory)
    server = AzuriteServer(f"http://{HOST}:{port}/{ACCOUNT}", process)
    _wait_until_ready(server, log)
    return server


def _wait_until_ready(server: AzuriteServer, log: Path) -> None:
    """Poll until a container can be created with the account key."""
    deadline = time.monotonic() + _START_TIMEOUT
    last: Exception | None = None
    while True:
        if server.process.poll() is not None:
            pytest.fail(f"Azurite exited with {server.process.returncode}: {_tail(log)}")
        try:
            server.drop_container(server.new_container())
            return
        except Exception as exc:  # not up yet: connection refused
            last = exc
        if time.monotonic() > deadline:
            stop_azurite(server)
            pytest.fail(
                f"Azurite at {server.endpoint} not ready after {_START_TIMEOUT:.0f}s: {last!r}"
            )
        time.sleep(0.1)


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


def stop_azurite(server: AzuriteServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(10)


@pytest.fixture(scope="session")
def azurite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzuriteServer]:
    """Azurite on 127.0.0.1 (endpoint, account, key, ``new_container()``)."""
    server = start_azurite(tmp_path_factory.mktemp("azurite"))
    try:
        yield server
    finally:
        stop_azurite(server)


@pytest.fixture
def azure_container(azurite_server: AzuriteServer) -> Iterator[str]:
    """A fresh, empty container for one test, dropped afterwards."""
    name = azurite_server.new_container()
    yield name
    with contextlib.suppress(Exception):
        azurite_server.drop_container(name)
