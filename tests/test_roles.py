"""Roles over a real socket: every operation of the OpenAPI document and every console
route, called by viewer, run, operator and admin keys and by viewer, operator and admin
console sessions, is allowed or refused (403) as the role it states says."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
from typing import Any

import pytest

from aft.instance import Instance
from aft.server.app import create_app
from aft.server.http import ServiceContext
from aft.server.openapi import openapi_document
from aft.server.schedule_routes import add_schedule_routes
from aft.server.service import Service
from aft.server.ui import add_ui
from aft.server.vfs_routes import add_vfs_routes
from tests.conftest import aft_command

PASSWORD = "correct horse battery"

#: Which callers each stated role lets in, written out here, apart from aft.roles.
ADMITS = {
    "any": {"viewer", "run", "operator", "admin"},
    "viewer": {"viewer", "operator", "admin"},
    "run": {"run", "operator", "admin"},
    "admin": {"admin"},
}

#: The console's own JSON routes (outside the OpenAPI document) and the role each needs.
CONSOLE = {
    ("GET", "/ui/accounts"): "viewer",
    ("POST", "/ui/accounts"): "admin",
    ("PUT", "/ui/accounts/<name>/role"): "admin",
    ("DELETE", "/ui/accounts/<name>"): "admin",
    ("PUT", "/ui/password"): "any",
    ("GET", "/ui/about"): "viewer",
}
#: Console routes anybody may call: the page, its assets, the session's own routes.
CONSOLE_OPEN = {
    ("GET", "/"),
    ("GET", "/ui/static/<path:path>"),
    ("GET", "/ui/session"),
    ("POST", "/ui/setup"),
    ("POST", "/ui/login"),
    ("POST", "/ui/logout"),
}


class Caller:
    """One way in: an API key, or a console session (cookie and CSRF token)."""

    def __init__(self, port: int, role: str, key: str = "", cookie: str = "", csrf: str = ""):
        self.port, self.role, self.key, self.cookie, self.csrf = port, role, key, cookie, csrf

    def __repr__(self) -> str:
        return f"{self.role} {'key' if self.key else 'session'}"

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        headers = {"Content-Type": "application/json"}
        if self.key:
            headers["X-API-Key"] = self.key
        if self.cookie:
            headers["Cookie"] = self.cookie
            if method not in {"GET", "HEAD"}:
                headers["X-CSRF-Token"] = self.csrf
        return request(self.port, method, path, body, headers)


def request(
    port: int, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        data = None if body is None else json.dumps(body).encode()
        conn.request(method, path, data, {"Content-Type": "application/json", **(headers or {})})
        answer = conn.getresponse()
        raw = answer.read()
        cookie = answer.getheader("Set-Cookie") or ""
        parsed = json.loads(raw) if raw else {}
        if cookie:
            parsed["_cookie"] = cookie.split(";")[0]
        return answer.status, parsed
    finally:
        conn.close()


def sign_in(port: int, username: str) -> Caller:
    status, answer = request(
        port, "POST", "/ui/login", {"username": username, "password": PASSWORD}
    )
    assert status == 200, answer
    return Caller(port, answer["role"], cookie=answer["_cookie"], csrf=answer["csrf"])


@pytest.fixture
def served(aft_home):
    with Instance(aft_home) as instance:
        service = Service(instance, bind="127.0.0.1", port=0, tls=False)
        service.start()
        try:
            yield instance, service
        finally:
            service.stop()


@pytest.fixture
def callers(served):
    instance, service = served
    found = []
    for role in ("viewer", "run", "operator", "admin"):
        _, key = instance.api_keys.create(f"{role}-key", ["127.0.0.1"], scope=role)
        found.append(Caller(service.port, role, key=key))
    for role in ("admin", "viewer", "operator"):  # the first account is an admin
        instance.accounts.create(f"{role}-user", PASSWORD, role=role)
        found.append(sign_in(service.port, f"{role}-user"))
    return found


def _operations() -> list[tuple[str, str, str]]:
    found = []
    for path, operations in openapi_document()["paths"].items():
        for method, operation in operations.items():
            if method in {"get", "put", "post", "delete", "patch"}:
                role = operation.get("x-aft-role")
                assert role in {"open", *ADMITS}, f"{method} {path} states no role"
                found.append((method.upper(), path, role))
    return found


def _url(path: str) -> str:
    url = re.sub(r"\{[^}]+\}|<[^>]+>", "nothing-here", path)
    return url + "?job=nothing-here" if url == "/v1/transfers" else url  # else run keys: 403


def test_console_routes_all_have_an_expectation(instance):
    app = create_app(
        ServiceContext(instance, notify=lambda: None), [add_vfs_routes, add_schedule_routes, add_ui]
    )
    routes = {(r.method, r.rule) for r in app.routes if not r.rule.startswith("/v1/")}
    assert routes == set(CONSOLE) | CONSOLE_OPEN


def test_the_role_matrix_over_every_operation(callers):
    checked = 0
    operations = _operations() + [(m, p, role) for (m, p), role in CONSOLE.items()]
    for method, path, role in operations:
        if role == "open":
            continue
        for caller in callers:
            status, answer = caller.call(method, _url(path), {})
            where = f"{method} {path} as {caller!r} (needs {role})"
            assert status < 500, (where, answer)
            if caller.role in ADMITS[role]:
                assert status not in (401, 403), (where, status, answer)
            else:
                assert status == 403, (where, status, answer)
            checked += 1
    assert checked >= 7 * 40


def test_no_caller_is_a_401_and_open_routes_are_open(instance):
    instance.settings.set("failed_key_attempts", 100000)  # each call here counts as one
    service = Service(instance, bind="127.0.0.1", port=0, tls=False)
    service.start()
    try:
        for method, path, role in _operations():
            status, _ = request(service.port, method, _url(path), {})
            assert (status == 401) == (role != "open"), (method, path, status)
    finally:
        service.stop()


def test_a_lowered_role_takes_effect_at_the_next_request(served, callers):
    instance, service = served
    operator = next(c for c in callers if c.cookie and c.role == "operator")
    admin = next(c for c in callers if c.cookie and c.role == "admin")
    assert operator.call("POST", "/v1/jobs/job_nothing/halt", {})[0] == 404
    status, answer = admin.call("PUT", "/ui/accounts/operator-user/role", {"role": "viewer"})
    assert status == 200 and answer["role"] == "viewer"
    status, answer = operator.call("POST", "/v1/jobs/job_nothing/halt", {})
    assert status == 403 and "operator-user has the role viewer" in answer["message"]
    assert operator.call("GET", "/v1/jobs")[0] == 200  # still signed in, as a viewer


def test_only_an_admin_changes_roles_and_the_last_one_stays(served, callers):
    instance, service = served
    admin = next(c for c in callers if c.cookie and c.role == "admin")
    operator = next(c for c in callers if c.cookie and c.role == "operator")
    status, _ = operator.call("PUT", "/ui/accounts/operator-user/role", {"role": "admin"})
    assert status == 403 and instance.accounts.get("operator-user").role == "operator"
    status, answer = admin.call("PUT", "/ui/accounts/admin-user/role", {"role": "viewer"})
    assert status == 400 and answer["field"] == "role"
    assert "last administrator" in answer["message"]
    status, answer = admin.call("PUT", "/ui/accounts/viewer-user/role", {"role": "run"})
    assert status == 400 and "one of viewer, operator, admin" in answer["message"]
    status, answer = admin.call(
        "POST", "/ui/accounts", {"username": "new", "password": PASSWORD, "role": "operator"}
    )
    assert status == 201 and answer["role"] == "operator"
    status, answer = admin.call("GET", "/ui/accounts")
    assert {a["username"]: a["role"] for a in answer["accounts"]} == {
        "admin-user": "admin",
        "new": "operator",
        "operator-user": "operator",
        "viewer-user": "viewer",
    }
    actions = [e.action for e in instance.audit.list(limit=1000)[0]]
    assert "auth.refused" in actions  # the operator's attempt


def test_secret_values_are_read_by_nobody(served, callers):
    instance, _ = served
    instance.secrets.set("token", "s3cr3t-value")
    for caller in callers:
        if caller.role == "run":
            continue
        status, answer = caller.call("GET", "/v1/secrets")
        assert status == 200 and "token" in answer["secrets"]
        assert "s3cr3t-value" not in json.dumps(answer)


def test_run_keys_keep_to_their_own_jobs_and_operators_see_all(served, callers):
    instance, _ = served
    instance.scripts.add("hello", 'Log("hi");')
    run = next(c for c in callers if c.role == "run")
    operator = next(c for c in callers if c.key and c.role == "operator")
    viewer = next(c for c in callers if c.key and c.role == "viewer")
    status, mine = run.call("POST", "/v1/jobs", {"scriptName": "hello"})
    assert status == 202
    status, theirs = operator.call("POST", "/v1/jobs", {"scriptName": "hello"})
    assert status == 202
    assert run.call("GET", f"/v1/jobs/{theirs['jobId']}")[0] == 404
    assert viewer.call("GET", f"/v1/jobs/{mine['jobId']}")[0] == 200
    assert viewer.call("POST", f"/v1/jobs/{mine['jobId']}/halt", {})[0] == 403
    listed = {j["jobId"] for j in operator.call("GET", "/v1/jobs")[1]["jobs"]}
    assert {mine["jobId"], theirs["jobId"]} <= listed
    assert operator.call("POST", f"/v1/jobs/{mine['jobId']}/halt", {})[0] in (202, 409)
    assert viewer.call("GET", "/v1/transfers")[0] == 200
    assert run.call("GET", "/v1/transfers")[0] == 403


@pytest.fixture
def cli(aft_home, tmp_path):
    env = {**os.environ, "AFT_HOME": str(aft_home)}

    def run(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [aft_command(), *args], input=input, capture_output=True, text=True, timeout=60,
            env=env, stdin=None if input is not None else subprocess.DEVNULL,
        )  # fmt: skip

    return run


def test_cli_keys_and_accounts_with_roles(cli):
    for scope in ("viewer", "run", "operator", "admin"):
        made = cli("apikeys", "create", f"k-{scope}", "--allow", "127.0.0.1", "--scope", scope)
        assert made.returncode == 0 and f"scope {scope}" in made.stdout
    listed = json.loads(cli("apikeys", "list", "--json").stdout)
    assert [k["scope"] for k in listed] == ["viewer", "run", "operator", "admin"]
    bad = cli("apikeys", "create", "k", "--allow", "127.0.0.1", "--scope", "root")
    assert bad.returncode == 2 and "--scope is one of viewer, run, operator, admin" in bad.stderr

    assert cli("accounts", "add", "boss", "--role", "admin", input=PASSWORD + "\n").returncode == 0
    made = cli("accounts", "add", "ann", "--role", "viewer", input=PASSWORD + "\n")
    assert made.returncode == 0 and "role viewer" in made.stdout
    for bad_role in ("run", "root"):
        bad = cli("accounts", "add", "x", "--role", bad_role, input=PASSWORD + "\n")
        assert bad.returncode == 2 and "--role is one of viewer, operator, admin" in bad.stderr
    assert cli("accounts", "set-role", "ann", "--role", "operator").returncode == 0
    assert cli("accounts", "set-role", "ann", "--role", "x").returncode == 2
    last = cli("accounts", "set-role", "boss", "--role", "viewer")
    assert last.returncode == 2 and "last administrator cannot be lowered" in last.stderr
    accounts = json.loads(cli("accounts", "list", "--json").stdout)
    assert {a["username"]: a["role"] for a in accounts} == {"ann": "operator", "boss": "admin"}
    assert "set-role" in cli("accounts", "--help").stdout


def test_the_client_reads_and_sets_roles(served):
    from aft.client import AftClient

    instance, service = served
    _, key = instance.api_keys.create("admin", ["127.0.0.1"], scope="admin")
    instance.accounts.create("boss", PASSWORD)
    client = AftClient(f"http://127.0.0.1:{service.port}", key)
    made = client.add_account("ann", PASSWORD, "viewer")
    assert made.role == "viewer" and made.username == "ann"
    assert client.set_account_role("ann", "operator").role == "operator"
    assert {a.username: a.role for a in client.accounts()} == {"ann": "operator", "boss": "admin"}
    made_key, _ = client.create_api_key("watcher", ["127.0.0.1"], scope="viewer")
    assert made_key.scope == "viewer"
