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


def test_the_document_states_the_role_each_route_declares(instance):
    from aft.server.http import Api

    seen: dict[tuple[str, str], str] = {}
    api = Api(ServiceContext(instance, notify=lambda: None))
    original = api.route

    def spy(method, path, need, status=200):
        seen[(method.lower(), _shape(path))] = need
        return original(method, path, need, status)

    api.route = spy  # type: ignore[method-assign]
    from aft.server.app import RESOURCES

    for add in (*RESOURCES, add_vfs_routes, add_schedule_routes):
        add(api)
    stated = {
        (method, _shape(path)): operation.get("x-aft-role")
        for path, operations in openapi_document()["paths"].items()
        for method, operation in operations.items()
        if method in {"get", "put", "post", "delete", "patch"}
    }
    declared = {op: need for op, need in seen.items() if op[1].startswith("/v1/")}
    stated.pop(("get", "/v1/health"))
    stated.pop(("get", "/v1/openapi.json"))
    assert stated == declared


def test_a_route_that_declares_no_role_stops_the_app(instance):
    import pytest

    from aft.server.http import Api

    with pytest.raises(ValueError, match="need is one of"):
        Api(ServiceContext(instance, notify=lambda: None)).route("GET", "/v1/x", None)  # type: ignore[arg-type]

    def sneaky(api):
        api.app.route("/v1/sneaky", "GET", lambda: "open to all")

    with pytest.raises(RuntimeError, match="GET /v1/sneaky declares no role"):
        create_app(ServiceContext(instance, notify=lambda: None), [sneaky])
