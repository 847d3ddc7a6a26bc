"""The OpenAPI document and the routes agree: each /v1 route is documented, and each
documented operation is a route."""

from __future__ import annotations

import re

from aft.server.app import create_app
from aft.server.http import ServiceContext
from aft.server.openapi import openapi_document
from aft.server.schedule_routes import add_schedule_routes
from aft.server.ui import add_ui
from aft.server.vfs_routes import add_vfs_routes


def _shape(path: str) -> str:
    """A path with its parameters unnamed: ``/v1/jobs/{}`` for ``<job_id>`` or ``{jobId}``."""
    return re.sub(r"<[^>]+>|\{[^}]+\}", "{}", path)


def test_every_route_is_documented_and_every_operation_is_a_route(instance):
    app = create_app(
        ServiceContext(instance, notify=lambda: None), [add_vfs_routes, add_schedule_routes, add_ui]
    )
    served = {
        (route.method.lower(), _shape(route.rule))
        for route in app.routes
        if route.rule.startswith("/v1/")
    }
    documented = {
        (method, _shape(path))
        for path, operations in openapi_document()["paths"].items()
        for method in operations
        if method in {"get", "put", "post", "delete", "patch"}
    }
    assert served - documented == set(), "routes missing from the OpenAPI document"
    assert documented - served == set(), "documented operations that are no route"
