# ruff: noqa: F811
# (the fixtures imported from test_examples_jobs are test parameters here)
"""The knowledge-base samples of the original product, ported as examples/kb-*.syncjs in
that product's own dialect, each run against real servers: OpenSSH sshd for SFTP, a local
SMTP server for mail, a local HTTP server for the workflow API."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from aft.models import JobState
from tests.script_helpers import errors, texts
from tests.test_examples_jobs import (  # noqa: F401 (fixtures)
    Background,
    age,
    disk,
    files,
    mail,
    put,
    run,
    sftp,
)


@pytest.fixture
def sftp_secrets(instance: Any, sshd_server: Any) -> Any:
    """The secrets the samples read their SFTP connection from."""
    instance.secrets.set("sftp-host", f"{sshd_server.host}:{sshd_server.port}")
    instance.secrets.set("sftp-user", sshd_server.user)
    instance.secrets.set("sftp-password", sshd_server.password)
    instance.secrets.set("sftp-hostkey", sshd_server.host_key_sha256)
    return sshd_server


# ---- kb-workflow-api ---------------------------------------------------------------------


@pytest.fixture
def orchestration(instance: Any, http_server: Any, sftp: Path, disk: Path) -> Any:
    instance.secrets.set("orch-api-url", http_server.url + "/api")
    instance.secrets.set("orch-api-token", "orch-tok-5a4b3c")
    (sftp / "exports").mkdir()
    (sftp / "exports" / "orders.csv").write_text("id,qty\n1,2\n")
    claim = {
        "source": "sftp",
        "sourcePath": "/exports/orders.csv",
        "target": "disk",
        "targetPath": "/in/orders.csv",
    }
    http_server.respond("/api/jobs/J-7/claim", 200, json.dumps(claim))
    return http_server


def test_workflow_api_claims_transfers_and_reports(
    instance: Any,
    orchestration: Any,
    disk: Path,
) -> None:
    r = run(instance, "kb-workflow-api.syncjs", params={"job_id": "J-7"})
    assert r.state is JobState.SUCCEEDED, (r.error, texts(r))
    assert files(disk) == {"in/orders.csv": b"id,qty\n1,2\n"}
    (verb, path, headers, body), (verb2, path2, headers2, body2) = orchestration.requests
    assert (verb, path, body) == ("POST", "/api/jobs/J-7/claim", b"")
    assert headers["Authorization"] == headers2["Authorization"] == "Bearer orch-tok-5a4b3c"
    assert (verb2, path2) == ("POST", "/api/jobs/J-7/report")
    assert headers2["Content-Type"] == "application/json"
    report = json.loads(body2)
    assert report["status"] == "completed" and "/exports/orders.csv" in report["detail"]
    assert all("orch-tok-5a4b3c" not in t for t in texts(r))


def test_workflow_api_reports_a_failed_transfer(
    instance: Any,
    orchestration: Any,
    sftp: Path,
) -> None:
    (sftp / "exports" / "orders.csv").unlink()
    r = run(instance, "kb-workflow-api.syncjs", params={"job_id": "J-7"})
    assert r.state is JobState.FAILED and r.exit_code == 1
    report = json.loads(orchestration.requests[-1][3])
    assert report["status"] == "failed" and "orders.csv" in report["detail"]
    assert any(e.startswith("job J-7 failed: ") for e in errors(r))


def test_workflow_api_without_a_job_id_fails_before_any_call(
    instance: Any, orchestration: Any
) -> None:
    r = run(instance, "kb-workflow-api.syncjs", params={})
    assert r.state is JobState.FAILED
    assert "job_id parameter is required" in errors(r)
    assert orchestration.requests == []


def test_workflow_api_stops_when_the_claim_is_refused(
    instance: Any,
    orchestration: Any,
    disk: Path,
) -> None:
    orchestration.respond("/api/jobs/J-8/claim", 409, "taken")
    r = run(instance, "kb-workflow-api.syncjs", params={"job_id": "J-8"})
    assert r.state is JobState.FAILED
    assert [e for e in errors(r) if e.startswith("claim failed: HTTP 409")]
    assert [p for _, p, _, _ in orchestration.requests] == ["/api/jobs/J-8/claim"]
    assert files(disk) == {}


# ---- kb-stale-file-alert -----------------------------------------------------------------


def test_stale_file_alert_is_quiet_for_a_current_file(
    instance: Any,
    sftp_secrets: Any,
    sftp: Path,
    mail: Any,
) -> None:
    (sftp / "latest-export.csv").write_text("fresh")
    params = {"file": str(sftp / "latest-export.csv"), "maxHours": "25"}
    r = run(instance, "kb-stale-file-alert.syncjs", params=params)
    assert r.state is JobState.SUCCEEDED, (r.error, texts(r))
    assert mail.messages == []
    assert texts(r)[-1].startswith(f"file {sftp}/latest-export.csv is current")


def test_stale_file_alert_mails_about_an_old_file(
    instance: Any,
    sftp_secrets: Any,
    sftp: Path,
    mail: Any,
) -> None:
    (sftp / "latest-export.csv").write_text("old")
    age(sftp / "latest-export.csv", 2)
    params = {"file": str(sftp / "latest-export.csv"), "alertTo": "oncall@example.com"}
    r = run(instance, "kb-stale-file-alert.syncjs", params=params)
    assert r.state is JobState.FAILED and r.exit_code == 1
    [message] = mail.messages
    assert message["To"] == "oncall@example.com"
    assert message["Subject"] == "AFT alert: stale or missing file on SFTP"
    assert "is 48.0 hours old (limit 25)" in message.get_content()
    assert all(sftp_secrets.password not in t for t in texts(r))


def test_stale_file_alert_mails_about_a_missing_file(
    instance: Any,
    sftp_secrets: Any,
    sftp: Path,
    mail: Any,
) -> None:
    r = run(instance, "kb-stale-file-alert.syncjs", params={"file": str(sftp / "none.csv")})
    assert r.state is JobState.FAILED
    [message] = mail.messages
    assert f"expected file is missing: {sftp}/none.csv" in message.get_content()


def test_stale_file_alert_mails_when_the_server_cannot_be_reached(
    instance: Any,
    sftp_secrets: Any,
    mail: Any,
) -> None:
    instance.secrets.set("sftp-hostkey", "SHA256:" + "A" * 43)  # not the server's key
    r = run(instance, "kb-stale-file-alert.syncjs", params={})
    assert r.state is JobState.FAILED
    [message] = mail.messages
    assert "SFTP connection failed" in message.get_content()


# ---- kb-watch-and-upload -----------------------------------------------------------------


def test_watch_and_upload(
    instance: Any,
    sftp_secrets: Any,
    sftp: Path,
    tmp_path: Path,
) -> None:
    watched = tmp_path / "outbox"
    watched.mkdir()
    remote = sftp / "inbox"
    remote.mkdir()
    shutil.chown(remote, sftp_secrets.user)
    job = Background(
        instance, "kb-watch-and-upload.syncjs", {"watchDir": str(watched), "remoteDir": str(remote)}
    )
    job.wait_for("watching ")
    put(watched / "a.csv", "first")
    (watched / "skip.tmp").write_text("never sent")
    job.wait_for(f"uploaded {watched}/a.csv")
    assert (remote / "a.csv").read_text() == "first"
    time.sleep(0.1)
    put(watched / "a.csv", "second")
    job.wait_for(f"uploaded {watched}/a.csv", times=2)
    r = job.stop()
    assert r.state is JobState.HALTED, (r.error, texts(r))
    assert files(remote) == {"a.csv": b"second"}


def test_watch_and_upload_needs_its_params(instance: Any) -> None:
    r = run(instance, "kb-watch-and-upload.syncjs", params={"watchDir": "/tmp"})
    assert r.state is JobState.FAILED
    assert "watchDir and remoteDir parameters are required" in errors(r)
