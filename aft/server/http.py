"""What every route of the server shares: who calls, JSON in and out, errors as JSON.

:class:`Api` holds the Bottle app and its one route decorator; each resource's module
(``jobs_routes``, ``scripts_routes``, ..., ``ui``) registers its routes through it. Errors
are ``{"error": code, "message": one line}`` (plus ``field`` when the error is about one
field of a form) with the HTTP status taken from :data:`STATUS` by the error's stable code;
anything unexpected is a 500 ``internal`` whose details go to the service log, never to
the caller.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

import attrs
import bottle

from aft import audit
from aft.exceptions import (
    AftError,
    AuthError,
    BadRequest,
    Forbidden,
    PayloadTooLarge,
    ServiceError,
)
from aft.instance import Instance
from aft.models import check_group
from aft.roles import NEEDS, allows, needed

log = logging.getLogger("aft.server")

MAX_BODY = 1024 * 1024

#: HTTP status by error code; a code not listed is a 400 (bad input of some kind).
STATUS = {
    "unauthorized": 401,
    "forbidden": 403,
    "cli_run_disabled": 403,
    "not_found": 404,
    "job_not_found": 404,
    "script_not_found": 404,
    "secret_not_found": 404,
    "api_key_not_found": 404,
    "unknown_setting": 404,
    "vfs_not_found": 404,
    "account_not_found": 404,
    "schedule_not_found": 404,
    "notification_not_found": 404,
    "method_not_allowed": 405,
    "payload_too_large": 413,
    "job_ended": 409,
    "job_conflict": 409,
    "script_exists": 409,
    "vfs_exists": 409,
    "account_exists": 409,
    "schedule_exists": 409,
    "notification_exists": 409,
    "schedule_error": 400,
    "too_many_attempts": 429,
    "internal": 500,
    "store_error": 503,
    "store_corrupt": 503,
}


#: Over HTTPS, browsers are told to use nothing else for this host for a year.
HSTS = "max-age=31536000"
#: Sent with every JSON answer (and the console's page).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none';"
        " form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class TooManyAttempts(AuthError):
    """Too many failed sign-in or API key attempts from one address (HTTP 429)."""

    code = "too_many_attempts"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AttemptLimiter:
    """At most ``limit`` failed attempts (sign-ins, API keys) per client address in any
    ``window`` seconds.

    An attempt is counted before the credential is checked (so parallel requests cannot
    slip past) and forgiven when it succeeds.

    Args:
        limit: attempts allowed per window.
        window: seconds.
        clock: a monotonic clock (tests pass their own).
        what: what the attempts are, for the message.
    """

    def __init__(
        self,
        limit: int = 5,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        what: str = "sign-in attempts",
    ) -> None:
        self.limit = limit
        self.what = what
        self.window = window
        self._clock = clock
        self._attempts: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def take(self, address: str) -> None:
        """Count an attempt from ``address``. Raises TooManyAttempts when over the limit."""
        now = self._clock()
        with self._lock:
            if len(self._attempts) > 10_000:  # bounded memory under a flood of addresses
                self._attempts = {
                    a: q for a, q in self._attempts.items() if q and q[-1] > now - self.window
                }
            attempts = self._attempts.setdefault(address, deque())
            while attempts and attempts[0] <= now - self.window:
                attempts.popleft()
            if len(attempts) >= self.limit:
                wait = max(1, int(attempts[0] + self.window - now + 0.999))
                raise TooManyAttempts(
                    f"too many {self.what} from {address}: wait {wait} seconds, then try again",
                    wait,
                )
            attempts.append(now)

    def forgive(self, address: str) -> None:
        """Uncount the last attempt from ``address`` (it succeeded)."""
        with self._lock:
            attempts = self._attempts.get(address)
            if attempts:
                attempts.pop()


def is_https() -> bool:
    # The server's own view, never X-Forwarded-Proto (which a caller can write).
    return bool(bottle.request.environ.get("wsgi.url_scheme") == "https")


@attrs.frozen
class Caller:
    """Who is calling: an API key's id and scope, a console account's id and role, or the
    local CLI of the same instance (``admin``); ``role`` is one of :data:`aft.roles.ROLES`;
    ``actor`` is how the audit trail and job records name them (``key:NAME (ID)``,
    ``account:NAME``, ``cli:OSUSER``)."""

    key_id: str
    role: str
    trigger: str = "api"
    actor: str = ""


@attrs.define
class ServiceContext:
    """What the routes work with.

    Attributes:
        instance: the instance served: its job queue, stores, settings and secrets.
        notify: wakes the worker pool after a job is queued or a halt requested.
        local_token: the token in the runtime file that lets the instance's own CLI in.
    """

    instance: Instance
    notify: Callable[[], None]
    local_token: str | None = None


def remote_addr() -> str:
    # The socket's peer: never X-Forwarded-For, which a caller can write.
    return str(bottle.request.environ.get("REMOTE_ADDR", ""))


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


def header(name: str) -> str:
    """A request header's value ("" when absent).

    Raises:
        BadRequest: the value is not UTF-8 text.
    """
    try:
        return str(bottle.request.get_header(name) or "")
    except UnicodeDecodeError:
        raise BadRequest(f"the {name} header is not UTF-8 text") from None


def query_text(name: str) -> str | None:
    """A query parameter decoded as UTF-8 (None when absent or empty).

    Raises:
        BadRequest: the value is not UTF-8 text.
    """
    raw = bottle.request.query.get(name)  # WSGI hands the query over as Latin-1
    if not raw:
        return None
    try:
        return str(raw.encode("latin-1").decode("utf-8"))
    except (UnicodeEncodeError, UnicodeDecodeError):
        raise BadRequest(f"query parameter {name} is not UTF-8 text") from None


def _refuse_constant(name: str) -> Any:
    raise BadRequest(f"request body holds {name}, which JSON does not allow")


def has_body() -> bool:
    """Whether the request carries a body at all (a POST of nothing has none)."""
    environ = bottle.request.environ
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    return chunked or (environ.get("CONTENT_LENGTH") or "0").lstrip("0") != ""


def json_body() -> dict[str, Any]:
    """The request's JSON object, read straight from the socket with a cap: a body over
    :data:`MAX_BODY` is refused from its ``Content-Length`` before any of it is read, and
    nothing is ever spooled to disk.

    Raises:
        PayloadTooLarge: more than :data:`MAX_BODY` bytes.
        BadRequest: not a JSON object of UTF-8 text (``NaN``, ``Infinity``, unpaired
            surrogates and nesting too deep for a parser are refused too).
    """
    environ = bottle.request.environ
    length = environ.get("CONTENT_LENGTH") or ""
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    if length:
        if not length.isdigit():
            raise BadRequest("Content-Length is not a number")
        if int(length) > MAX_BODY:
            raise PayloadTooLarge(f"request body larger than {MAX_BODY} bytes")
        raw = environ["wsgi.input"].read(int(length))
    elif chunked:
        raw = environ["wsgi.input"].read(MAX_BODY + 1)
        if len(raw) > MAX_BODY:
            raise PayloadTooLarge(f"request body larger than {MAX_BODY} bytes")
    else:
        raw = b""
    try:
        body = json.loads(raw or b"null", parse_constant=_refuse_constant)
    except RecursionError:
        raise BadRequest("request body is nested too deeply") from None
    except ValueError as exc:
        if isinstance(exc, BadRequest):
            raise
        raise BadRequest(f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    try:
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest("request body holds an unpaired surrogate (\\ud800-\\udfff)") from None
    return body


def field(
    body: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any = None
) -> Any:
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
        names = {str: "a string", int: "a whole number", bool: "true or false", list: "an array"}
        expected = names.get(kind, "a number") if isinstance(kind, type) else "a number"
        raise BadRequest(f"{name} must be {expected}")
    return value


def only(body: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BadRequest(f"unknown field(s): {', '.join(unknown)}")


def query_int(name: str, default: int | None, low: int, high: int) -> int | None:
    raw = bottle.request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}")
    return value


def query_time(name: str) -> float | None:
    """A query parameter holding a Unix time in seconds (None when absent or empty).

    Raises:
        BadRequest: the value is not a number.
    """
    raw = query_text(name)
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a Unix time in seconds") from None


class Download(NamedTuple):
    """What a route returns to answer with a file instead of JSON.

    Attributes:
        body: the file's text, in pieces (sent as they come).
        content_type: its media type (``text/csv; charset=utf-8``).
        filename: the name a browser saves it under.
    """

    body: Iterable[str]
    content_type: str
    filename: str


def send_download(result: Download) -> Iterator[bytes]:
    """The answer of a route that returned a :class:`Download`."""
    bottle.response.content_type = result.content_type
    bottle.response.set_header("Cache-Control", "no-store")
    bottle.response.set_header("Content-Disposition", f'attachment; filename="{result.filename}"')
    set_security_headers()
    return (piece.encode("utf-8") for piece in result.body)


def send_json(result: Any, status: int = 200) -> str:
    """``result`` as the JSON body of the answer, with ``status``."""
    bottle.response.status = status
    bottle.response.content_type = "application/json"
    bottle.response.set_header("Cache-Control", "no-store")
    set_security_headers()
    return json.dumps(result)


def set_security_headers() -> None:
    """The security headers of every answer (and, over HTTPS, Strict-Transport-Security)."""
    for name, value in SECURITY_HEADERS.items():
        bottle.response.set_header(name, value)
    if is_https():
        bottle.response.set_header("Strict-Transport-Security", HSTS)


def send_error(exc: AftError) -> str:
    """The error answer for ``exc``: its code, one line of message, the form field it is
    about (if any), and when to try again (for too many attempts)."""
    body: dict[str, Any] = {
        "error": exc.code,
        "message": str(exc).splitlines()[0] if str(exc) else exc.code,
    }
    field_name = getattr(exc, "field", None)
    if field_name:
        body["field"] = field_name
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        bottle.response.set_header("Retry-After", str(retry_after))
    return send_json(body, STATUS.get(exc.code, 400))


def worker_group(instance: Instance, body: dict[str, Any]) -> str | None:
    """The worker group a request body names, checked; None when it names none.

    Raises:
        BadRequest: a group on a node without a cluster, or a bad group name.
    """
    if body.get("group") is None:
        return None
    if not instance.config.distributed:  # only a cluster has worker groups
        raise BadRequest("group needs a cluster (aft worker nodes); this node runs alone")
    try:
        return check_group(field(body, "group", str))
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


class Api:
    """The Bottle app with the two things every route needs: who calls, and JSON in and out.

    Each resource's module (``*_routes.py``, and the web console's ``ui.py``) registers
    its routes through :meth:`route`, the one route decorator of the server, which
    declares what each route needs (:data:`aft.roles.NEEDS`); :meth:`check_routes`
    refuses an app holding a route that declares nothing. ``authenticators`` are extra
    ways in besides an API key (the web UI adds its session): each returns a
    :class:`Caller` or None.
    """

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.app = bottle.Bottle()  # routes answer with JSON text they made themselves
        self.app.uninstall("json")
        self.authenticators: list[Callable[[], Caller | None]] = []
        #: What each route needs, by (method, rule): the one table of who may do what.
        self.needs: dict[tuple[str, str], str] = {}
        self.key_attempts = AttemptLimiter(
            int(ctx.instance.settings.get("failed_key_attempts")), what="failed API key attempts"
        )

    def caller(self, need: str) -> Caller:
        """Who is calling, with a role that meets ``need``.

        Raises:
            AuthError: nobody known (401).
            Forbidden: the role does not meet ``need``, or the key is used from an address
                outside its allowlist (403).
        """
        key = header("X-API-Key")
        address = remote_addr()
        token = self.ctx.local_token
        if token and key and hmac.compare_digest(key.encode(), token.encode()):
            if is_loopback(address):  # the instance's own CLI, run by the service's OS user
                return Caller("local", "admin", "cli", audit.cli_actor())
        if not key:
            for authenticate in self.authenticators:
                found = authenticate()
                if found is not None:
                    if not allows(found.role, need):
                        audit.record_now(
                            self.ctx.instance.store,
                            "auth.refused",
                            found.actor,
                            reason=f"role {found.role} lacks {need}",
                            address=address,
                        )
                        raise Forbidden(
                            f"{found.actor.partition(':')[2]} has the role {found.role};"
                            f" this needs {needed(need)}"
                        )
                    return found
        self.key_attempts.take(address)  # a guess costs; a good key is forgiven at once
        try:
            api_key = self.ctx.instance.api_keys.verify(key, address, need)
        except Forbidden:  # a known key refused (its role, its address) is no guess
            self.key_attempts.forgive(address)
            raise
        self.key_attempts.forgive(address)
        return Caller(api_key.id, api_key.scope, actor=f"key:{api_key.name} ({api_key.id})")

    def route(
        self, method: str, path: str, need: str, status: int = 200
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register a JSON route: authenticate a caller whose role meets ``need``, map errors.

        Args:
            method: the HTTP method.
            path: the Bottle rule.
            need: one of :data:`aft.roles.NEEDS`; ``open`` lets anybody in.
            status: the HTTP status of a success.

        The handler gets the :class:`Caller` as ``who`` (unless the route is open) and the
        path's parameters; what it returns is sent as JSON with ``status`` (a
        :class:`Download`: as that file).

        Raises:
            ValueError: ``need`` is not a need (at registration, so the service never starts).
        """
        if need not in NEEDS:
            raise ValueError(f"{method} {path}: need is one of {', '.join(NEEDS)}, not {need!r}")
        self.needs[(method, path)] = need

        def register(handler: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(handler)
            def wrapper(**kwargs: Any) -> str | Iterator[bytes]:
                address = remote_addr()
                try:
                    with audit.acting_as("anonymous", address):
                        if need != "open":
                            kwargs["who"] = who = self.caller(need)
                            with audit.acting_as(who.actor or "anonymous", address):
                                result = handler(**kwargs)
                        else:
                            result = handler(**kwargs)
                except AftError as exc:
                    return send_error(exc)
                except Exception:
                    log.exception("%s %s failed", method, path)
                    return send_error(ServiceError("internal error; see the service log"))
                if isinstance(result, Download):
                    return send_download(result)
                return send_json(result, status)

            self.app.route(path, method, wrapper)
            return handler

        return register

    def page(self, method: str, path: str, callback: Callable[..., Any]) -> None:
        """Register a route that is no JSON API (the console's page and assets): open to all."""
        self.needs[(method, path)] = "open"
        self.app.route(path, method, callback)

    def check_routes(self) -> None:
        """Refuse an app with a route registered past :meth:`route` and :meth:`page`, which
        would declare nothing about who may call it.

        Raises:
            RuntimeError: such a route (the service must not start with it).
        """
        for r in self.app.routes:
            if (r.method, r.rule) not in self.needs:
                raise RuntimeError(
                    f"route {r.method} {r.rule} declares no role: register it with Api.route"
                )


def required(body: dict[str, Any], name: str, kind: type) -> Any:
    value = field(body, name, kind)
    if value is None:
        raise BadRequest(f"{name} is required")
    return value
