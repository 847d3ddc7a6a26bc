"""The console's script editor, run dialog, VFS save and script history in a real headless
Chromium against a real ``aft serve``: syntax highlighting from the package's own CodeMirror,
params as fields, a network VFS tested before it is saved, and the History charts drawn from
real jobs.
"""

from __future__ import annotations

import configparser
import re
import socket

import pytest
from playwright.sync_api import Page, expect

from aft.instance import Instance
from aft.server.ui import STATIC
from tests import test_web_ui as ui
from tests.conftest import REPO
from tests.service_helpers import wait_for
from tests.test_web_ui import browser, page, served  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow


def test_setup_cfg_ships_every_file_of_the_console():
    """package_data globs (not recursive) cover every file under static/, the vendored
    CodeMirror among them, so the wheel holds what the source tree has."""
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    patterns = config["options.package_data"]["aft.server"].split()
    server = STATIC.parent
    shipped = {p for pattern in patterns for p in server.glob(pattern) if p.is_file()}
    every = {p for p in STATIC.rglob("*") if p.is_file()}
    assert every - shipped == set()
    assert STATIC / "vendor" / "codemirror" / "lib" / "codemirror.js" in shipped
    assert (STATIC / "vendor" / "codemirror" / "LICENSE").read_text().startswith("MIT License")


def colour(tab: Page, selector: str) -> str:
    return tab.locator(selector).first.evaluate("el => getComputedStyle(el).color")


def test_the_editor_highlights_javascript_with_the_packaged_component(browser, served):  # noqa: F811
    """CodeMirror from the package: tokens coloured in both themes, Tab indents, the caret's
    place is shown, a syntax error marks its line; nothing is fetched from elsewhere and the
    page's policy stays 'self' without a single violation."""
    requests: list[str] = []
    refused: list[str] = []
    with ui.watched_page(browser, color_scheme="dark") as page:  # noqa: F811
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: refused.append(m.text) if "Refused" in m.text else None)
        ui.setup_admin(page, served.url)
        ui.save_script(page, "Colours", 'var n = 3; // three\nLog("n is " + n);\n')
        editor = page.locator(".code .CodeMirror")
        expect(editor.locator(".cm-keyword")).to_have_text("var")
        expect(editor.locator(".cm-string")).to_have_text('"n is "')
        expect(editor.locator(".cm-comment")).to_have_text("// three")
        expect(editor.locator(".cm-number")).to_have_text("3")
        assert colour(page, ".code .cm-keyword") == "rgb(164, 139, 255)"  # --violet, dark
        assert colour(page, ".code .CodeMirror-code") == "rgb(228, 232, 238)"  # --text, dark
        page.locator(".sidebar .theme-button").click()  # system (dark here) -> light
        expect(page.locator("html")).to_have_attribute("data-theme", "light")
        assert colour(page, ".code .cm-keyword") == "rgb(112, 72, 232)"  # --violet, light
        assert colour(page, ".code .CodeMirror-code") == "rgb(27, 35, 48)"

        # Tab indents by two spaces, Shift-Tab takes it back; the status line follows
        editor.locator(".CodeMirror-code").click()
        page.keyboard.press("Control+a")
        page.keyboard.press("Delete")
        page.keyboard.press("Tab")
        page.keyboard.type('Log("x");')
        source = page.locator('textarea[name="source"]')
        expect(source).to_have_value('  Log("x");')
        expect(page.locator(".code-status")).to_contain_text("Ln 1, Col 12")
        expect(page.locator(".code-status")).to_contain_text("1 line")
        page.keyboard.press("Shift+Tab")
        expect(source).to_have_value('Log("x");')
        expect(page.locator(".code-status")).to_contain_text("Esc, Tab: leave the editor")
        page.keyboard.press("Escape")  # then Tab moves on, to the Save button
        page.keyboard.press("Tab")
        expect(page.get_by_role("button", name="Save")).to_be_focused()
        expect(source).to_have_value('Log("x");')
        editor.locator(".CodeMirror-code").click()  # back in: Tab indents again
        page.keyboard.press("Home")
        page.keyboard.press("Tab")
        expect(source).to_have_value('  Log("x");')

        # a syntax error on save: refused, its line marked and selected
        ui.fill_source(page, 'Log("one");\nLog("two");\nvar x = ;\n')
        page.get_by_role("button", name="Save").click()
        expect(ui.field_error(page, "source")).to_contain_text("Line 3: SyntaxError")
        expect(page.locator(".code .marked .CodeMirror-linenumber")).to_have_text("3")
        expect(page.locator(".code-status")).to_contain_text("Ln 3, Col 1")
        page.keyboard.type("var y = 1;")  # the line was selected: typing replaces it
        expect(source).to_have_value('Log("one");\nLog("two");\nvar y = 1;\n')
        expect(page.locator(".code .marked")).to_have_count(0)
        page.get_by_role("button", name="Save").click()
        expect(page.locator(".toast").filter(has_text="Saved “Colours”")).to_be_visible()
        with Instance(served.home) as instance:
            assert instance.scripts.get("Colours").source.endswith("var y = 1;\n")

        response = page.request.get(served.url + "/")
        policy = response.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "style-src 'self';" in policy
        assert "unsafe" not in policy
    loaded = [u for u in requests if u.startswith("http")]
    assert any("/ui/static/vendor/codemirror/lib/codemirror.js" in u for u in loaded)
    assert all(u.startswith(served.url) for u in loaded), loaded
    assert refused == []


def test_run_dialog_shows_the_params_as_fields(page, served):  # noqa: F811
    """The params the script reads are fields; "Edit as JSON" shows the same params, the two
    in step; a past job's params fill the fields of "Run again with params"."""
    ui.setup_admin(page, served.url)
    ui.save_script(page, "Greeter", 'Log("hello " + Param("who") + ", count " + Param("count"));\n')
    page.get_by_role("button", name="Run now").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("The script reads: who, count.")
    json = dialog.get_by_label("Params as JSON")
    expect(json).to_be_hidden()
    dialog.get_by_label("who").fill("world")
    dialog.get_by_label("Edit as JSON").check()
    expect(json).to_have_value('{\n  "who": "world"\n}')
    expect(dialog.get_by_label("who")).to_be_hidden()
    json.fill('{"who": "there", "count": 3, "extra": "D:\\Archive"}')
    dialog.get_by_label("Edit as JSON").uncheck()
    expect(dialog.get_by_label("who")).to_have_value("there")
    expect(dialog.get_by_label("count")).to_have_value("3")
    expect(dialog.get_by_label("extra")).to_have_value("D:\\Archive")  # not read, but given
    dialog.get_by_label("extra").fill("")  # an empty field is left out
    dialog.get_by_label("Edit as JSON").check()
    expect(json).to_have_value('{\n  "who": "there",\n  "count": 3\n}')
    json.fill('{"who": ')  # bad JSON: said, and the dialog stays on the JSON
    dialog.get_by_label("Edit as JSON").click()
    expect(ui.field_error(page, "params")).to_contain_text("Params are not valid JSON")
    expect(dialog.get_by_label("Edit as JSON")).to_be_checked()
    json.fill('{"who": "there", "count": 3}')
    dialog.get_by_label("Edit as JSON").uncheck()
    expect(ui.field_error(page, "params")).to_have_count(0)
    dialog.get_by_role("button", name="Run now").click()
    log = page.get_by_role("log", name="Job log")
    expect(log).to_contain_text("hello there, count 3")
    expect(page.locator(".page-head .badge")).to_have_text("succeeded", timeout=20_000)
    expect(page.locator("pre.json")).to_contain_text('"count": 3')

    page.get_by_role("button", name="Run again with params").click()
    expect(dialog.get_by_label("who")).to_have_value("there")
    expect(dialog.get_by_label("count")).to_have_value("3")
    dialog.get_by_label("who").fill("again")
    dialog.get_by_role("button", name="Run now").click()
    expect(page.get_by_role("log", name="Job log")).to_contain_text("hello again, count 3")
    expect(page.locator("pre.json")).to_contain_text('"count": 3')  # untouched: still a number
    expect(page.locator("pre.json")).to_contain_text('"who": "again"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_network_vfs_is_tested_before_it_is_saved(page, served, ftp_server):  # noqa: F811
    """Saving an FTP or S3 entry runs its connection test first: a failure asks "save
    anyway?" with the error, and the list keeps each entry's last result and time."""
    ui.setup_admin(page, served.url)
    ui.nav(page, "VFS Library")
    page.locator(".page-head").get_by_role("link", name="Add VFS").click()
    page.get_by_label("Name").fill("Partner FTP")
    page.locator(".segmented label").filter(has_text=re.compile("^FTP$")).click()
    form = page.locator("form")
    form.get_by_label("Host", exact=True).fill(ftp_server.host)
    form.get_by_label("Port").fill(str(ftp_server.port))
    form.get_by_label("User").fill(ftp_server.user)
    form.get_by_label("TLS").select_option("none")
    form.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Add VFS").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading")).to_have_text("Save a VFS that does not work yet?")
    expect(dialog).to_contain_text("The connection test failed")
    expect(dialog).to_contain_text("530 Authentication failed. Scripts that open it will fail")
    dialog.get_by_role("button", name="Cancel").click()
    expect(page.locator(".notice.error")).to_contain_text("Connection failed")
    with Instance(served.home) as instance:
        assert [p.name for p in instance.vfs.list()] == []

    form.get_by_label("Password").fill(ftp_server.password)
    page.get_by_role("button", name="Add VFS").click()  # passes: saved without a question
    row = page.get_by_role("row").filter(has_text="Partner FTP")
    expect(row).to_contain_text("works")
    expect(row).to_contain_text("just now")

    # an S3 endpoint where nothing listens: saved only when asked to, its failure kept
    page.locator(".page-head").get_by_role("link", name="Add VFS").click()
    page.get_by_label("Name").fill("Dead S3")
    page.locator(".segmented label").filter(has_text=re.compile("^S3$")).click()
    form.get_by_label("Bucket").fill("nothing")
    form.get_by_label("Endpoint").fill(f"http://127.0.0.1:{free_port()}")
    form.get_by_label("Access key id").fill("AKID")
    form.get_by_label("Secret access key").fill("secret")
    page.get_by_role("button", name="Add VFS").click()
    dialog.get_by_role("button", name="Save anyway").click()
    dead = page.get_by_role("row").filter(has_text="Dead S3")
    expect(dead).to_contain_text("failed")
    expect(dead.locator(".cell-sub")).not_to_be_empty()
    expect(row).to_contain_text("works")
    with Instance(served.home) as instance:
        assert sorted(p.name for p in instance.vfs.list()) == ["Dead S3", "Partner FTP"]
        saved = instance.vfs.get("Partner FTP").target

    # an edit is tested too, with the stored credentials: a changed port where nothing
    # listens asks first; the saved one works, so no question
    page.get_by_role("link", name="Partner FTP").click()
    form.get_by_label("Port").fill(str(free_port()))
    page.get_by_role("button", name="Save").click()
    expect(dialog).to_contain_text("The connection test failed")
    dialog.get_by_role("button", name="Cancel").click()
    with Instance(served.home) as instance:
        assert instance.vfs.get("Partner FTP").target == saved
    form.get_by_label("Port").fill(str(ftp_server.port))
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".toast").filter(has_text="Saved “Partner FTP”")).to_be_visible()
    expect(dialog).to_be_hidden()


def test_script_history_charts(page, served):  # noqa: F811
    """Success rate per day and duration per run, drawn from the script's real jobs: none,
    one, and several with a failure among them."""
    with Instance(served.home) as instance:
        key = instance.api_keys.create("charts", ["127.0.0.1"], scope="admin")[1]
        instance.scripts.add("Never run", 'Log("idle");')
        instance.scripts.add("Once", 'Log("once");')
        instance.scripts.add(
            "Flaky",
            'if (Param("fail") == "yes") { throw new Error("asked to"); }\n'
            'Sleep(Number(Param("ms") || "0"));\n',
        )
    client = served.client(key)
    runs = [
        ("Once", {}),
        ("Flaky", {"ms": 50}),
        ("Flaky", {"fail": "yes"}),
        ("Flaky", {"ms": 1000}),
    ]
    for name, params in runs:
        wait_for(client, client.submit_job(script_name=name, params=params).id)

    ui.setup_admin(page, served.url)
    page.goto(f"{served.url}/#/scripts/Never%20run")
    history = page.locator(".card").filter(has=page.get_by_role("heading", name="History"))
    expect(history).to_contain_text("No runs yet")
    expect(history.locator("svg")).to_have_count(0)

    page.goto(f"{served.url}/#/scripts/Once")
    expect(history).to_contain_text("1 run ended, 1 succeeded (100%)")
    expect(history.locator("rect.bar.ok")).to_have_count(1)
    expect(history.locator("circle.dot")).to_have_count(1)
    expect(history.locator("polyline")).to_have_count(0)

    page.goto(f"{served.url}/#/scripts/Flaky")
    expect(history).to_contain_text("3 runs ended, 2 succeeded (67%)")
    expect(history.get_by_role("img", name=re.compile("^Success rate per day"))).to_be_visible()
    expect(history.get_by_role("img", name=re.compile("^Duration of each run"))).to_be_visible()
    bar = history.locator("rect.bar")
    expect(bar).to_have_count(1)  # all today
    expect(bar).to_have_class("bar mixed")
    expect(bar.locator("title")).to_have_text(re.compile(r": 2 of 3 runs succeeded$"))
    expect(history.locator("circle.dot")).to_have_count(3)
    expect(history.locator("circle.dot.bad")).to_have_count(1)
    expect(history.locator("polyline")).to_have_count(1)
    # the slowest run is the highest dot (SVG y grows downwards)
    heights = history.locator("circle.dot").evaluate_all(
        "els => els.map(e => +e.getAttribute('cy'))"
    )
    assert min(heights) == heights[2] and heights[2] < heights[0]
    fill = "el => getComputedStyle(el).fill"
    assert bar.evaluate(fill) == "rgb(179, 92, 0)"  # --warn, light
    page.locator(".sidebar .theme-button").click()  # system -> light
    page.locator(".sidebar .theme-button").click()  # light -> dark
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    assert bar.evaluate(fill) == "rgb(240, 160, 64)"  # --warn, dark
