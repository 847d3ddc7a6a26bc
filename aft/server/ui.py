"""The web administration console: ``add_ui(api)``.

It serves the single page at ``/`` and its assets from the package (``static/``: no
build step, nothing fetched from elsewhere), and the few JSON routes a browser needs
besides the REST API, under ``/ui/``: the session (setup wizard, sign in, sign out) and
the accounts. The page then calls the same ``/v1`` routes as any client, signed in by
its session instead of an API key, with its account's role (read afresh on every
request), and hides or disables what that role may not do.

Security, in short:

- The session cookie is ``HttpOnly``, ``SameSite=Strict`` and, over HTTPS, ``Secure``
  with the ``__Host-`` prefix. Only its hash is stored (:class:`AccountStore`).
- Every change (any method but GET and HEAD) made with a session must carry the
  session's CSRF token in ``X-CSRF-Token``; the page reads it from ``/ui/session``.
- Sign-in attempts are limited per client address (:class:`AttemptLimiter`).
- The setup wizard creates the first administrator; from an address other than the
  machine's own it also asks for the one-time code aft writes to ``ui-setup-code`` in
  the instance home, so nobody else on the network can claim a fresh instance.
- Pages are sent with a strict Content-Security-Policy: scripts and styles from the
  service itself only.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
from pathlib import Path
from typing import Any

import bottle

from aft._serde import to_json
from aft._version import __version__
from aft.accounts import Account, AccountError, AccountStore, Session
from aft.exceptions import AftError, AuthError, BadRequest, Forbidden
from aft.roles import grants
from aft.server.http import (
    Api,
    AttemptLimiter,
    Caller,
    header,
    is_https,
    is_loopback,
    json_body,
    only,
    remote_addr,
    set_security_headers,
)
from aft.server.tls import CERT_NAME, fingerprint

log = logging.getLogger("aft.server.ui")

STATIC = Path(__file__).with_name("static")
COOKIE_TLS = "__Host-aft_session"
COOKIE_PLAIN = "aft_session"
CSRF_HEADER = "X-CSRF-Token"
SETUP_CODE_NAME = "ui-setup-code"
_SAFE_METHODS = frozenset({"GET", "HEAD"})


def _cookie_name() -> str:
    return COOKIE_TLS if is_https() else COOKIE_PLAIN


def _field_error(exc: AftError, field: str) -> AftError:
    """``exc`` with ``field`` set, unless it already names one."""
    if getattr(exc, "field", None) is None:
        exc.field = field  # type: ignore[attr-defined]
    return exc


class Console:
    """The console's routes and session authenticator over one :class:`Api`.

    Args:
        api: the REST app to extend.
        accounts: the administrators (default: of the API's instance).
        limiter: sign-in attempts allowed per address.
    """

    def __init__(
        self,
        api: Api,
        accounts: AccountStore | None = None,
        limiter: AttemptLimiter | None = None,
    ) -> None:
        self.api = api
        self.accounts = accounts or api.ctx.instance.accounts
        self.limiter = limiter or AttemptLimiter()

    # ---- the session ------------------------------------------------------------------

    def current_session(self) -> Session | None:
        return self.accounts.session(bottle.request.get_cookie(_cookie_name()) or "")

    def authenticate(self) -> Caller | None:
        """The :class:`Caller` of a live session cookie, with its account's role now;
        changes need the CSRF token.

        Raises:
            Forbidden: a session's change without the right ``X-CSRF-Token``.
        """
        session = self.current_session()
        if session is None:
            return None
        if bottle.request.method not in _SAFE_METHODS:
            sent = header(CSRF_HEADER)
            if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
                raise Forbidden("this change lacks the page's CSRF token: reload the page")
        return Caller(session.account_id, session.role, "ui", f"account:{session.username}")

    def _start_session(self, account_id: str) -> dict[str, Any]:
        token, session = self.accounts.open_session(account_id)
        bottle.response.set_cookie(
            _cookie_name(),
            token,
            path="/",
            secure=is_https(),
            httponly=True,
            samesite="Strict",
        )
        return self._ready(session)

    @staticmethod
    def _ready(session: Session) -> dict[str, Any]:
        return {
            "state": "ready",
            "username": session.username,
            "role": session.role,
            "grants": grants(session.role),
            "csrf": session.csrf,
            "version": __version__,
        }

    # ---- the one-time setup code for remote setup ---------------------------------------

    @property
    def _setup_code_path(self) -> Path:
        return Path(self.api.ctx.instance.home) / SETUP_CODE_NAME

    def _setup_code(self) -> str:
        """The code in the instance home, made when first needed (owner-only file)."""
        path = self._setup_code_path
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            pass
        code = secrets.token_urlsafe(12)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another request made it meanwhile
            return path.read_text().strip()
        with os.fdopen(fd, "w") as f:
            f.write(code + "\n")
        log.warning("web console setup from another machine needs the code in %s", path)
        return code

    def _needs_code(self) -> bool:
        return not is_loopback(remote_addr())

    # ---- routes -------------------------------------------------------------------------

    def register(self) -> None:
        """Add the page, its assets and the ``/ui`` routes, and the session authenticator."""
        route = self.api.route
        self.api.authenticators.append(self.authenticate)

        self.api.page("GET", "/", self.index)
        self.api.page("GET", "/ui/static/<path:path>", self.asset)

        @route("GET", "/ui/session", "open")
        def session_state() -> Any:
            """Where the page stands: ``setup``, ``login`` or ``ready`` (with the CSRF token)."""
            if self.accounts.needs_setup():
                needs_code = self._needs_code()
                if needs_code:
                    self._setup_code()
                return {"state": "setup", "setupCode": needs_code, "version": __version__}
            session = self.current_session()
            if session is None:
                return {"state": "login", "version": __version__}
            return self._ready(session)

        @route("POST", "/ui/setup", "open", 201)
        def setup() -> Any:
            """The wizard: create the first administrator and sign them in."""
            body = json_body()
            only(body, {"username", "password", "confirm", "code"})
            if self._needs_code():
                address = remote_addr()
                self.limiter.take(address)  # the code is a secret: guesses are limited
                code = body.get("code")
                if not isinstance(code, str) or not hmac.compare_digest(
                    code.strip().encode(), self._setup_code().encode()
                ):
                    raise AccountError(
                        f"wrong setup code: it is in the file {SETUP_CODE_NAME} in the"
                        " instance home of the machine running aft serve",
                        "code",
                    )
                self.limiter.forgive(address)
            if body.get("confirm") is not None and body.get("confirm") != body.get("password"):
                raise AccountError("the two passwords differ", "confirm")
            account = self.accounts.create(
                body.get("username"),  # type: ignore[arg-type]  # checked by create
                body.get("password"),  # type: ignore[arg-type]
                first=True,
            )
            self._setup_code_path.unlink(missing_ok=True)
            log.info("web console: first administrator %s created", account.username)
            return self._start_session(account.id)

        @route("POST", "/ui/login", "open")
        def login() -> Any:
            body = json_body()
            only(body, {"username", "password"})
            address = remote_addr()
            self.limiter.take(address)
            try:
                account = self.accounts.authenticate(
                    body.get("username"),  # type: ignore[arg-type]  # any value: refused
                    body.get("password"),  # type: ignore[arg-type]
                )
            except AuthError as exc:
                log.warning("web console: failed sign-in from %s", address)
                raise _field_error(exc, "password") from None
            self.limiter.forgive(address)
            return self._start_session(account.id)

        @route("POST", "/ui/logout", "open")
        def logout() -> Any:
            token = bottle.request.get_cookie(_cookie_name()) or ""
            if self.current_session() is not None:
                self.authenticate()  # a sign-out is a change: it needs the CSRF token
                self.accounts.close_session(token)
            bottle.response.delete_cookie(
                _cookie_name(), path="/", secure=is_https(), httponly=True, samesite="Strict"
            )
            return {"state": "login"}

        @route("GET", "/ui/accounts", "viewer")
        def list_accounts(who: Caller) -> Any:
            return {"accounts": [account_json(a) for a in self.accounts.list()]}

        @route("POST", "/ui/accounts", "admin", 201)
        def add_account(who: Caller) -> Any:
            body = json_body()
            only(body, {"username", "password", "confirm", "role"})
            if body.get("confirm") is not None and body.get("confirm") != body.get("password"):
                raise AccountError("the two passwords differ", "confirm")
            account = self.accounts.create(
                body.get("username"),  # type: ignore[arg-type]  # checked by create
                body.get("password"),  # type: ignore[arg-type]
                role=body.get("role", "admin"),
            )
            return account_json(account)

        @route("PUT", "/ui/accounts/<name>/role", "admin")
        def set_role(name: str, who: Caller) -> Any:
            """Change an account's role; the last administrator keeps theirs."""
            body = json_body()
            only(body, {"role"})
            return account_json(self.accounts.set_role(name, body.get("role")))  # type: ignore[arg-type]

        @route("DELETE", "/ui/accounts/<name>", "admin")
        def remove_account(name: str, who: Caller) -> Any:
            if self.accounts.get(name).id == who.key_id:
                raise AccountError("you cannot remove yourself: sign in as another administrator")
            self.accounts.remove(name)
            return {"deleted": name}

        @route("PUT", "/ui/password", "any")
        def change_password(who: Caller) -> Any:
            """Change the signed-in administrator's password (the current one is asked)."""
            session = self.current_session()
            if session is None or who.trigger != "ui":
                raise BadRequest("sign in to the web console to change your password")
            body = json_body()
            only(body, {"current", "password", "confirm"})
            address = remote_addr()
            self.limiter.take(address)
            try:
                self.accounts.authenticate(session.username, body.get("current"))  # type: ignore[arg-type]
            except AuthError:
                raise AccountError("the current password is wrong", "current") from None
            self.limiter.forgive(address)
            if body.get("confirm") is not None and body.get("confirm") != body.get("password"):
                raise AccountError("the two passwords differ", "confirm")
            account = self.accounts.set_password(session.account_id, body.get("password"))  # type: ignore[arg-type]
            return self._start_session(account.id)  # the old sessions ended with the change

        @route("GET", "/ui/about", "viewer")
        def about(who: Caller) -> Any:
            """What the Settings page shows of the service itself (nothing secret)."""
            cert = Path(self.api.ctx.instance.home) / CERT_NAME
            try:
                cert_fingerprint: str | None = fingerprint(cert.read_text())
            except (OSError, ValueError):
                cert_fingerprint = None
            return {
                "version": __version__,
                "https": is_https(),
                "certificateSha256": cert_fingerprint,
                "certificateFiles": [CERT_NAME, "tls-key.pem"],
                "cluster": self.api.ctx.instance.config.distributed,  # worker groups exist
            }

    # ---- the page and its assets --------------------------------------------------------

    def index(self) -> str:
        """The single page; asset URLs carry the version so an upgrade is never stale."""
        html = (STATIC / "index.html").read_text(encoding="utf-8")
        bottle.response.content_type = "text/html; charset=utf-8"
        bottle.response.set_header("Cache-Control", "no-cache")
        set_security_headers()
        return html.replace("{{version}}", __version__)

    def asset(self, path: str) -> Any:
        """A file of ``static/`` (never outside it)."""
        answer = bottle.static_file(path, root=str(STATIC))
        answer.set_header("Cache-Control", "no-cache")
        answer.set_header("X-Content-Type-Options", "nosniff")
        return answer


def account_json(account: Account) -> dict[str, Any]:
    """An account as the console's routes answer it (never its password hash)."""
    return dict(to_json(account))


def add_ui(api: Api) -> None:
    """The extension :func:`aft.server.app.create_app` takes: the web console on ``api``."""
    Console(api).register()
