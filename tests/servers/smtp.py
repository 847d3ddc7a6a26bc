"""A real SMTP server for the tests: aiosmtpd on 127.0.0.1, with STARTTLS and AUTH.

Fixture ``smtp_server`` (one per test) -> :class:`SmtpServer` with ``host``, ``port``,
``user``, ``password``, ``tls`` (``"starttls"``: STARTTLS is required before AUTH and
mail), ``cafile`` (the server's self-signed certificate, to trust) and ``messages``: each
message received, in order, as an ``email.message.EmailMessage``; ``envelopes`` holds
``(mail_from, rcpt_tos)`` for each. Fixture ``smtps_server``: the same with TLS from the
first byte (``tls == "tls"``, port-465 style).

:meth:`SmtpServer.settings` gives the instance settings that point aft at it.
"""

from __future__ import annotations

import email
import email.policy
import secrets
import socket
import ssl
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

HOST = "127.0.0.1"


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self._server = server

    async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:
        # Lines as Python writes them (\n): SMTP's \r\n is the wire's business.
        content = envelope.content.replace(b"\r\n", b"\n")
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self._server.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self._server.messages.append(message)
        return "250 Message accepted"


class _Controller(Controller):
    """Listens on a socket bound beforehand to a free port (no guessing, no race)."""

    def __init__(self, sock: socket.socket, handler: Any, **kwargs: Any) -> None:
        super().__init__(handler, hostname=HOST, port=sock.getsockname()[1], **kwargs)
        self._sock = sock

    def factory(self) -> Any:
        smtp = super().factory()
        if self.ssl_context is not None:
            # TLS from the first byte: AUTH is protected, though aiosmtpd (which only
            # knows of its own STARTTLS) cannot tell.
            smtp._auth_require_tls = False
        return smtp

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._sock, ssl=self.ssl_context)


class SmtpServer:
    """A running aiosmtpd server that demands TLS (STARTTLS or from the first byte), then
    AUTH (PLAIN or LOGIN)."""

    def __init__(self, certfile: Path, keyfile: Path, tls: str = "starttls") -> None:
        self.host = HOST
        self.tls = tls
        self.user = "mailer"
        self.password = "smtp-" + secrets.token_hex(8)
        self.cafile = certfile
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(certfile, keyfile)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, 0))
        self.port = sock.getsockname()[1]
        if tls == "starttls":
            modes: dict[str, Any] = {"tls_context": context, "require_starttls": True}
        else:
            modes = {"ssl_context": context}
        self._controller = _Controller(
            sock,
            _Handler(self),
            auth_required=True,
            auth_require_tls=True,
            authenticator=self._authenticate,
            **modes,
        )

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            self.user.encode(),
            self.password.encode(),
        )
        return AuthResult(success=ok, handled=False)

    def settings(self) -> dict[str, object]:
        """Instance settings for this server (the password goes in a secret named so)."""
        return {
            "smtp_host": self.host,
            "smtp_port": self.port,
            "smtp_tls": self.tls,
            "smtp_user": self.user,
            "smtp_password_secret": "smtp-password",
            "smtp_cafile": str(self.cafile),
        }

    def start(self) -> None:
        self._controller.start()  # returns once the server has answered a connection

    def stop(self) -> None:
        self._controller.stop()


@pytest.fixture
def smtp_server(tls_test_files: tuple[Path, Path]) -> Iterator[SmtpServer]:
    """A fresh SMTP server for one test (STARTTLS required, then AUTH).

    Its certificate is ``tls_test_files`` (from tests/servers/http.py).
    """
    server = SmtpServer(*tls_test_files)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtps_server(tls_test_files: tuple[Path, Path]) -> Iterator[SmtpServer]:
    """A fresh SMTP server for one test, TLS from the first byte, then AUTH."""
    server = SmtpServer(*tls_test_files, tls="tls")
    server.start()
    try:
        yield server
    finally:
        server.stop()
