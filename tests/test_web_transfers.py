"""The console's view of the transfer journal, in a real headless Chromium against a real
``aft serve``: a running job's live progress bar and Files tab, and the Transfers page with
its filters, cursor paging and CSV download."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from aft.instance import Instance
from tests.service_helpers import ServeProcess
from tests.test_service import prepare
from tests.test_web_ui import browser, setup_admin, watched_page  # noqa: F401

COPIES = """
var d = new VirtualFS(VfsTypeDisk, Param("dir"));
for (var i = 0; i < Number(Param("n")); i++) {
  d.CopyToVFS("/a.bin", d, "/copy" + i + ".bin");
  Sleep(Number(Param("pause")));
}
if (Param("fail")) { d.CopyToVFS("/missing.bin", d, "/never.bin"); }
"""
DATA = b"q" * 10_000

pytestmark = pytest.mark.slow


@pytest.fixture
def service(aft_home: Path, tmp_path: Path) -> Any:
    """A running service with an admin key and a script that copies a file n times."""
    keys = prepare(aft_home)
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "a.bin").write_bytes(DATA)
    with Instance(aft_home) as instance:
        instance.scripts.add("copies", COPIES)
    proc = ServeProcess(aft_home).start()
    proc.admin = proc.client(keys["admin"])
    proc.folder = folder
    yield proc
    proc.stop()


@pytest.fixture
def page(browser: Any, service: Any) -> Any:  # noqa: F811
    with watched_page(browser) as page:
        setup_admin(page, service.url)
        yield page


def run(service: Any, n: int, pause: int, fail: bool = False, wait: bool = True) -> str:
    """Submit the copies script; its job id (once it ended, when ``wait``)."""
    params = {"dir": str(service.folder), "n": str(n), "pause": str(pause)}
    if fail:
        params["fail"] = "yes"
    job_id = service.admin.request("POST", "/v1/jobs", {"scriptName": "copies", "params": params})[
        "jobId"
    ]
    deadline = time.monotonic() + 60
    while wait and service.admin.job(job_id).state.value in ("queued", "running"):
        assert time.monotonic() < deadline, "the job did not end"
        time.sleep(0.2)
    return job_id


def files_done(page: Page) -> int:
    text = page.locator("section.card", has_text="Progress").locator("p").inner_text()
    return int(re.match(r"(\d+) files", text).group(1))


def test_a_running_job_shows_a_moving_progress_bar_and_its_files(page: Page, service: Any) -> None:
    job_id = run(service, 30, 250, fail=True, wait=False)
    page.goto(f"{service.url}/#/jobs/{job_id}")
    bar = page.get_by_role("progressbar", name="Transfer progress")
    expect(bar).to_be_visible()
    progress = page.locator("section.card", has_text="Progress")
    expect(progress).to_contain_text(re.compile(r"\d+ files · "))
    first = files_done(page)
    page.wait_for_function(
        "n => /^(\\d+) files/.exec(document.querySelector('progress + p').textContent)[1] > n + 2",
        arg=first,
    )
    assert "KiB" in progress.inner_text()

    page.locator(".segmented label", has_text="Files").click()  # the tab, as a person clicks it
    expect(page.get_by_role("log", name="Job log")).to_be_hidden()
    rows = page.locator("tbody tr")
    expect(rows.first).to_contain_text("/copy0.bin")
    seen = rows.count()
    expect(rows).not_to_have_count(seen)  # more files show up while the job runs
    digest = hashlib.sha256(DATA).hexdigest()
    code = rows.first.locator("code")
    expect(code).to_have_text(digest[:12] + "…")
    expect(code).to_have_attribute("title", digest)

    expect(page.locator(".page-head .badge")).to_have_text("succeeded", timeout=30_000)
    expect(bar).to_be_hidden()  # the job ended: no progress bar
    expect(rows).to_have_count(31)
    expect(page.get_by_role("radio", name="Files (31)")).to_be_checked()
    failed = rows.last
    expect(failed).to_contain_text("failed")
    expect(failed).to_contain_text("missing.bin")
    page.locator(".segmented label", has_text="Log").click()
    expect(page.get_by_role("log", name="Job log")).to_contain_text(
        "transferred 31 files (1 failed)"
    )


def test_the_transfers_page_filters_pages_and_downloads_csv(page: Page, service: Any) -> None:
    many = run(service, 55, 0)
    failing = run(service, 2, 0, fail=True)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Transfers").click()
    expect(page.get_by_role("heading", name="Transfers", exact=True)).to_be_visible()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(50)  # a page; the rest by cursor
    page.get_by_role("button", name="Load more").click()
    expect(rows).to_have_count(58)
    expect(page.get_by_role("button", name="Load more")).to_be_hidden()

    page.get_by_label("Failed only").check()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(failing)
    assert "failed=true" in page.url
    page.get_by_label("Failed only").uncheck()
    expect(rows).to_have_count(50)

    page.get_by_label("Job").fill(many)
    page.get_by_label("Path").fill("*/copy1?.bin")
    page.get_by_role("button", name="Apply").click()
    expect(rows).to_have_count(10)
    expect(rows.first).to_contain_text("/copy10.bin")

    with page.expect_download() as got:
        page.get_by_role("link", name="Download CSV").click()
    text = Path(got.value.path()).read_text()
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0][:3] == ["seq", "job_id", "op"] and len(lines) == 11
    assert {line[1] for line in lines[1:]} == {many}
    assert text == service.admin.transfers_csv(job=many, path="*/copy1?.bin")

    page.get_by_label("Time zone").select_option("utc")
    page.get_by_label("Started since").fill("2999-01-01T00:00")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_text("No transfer matches these filters.")).to_be_visible()
    assert "zone=utc" in page.url
    page.get_by_label("Started since").fill("2000-01-01T00:00")
    page.get_by_role("button", name="Apply").click()
    expect(rows).to_have_count(10)


def test_the_csv_form_refuses_paging_and_a_format_it_does_not_know(service: Any) -> None:
    from aft.exceptions import BadRequest

    job_id = run(service, 2, 0)
    for query, message in (
        ({"format": "csv", "limit": 5}, "format=csv gives every matching record: no limit"),
        ({"format": "xml"}, "format must be json or csv, not 'xml'"),
    ):
        with pytest.raises(BadRequest, match=re.escape(message)):
            service.admin.request("GET", f"/v1/jobs/{job_id}/transfers", query=query)
    lines = service.admin.transfers_csv(job=job_id).splitlines()
    assert len(lines) == 3 and lines[0].startswith("seq,job_id,op,src,src_path,")
