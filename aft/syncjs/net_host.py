"""The Python side of HttpCli, SendMail and the PGP helpers (see net.js).

An HttpCli builds its request in JS (a hidden plain object, :class:`HttpRequest`); ``Do``
sends that object as its receiver, and :meth:`HttpCli.Do` sends the request.

Where the contract leaves room, this module chooses:

- A request that gets no answer (bad URL, refused connection, TLS failure, timeout, halt)
  gives a response whose ``IsValid()`` is false; the reason is logged at error level and
  is its ``ErrorMsg()``. An answer of any status is valid; a non-2xx one has ``Ok()``
  false and ``ErrorMsg()`` like ``HTTP 404 Not Found`` (not logged: the script decides).
- ``Timeout(seconds)`` limits the whole exchange, body included (default 60; 0 for no
  limit). Redirects are followed (10 at most); the body is decoded (gzip...) and capped
  at :data:`MAX_BODY` bytes. Certificates are verified unless ``InsecureSkipVerify(true)``.
- Each request runs on a helper thread while the script thread waits on it and on the
  halt signal; a halt or the timeout shuts the request's sockets down, so it ends at once.
- ``SendMail`` reads the SMTP settings when it is called; the password comes from the
  secret that ``smtp_password_secret`` names. ``attachments`` is ``""``, a comma-separated
  list of paths, or an array of paths.
- The credential of an ``Authorization`` header (``Bearer(token)``...) is masked in the
  job log like a secret.
- ``PGPDecryptFile(in, out, name)``: the armored private key is the secret ``name``; a
  key protected by a passphrase needs it in the secret ``name.passphrase``.

urllib3, smtplib, pysequoia (and socket) are imported on first use, off the start-up path
of ``aft run``.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aft._waiting import wait_readable
from aft.exceptions import AftError
from aft.models import LogLevel
from aft.syncjs.declarations import (
    BadArgument,
    HostObject,
    ScriptRecord,
    bind,
    bind_methods,
    host_function,
)
from aft.syncjs.engine import HostFunction, HostTypeError
from aft.syncjs.host import HaltSignal, io_call

if TYPE_CHECKING:
    import socket

    import urllib3

    from aft.mail import MailSettings
    from aft.settings import Settings

#: The largest response body HttpCli accepts.
MAX_BODY = 64 * 1024 * 1024
DEFAULT_TIMEOUT = 60.0
_METHOD = re.compile(r"[A-Za-z]+")
_CHARSET = re.compile(r"charset=[\"']?([\w.:-]+)", re.IGNORECASE)
_ERROR = LogLevel.ERROR.value
#: Request headers whose value (after the scheme, such as ``Bearer``) is a credential.
_CREDENTIAL_HEADERS = ("authorization", "proxy-authorization")


class _Failed(Exception):
    """A request that got no usable answer; the text says why."""


class HttpRequest(ScriptRecord):
    """An HttpCli's request as its setters built it, and how a new HttpCli starts."""

    url: str = ""
    timeout: float = DEFAULT_TIMEOUT
    headers: list[list[str]] = []  # [name, value] pairs, in the order set
    body: str | None = None
    insecure: bool = False


class HttpCli(HostObject):
    """A script's HttpCli at the moment it sends its request.

    Args:
        net: the run's network host.
        request: the request the script built.
    """

    def __init__(self, net: NetHost, request: HttpRequest) -> None:
        self.net = net
        self.request = request

    @host_function("HttpCli.Do")
    def Do(self, verb: str) -> dict[str, Any]:
        """Send the request with the method ``verb``.

        Returns ``{valid, status, headers: [[name, value]...], body, error}``.
        """
        if not _METHOD.fullmatch(verb):
            raise BadArgument(f"{verb!r} is not an HTTP method", argument="verb")
        for pair in self.request.headers:
            if len(pair) != 2:
                raise HostTypeError("HttpCli.Header(name, value): give a name and a value")
        return self.net.send(verb.upper(), self.request)


class NetHost(HostObject):
    """Host functions for HTTP, mail and PGP in one script run.

    Args:
        log: ``log(level, text)`` into the job log (masked there).
        halt: the run's halt signal; it aborts a waiting request.
        mask: hides revealed secret values in a text (for ``ErrorMsg()``).
        reveal: registers a value that must be masked from now on.
        secret: looks up a secret's plaintext by name (None when missing).
        mail: the SMTP settings, or the instance settings to read them from when a
            script sends mail (None: mail is not configured).
    """

    def __init__(
        self,
        *,
        log: Callable[[str, str], None],
        halt: HaltSignal,
        mask: Callable[[str], str],
        reveal: Callable[[str], None],
        secret: Callable[[str], str | None],
        mail: MailSettings | Settings | None = None,
    ) -> None:
        self.log = log
        self.halt = halt
        self.mask = mask
        self._reveal = reveal
        self._secret = secret
        self._mail = mail

    def functions(self) -> dict[str, HostFunction]:
        """This host's functions and HttpCli's, for the engine's table."""
        return {**bind(self), **bind_methods(HttpCli, self._http_cli)}

    def _http_cli(self, request: Any) -> HttpCli:
        """The HttpCli whose request (its hidden ``_q``) JS sent as the receiver."""
        return HttpCli(self, HttpRequest.read(request, "HttpCli"))

    def close(self) -> None:
        """Nothing stays open between calls; here for symmetry with the other hosts."""

    # ---- HttpCli ---------------------------------------------------------------------

    def send(self, method: str, request: HttpRequest) -> dict[str, Any]:
        """Send ``request`` with ``method``; a request that gets no answer is logged."""
        url, timeout = request.url, float(request.timeout)
        for name, value in request.headers:
            if name.lower() in _CREDENTIAL_HEADERS:  # a token is a secret: masked from now on
                self._reveal(value.partition(" ")[2].strip() or value)
        shown = self.mask(url)
        try:
            answer = self._exchange(
                method, url, request.headers, request.body, timeout, request.insecure
            )
        except _Failed as exc:
            reason = self.mask(str(exc))
            self.log(_ERROR, f"HttpCli: {method} {shown}: {reason}")
            return {"valid": False, "status": 0, "headers": [], "body": "", "error": reason}
        status, size = answer["status"], answer.pop("size")
        self.log(LogLevel.DEBUG.value, f"HttpCli: {method} {shown}: {status} ({size} bytes)")
        return answer

    def _exchange(
        self,
        method: str,
        url: str,
        headers: list[list[str]],
        body: str | None,
        timeout: float,
        insecure: bool,
    ) -> dict[str, Any]:
        scheme = url.partition("://")[0].lower() if "://" in url else ""
        if scheme not in ("http", "https"):
            raise _Failed("the URL must start with http:// or https://" if url else "no URL set")
        exchange = _Exchange((method, url, headers, body, timeout, insecure))
        deadline = time.monotonic() + timeout if timeout > 0 else None
        exchange.start()
        try:
            while not exchange.finished.is_set():
                left = None if deadline is None else deadline - time.monotonic()
                if self.halt.is_set() or (left is not None and left <= 0):
                    exchange.abort()
                    exchange.join(1)  # sockets shut down: it ends now (unless still connecting)
                    late = f"timed out after {timeout:g}s"
                    raise _Failed("halted" if self.halt.is_set() else late)
                wait_readable([exchange.done_fd, self.halt.fileno()], left)
        finally:
            exchange.close()
        if exchange.error is not None:
            raise exchange.error
        return exchange.answer

    # ---- SendMail ----------------------------------------------------------------------

    @host_function("SendMail")
    def SendMail(
        self, from_: str, to: str, subject: str, body: str, attachments: str | list[str] = ""
    ) -> bool:
        if isinstance(attachments, str):
            files = [p.strip() for p in attachments.split(",") if p.strip()]
        else:
            files = attachments
        from aft.mail import send_mail

        try:
            settings = self._mail_settings()
            password = None
            if settings.host and settings.user:
                password = self._mail_password(settings)
            sent_to = send_mail(settings, password, from_, to, subject, body, files)
        except AftError as exc:
            self.log(_ERROR, f"SendMail: {exc}")
            return False
        self.log(LogLevel.INFO.value, f"SendMail: sent {subject!r} to {', '.join(sent_to)}")
        return True

    def _mail_settings(self) -> MailSettings:
        from aft.mail import MailSettings

        if self._mail is None:
            return MailSettings()
        if isinstance(self._mail, MailSettings):
            return self._mail
        return MailSettings.from_settings(self._mail.all())

    def _mail_password(self, settings: MailSettings) -> str:
        from aft.mail import MailError

        name = settings.password_secret
        if not name:
            raise MailError("smtp_user is set but smtp_password_secret (a secret's name) is not")
        password = self._secret(name)
        if password is None:
            raise MailError(f"no secret named {name!r} (the smtp_password_secret setting)")
        self._reveal(password)
        return password

    # ---- PGP ---------------------------------------------------------------------------

    @host_function("PGPEncryptFile")
    @io_call(False)
    def PGPEncryptFile(self, in_: str, out: str, public_key_path_or_armored: str) -> bool:
        from aft.pgp import encrypt_file

        encrypt_file(in_, out, public_key_path_or_armored)
        self.log(LogLevel.INFO.value, f"PGPEncryptFile: {in_} -> {out}")
        return True

    @host_function("PGPDecryptFile")
    @io_call(False)
    def PGPDecryptFile(self, in_: str, out: str, private_key_secret_name: str) -> bool:
        from aft.pgp import PgpError, PgpPassphraseError, decrypt_file

        name = private_key_secret_name
        key = self._secret(name)
        if key is None:
            raise PgpError(f"no secret named {name!r} (it should hold the armored private key)")
        passphrase = self._secret(f"{name}.passphrase")
        for value in (key, passphrase):
            if value:
                self._reveal(value)
        try:
            decrypt_file(in_, out, key, passphrase)
        except PgpPassphraseError as exc:
            raise PgpError(f"{exc} (the secret {name}.passphrase holds it)") from None
        self.log(LogLevel.INFO.value, f"PGPDecryptFile: {in_} -> {out}")
        return True


class _Exchange(threading.Thread):
    """One HTTP exchange on its own thread; :meth:`abort` shuts its sockets down."""

    def __init__(self, request: tuple[str, str, list[list[str]], str | None, float, bool]) -> None:
        super().__init__(name="aft-http", daemon=True)
        self.request = request
        self.sockets: list[socket.socket] = []
        self.aborted = False
        self.answer: dict[str, Any] = {}
        self.error: _Failed | None = None
        self.finished = threading.Event()
        self._done_r, self._done_w = os.pipe()

    @property
    def done_fd(self) -> int:
        return self._done_r

    def track(self, sock: socket.socket) -> None:
        self.sockets.append(sock)
        if self.aborted:
            _shut(sock)

    def abort(self) -> None:
        self.aborted = True
        for sock in list(self.sockets):
            _shut(sock)

    def close(self) -> None:
        """Close the waiting side (the thread closes its own side when it ends)."""
        os.close(self._done_r)

    def run(self) -> None:
        try:
            self.answer = self._send(*self.request)
        except _Failed as exc:
            self.error = exc
        except Exception as exc:  # urllib3's errors: no answer arrived
            reason = _describe(exc)
            if reason == "timed out":  # urllib3's own limit, a moment before the deadline's
                reason = f"timed out after {self.request[4]:g}s"
            self.error = _Failed(reason)
        finally:
            self.finished.set()
            try:
                os.write(self._done_w, b"!")
            except OSError:
                pass  # nobody waits any more
            os.close(self._done_w)

    def _send(
        self,
        method: str,
        url: str,
        headers: list[list[str]],
        body: str | None,
        timeout: float,
        insecure: bool,
    ) -> dict[str, Any]:
        import urllib3

        from aft.syncjs._urllib3_adapter import pool_manager

        pools = pool_manager(_track, verify=not insecure)
        sent = {"User-Agent": "aft"}
        for name, value in headers:
            sent = {k: v for k, v in sent.items() if k.lower() != name.lower()}
            sent[name] = value
        limit = urllib3.Timeout(connect=timeout, read=timeout) if timeout > 0 else None
        retries = urllib3.Retry(
            total=None, connect=0, read=0, other=0, status=0, redirect=10, raise_on_redirect=False
        )
        try:
            response = pools.request(
                method,
                url,
                body=None if body is None else body.encode("utf-8"),
                headers=sent,
                timeout=limit,
                retries=retries,
                preload_content=False,
            )
            data = bytearray()
            for chunk in response.stream(1024 * 1024):
                data += chunk
                if len(data) > MAX_BODY:
                    raise _Failed(f"the response body is larger than {MAX_BODY >> 20} MiB")
            response.release_conn()
        finally:
            pools.clear()
        return {
            "valid": True,
            "status": response.status,
            "headers": [[k, v] for k, v in response.headers.items()],
            "body": _text(bytes(data), response.headers.get("Content-Type", "")),
            "size": len(data),
            "error": "" if 200 <= response.status < 300 else _status_line(response),
        }


def _track(sock: socket.socket) -> None:
    """Hand a new socket to the current :class:`_Exchange`, so that abort shuts it down."""
    thread = threading.current_thread()
    if isinstance(thread, _Exchange):
        thread.track(sock)


def _shut(sock: socket.socket) -> None:
    import socket

    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


def _status_line(response: urllib3.BaseHTTPResponse) -> str:
    return f"HTTP {response.status} {response.reason or ''}".strip()


def _text(data: bytes, content_type: str) -> str:
    found = _CHARSET.search(content_type)
    try:
        return data.decode(found.group(1) if found else "utf-8", "replace")
    except LookupError:
        return data.decode("utf-8", "replace")


def _describe(exc: Exception) -> str:
    """One line for a urllib3 failure: the innermost reason, without object reprs."""
    reason: Any = exc
    while getattr(reason, "reason", None) is not None:
        reason = reason.reason
    text = str(reason).strip()
    if "timed out" in text.lower():
        return "timed out"
    if "Connection refused" in text:
        return "connection refused"
    # urllib3 names the connection first: "<...HTTPConnection object at 0x...>: " or
    # "HTTPConnection(host='h', port=80): "; OpenSSL adds "(_ssl.c:1006)".
    text = re.sub(r"^(<[^>]*>|\w+\(host=[^)]*\)): ", "", text)
    text = re.sub(r" \(_ssl\.c:\d+\)", "", text)
    return text.splitlines()[0] if text else type(exc).__name__
