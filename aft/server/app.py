"""The REST API v1 as a Bottle app, built by :func:`create_app` (never Bottle's default app).

Each resource has its module (``jobs_routes``, ``scripts_routes``, ``secrets_routes``,
``keys_routes``, ``settings_routes``, ``audit_routes``, ``transfers_routes``,
``notify_routes``; ``vfs_routes``,
``schedule_routes`` and the web console's ``ui`` are extensions that :func:`create_app`
takes), and every route is registered through the one decorator of
:class:`~aft.server.http.Api`. Every answer is
JSON; see :mod:`aft.server.http` for errors.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import bottle

from aft._version import __version__
from aft.exceptions import BadRequest, MethodNotAllowed, NotFound, ServiceError
from aft.server.audit_routes import add_audit_routes
from aft.server.http import Api, ServiceContext, send_error
from aft.server.jobs_routes import add_jobs_routes
from aft.server.keys_routes import add_keys_routes
from aft.server.notify_routes import add_notify_routes
from aft.server.openapi import openapi_document
from aft.server.scripts_routes import add_scripts_routes
from aft.server.secrets_routes import add_secrets_routes
from aft.server.settings_routes import add_settings_routes
from aft.server.transfers_routes import add_transfers_routes

RESOURCES = (
    add_jobs_routes,
    add_scripts_routes,
    add_secrets_routes,
    add_keys_routes,
    add_settings_routes,
    add_audit_routes,
    add_transfers_routes,
    add_notify_routes,
)


def create_app(
    ctx: ServiceContext, extensions: Sequence[Callable[[Api], None]] = ()
) -> bottle.Bottle:
    """The REST API over ``ctx``, plus what each extension registers on it."""
    api = Api(ctx)
    app, route = api.app, api.route
    for add_routes in RESOURCES:
        add_routes(api)

    # ---- open routes --------------------------------------------------------------------

    @route("GET", "/v1/health", "open")
    def health() -> Any:
        return {"status": "ok", "version": __version__, "time": time.time()}

    @route("GET", "/v1/openapi.json", "open")
    def openapi() -> Any:
        return openapi_document()

    def not_found(error: bottle.HTTPError) -> str:
        if error.status_code == 405:
            return send_error(MethodNotAllowed(f"{bottle.request.method} is not allowed here"))
        if error.status_code == 404:
            return send_error(NotFound(f"no route {bottle.request.path}"))
        if error.status_code >= 500:
            return send_error(ServiceError("internal error; see the service log"))
        return send_error(BadRequest(str(error.body or "bad request")))

    for extend in extensions:
        extend(api)
    app.default_error_handler = not_found  # type: ignore[method-assign]
    api.check_routes()  # a route that declares no role never serves
    return app
