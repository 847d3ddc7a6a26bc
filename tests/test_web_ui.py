"""The web console in a real headless Chromium (Debian's ``chromium``), driven by
Playwright, against a real ``aft serve``; plus the console's session security seen from
plain HTTP. Nothing is mocked: the browser talks HTTPS to the service, jobs run in its
workers, and ``aft start`` is the installed command.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
from playwright.sync_api import Browser, Page, expect, sync_playwright

from aft.instance import Instance
from tests.conftest import REPO, aft_command
from tests.servers.chromium import launch_chromium
from tests.servers.cluster import cluster_urls, postgres_server, redis_server  # noqa: F401
from tests.service_helpers import ServeProcess
from tests.test_cluster import cluster  # noqa: F401 (the cluster fixture)

PASSWORD = "correct horse battery staple"
SECRET_VALUE = "s3cr3t-canary-7f1e"

NIGHTLY = """\
var fs = GetVFS("Backups");
var written = fs.WriteFileAsText("/hello.txt", "hello " + Param("who")).Ok();
Log("wrote hello.txt: " + written);
Log("token is set: " + (GetSecret("token").length > 0));
Sleep(3000);
Log("all done for " + Param("who"));
"""
SLOW = 'Log("working");\nSleep(600000);\nLog("stopping: halt asked");\n'

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def served(aft_home):
    with Instance(aft_home) as instance:
        instance.settings.set("halt_grace_seconds", 1)
    service = ServeProcess(aft_home).start()
    yield service
    service.stop()


@contextlib.contextmanager
def watched_page(browser: Browser, **options: Any) -> Iterator[Page]:
    """A page in a fresh browser context (laptop-sized unless ``options`` say otherwise);
    uncaught JavaScript errors on it fail the test."""
    context = browser.new_context(
        ignore_https_errors=True, **{"viewport": {"width": 1280, "height": 800}, **options}
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def page(browser, served):
    """A watched page for the service's tests."""
    with watched_page(browser) as page:
        yield page


def field_error(page: Page, name: str):
    return page.locator(f'[data-field="{name}"] .error-text')


def setup_admin(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.get_by_role("heading", name="Set up aft")).to_be_visible()
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_role("button", name="Create administrator and sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def nav(page: Page, name: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name).click()
    expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()


def fill_source(page: Page, source: str) -> None:
    """Replaces the script editor's text as a person does: select all, then type (paste)."""
    page.locator('[data-field="source"] .CodeMirror-code').click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(source)
    expect(page.locator('textarea[name="source"]')).to_have_value(source)


def save_script(page: Page, name: str, source: str) -> None:
    nav(page, "Scripts")
    page.locator(".page-head").get_by_role("link", name="New script").click()
    page.get_by_label("Name").fill(name)
    fill_source(page, source)
    page.get_by_role("button", name="Create script").click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()


def test_console_end_to_end(page, served, tmp_path):
    url = served.url

    # ---- the setup wizard: bad input is explained next to its field, then it works ----
    page.goto(url)
    expect(page.get_by_role("heading", name="Set up aft")).to_be_visible()
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_role("button", name="Create administrator and sign in").click()
    expect(field_error(page, "password")).to_have_text("A password has at least 10 characters")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD + "x")
    page.get_by_role("button", name="Create administrator and sign in").click()
    expect(field_error(page, "confirm")).to_have_text("The two passwords differ")
    expect(field_error(page, "password")).to_have_count(0)
    page.get_by_label("User name").fill("bad name!")
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_role("button", name="Create administrator and sign in").click()
    expect(field_error(page, "username")).to_contain_text("letters, digits")  # from the server
    page.get_by_label("User name").fill("admin")
    page.get_by_role("button", name="Create administrator and sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.locator("#who")).to_have_text("admin")

    # ---- a Disk VFS: a wrong folder is refused, the connection tested, then saved -----
    backups = tmp_path / "backups"
    backups.mkdir()
    nav(page, "VFS Library")
    page.locator(".page-head").get_by_role("link", name="Add VFS").click()
    page.get_by_label("Name").fill("Backups")
    page.get_by_label("Folder").fill("relative/folder")
    page.get_by_role("button", name="Add VFS").click()
    expect(field_error(page, "root")).to_contain_text("absolute path")
    page.get_by_label("Folder").fill(str(backups))
    expect(page.locator(".preview")).to_have_text(str(backups))
    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_role("status").filter(has_text="Connection works")).to_be_visible()
    page.get_by_role("button", name="Add VFS").click()
    expect(page.get_by_role("heading", name="VFS Library", exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name=str(backups))).to_be_visible()
    expect(page.locator("tr", has_text="Backups")).to_contain_text("works")  # tested on save
    page.locator(".page-head").get_by_role("link", name="Add VFS").click()
    page.get_by_label("Name").fill("Later")
    page.get_by_label("Folder").fill(str(tmp_path / "not yet"))
    page.get_by_role("button", name="Add VFS").click()
    expect(page.locator(".notice.error")).to_contain_text("Connection failed")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("not an existing directory")
    dialog.get_by_role("button", name="Cancel").click()
    expect(page.locator(".notice.error")).to_contain_text("not an existing directory")
    page.get_by_role("button", name="Add VFS").click()
    page.get_by_role("dialog").get_by_role("button", name="Save anyway").click()
    expect(page.locator("tr", has_text="Later")).to_contain_text("failed")

    # ---- a secret: set, listed by name only ------------------------------------------
    nav(page, "Secrets")
    page.get_by_role("button", name="Save secret").click()
    expect(field_error(page, "name")).to_have_text("Enter a name")
    expect(field_error(page, "value")).to_have_text("Enter the value")
    page.get_by_label("Name").fill("token")
    page.get_by_label("Value", exact=True).fill(SECRET_VALUE)
    page.get_by_role("button", name="Save secret").click()
    expect(page.get_by_role("cell", name="token", exact=True)).to_be_visible()
    expect(page.get_by_label("Value", exact=True)).to_have_value("")
    page.get_by_role("button", name="Replace the value of token").click()
    expect(page.get_by_role("heading", name="Replace the value of “token”")).to_be_visible()
    expect(page.get_by_label("Name")).to_have_value("token")
    page.get_by_label("Value", exact=True).fill(SECRET_VALUE)
    page.get_by_role("button", name="Save secret").click()
    expect(page.locator(".toast").filter(has_text="Secret “token” saved").last).to_be_visible()
    assert SECRET_VALUE not in page.content()
    expect(page.locator("tr", has_text="token")).to_contain_text("just now")
    page.get_by_label("Name").fill("token")  # added again under a stored name: asked first
    page.get_by_label("Value", exact=True).fill("another value")
    page.get_by_role("button", name="Save secret").click()
    expect(page.get_by_role("dialog")).to_contain_text("Replace the secret “token”?")
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    with Instance(served.home) as instance:
        assert instance.secrets.get("token") == SECRET_VALUE

    # ---- scripts, in the editor with line numbers --------------------------------------
    save_script(page, "Nightly copy", NIGHTLY)
    numbers = page.locator(".code .CodeMirror-code .CodeMirror-linenumber")
    expect(numbers).to_have_text(["1", "2", "3", "4", "5", "6", "7"])
    expect(page.get_by_label("Worker group")).to_have_count(0)  # a single node has none
    page.get_by_label("Retries").fill("-1")
    page.get_by_role("button", name="Save").click()
    expect(field_error(page, "retries")).to_contain_text("0 to 100")
    page.get_by_label("Retries").fill("1")
    page.get_by_role("link", name="Jobs").click()  # unsaved changes: the page asks first
    expect(page.get_by_role("dialog")).to_contain_text("unsaved changes")
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("heading", name="Nightly copy")).to_be_visible()
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".toast").filter(has_text="Saved “Nightly copy”")).to_be_visible()
    save_script(page, "Slow job", SLOW)
    nav(page, "Scripts")
    page.get_by_role("button", name="Clone Nightly copy").click()
    expect(page.get_by_role("dialog").get_by_label("Name of the copy")).to_have_value(
        "Nightly copy copy"
    )
    page.get_by_role("dialog").get_by_label("Name of the copy").fill("slow job")
    page.get_by_role("dialog").get_by_role("button", name="Clone").click()
    expect(field_error(page, "name")).to_contain_text("exists already")
    page.get_by_role("dialog").get_by_label("Name of the copy").fill("Nightly copy 2")
    page.get_by_role("dialog").get_by_role("button", name="Clone").click()
    expect(page.get_by_role("heading", name="Nightly copy 2")).to_be_visible()
    expect(page.locator('textarea[name="source"]')).to_have_value(NIGHTLY)
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.get_by_role("heading", name="Scripts", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Nightly copy", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Nightly copy 2")).to_have_count(0)

    # ---- an API key, shown once with a copy button -----------------------------------
    nav(page, "API Keys")
    page.get_by_label("Name").fill("ci")
    page.get_by_label("Allowed addresses").fill("127.0.0.1, nonsense")
    page.get_by_role("button", name="Create key").click()
    expect(field_error(page, "allow")).to_contain_text("“nonsense” is not an IP address")
    page.get_by_label("Allowed addresses").fill("127.0.0.1, ::1")
    page.get_by_role("button", name="Create key").click()
    shown = page.get_by_label("New API key")
    expect(shown).to_be_visible()
    expect(page.get_by_role("button", name="Copy")).to_be_visible()
    key = shown.input_value()
    assert re.fullmatch(r"[1-9A-HJ-NP-Za-km-z]{44}", key)
    page.get_by_role("button", name="Done, I stored it").click()
    expect(shown).to_have_count(0)
    expect(page.get_by_role("button", name="Revoke ci")).to_be_visible()
    assert key not in page.content()
    page.reload()
    expect(page.get_by_role("heading", name="API Keys")).to_be_visible()
    assert key not in page.content()

    # ---- aft start with that key; the job's log arrives live on its page --------------
    env = {**os.environ, "AFT_HOME": str(served.home), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    started = subprocess.run(
        [aft_command(), "start", "-n", "nightly copy", "-a", key, "--params", '{"who":"world"}',
         "--host", f"127.0.0.1:{served.port}"],
        capture_output=True, text=True, env=env, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    job_id = started.stdout.strip().splitlines()[-1]
    page.goto(f"{url}/#/jobs/{job_id}")
    log = page.get_by_role("log", name="Job log")
    expect(log).to_contain_text("wrote hello.txt: true")
    expect(log).to_contain_text("token is set: true")
    assert "all done" not in log.inner_text()  # the script sleeps: the rest is yet to come
    expect(page.locator(".page-head .badge")).to_have_text("running")
    expect(log).to_contain_text("all done for world", timeout=20_000)
    expect(page.locator(".page-head .badge")).to_have_text("succeeded")
    expect(page.locator(".meta div").filter(has_text="Worker group")).to_contain_text("default")
    expect(page.locator(".meta div").filter(has_text="Started by")).to_contain_text("key:")
    assert SECRET_VALUE not in page.content()
    assert (backups / "hello.txt").read_text() == "hello world"
    page.get_by_label("Search the log").fill("TOKEN")
    expect(page.locator(".log-line:visible")).to_have_count(1)
    expect(log).to_contain_text("token is set: true")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download").click()
    saved = Path(download.value.path()).read_text()
    assert re.search(r"^\S+Z INFO  all done for world$", saved, re.M) and SECRET_VALUE not in saved
    nav(page, "Scripts")
    expect(page.get_by_role("row").filter(has_text="Nightly copy")).to_contain_text("succeeded")
    nav(page, "Jobs")
    page.get_by_label("State").select_option("succeeded")
    expect(page.get_by_role("link", name="Nightly copy")).to_be_visible()
    expect(page.get_by_role("cell", name="api", exact=True)).to_be_visible()
    page.get_by_label("Started by").select_option("a schedule")
    expect(page.get_by_text("No job matches these filters.")).to_be_visible()
    page.get_by_label("Started by").select_option("an API key")
    expect(page.get_by_role("link", name="Nightly copy")).to_be_visible()
    page.get_by_label("Queued since").fill("2099-01-01")
    expect(page.get_by_text("No job matches these filters.")).to_be_visible()
    nav(page, "Dashboard")
    expect(page.locator(".tile.is-ok .value")).to_have_text("1")

    # ---- run a long job from the UI and halt it --------------------------------------
    nav(page, "Scripts")
    page.get_by_role("link", name="Slow job").click()
    fill_source(page, SLOW.replace('"working"', '"working in " + Param("folder")'))
    page.get_by_role("button", name="Run now").click()  # unsaved changes: saved first
    expect(page.locator(".toast").filter(has_text="Saved “Slow job”")).to_be_visible()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("The script reads: folder.")
    dialog.get_by_label("Edit as JSON").check()
    dialog.get_by_label("Params as JSON").fill("[1, 2]")
    dialog.get_by_role("button", name="Run now").click()
    expect(field_error(page, "params")).to_contain_text("JSON object")
    dialog.get_by_label("Params as JSON").fill('{"folder": "D:\\Archive\\2026"}')
    dialog.get_by_role("button", name="Run now").click()
    log = page.get_by_role("log", name="Job log")
    expect(log).to_contain_text("working")
    took = page.locator(".meta div").filter(has_text="Duration").locator("dd")
    expect(took).to_have_text(re.compile(r"^[1-9]\d*\.\d s$"))  # counts up while it runs
    expect(page.locator(".meta")).to_contain_text("ui")
    expect(page.locator("pre.json")).to_contain_text('"folder": "D:\\\\Archive\\\\2026"')
    page.get_by_role("button", name="Halt").click()
    page.get_by_role("dialog").get_by_role("button", name="Halt job").click()
    expect(page.locator(".page-head .badge")).to_have_text("halted", timeout=20_000)
    expect(log).to_contain_text("stopping: halt asked")
    expect(page.get_by_role("button", name="Halt")).to_have_count(0)
    page.get_by_role("button", name="Run again with params").click()
    folder = page.get_by_role("dialog").get_by_label("folder")
    expect(folder).to_have_value("D:\\Archive\\2026")
    folder.fill("E:/again")
    page.get_by_role("dialog").get_by_role("button", name="Run now").click()
    expect(page.get_by_role("log", name="Job log")).to_contain_text("working in E:/again")
    again = page.url.rsplit("/", 1)[-1]
    nav(page, "Jobs")  # halted from the list
    row = page.get_by_role("row").filter(has_text=again)
    row.get_by_role("button", name=re.compile("^Halt Slow job")).click()
    page.get_by_role("dialog").get_by_role("button", name="Halt job").click()
    expect(row.locator(".badge")).to_have_text("halted", timeout=20_000)
    row.get_by_role("link", name="Slow job").click()  # once more, halted from the Dashboard
    page.get_by_role("button", name="Run again with params").click()
    page.get_by_role("dialog").get_by_role("button", name="Run now").click()
    expect(page.get_by_role("log", name="Job log")).to_contain_text("working in E:/again")
    nav(page, "Dashboard")
    page.get_by_role("button", name=re.compile("^Halt Slow job")).first.click()
    page.get_by_role("dialog").get_by_role("button", name="Halt job").click()
    expect(page.get_by_text("Nothing is running")).to_be_visible(timeout=20_000)

    # ---- sign out; a wrong password is refused, next to the field --------------------
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(field_error(page, "password")).to_have_text("Wrong user name or password")
    expect(page.get_by_label("Password")).to_have_value("")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def test_loading_not_found_titles_and_skip_link(page, served):
    setup_admin(page, served.url)
    held = []  # the scripts list's answer, held back to see the page while it loads
    page.route(re.compile(r".*/v1/scripts$"), lambda route: held.append(route))
    page.goto(f"{served.url}/#/jobs")
    expect(page.locator("#main").get_by_role("status")).to_have_text("Loading…")
    for route in held:
        route.continue_()
    page.unroute(re.compile(r".*/v1/scripts$"))
    expect(page.get_by_role("heading", name="Jobs", exact=True)).to_be_visible()
    expect(page.get_by_text("Loading…")).to_have_count(0)
    expect(page).to_have_title("Jobs · aft")
    nav(page, "Schedules")  # the keyboard goes on from the new page's heading
    expect(page.get_by_role("heading", name="Schedules", exact=True)).to_be_focused()
    page.goto(f"{served.url}/#/nowhere/at/all")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    expect(page).to_have_title("Not found · aft")
    with Instance(served.home) as instance:
        instance.scripts.add("Nightly backup", 'Log("x");')
    page.goto(f"{served.url}/#/scripts/Nightly%20backup")
    expect(page.get_by_role("heading", name="Nightly backup")).to_be_visible()
    expect(page).to_have_title("Nightly backup · Scripts · aft")
    page.reload()
    expect(page.get_by_role("heading", name="Nightly backup")).to_be_visible()
    page.keyboard.press("Tab")  # the first stop: past the navigation
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Nightly backup")).to_be_focused()
    assert page.evaluate("location.hash") == "#/scripts/Nightly%20backup"


def test_script_errors_point_at_their_line(page, served):
    """A syntax error is refused on save at its line; a failed job's line opens the editor
    there."""
    setup_admin(page, served.url)
    nav(page, "Scripts")
    page.locator(".page-head").get_by_role("link", name="New script").click()
    page.get_by_label("Name").fill("Broken")
    fill_source(page, 'Log("one");\nvar x = ;\nLog("three");')
    page.get_by_role("button", name="Create script").click()
    expect(field_error(page, "source")).to_contain_text("Line 2: SyntaxError")
    expect(page.locator(".code .marked .CodeMirror-linenumber")).to_have_text("2")
    expect(page.locator(".code-status")).to_contain_text("Ln 2, Col 1")
    with Instance(served.home) as instance:
        assert [s.name for s in instance.scripts.list()] == []
    fill_source(page, 'Log("one");\nthrow new Error("boom");\n')
    page.get_by_role("button", name="Create script").click()
    expect(page.get_by_role("heading", name="Broken")).to_be_visible()
    page.get_by_role("button", name="Run now").click()
    page.get_by_role("dialog").get_by_role("button", name="Run now").click()
    expect(page.locator(".page-head .badge")).to_have_text("failed", timeout=20_000)
    page.get_by_role("link", name="Line 2").click()
    expect(page.get_by_role("heading", name="Broken")).to_be_visible()
    expect(page.locator(".code .marked .CodeMirror-linenumber")).to_have_text("2")
    expect(page.locator(".code-status")).to_contain_text("Ln 2, Col 1")


def test_sftp_profile_with_a_fetched_host_key(page, served, sshd_server):
    """The SFTP form: the host key is fetched, shown, pinned; then the connection works."""
    sshd = sshd_server
    folder = sshd.new_dir("ui")
    (folder / "hello.txt").write_text("hi")
    setup_admin(page, served.url)
    nav(page, "VFS Library")
    page.locator(".page-head").get_by_role("link", name="Add VFS").click()
    page.get_by_label("Name").fill("Partner")
    page.locator(".segmented label", has_text="SFTP").click()
    page.get_by_label("Host", exact=True).fill(f"sftp://{sshd.host}:{sshd.port}")  # a URL
    page.get_by_role("button", name="Fetch").click()
    expect(field_error(page, "host")).to_contain_text("Host is a name or address")
    page.get_by_label("Host", exact=True).fill(sshd.host)
    page.get_by_label("Port").fill(str(sshd.port))
    page.get_by_label("User").fill(sshd.user)
    page.get_by_label("Base folder").fill(str(folder))
    page.get_by_role("button", name="Add VFS").click()
    expect(field_error(page, "hostKeySHA256")).to_contain_text("must pin the server's host key")
    page.get_by_role("button", name="Fetch").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(sshd.host_key_sha256)
    dialog.get_by_role("button", name="Pin this key").click()
    expect(page.get_by_label("Host key (SHA-256)")).to_have_value(sshd.host_key_sha256)
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Test connection").click()
    expect(field_error(page, "pass")).to_contain_text("the server refused the password")
    assert "wrong password" not in page.locator("form").inner_text()
    page.get_by_label("Password").fill(sshd.password)
    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_role("status").filter(has_text="Connection works")).to_contain_text(
        "1 entries"
    )
    page.get_by_role("button", name="Add VFS").click()
    expect(page.get_by_role("link", name="Partner")).to_be_visible()
    assert sshd.password not in page.content()
    page.get_by_role("link", name="Partner").click()
    expect(page.get_by_label("Password")).to_have_value("")
    expect(page.get_by_label("Host key (SHA-256)")).to_have_value(sshd.host_key_sha256)
    page.get_by_role("button", name="Test connection").click()  # with the stored password
    expect(page.get_by_role("status").filter(has_text="Connection works")).to_be_visible()
    with Instance(served.home) as instance:
        assert instance.vfs.payload("Partner") == {"pass": sshd.password}


PIN = "SHA256:ab+/cd" + "A" * 37
#: Each type's profile as the form fills it: type, the fields (by label; True ticks a
#: checkbox; "More options" opened first when a label is in it), credentials, the target.
VFS_FORMS = [
    ("Disk", {"Folder": "{tmp}"}, {}, "{tmp}"),
    (
        "SFTP",
        {"Host": "sftp.example.com", "Port": "2222", "User": "bob", "Base folder": "/out box",
         "Host key (SHA-256)": PIN},
        {"Password": "pw"},
        "sftp://bob@sftp.example.com:2222/out%20box?hostKeySHA256=SHA256:ab%2B/cd" + "A" * 37,
    ),
    (
        "FTP",
        {"Host": "ftp.example.com", "Port": "2121", "User": "u", "Base folder": "/in",
         "TLS": "implicit", "Accept any certificate": True, "CA certificates": "/etc/ca.pem"},
        {"Password": "pw"},
        "ftp://u@ftp.example.com:2121/in?tls=implicit&insecure=true&cafile=/etc/ca.pem",
    ),
    (
        "S3",
        {"Bucket": "backups", "Prefix": "2026/q1", "Endpoint": "http://127.0.0.1:8333",
         "Region": "eu-west-1"},
        {"Access key id": "AKID", "Secret access key": "SK"},
        "s3://backups/2026/q1?endpoint=http://127.0.0.1:8333&region=eu-west-1",
    ),
    (
        "Azure",
        {"Storage account": "acct", "Container": "in", "Prefix": "a/b",
         "Endpoint": "http://127.0.0.1:10000/acct"},
        {"Account key": "a2V5"},
        "azure://acct/in/a/b?endpoint=http://127.0.0.1:10000/acct",
    ),
    (
        "GCP",
        {"Bucket": "b", "Prefix": "runs", "Endpoint": "https://storage.googleapis.com"},
        {},
        "gs://b/runs?endpoint=https://storage.googleapis.com",
    ),
]  # fmt: skip


def vfs_type(page: Page, type_name: str):
    return page.locator(".segmented label").filter(has_text=re.compile(f"^{type_name}$"))


def vfs_input(page: Page, label: str):
    return page.locator("form").get_by_label(label, exact=label == "Host")


def save_untested(page: Page) -> None:
    """Answers "Save anyway" to the question a failed connection test asks on save."""
    dialog = page.get_by_role("dialog")
    # (a GCS client without credentials waits for its 10 s connect timeout)
    expect(dialog).to_contain_text("The connection test failed", timeout=30_000)
    dialog.get_by_role("button", name="Save anyway").click()


def test_vfs_form_round_trip_of_every_type(page, served, tmp_path):
    """Each type: made in the form, opened again with every field as saved, saved unchanged
    (all but the Disk folder fail their connection test on save: saved anyway)."""
    setup_admin(page, served.url)
    for type_name, fields, credentials, target in VFS_FORMS:
        fields = {k: v.replace("{tmp}", str(tmp_path)) if isinstance(v, str) else v
                  for k, v in fields.items()}  # fmt: skip
        target = target.replace("{tmp}", str(tmp_path))
        name = f"{type_name} profile"
        page.goto(f"{served.url}/#/vfs/new")
        page.get_by_label("Name").fill(name)
        vfs_type(page, type_name).click()
        for label, value in fields.items():
            if not vfs_input(page, label).is_visible():
                page.get_by_text("More options").first.click()
            if value is True:
                vfs_input(page, label).check()
            elif vfs_input(page, label).evaluate("el => el.tagName") == "SELECT":
                vfs_input(page, label).select_option(value)
            else:
                vfs_input(page, label).fill(value)
        for label, value in credentials.items():
            vfs_input(page, label).fill(value)
        expect(page.locator(".preview")).to_have_text(target)
        page.get_by_role("button", name="Add VFS").click()
        if type_name != "Disk":
            save_untested(page)
        expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()
        with Instance(served.home) as instance:
            assert instance.vfs.get(name).target == target
            payload = instance.vfs.payload(name)
        page.get_by_role("link", name=name, exact=True).click()
        expect(page.get_by_role("heading", name=name)).to_be_visible()
        for label, value in fields.items():
            if value is True:
                expect(vfs_input(page, label)).to_be_checked()
            else:
                expect(vfs_input(page, label)).to_have_value(value)
        expect(page.locator(".preview")).to_have_text(target)
        page.get_by_role("button", name="Save").click()
        if type_name != "Disk":
            save_untested(page)
        expect(page.locator(".toast").filter(has_text=f"Saved “{name}”")).to_be_visible()
        with Instance(served.home) as instance:
            assert instance.vfs.get(name).target == target, type_name
            assert instance.vfs.payload(name) == payload

    # a URL typed as the bucket is refused next to the field, and nothing is saved
    page.goto(f"{served.url}/#/vfs/new")
    page.get_by_label("Name").fill("wrong")
    vfs_type(page, "S3").click()
    vfs_input(page, "Bucket").fill("s3://x/y")
    page.get_by_role("button", name="Add VFS").click()
    expect(field_error(page, "bucket")).to_contain_text("Bucket is a plain name")
    with Instance(served.home) as instance:
        assert "wrong" not in [p.name for p in instance.vfs.list()]


def test_pages_on_a_phone_with_the_dark_theme(browser, served):
    phone = {"viewport": {"width": 390, "height": 844}, "color_scheme": "dark"}
    with watched_page(browser, **phone) as page:
        setup_admin(page, served.url)
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(15, 19, 24)"  # dark, from prefers-color-scheme
        sidebar = page.get_by_role("navigation", name="Main")
        assert not sidebar.is_visible() or sidebar.bounding_box()["x"] < 0
        page.get_by_role("button", name="Menu").click()
        expect(sidebar.get_by_role("link", name="Settings")).to_be_in_viewport()
        page.keyboard.press("Escape")  # closes the menu, back to its button
        expect(sidebar.get_by_role("link", name="Settings")).not_to_be_in_viewport()
        expect(page.get_by_role("button", name="Menu")).to_be_focused()
        page.get_by_role("button", name="Menu").click()
        sidebar.get_by_role("link", name="Settings").click()
        expect(page.get_by_role("heading", name="Settings", exact=True)).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, "the page scrolls sideways on a phone"
        # the theme toggle: system -> light, kept across a reload
        page.get_by_role("button", name="Theme: system (switch)").first.click()
        page.reload()
        expect(page.get_by_role("heading", name="Settings", exact=True)).to_be_visible()
        assert page.evaluate("document.documentElement.dataset.theme") == "light"
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == (
            "rgb(245, 246, 248)"
        )
        # Allow CLI Run, from the Settings page
        page.get_by_label("Concurrent jobs").fill("0")
        page.get_by_role("button", name="Save").first.click()
        expect(field_error(page, "concurrency")).to_have_text("Concurrency takes 1 to 64, not 0")
        page.get_by_label("Concurrent jobs").fill("3")
        page.get_by_label("Allow CLI Run").check()
        page.get_by_role("button", name="Save").first.click()
        expect(page.locator(".toast")).to_contain_text("2 settings saved")
        with Instance(served.home) as instance:
            assert instance.settings.get("allow_cli_run") is True
            assert instance.settings.get("concurrency") == 3
        # the schedules page, served by the real routes
        page.get_by_role("button", name="Menu").click()
        sidebar.get_by_role("link", name="Schedules").click()
        expect(page.get_by_role("heading", name="Schedules", exact=True)).to_be_visible()
        expect(page.get_by_text("No schedules")).to_be_visible()


# ---- the session's security, seen from a plain HTTP client --------------------------------


def http(served):
    pool = urllib3.PoolManager(cert_reqs="CERT_NONE")
    urllib3.disable_warnings()

    def request(method, path, body=None, headers=None):
        data = None if body is None else json.dumps(body)
        return pool.request(method, served.url + path, body=data, headers=headers or {})

    return request


def test_session_cookie_csrf_and_rate_limit(served):
    request = http(served)
    page = request("GET", "/")
    assert page.status == 200 and "app.js" in page.data.decode()
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    asset = request("GET", "/ui/static/app.js")
    assert asset.status == 200 and "javascript" in asset.headers["Content-Type"]
    assert request("GET", "/ui/static/../aft.db").status == 404
    assert request("GET", "/ui/session").json()["state"] == "setup"

    made = request("POST", "/ui/setup", {"username": "admin", "password": PASSWORD})
    assert made.status == 201
    cookie = made.headers["Set-Cookie"]
    assert cookie.startswith("__Host-aft_session=")
    for flag in ("HttpOnly", "Secure", "Path=/"):
        assert flag in cookie
    assert "samesite=strict" in cookie.lower()
    session = cookie.split(";")[0]
    csrf = made.json()["csrf"]
    again = request("POST", "/ui/setup", {"username": "other", "password": PASSWORD})
    assert again.status == 409 and again.json()["error"] == "account_exists"

    # the session works for the REST API; changes need the CSRF token
    assert request("GET", "/v1/settings", headers={"Cookie": session}).status == 200
    change = {"value": True}
    no_token = request("PUT", "/v1/settings/allow_cli_run", change, {"Cookie": session})
    assert no_token.status == 403 and "CSRF" in no_token.json()["message"]
    wrong = request(
        "PUT", "/v1/settings/allow_cli_run", change, {"Cookie": session, "X-CSRF-Token": "x"}
    )
    assert wrong.status == 403
    good = request(
        "PUT", "/v1/settings/allow_cli_run", change, {"Cookie": session, "X-CSRF-Token": csrf}
    )
    assert good.status == 200
    assert request("GET", "/v1/settings", headers={"Cookie": "__Host-aft_session=x"}).status == 401

    # sign out ends the session on the server
    out = request("POST", "/ui/logout", headers={"Cookie": session, "X-CSRF-Token": csrf})
    assert out.status == 200
    assert request("GET", "/v1/settings", headers={"Cookie": session}).status == 401

    # five attempts a minute per address, then 429 with a clear message
    for _ in range(5):
        bad = request("POST", "/ui/login", {"username": "admin", "password": "wrong password"})
        assert bad.status == 401 and bad.json()["field"] == "password"
    limited = request("POST", "/ui/login", {"username": "admin", "password": PASSWORD})
    assert limited.status == 429
    assert "too many sign-in attempts" in limited.json()["message"]
    assert 1 <= int(limited.headers["Retry-After"]) <= 60


def test_vfs_routes_never_return_credentials(served):
    request = http(served)
    made = request("POST", "/ui/setup", {"username": "admin", "password": PASSWORD})
    auth = {"Cookie": made.headers["Set-Cookie"].split(";")[0], "X-CSRF-Token": made.json()["csrf"]}
    canary = "ftp-pass-canary-99"
    target = "ftp://bob@127.0.0.1:1/in?tls=none"
    created = request(
        "POST", "/v1/vfs", {"name": "Partner", "type": "FTP", "target": target,
                            "payload": {"pass": canary}}, auth,
    )  # fmt: skip
    assert created.status == 201, created.data
    dup = request("POST", "/v1/vfs", {"name": "partner", "type": "Disk", "target": "/tmp"}, auth)
    assert dup.status == 409
    bad = request("POST", "/v1/vfs", {"name": "x", "type": "Disk", "target": "rel"}, auth)
    assert bad.status == 400 and "absolute path" in bad.json()["message"]
    for path in ("/v1/vfs", "/v1/vfs/Partner"):
        answer = request("GET", path, headers=auth)
        assert answer.status == 200 and canary not in answer.data.decode()
    assert request("GET", "/v1/vfs/nope", headers=auth).status == 404
    moved = request("PUT", "/v1/vfs/partner", {"target": "ftp://bob@127.0.0.1:2/in"}, auth)
    assert moved.status == 200 and moved.json()["target"].endswith(":2/in")
    with Instance(served.home) as instance:
        assert instance.vfs.payload("Partner") == {"pass": canary}  # kept when left out
    refused = request("POST", "/v1/vfs/test", {"type": "FTP", "target": target,
                                               "payload": {"pass": canary}}, auth)  # fmt: skip
    assert refused.status == 400 and "127.0.0.1:1" in refused.json()["message"]
    # whatever a backend's message quotes, no payload value gets out
    missing = request("POST", "/v1/vfs/test", {"type": "Disk", "target": f"/nowhere/{canary}",
                                               "payload": {"note": canary}}, auth)  # fmt: skip
    assert missing.status in (400, 404) and canary not in missing.data.decode()
    assert "/nowhere/********" in missing.json()["message"]
    hostkey = request("GET", "/v1/vfs/hostkey?url=ftp://127.0.0.1", headers=auth)
    assert hostkey.status == 400 and "sftp://host:22" in hostkey.json()["message"]
    assert request("DELETE", "/v1/vfs/Partner", headers=auth).status == 200
    assert request("GET", "/v1/vfs", headers=auth).json() == {"vfs": []}


def test_reinit_brings_the_setup_wizard_back(served, aft_home):
    request = http(served)
    assert request("POST", "/ui/setup", {"username": "admin", "password": PASSWORD}).status == 201
    refused = subprocess.run([aft_command(), "reinit"], capture_output=True, text=True)
    assert refused.returncode == 1 and "stop it first" in refused.stderr
    served.stop()
    done = subprocess.run([aft_command(), "reinit"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    served.start()
    assert http(served)("GET", "/ui/session").json()["state"] == "setup"


def test_screenshots_script_renders_every_page(browser, tmp_path):
    """docs/make_screenshots.py (which makes the pictures under docs/) keeps working."""
    spec = importlib.util.spec_from_file_location(
        "make_screenshots", REPO / "docs" / "make_screenshots.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    made = module.make_screenshots(tmp_path / "shots", home=tmp_path / "home", browser=browser)
    assert {p.name for p in made} >= {"dashboard.png", "dashboard-dark.png", "dashboard-phone.png"}
    for picture in made:
        assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert all(isinstance(p, Path) for p in made)


# ---- the Schedules page on the real /v1/schedules routes, over plain HTTP -----------------


def test_schedules_page_and_plain_http_cookie(browser, instance):
    from cheroot import wsgi

    from aft.server.app import create_app
    from aft.server.http import ServiceContext
    from aft.server.schedule_routes import add_schedule_routes
    from aft.server.ui import add_ui
    from aft.server.vfs_routes import add_vfs_routes

    instance.scripts.add("Nightly copy", 'Log("hi")')
    schedules = instance.schedules
    context = ServiceContext(instance, notify=lambda: None)
    app = create_app(context, [add_vfs_routes, add_ui, add_schedule_routes])
    server = wsgi.Server(("127.0.0.1", 0), app, numthreads=4)
    server.prepare()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    browsing = browser.new_context(timezone_id="America/New_York")
    page = browsing.new_page()
    page.set_default_timeout(15_000)
    try:
        setup_admin(page, f"http://127.0.0.1:{server.bind_addr[1]}")
        (cookie,) = browsing.cookies()
        assert cookie["name"] == "aft_session" and not cookie["secure"]  # plain HTTP
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        nav(page, "Schedules")
        expect(page.get_by_text("No schedules")).to_be_visible()
        page.get_by_role("button", name="New schedule").click()
        page.get_by_label("Name").fill("Every night")
        page.get_by_label("When (cron)").fill("61 2 * * *")
        page.get_by_label("Time zone").fill("Europe/Berlin")
        page.get_by_role("button", name="Create schedule").click()
        expect(field_error(page, "cron")).to_have_text(
            "The minute field '61' is not valid: it takes 0 to 59, a list (1,15), a range (1-5)"
            " or a step (*/10)"
        )
        page.get_by_label("When (cron)").fill("0 2 * * *")
        expect(page.locator(".cron-preview")).to_contain_text("At 02:00 every day (Europe/Berlin)")
        runs = page.locator(".cron-preview li")  # the next five, here and in New York
        expect(runs).to_have_count(5)
        expect(runs.first).to_contain_text(re.compile(r"02:00:00 GMT\+[12] · your time \S+ 20:00"))
        page.get_by_role("button", name="Create schedule").click()
        row = page.get_by_role("row").filter(has_text="Every night")
        expect(row).to_contain_text("0 2 * * *")
        expect(row).to_contain_text("Europe/Berlin")
        expect(row).to_contain_text("At 02:00 every day")
        expect(row).to_contain_text(
            re.compile(r"02:00:00 GMT\+[12]\s*your time \S+ 20:00:00 E[SD]T")
        )
        page.get_by_role("button", name="New schedule").click()
        page.get_by_label("Name").fill("every NIGHT")
        page.get_by_role("button", name="Create schedule").click()
        expect(field_error(page, "name")).to_contain_text("exists already")
        expect(field_error(page, "cron")).to_have_count(0)
        page.get_by_role("button", name="Cancel").click()
        expect(row.get_by_role("link", name="Nightly copy")).to_be_visible()
        expect(row).to_contain_text("enabled")
        expect(row.locator('td[data-label="Last run"]')).to_have_text("never")
        (made,) = schedules.list()
        assert (made.name, made.script, made.cron) == ("Every night", "Nightly copy", "0 2 * * *")
        assert made.enabled and made.next_run is not None
        row.get_by_role("button", name="Pause").click()
        expect(row).to_contain_text("paused")
        assert schedules.get("Every night").enabled is False
        assert schedules.get("Every night").next_run is None
        row.get_by_role("button", name="Delete Every night").click()
        page.get_by_role("dialog").get_by_role("button", name="Delete").click()
        expect(page.get_by_text("No schedules")).to_be_visible()
        assert schedules.list() == []
    finally:
        browsing.close()
        server.stop()


# ---- without a browser: the sign-in limiter, and setup from another machine ---------------


def test_a_scripts_worker_group_on_a_cluster_node(browser, cluster):  # noqa: F811
    """On a cluster node the script editor shows the worker group, checks it, saves it."""
    script = cluster.instance.scripts.add("nas sweep", 'Log("on the nas")')
    serve = cluster.serve("serve1")
    with watched_page(browser) as page:
        setup_admin(page, serve.url)
        page.goto(serve.url + "/#/scripts/nas%20sweep")
        expect(page.get_by_label("Worker group")).to_have_value("default")
        page.get_by_label("Worker group").fill("no spaces")
        page.get_by_role("button", name="Save").click()
        expect(field_error(page, "group")).to_contain_text("1 to 64")
        page.get_by_label("Worker group").fill("nas1")
        page.get_by_role("button", name="Save").click()
        expect(page.locator(".toast").filter(has_text="Saved “nas sweep”")).to_be_visible()
        assert cluster.instance.scripts.get(script.id).group == "nas1"
        nav(page, "Scripts")
        expect(page.get_by_text("group nas1")).to_be_visible()


def test_login_limiter_counts_per_address_and_forgives_success():
    from aft.server.http import AttemptLimiter, TooManyAttempts

    now = [1000.0]
    limiter = AttemptLimiter(limit=3, window=60, clock=lambda: now[0])
    for _ in range(3):
        limiter.take("192.0.2.1")
    with pytest.raises(TooManyAttempts, match="wait 60 seconds") as refused:
        limiter.take("192.0.2.1")
    assert refused.value.retry_after == 60
    limiter.take("192.0.2.2")  # another address has its own count
    now[0] += 45
    with pytest.raises(TooManyAttempts, match="wait 15 seconds"):
        limiter.take("192.0.2.1")
    now[0] += 15
    limiter.take("192.0.2.1")
    limiter.forgive("192.0.2.1")
    limiter.take("192.0.2.1")


def wsgi(app, method, path, body=None, remote="192.0.2.7"):
    """One request straight into the WSGI app, as if from ``remote`` over HTTPS."""
    import io

    data = json.dumps(body).encode() if body is not None else b""
    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "",
        "REMOTE_ADDR": remote, "wsgi.url_scheme": "https", "wsgi.input": io.BytesIO(data),
        "CONTENT_LENGTH": str(len(data)), "CONTENT_TYPE": "application/json",
        "SERVER_NAME": "aft", "SERVER_PORT": "443", "SERVER_PROTOCOL": "HTTP/1.1",
    }  # fmt: skip
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["status"] = int(status.split()[0])

    payload = b"".join(app(environ, start_response))
    return answer["status"], json.loads(payload)


def test_setup_from_another_machine_needs_the_code_in_the_instance_home(instance):
    from aft.server.app import create_app
    from aft.server.http import ServiceContext
    from aft.server.ui import SETUP_CODE_NAME, add_ui

    context = ServiceContext(instance, notify=lambda: None)
    app = create_app(context, [add_ui])
    status, state = wsgi(app, "GET", "/ui/session")
    assert status == 200 and state["state"] == "setup" and state["setupCode"] is True
    code_file = instance.home / SETUP_CODE_NAME
    assert oct(code_file.stat().st_mode & 0o777) == "0o600"
    admin = {"username": "admin", "password": PASSWORD}
    status, error = wsgi(app, "POST", "/ui/setup", {**admin, "code": "guess"})
    assert status == 400 and error["field"] == "code" and SETUP_CODE_NAME in error["message"]
    code = code_file.read_text().strip()
    assert code not in json.dumps(error)
    status, _ = wsgi(app, "POST", "/ui/setup", {**admin, "code": code})
    assert status == 201 and not code_file.exists()
    status, state = wsgi(app, "GET", "/ui/session")
    assert state["state"] == "login"
    assert wsgi(app, "GET", "/ui/session", remote="127.0.0.1")[1]["state"] == "login"
