"""Every example in examples/ runs, as a user would run it."""

from __future__ import annotations

import json
import subprocess
import sys

from aft.models import JobState, LogLevel
from tests.conftest import REPO

EXAMPLES = REPO / "examples"


def test_hello_syncjs(run_aft):
    assert run_aft("settings", "set", "allow_cli_run", "true").returncode == 0
    proc = run_aft("run", "-f", str(EXAMPLES / "hello.syncjs"), "-p", '{"name":"Ops"}')
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().endswith("INFO  Hello, Ops!")


def test_library_api_example(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "library_api.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "sending report.csv with token ********" in proc.stdout
    assert "tok-123456" not in proc.stdout
    assert proc.stdout.strip().endswith("state=succeeded exit_code=0")


# ---- against real servers (the fixtures and helpers of tests/test_examples_jobs.py) ----------

from tests.script_helpers import errors, texts  # noqa: E402
from tests.test_examples_jobs import (  # noqa: E402
    Background,
    disk,  # noqa: F401 - a fixture
    files,
    mail,  # noqa: F401 - a fixture
    run,
    s3,  # noqa: F401 - a fixture
    s3_put,
    sftp,  # noqa: F401 - a fixture
)


def test_watch_upload_sftp_sends_what_is_already_there(instance, sftp, tmp_path):  # noqa: F811
    outbox = tmp_path / "outbox"
    (outbox / "sub").mkdir(parents=True)
    (outbox / "early.csv").write_text("was here first")
    (outbox / "sub" / "deep.csv").write_text("deeper")
    (outbox / "skip.tmp").write_text("never sent")
    job = Background(
        instance,
        "watch-upload-sftp.syncjs",
        {"watchDir": str(outbox), "target": "sftp", "targetDir": "/in", "delay": 1},
    )
    job.wait_for(f"uploaded {outbox}/early.csv", f"uploaded {outbox}/sub/deep.csv")
    (outbox / "late.csv").write_text("came later")
    job.wait_for(f"uploaded {outbox}/late.csv")
    r = job.stop()
    assert r.state is JobState.HALTED and r.exit_code == 0, (r.error, job.lines)
    assert files(sftp) == {
        "in/early.csv": b"was here first",
        "in/sub/deep.csv": b"deeper",
        "in/late.csv": b"came later",
    }
    assert "sending the 2 file(s) already in " + str(outbox) in job.lines
    assert not [line for line in r.log if line.level is LogLevel.ERROR]


def test_watch_upload_sftp_can_leave_what_is_already_there(instance, sftp, tmp_path):  # noqa: F811
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    (outbox / "early.csv").write_text("stays")
    params = {"watchDir": str(outbox), "target": "sftp", "delay": 1, "sendExisting": "false"}
    job = Background(instance, "watch-upload-sftp.syncjs", params)
    job.wait_for("watching ")
    (outbox / "late.csv").write_text("sent")
    job.wait_for(f"uploaded {outbox}/late.csv")
    job.stop()
    assert files(sftp) == {"late.csv": b"sent"}


def test_watch_upload_sftp_retries_a_failed_file(instance, sftp, tmp_path):  # noqa: F811
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    (sftp / "orders.csv").mkdir()  # the upload fails while a folder holds its name
    params = {"watchDir": str(outbox), "target": "sftp", "delay": 0.5, "retrySeconds": 1}
    job = Background(instance, "watch-upload-sftp.syncjs", params)
    job.wait_for("watching ")
    (outbox / "orders.csv").write_text("second time lucky")
    job.wait_for("upload failed (attempt 1, again in 1 s): ")
    (sftp / "orders.csv").rmdir()
    job.wait_for(f"uploaded {outbox}/orders.csv")
    r = job.stop()
    assert r.state is JobState.HALTED and r.exit_code == 0, (r.error, job.lines)
    assert files(sftp) == {"orders.csv": b"second time lucky"}
    assert "stopped: uploaded 1 file(s), 0 failed" in job.lines


def test_watch_upload_sftp_fails_for_a_file_it_could_not_deliver(instance, sftp, tmp_path):  # noqa: F811
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    (outbox / "orders.csv").write_text("blocked")
    (sftp / "orders.csv").mkdir()
    params = {"watchDir": str(outbox), "target": "sftp", "retrySeconds": 0.5, "retries": 1}
    job = Background(instance, "watch-upload-sftp.syncjs", params)
    job.wait_for(f"giving up on {outbox}/orders.csv after 2 attempt(s): ")
    r = job.stop()
    assert r.exit_code == 1 and r.state is not JobState.SUCCEEDED
    assert "stopped: uploaded 0 file(s), 1 failed" in job.lines


def test_relay_s3_to_sftp_says_it_skips_sub_folders(instance, s3, sftp):  # noqa: F811
    s3_put(s3, "top.csv", b"top")
    s3_put(s3, "deep/below.csv", b"below")
    r = run(instance, "relay-s3-to-sftp.syncjs", params={"source": "s3", "target": "sftp"})
    assert r.state is JobState.SUCCEEDED, (r.error, texts(r))
    assert files(sftp) == {"top.csv": b"top"}
    assert "skipped sub-folder s3:/deep (not recursive)" in texts(r)
    assert texts(r)[-1] == "relayed 1 file(s), 3 bytes; 0 failed; skipped 1 sub-folder(s)"
    assert "does not recurse" in (EXAMPLES / "relay-s3-to-sftp.syncjs").read_text()


def test_batch_webhook_names_the_sub_folders_it_skips(instance, http_server, sftp, disk):  # noqa: F811
    instance.secrets.set("chat-hook", http_server.url + "/hooks/T0/B0/token-value")
    (sftp / "a.csv").write_text("a")
    (sftp / "deep").mkdir()
    (sftp / "deep" / "b.csv").write_text("b")
    params = {"source": "sftp", "target": "disk", "webhookSecret": "chat-hook"}
    r = run(instance, "batch-webhook.syncjs", params=params)
    assert r.state is JobState.SUCCEEDED, (r.error, texts(r))
    assert files(disk) == {"a.csv": b"a"}
    summary = json.loads(http_server.requests[0][3])
    assert summary["skipped"] == ["deep"]
    assert summary["text"].endswith("; skipped 1 sub-folder(s)")
    assert "skipped sub-folder /deep (not recursive)" in texts(r)


CSV_PARAMS = {"source": "disk", "target": "sftp", "columns": "name,city:town"}


def test_csv_transform_reads_and_writes_latin_1(instance, disk, sftp):  # noqa: F811
    (disk / "in.csv").write_bytes("name,city\nJosé,Zürich\n".encode("latin-1"))
    params = {**CSV_PARAMS, "sourceFile": "/in.csv", "targetFile": "/out.csv"}
    r = run(instance, "csv-transform.syncjs", params={**params, "encoding": "latin-1"})
    assert r.state is JobState.SUCCEEDED, (r.error, texts(r))
    assert (sftp / "out.csv").read_bytes() == "name,town\r\nJosé,Zürich\r\n".encode("latin-1")


def test_csv_transform_refuses_latin_1_read_as_utf_8(instance, disk, sftp):  # noqa: F811
    (disk / "in.csv").write_bytes("name,city\nJosé,Zürich\n".encode("latin-1"))
    params = {**CSV_PARAMS, "sourceFile": "/in.csv", "targetFile": "/out.csv"}
    r = run(instance, "csv-transform.syncjs", params=params)
    assert r.state is JobState.FAILED
    assert r.error == (
        "Error: /in.csv is not valid UTF-8 (at byte 13); if it is Latin-1,"
        " set the param encoding to latin-1"
    )
    assert not (sftp / "out.csv").exists()


def test_csv_transform_drops_a_utf_8_bom(instance, disk, sftp):  # noqa: F811
    (disk / "in.csv").write_bytes("\ufeffname,city\nJosé,Zürich\n".encode())
    params = {**CSV_PARAMS, "sourceFile": "/in.csv", "targetFile": "/out.csv"}
    r = run(instance, "csv-transform.syncjs", params=params)
    assert r.state is JobState.SUCCEEDED, (r.error, texts(r))
    assert (sftp / "out.csv").read_bytes() == "name,town\r\nJosé,Zürich\r\n".encode()
    bad = run(instance, "csv-transform.syncjs", params={**params, "encoding": "ebcdic"})
    assert bad.error == "Error: param encoding must be utf-8 or latin-1, got: ebcdic"


def test_stale_file_alert_fails_on_a_missing_vfs_entry(instance, mail, sftp):  # noqa: F811
    params = {"vfs": "sfpt", "files": "/daily.csv", "hours": "24", "mailTo": "ops@example.com"}
    r = run(instance, "stale-file-alert.syncjs", params=params)
    assert r.state is JobState.FAILED and r.exit_code == 1
    assert mail.messages == []  # no "stale file" alert for a misspelled name
    assert any("sfpt" in t for t in errors(r)), texts(r)
