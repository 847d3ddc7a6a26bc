"""Real FTP/FTPS servers for the tests: pyftpdlib, each in its own process on 127.0.0.1.

Fixtures (all session-scoped):

- ``ftp_tls``: a test CA and a server certificate it signed (for 127.0.0.1 only).
- ``ftp_server``: plain FTP that also offers explicit TLS (``AUTH TLS``).
- ``ftps_implicit_server``: implicit TLS (TLS from the first byte, port-990 style);
  it refuses unprotected data connections.
- ``ftp_server_factory``: start more servers, e.g. one a test kills.

A test trusts the certificate by adding ``cafile=<FtpServer.cafile>`` to the target
(see :meth:`FtpServer.target`). Run directly, this file is the server process itself.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import ipaddress
import os
import secrets
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

HOST = "127.0.0.1"
_PASSWORD_ENV = "AFT_TEST_FTP_PASSWORD"
_START_TIMEOUT = 20.0


@dataclasses.dataclass(frozen=True)
class TlsFiles:
    """PEM files: the CA to trust, and the server's certificate and key."""

    cafile: Path
    certfile: Path
    keyfile: Path


@dataclasses.dataclass
class FtpServer:
    """A running pyftpdlib server and how to reach it.

    Attributes:
        host, port: where it listens.
        user, password: the one account, whose home is ``root``.
        root: the directory on this machine the account sees as ``/``.
        mode: ``"explicit"`` (plain FTP, TLS on request), ``"implicit"``, or ``"plain"``.
        cafile: the CA certificate (PEM) that signed the server's certificate.
    """

    host: str
    port: int
    user: str
    password: str = dataclasses.field(repr=False)
    root: Path
    mode: str
    cafile: Path
    process: subprocess.Popen[bytes] = dataclasses.field(repr=False)

    @property
    def payload(self) -> dict[str, str]:
        return {"pass": self.password}

    def target(self, base: str = "/", tls: str | None = None, **options: str) -> str:
        """An ``ftp://`` target; TLS targets trust :attr:`cafile` unless options say otherwise."""
        tls = tls or ("implicit" if self.mode == "implicit" else "none")
        query = {"tls": tls, **({"cafile": str(self.cafile)} if tls != "none" else {}), **options}
        path = urllib.parse.quote(base if base.startswith("/") else "/" + base)
        return f"ftp://{self.user}@{self.host}:{self.port}{path}?{urllib.parse.urlencode(query)}"

    def stop(self) -> None:
        """Kill the server at once (as a crash would)."""
        self.process.kill()
        self.process.wait(10)


def make_tls_files(directory: Path) -> TlsFiles:
    """Write a fresh test CA and a server certificate for 127.0.0.1 signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aft test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())

    def builder(
        subject: x509.Name, public_key: ec.EllipticCurvePublicKey
    ) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        )

    ca = (
        builder(ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert = (
        builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)]), key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    files.cafile.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


def start_ftp_server(
    root: Path,
    tls: TlsFiles,
    mode: str,
    log: Path,
    *,
    port: int = 0,
    rate: int = 0,
    password: str = "",
) -> FtpServer:
    """Start a server process serving ``root`` and wait until it sends its banner.

    Args:
        mode: "explicit" (plain FTP plus AUTH TLS), "implicit", or "plain" (no TLS at all).
        port: the port to listen on; 0 for a free one.
        rate: with "plain", throttle data connections to this many bytes/s (0: no limit).
        password: the account's password; "" for a fresh random one.
    """
    user, password = "aft", password or secrets.token_urlsafe(12)
    command = [sys.executable, __file__, "--root", str(root), "--user", user, "--mode", mode]
    command += [
        "--cert",
        str(tls.certfile),
        "--key",
        str(tls.keyfile),
        "--port",
        str(port),
        "--rate",
        str(rate),
    ]
    with log.open("ab") as err:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=err, env={**os.environ, _PASSWORD_ENV: password}
        )
    assert process.stdout is not None
    line = process.stdout.readline()  # the server prints its port once it listens
    process.stdout.close()
    if not line.strip().isdigit():
        process.kill()
        pytest.fail(f"pyftpdlib did not start ({mode}): {_tail(log)}")
    server = FtpServer(HOST, int(line), user, password, root, mode, tls.cafile, process)
    _wait_for_banner(server, log)
    return server


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:]


def _wait_for_banner(server: FtpServer, log: Path) -> None:
    context = ssl.create_default_context(cafile=str(server.cafile))
    deadline = time.monotonic() + _START_TIMEOUT
    while True:
        if server.process.poll() is not None:
            pytest.fail(f"pyftpdlib exited with {server.process.returncode}: {_tail(log)}")
        try:
            with socket.create_connection((server.host, server.port), timeout=2) as raw:
                sock = (
                    context.wrap_socket(raw, server_hostname=server.host)
                    if server.mode == "implicit"
                    else raw
                )
                if sock.recv(1024).startswith(b"220"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            pytest.fail(
                f"pyftpdlib on port {server.port} sent no banner within {_START_TIMEOUT:.0f}s"
            )
        time.sleep(0.05)


@pytest.fixture(scope="session")
def ftp_tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A test CA and a server certificate for 127.0.0.1."""
    return make_tls_files(tmp_path_factory.mktemp("ftp-tls"))


@pytest.fixture(scope="session")
def ftp_server_factory(
    tmp_path_factory: pytest.TempPathFactory, ftp_tls: TlsFiles
) -> Iterator[Callable[..., FtpServer]]:
    """``start(mode, **options)`` starts another server; see :func:`start_ftp_server`.

    Without ``root=`` each server gets a fresh root directory.
    """
    started: list[FtpServer] = []

    def start(mode: str = "explicit", root: Path | None = None, **options: Any) -> FtpServer:
        root = root or tmp_path_factory.mktemp(f"ftp-{mode}-root")
        log = root.parent / f"{root.name}.log"
        server = start_ftp_server(root, ftp_tls, mode, log, **options)
        started.append(server)
        return server

    yield start
    for server in started:
        if server.process.poll() is None:
            server.process.terminate()
            try:
                server.process.wait(10)
            except subprocess.TimeoutExpired:
                server.stop()


@pytest.fixture(scope="session")
def ftp_server(ftp_server_factory: Callable[..., FtpServer]) -> FtpServer:
    """Plain FTP on 127.0.0.1 that also offers explicit TLS."""
    return ftp_server_factory("explicit")


@pytest.fixture(scope="session")
def ftps_implicit_server(ftp_server_factory: Callable[..., FtpServer]) -> FtpServer:
    """Implicit-TLS FTPS on 127.0.0.1."""
    return ftp_server_factory("implicit")


# ---- the server process ---------------------------------------------------------------


def _serve() -> None:
    import logging

    from pyftpdlib.authorizers import DummyAuthorizer  # type: ignore[import-untyped]
    from pyftpdlib.handlers import (  # type: ignore[import-untyped]
        FTPHandler,
        ThrottledDTPHandler,
        TLS_FTPHandler,
    )
    from pyftpdlib.servers import FTPServer  # type: ignore[import-untyped]

    parser = argparse.ArgumentParser()
    for option in ("--root", "--user", "--mode", "--cert", "--key", "--port", "--rate"):
        parser.add_argument(option, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    authorizer = DummyAuthorizer()
    authorizer.add_user(args.user, os.environ[_PASSWORD_ENV], args.root, perm="elradfmwMT")

    class ExplicitHandler(TLS_FTPHandler):
        certfile, keyfile = args.cert, args.key

    class ImplicitHandler(ExplicitHandler):
        tls_control_required = tls_data_required = True

        def handle(self) -> None:
            self.secure_connection(self.ssl_context)  # TLS first; the banner follows

        def handle_ssl_established(self) -> None:
            TLS_FTPHandler.handle(self)

    class PlainHandler(FTPHandler):
        if int(args.rate):

            class dtp_handler(ThrottledDTPHandler):  # noqa: N801 - pyftpdlib's attribute name
                read_limit = write_limit = int(args.rate)

    handler: Any = {
        "implicit": ImplicitHandler,
        "explicit": ExplicitHandler,
        "plain": PlainHandler,
    }[args.mode]
    handler.authorizer = authorizer
    handler.auth_failed_timeout = 0.1  # not 3 s: tests log in wrongly on purpose
    server = FTPServer((HOST, int(args.port)), handler)
    print(server.address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    _serve()
