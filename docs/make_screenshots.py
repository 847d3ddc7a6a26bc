"""Screenshots of the web console, for the docs: ``python docs/make_screenshots.py``.

Starts a real ``aft serve`` on 127.0.0.1 for a throwaway instance, fills it with example
scripts, VFS profiles, secrets, keys and jobs, and photographs each page in Debian's
headless Chromium (laptop 1280x800; the dashboard also dark and on a 390x844 phone).
The pictures go to ``docs/screenshots/`` unless ``--out`` says otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' Chromium

from tests.servers.chromium import launch_chromium  # noqa: E402

LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
PASSWORD = "screenshots only 4 docs"

SCRIPTS = {
    "Nightly backup": """\
// Copies the day's files to the backup disk.
var backups = GetVFS("Backups");
Log("Nightly backup for " + Param("site"));
backups.WriteFileAsText("/report.txt", "ok");
Log("listing the source folder");
Log.Warn("3 files skipped: locked by another process");
Log("copied 128 files (2.4 GB) in 41 s");
Log("done");
""",
    "Partner upload": """\
Log("connecting to the partner's server");
throw new Error("the partner's server refused the upload: quota exceeded");
""",
    "Long transfer": """\
Log("starting the transfer of 48 files");
for (var i = 1; i <= 48 && !HaltSignalReceived; i++) {
  Log("copied part " + i + " of 48");
  Sleep(700);
}
""",
    "Invoice import": 'Log("importing the invoices of " + Param("month"));\nLog("42 imported");\n',
    "Cleanup old files": 'Log("removing files older than 30 days");\nLog("removed 17 files");\n',
}


def _aft() -> str:
    found = Path(sys.executable).with_name("aft")
    return str(found if found.exists() else shutil.which("aft") or "aft")


def _seed(home: Path) -> str:
    """Scripts, VFS profiles, secrets and keys; returns an admin API key (for jobs)."""
    from aft.instance import Instance
    from aft.keys import ApiKeyStore
    from aft.scripts_store import ScriptStore

    (home / "backups").mkdir(parents=True, exist_ok=True)
    with Instance(home) as instance:
        scripts = ScriptStore(instance.store)
        for name, source in SCRIPTS.items():
            scripts.add(name, source, retries=2 if name == "Partner upload" else 0)
        instance.vfs.add("Backups", "Disk", str(home / "backups"))
        instance.vfs.add(
            "Partner SFTP",
            "SFTP",
            "sftp://upload@sftp.partner.example/incoming"
            "?hostKeySHA256=SHA256%3AnThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8",
            {"pass": "example"},
        )
        instance.vfs.add("Archive", "S3", "s3://archive/2026?region=eu-central-1", {})
        for name in ("partner_password", "smtp_token", "archive_secret_key"):
            instance.secrets.set(name, "example")
        keys = ApiKeyStore(instance.store)
        keys.create("ci-runner", ["10.20.0.0/16", "127.0.0.1"], scope="run")
        keys.create("old-laptop", ["192.168.1.23"], scope="run")
        keys.revoke("old-laptop")
        _, admin = keys.create("operations", ["127.0.0.1", "::1"], scope="admin")
    return admin


class _Service:
    """``aft serve --port 0`` for ``home``, ready once it says where it listens."""

    def __init__(self, home: Path) -> None:
        env = {**os.environ, "AFT_HOME": str(home)}
        self.proc = subprocess.Popen(
            [_aft(), "serve", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if "listening on" in line:
                self.url = line.split("listening on ", 1)[1].split()[0]
                self.fingerprint = line.rsplit("SHA-256 ", 1)[-1].rstrip(")\n")
                return
        raise RuntimeError("aft serve did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.communicate(timeout=30)


def _run_jobs(service: _Service, key: str) -> str:
    """A few finished jobs (one failed) and one still running; returns a finished job's id."""
    from aft.client import AftClient

    with AftClient(service.url, key, fingerprint=service.fingerprint) as client:
        ids = [
            client.submit_job(script_name="Nightly backup", params={"site": site}).id
            for site in ("berlin", "lisbon")
        ]
        ids.append(client.submit_job(script_name="Invoice import", params={"month": "2026-10"}).id)
        ids.append(client.submit_job(script_name="Partner upload").id)
        ids.append(client.submit_job(script_name="Cleanup old files").id)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if all(client.job(i).state.value not in ("queued", "running") for i in ids):
                break
            time.sleep(0.2)
        client.submit_job(script_name="Long transfer")
        time.sleep(2.5)  # a few of its lines are in, and it still runs
    return ids[0]


def make_screenshots(out: Path, home: Path | None = None, browser: Any = None) -> list[Path]:
    """Photograph every page into ``out``; returns the files written.

    Args:
        out: the folder for the pictures.
        home: the instance home to fill (default: a temporary one).
        browser: a Playwright Chromium to use (default: Debian's, launched here).

    Raises:
        RuntimeError: Chromium is missing, or a page raised a JavaScript error.
    """
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        if home is None:
            home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="aft-shots-")))
        key = _seed(home)
        service = _Service(home)
        stack.callback(service.stop)
        if browser is None:
            playwright = stack.enter_context(sync_playwright())
            browser = launch_chromium(playwright, ["--hide-scrollbars"])
            stack.callback(browser.close)
        return _photograph(browser, service, key, out)


def _photograph(browser: Any, service: _Service, key: str, out: Path) -> list[Path]:
    from playwright.sync_api import expect

    made: list[Path] = []
    errors: list[str] = []
    context = browser.new_context(ignore_https_errors=True, viewport=LAPTOP, color_scheme="light")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def shoot(name: str) -> None:
        """The viewport of the current page, once it is quiet."""
        page.wait_for_load_state("networkidle")
        page.evaluate("document.fonts.ready")
        path = out / f"{name}.png"
        page.screenshot(path=str(path))
        made.append(path)

    page.goto(service.url)
    expect(page.get_by_role("heading", name="Set up aft")).to_be_visible()
    shoot("setup")
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_role("button", name="Create administrator and sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    page.locator(".toast").first.wait_for(state="detached", timeout=10_000)

    finished = _run_jobs(service, key)
    page.goto(f"{service.url}/#/dashboard")
    expect(page.locator(".tile.is-running .value")).to_have_text("1")
    shoot("dashboard")

    pages = [
        ("scripts", "#/scripts", "Scripts"),
        ("script-editor", "#/scripts/Nightly%20backup", "Nightly backup"),
        ("jobs", "#/jobs", "Jobs"),
        ("job", f"#/jobs/{finished}", "Nightly backup"),
        ("transfers", "#/transfers", "Transfers"),
        ("vfs", "#/vfs", "VFS Library"),
        ("vfs-sftp", "#/vfs/Partner%20SFTP", "Partner SFTP"),
        ("secrets", "#/secrets", "Secrets"),
        ("apikeys", "#/apikeys", "API Keys"),
        ("schedules", "#/schedules", "Schedules"),
        ("settings", "#/settings", "Settings"),
    ]
    for name, hash_, heading in pages:
        page.goto(f"{service.url}/{hash_}")
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        if name == "job":
            expect(page.get_by_role("log")).to_contain_text("done")
        if name == "script-editor":  # the editor and the History charts load after the page
            expect(page.locator(".code .CodeMirror .cm-keyword").first).to_be_visible()
            expect(page.locator(".history .history-summary")).to_be_visible()
        shoot(name)

    page.goto(f"{service.url}/#/dashboard")
    page.emulate_media(color_scheme="dark")
    expect(page.locator(".tile.is-ok .value")).to_be_visible()
    shoot("dashboard-dark")
    page.goto(f"{service.url}/#/jobs")
    expect(page.get_by_role("heading", name="Jobs", exact=True)).to_be_visible()
    page.get_by_role("link", name="Long transfer").first.click()
    expect(page.get_by_role("log")).to_contain_text("copied part")
    shoot("job-dark")
    context.close()

    for scheme in ("light", "dark"):
        phone = browser.new_context(
            ignore_https_errors=True,
            viewport=PHONE,
            is_mobile=True,
            has_touch=True,
            color_scheme=scheme,
        )
        page = phone.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(service.url)
        page.get_by_label("User name").fill("admin")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
        suffix = "" if scheme == "light" else "-dark"
        shoot(f"dashboard-phone{suffix}")
        if scheme == "light":
            page.get_by_role("button", name="Menu").click()
            page.wait_for_timeout(300)  # the drawer slides in
            shoot("menu-phone")
        phone.close()
    context = browser.new_context(ignore_https_errors=True, viewport=LAPTOP)
    page = context.new_page()
    page.goto(service.url)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".error-text")).to_be_visible()
    shoot("sign-in")
    context.close()
    if errors:
        raise RuntimeError(f"JavaScript errors on the pages: {errors}")
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("screenshots"))
    args = parser.parse_args()
    for path in make_screenshots(args.out):
        print(path)


if __name__ == "__main__":
    main()
