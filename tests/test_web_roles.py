"""Roles in the web console, in a real headless Chromium against a real ``aft serve``: a
viewer and an operator sign in and see, before any click, what they may not do; a request
forged from a viewer's page is refused by the service."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.test_web_ui import (  # noqa: F401 (fixtures)
    PASSWORD,
    SLOW,
    browser,
    http,
    nav,
    served,
    watched_page,
)

pytestmark = pytest.mark.slow


def _prepare(service) -> dict[str, str]:
    """The first admin, a viewer and an operator, a slow script and a job of it running."""
    request = http(service)
    made = request("POST", "/ui/setup", {"username": "boss", "password": PASSWORD})
    assert made.status == 201, made.data
    admin = {
        "Cookie": made.headers["Set-Cookie"].split(";")[0],
        "X-CSRF-Token": made.json()["csrf"],
    }
    for name, role in (("vic", "viewer"), ("olga", "operator")):
        added = request(
            "POST", "/ui/accounts", {"username": name, "password": PASSWORD, "role": role}, admin
        )
        assert added.status == 201 and added.json()["role"] == role
    assert request("POST", "/v1/scripts", {"name": "Slow job", "source": SLOW}, admin).status == 201
    disk = {"name": "Backups", "type": "Disk", "target": "/tmp"}
    assert request("POST", "/v1/vfs", disk, admin).status == 201
    job = request("POST", "/v1/jobs", {"scriptName": "Slow job"}, admin)
    assert job.status == 202
    return {"job": job.json()["jobId"], **admin}


def sign_in(page: Page, url: str, username: str) -> None:
    page.goto(url)
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def test_a_viewer_reads_and_changes_nothing(browser, served):  # noqa: F811
    job = _prepare(served)["job"]
    with watched_page(browser) as page:
        sign_in(page, served.url, "vic")
        expect(page.locator("#who-role")).to_have_text("viewer")

        nav(page, "Scripts")  # listed, but not to be run, made or removed
        run = page.get_by_role("button", name="Run Slow job")
        expect(run).to_be_disabled()
        expect(run).to_have_attribute("title", re.compile("operator or admin role.*viewer"))
        expect(page.get_by_role("button", name="New script")).to_be_disabled()
        expect(page.get_by_role("button", name="Delete Slow job")).to_be_disabled()

        nav(page, "Jobs")  # the running job shows; its halt is off
        halt = page.get_by_role("button", name=re.compile("^Halt Slow job"))
        expect(halt).to_be_disabled()
        expect(halt).to_have_attribute("title", re.compile("operator or admin"))

        nav(page, "Secrets")
        expect(
            page.get_by_text(re.compile("^Read only: This needs the admin role"))
        ).to_be_visible()
        expect(page.get_by_role("button", name="Save secret")).to_be_disabled()

        nav(page, "VFS Library")  # an entry opens read only, its target shown
        expect(page.get_by_role("button", name="Add VFS")).to_be_disabled()
        page.get_by_role("link", name="Edit").click()
        expect(page.get_by_role("heading", name="Backups")).to_be_visible()
        expect(page.locator(".preview")).to_contain_text("/tmp")
        expect(page.get_by_role("button", name="Save")).to_be_disabled()
        expect(page.get_by_role("button", name="Test connection")).to_be_disabled()

        nav(page, "Settings")  # the accounts and their roles, read only
        expect(page.get_by_role("button", name="Add account")).to_be_disabled()
        expect(page.get_by_label("Role of olga")).to_be_disabled()
        expect(page.get_by_label("Role of olga")).to_have_value("operator")

        # A request forged from the viewer's own page, CSRF token and all, is refused.
        answer = page.evaluate(
            """async (jobId) => {
                const state = await (await fetch("/ui/session")).json();
                const halt = await fetch(`/v1/jobs/${jobId}/halt`, {
                    method: "POST", headers: {"X-CSRF-Token": state.csrf}});
                const grant = await fetch("/ui/accounts/vic/role", {
                    method: "PUT", body: JSON.stringify({role: "admin"}),
                    headers: {"X-CSRF-Token": state.csrf, "Content-Type": "application/json"}});
                return [halt.status, (await halt.json()).message, grant.status];
            }""",
            job,
        )
        assert answer[0] == 403 and "vic has the role viewer" in answer[1]
        assert answer[2] == 403
    request = http(served)
    state = request("GET", f"/v1/jobs/{job}", headers=_admin_headers(served))
    assert state.json()["status"] == "running"  # the forged halt changed nothing


def _admin_headers(service) -> dict[str, str]:
    signed = http(service)("POST", "/ui/login", {"username": "boss", "password": PASSWORD})
    return {
        "Cookie": signed.headers["Set-Cookie"].split(";")[0],
        "X-CSRF-Token": signed.json()["csrf"],
    }


def test_an_operator_runs_and_halts_but_administers_nothing(browser, served):  # noqa: F811
    _prepare(served)
    with watched_page(browser) as page:
        sign_in(page, served.url, "olga")
        expect(page.locator("#who-role")).to_have_text("operator")

        nav(page, "Scripts")
        expect(page.get_by_role("button", name="Delete Slow job")).to_be_disabled()
        page.get_by_role("button", name="Run Slow job").click()
        page.get_by_role("dialog").get_by_role("button", name="Run now").click()
        expect(page.locator(".page-head .badge")).to_have_text("running", timeout=20_000)
        page.get_by_role("button", name="Halt").click()
        page.get_by_role("dialog").get_by_role("button", name="Halt job").click()
        expect(page.locator(".page-head .badge")).to_have_text("halted", timeout=20_000)

        nav(page, "API Keys")
        expect(page.get_by_role("button", name="Create key")).to_be_disabled()
        nav(page, "VFS Library")
        expect(page.get_by_role("button", name="Add VFS")).to_be_disabled()
        nav(page, "Settings")
        expect(page.get_by_role("button", name="Save").first).to_be_disabled()
        expect(page.get_by_role("button", name="Change my password")).to_be_enabled()
