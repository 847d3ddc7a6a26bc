"""A GCS emulator for the tests: ``gcp-storage-emulator`` (PyPI) on 127.0.0.1.

Fixture ``gcs_server`` (session-scoped) runs the emulator as a separate process on a
free port, in memory, and polls until a bucket can be made in it. The emulator speaks
the JSON API that ``google-cloud-storage`` uses: multipart and resumable uploads,
listings with prefix and delimiter, copy and rewrite, delete, MD5 hashes. It accepts
any (or no) credentials. A missing emulator fails the tests with the reason: it never
skips them.

One fix is applied at start (see :data:`_LAUNCHER`): the emulator stores a request body
that a dropped connection cut short, where a real server discards the broken request.
Without it a resumable upload retried after a cut connection would be refused.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HOST = "127.0.0.1"
_START_TIMEOUT = 30.0
#: Runs the emulator's CLI after making it drop a request whose body arrived short.
_LAUNCHER = """
import sys
from gcp_storage_emulator import __main__ as cli, server

read_body = server._read_raw_data

def read_whole_body(handler):
    data = read_body(handler)
    expected = handler.headers.get("Content-Length")
    if expected and len(data or b"") < int(expected):
        raise ConnectionResetError("request body cut short")
    return data

server._read_raw_data = read_whole_body
cli.main(sys.argv[1:])
"""


@dataclasses.dataclass
class GcsServer:
    """A running GCS emulator (anonymous access)."""

    endpoint: str
    process: subprocess.Popen[bytes] = dataclasses.field(repr=False)

    def target(self, bucket: str, prefix: str = "", endpoint: str | None = None) -> str:
        """A ``gs://`` target for ``bucket``/``prefix`` (optionally via another endpoint)."""
        return f"gs://{bucket}/{prefix.strip('/')}?endpoint={endpoint or self.endpoint}"

    def client(self) -> Any:
        """An anonymous ``google.cloud.storage.Client`` (for checks behind the VFS)."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(
            project="aft-test",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": self.endpoint},
        )

    def new_bucket(self) -> str:
        """Create a bucket with a fresh unique name and return the name."""
        name = f"aft-test-{secrets.token_hex(6)}"
        with self.client() as client:
            client.create_bucket(name, retry=None, timeout=5)
        return name

    def drop_bucket(self, name: str) -> None:
        """Delete a bucket and everything in it.

        The emulator cannot cancel a resumable upload and keeps a bucket that still has
        an abandoned one: such a bucket stays (in memory, until the session ends).
        """
        from google.api_core.exceptions import Conflict

        with self.client() as client, contextlib.suppress(Conflict):
            client.bucket(name).delete(force=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def start_gcs_emulator(directory: Path) -> GcsServer:
    """Start the emulator (logging into ``directory``) and wait until it serves."""
    if importlib.util.find_spec("gcp_storage_emulator") is None:
        pytest.fail(
            f"the GCS tests need an emulator missing from {sys.executable}: "
            "pip install gcp-storage-emulator"
        )
    port = _free_port()
    command = [sys.executable, "-c", _LAUNCHER, "start", "--host", HOST, "--port", str(port)]
    command += ["--in-memory", "--quiet"]
    log = directory / "gcs-emulator.log"
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=directory)
    server = GcsServer(f"http://{HOST}:{port}", process)
    _wait_until_ready(server, log)
    return server


def _wait_until_ready(server: GcsServer, log: Path) -> None:
    """Poll until a bucket can be created and dropped."""
    deadline = time.monotonic() + _START_TIMEOUT
    last: Exception | None = None
    while True:
        if server.process.poll() is not None:
            pytest.fail(
                f"the GCS emulator exited with {server.process.returncode}: "
                + log.read_text(errors="replace")[-3000:]
            )
        try:
            server.drop_bucket(server.new_bucket())
            return
        except Exception as exc:  # not up yet: connection refused
            last = exc
        if time.monotonic() > deadline:
            stop_gcs_emulator(server)
            pytest.fail(
                f"the GCS emulator at {server.endpoint} down after {_START_TIMEOUT:.0f}s: {last!r}"
            )
        time.sleep(0.1)


def stop_gcs_emulator(server: GcsServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(10)


@pytest.fixture(scope="session")
def gcs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GcsServer]:
    """The GCS emulator on 127.0.0.1 (endpoint, ``new_bucket()``)."""
    server = start_gcs_emulator(tmp_path_factory.mktemp("gcs"))
    try:
        yield server
    finally:
        stop_gcs_emulator(server)


@pytest.fixture
def gcs_bucket(gcs_server: GcsServer) -> Iterator[str]:
    """A fresh, empty bucket for one test, dropped afterwards."""
    name = gcs_server.new_bucket()
    yield name
    gcs_server.drop_bucket(name)
