"""The Notifications section of the console in real headless Chromium against a real
``aft serve``: configured on a script and on a schedule, "Send a test" arrives at a real
HTTP server and a real SMTP server, bad input is explained, and a failed job delivers."""

from __future__ import annotations

import json
import time

import pytest
from playwright.sync_api import Page, expect

from aft.instance import Instance
from tests.service_helpers import ServeProcess
from tests.test_web_ui import browser, setup_admin, watched_page  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow


@pytest.fixture
def served(aft_home, smtp_server, http_server):
    with Instance(aft_home) as instance:
        for key, value in smtp_server.settings().items():
            instance.settings.set(key, value)
        instance.settings.set("smtp_from", "aft@example.com")
        instance.secrets.set("smtp-password", smtp_server.password)
        instance.secrets.set("hook-url", http_server.url + "/hook")
        instance.secrets.set("hook-headers", json.dumps({"X-Token": "tok-9d8c7b6a"}))
        instance.scripts.add("Nightly", 'Log("start"); throw new Error("disk full");')
        instance.schedules.add("Every night", "Nightly", "0 2 * * *")
    service = ServeProcess(aft_home).start()
    yield service
    service.stop()


def add_rule(page: Page, name: str, channel: str) -> None:
    section = page.locator("section.notifications")
    section.get_by_role("button", name="Add notification").click()
    section.get_by_label("Name", exact=True).fill(name)
    section.get_by_label("Send", exact=True).select_option(channel)
    if channel == "email":
        section.get_by_label("To", exact=True).fill("ops@example.com")
    else:
        section.get_by_label("URL secret").select_option("hook-url")
        section.get_by_label("Headers secret").select_option("hook-headers")
    section.get_by_role("button", name="Add notification").last.click()
    expect(section.get_by_role("cell", name=name, exact=True)).to_be_visible()


def test_notifications_on_a_script_and_a_schedule(browser, served, smtp_server, http_server):  # noqa: F811
    with watched_page(browser) as page:
        setup_admin(page, served.url)
        page.goto(f"{served.url}/#/scripts/Nightly")
        section = page.locator("section.notifications")
        expect(section.get_by_text("No notifications")).to_be_visible()

        # bad input is refused with the server's words, and nothing is saved
        section.get_by_role("button", name="Add notification").click()
        section.get_by_label("Name", exact=True).fill("Too long")
        section.get_by_label("Runs longer than…").check()
        section.get_by_label("To", exact=True).fill("ops@example.com")
        section.get_by_role("button", name="Add notification").last.click()
        expect(section.get_by_text("the long event needs minutes")).to_be_visible()
        section.get_by_role("button", name="Cancel").click()

        add_rule(page, "Hook", "webhook")
        add_rule(page, "Mail", "email")
        expect(section.get_by_text("never sent")).to_have_count(2)

        section.get_by_role("button", name="Send a test of Hook").click()
        expect(page.locator(".toast", has_text="Test of “Hook” sent")).to_be_visible()
        http_server.wait_for_requests(1)
        method, path, headers, body = http_server.requests[0]
        assert (method, path, headers["X-Token"]) == ("POST", "/hook", "tok-9d8c7b6a")
        assert json.loads(body)["event"] == "test"
        section.get_by_role("button", name="Send a test of Mail").click()
        expect(page.locator(".toast", has_text="Test of “Mail” sent")).to_be_visible()
        assert smtp_server.messages[-1]["To"] == "ops@example.com"
        expect(section.locator(".notify-last", has_text="sent")).to_have_count(2)

        # a failed job delivers by both channels
        page.get_by_role("button", name="Run now").click()
        page.get_by_role("dialog").get_by_role("button", name="Run now").click()
        deadline = time.monotonic() + 30
        while len(http_server.requests) < 2 or len(smtp_server.messages) < 2:
            assert time.monotonic() < deadline, "no delivery of the failed job"
            time.sleep(0.1)
        sent = json.loads(http_server.requests[1][3])
        assert sent["event"] == "failure" and "disk full" in sent["error"]
        assert "failed" in smtp_server.messages[1]["Subject"]

        # a schedule's form has its own section
        page.goto(f"{served.url}/#/schedules")
        page.get_by_role("button", name="Edit Every night").click()
        section = page.locator("section.notifications")
        expect(section.get_by_text("No notifications")).to_be_visible()
        add_rule(page, "Night hook", "webhook")
        section.get_by_role("button", name="Send a test of Night hook").click()
        expect(page.locator(".toast", has_text="Test of “Night hook” sent")).to_be_visible()
        section.get_by_role("button", name="Delete Night hook").click()
        page.get_by_role("dialog").get_by_role("button", name="Delete").click()
        expect(section.get_by_text("No notifications")).to_be_visible()
    with Instance(served.home) as instance:
        assert [n.name for n in instance.notifications.list()] == ["Hook", "Mail"]
