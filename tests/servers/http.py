"""A real HTTP server for the tests: ``http.server.ThreadingHTTPServer`` on 127.0.0.1.

Fixtures: ``http_server`` (one per test) -> :class:`HttpServer`; ``https_server`` the same
over TLS with a self-signed certificate (``https_server.cafile``); ``tls_test_files``
(session) that certificate and its key, for 127.0.0.1 and localhost::

    http_server.respond("/hook", 201, '{"id": 7}', {"X-Id": "7"})
    http_server.respond("/slow", 200, "late", delay=30)   # answers after 30 s (or at teardown)
    ...  # the code under test calls http_server.url + "/hook"
    method, path, headers, body = http_server.requests[0]

Every path answers 200 ``{"ok": true}`` (JSON) until told otherwise. ``headers`` of a
recorded request is an ``http.client.HTTPMessage`` (case-insensitive ``headers["x-id"]``);
``body`` is bytes.
"""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from http.client import HTTPMessage
from pathlib import Path
from typing import NamedTuple

import pytest

HOST = "127.0.0.1"
VERBS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


class Answer(NamedTuple):
    status: int
    body: bytes
    headers: dict[str, str]
    delay: float


class HttpServer:
    """A running server: where it is, what it received, and how it answers."""

    def __init__(self, tls: tuple[Path, Path] | None = None) -> None:
        self.requests: list[tuple[str, str, HTTPMessage, bytes]] = []
        self._answers: dict[str, Answer] = {}
        self._arrived = threading.Condition()
        self._stopping = threading.Event()
        self._server = http.server.ThreadingHTTPServer((HOST, 0), _handler(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://{HOST}:{self.port}"
        self.cafile: Path | None = None
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self.url = f"https://{HOST}:{self.port}"
            self.cafile = tls[0]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def respond(
        self,
        path: str,
        status: int,
        body: str | bytes,
        headers: dict[str, str] | None = None,
        *,
        delay: float = 0,
    ) -> None:
        """Answer requests for ``path`` (with or without its query) like this from now on.

        ``delay`` holds the answer back that many seconds (cut short at teardown).
        """
        data = body.encode() if isinstance(body, str) else body
        self._answers[path] = Answer(status, data, dict(headers or {}), delay)

    def wait_for_requests(self, count: int, timeout: float = 10) -> None:
        """Block until ``count`` requests have arrived; AssertionError after ``timeout``."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"{len(self.requests)} of {count} requests arrived")

    def answer_for(self, path: str) -> Answer:
        default = Answer(200, b'{"ok": true}', {"Content-Type": "application/json"}, 0)
        return self._answers.get(path) or self._answers.get(path.split("?")[0]) or default

    def hold(self, seconds: float) -> None:
        """Wait ``seconds`` (a delayed answer), or less when the server stops."""
        if seconds:
            self._stopping.wait(seconds)

    def record(self, method: str, path: str, headers: HTTPMessage, body: bytes) -> None:
        with self._arrived:
            self.requests.append((method, path, headers, body))
            self._arrived.notify_all()

    def start(self) -> None:
        # The socket listens from the constructor on: connections queue until served.
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()  # releases delayed answers
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def _handler(server: HttpServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def handle_any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            server.record(self.command, self.path, self.headers, body)
            answer = server.answer_for(self.path)
            server.hold(answer.delay)
            try:
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answer.body)
            except OSError:
                pass  # the client went away (a timeout or a halt in the test)

        def log_message(self, format: str, *args: object) -> None:
            pass

    for verb in VERBS:
        setattr(Handler, f"do_{verb}", Handler.handle_any)
    return Handler


def self_signed(folder: Path) -> tuple[Path, Path]:
    """Write a self-signed certificate for 127.0.0.1 and localhost, and its key (PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aft test server")])
    now = datetime.datetime.now(datetime.timezone.utc)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(HOST)), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certfile, keyfile


@pytest.fixture(scope="session")
def tls_test_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate and its key (PEM files) for 127.0.0.1 and localhost."""
    return self_signed(tmp_path_factory.mktemp("test-tls"))


def _serve(server: HttpServer) -> Iterator[HttpServer]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def http_server() -> Iterator[HttpServer]:
    """A fresh HTTP server for one test."""
    yield from _serve(HttpServer())


@pytest.fixture
def https_server(tls_test_files: tuple[Path, Path]) -> Iterator[HttpServer]:
    """A fresh HTTPS server for one test; trust ``https_server.cafile`` to reach it."""
    yield from _serve(HttpServer(tls=tls_test_files))
