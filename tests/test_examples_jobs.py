"""The job examples in examples/*.syncjs, each run against real servers.

SFTP is OpenSSH sshd (its files live on this machine, so they are checked on disk), S3 is
SeaweedFS; mail goes to a real local SMTP server and webhooks to a real local HTTP server.
Each test asserts on the effects a job leaves behind, not just on its log.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from aft.executor import Executor, HaltSignal
from aft.models import JobState, RunResult
from tests.conftest import REPO, stop_gnupg
from tests.script_helpers import errors, texts

EXAMPLES = REPO / "examples"


def run(instance: Any, example: str, **kwargs: Any) -> RunResult:
    executor = Executor(vfs_library=instance.vfs, secrets=instance.secrets, mail=instance.settings)
    return executor.run(file=EXAMPLES / example, **kwargs)


def files(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` by relative path."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def put(path: Path, text: str) -> None:
    """Write ``path`` whole at once (a watcher never sees it half-written)."""
    part = path.with_name(path.name + ".part")
    part.write_text(text)
    part.replace(path)


def age(path: Path, days: float) -> None:
    """Make ``path`` look ``days`` old."""
    when = time.time() - days * 86400
    os.utime(path, (when, when))


class Background:
    """An example running in a thread until :meth:`stop` sends the halt signal."""

    def __init__(self, instance: Any, example: str, params: dict[str, Any]) -> None:
        self.halt = HaltSignal()
        self.lines: list[str] = []
        self.result: RunResult | None = None
        self._changed = threading.Condition()
        self._thread = threading.Thread(
            target=self._run, args=(instance, example, params), daemon=True
        )
        self._thread.start()

    def _run(self, instance: Any, example: str, params: dict[str, Any]) -> None:
        try:
            self.result = run(instance, example, params=params, halt=self.halt, on_log=self._log)
        finally:
            with self._changed:
                self._changed.notify_all()

    def _log(self, line: Any) -> None:
        with self._changed:
            self.lines.append(line.text)
            self._changed.notify_all()

    def wait_for(self, *starts: str, times: int = 1, timeout: float = 30) -> None:
        """Wait until, for each of ``starts``, ``times`` log lines begin with it."""

        def seen() -> bool:
            return self.result is not None or all(
                sum(t.startswith(s) for t in self.lines) >= times for s in starts
            )

        with self._changed:
            assert self._changed.wait_for(seen, timeout), self.lines
        assert self.result is None, (self.result.error, self.lines)

    def stop(self) -> RunResult:
        self.halt.set()
        self._thread.join(30)
        self.halt.close()
        assert self.result is not None, "the job did not end after the halt signal"
        return self.result


@pytest.fixture
def sftp(instance: Any, sshd_server: Any) -> Path:
    """A fresh folder on the SFTP server, in the library as ``sftp``."""
    folder = sshd_server.new_dir()
    instance.vfs.add("sftp", "SFTP", sshd_server.target(folder), {"pass": sshd_server.password})
    return folder


@pytest.fixture
def s3(instance: Any, s3_server: Any, s3_bucket: str) -> Any:
    """A fresh bucket, in the library as ``s3``; returns a botocore client on it."""
    instance.vfs.add("s3", "S3", s3_server.target(s3_bucket), s3_server.payload)
    client = s3_server.client()
    client.bucket = s3_bucket
    return client


def s3_put(s3: Any, key: str, data: bytes) -> None:
    s3.put_object(Bucket=s3.bucket, Key=key, Body=data)


def s3_files(s3: Any) -> dict[str, bytes]:
    """Every object of the bucket by key, folder markers (``dir/``) left out."""
    found = [o["Key"] for o in s3.list_objects_v2(Bucket=s3.bucket).get("Contents", [])]
    read = s3.get_object
    return {k: read(Bucket=s3.bucket, Key=k)["Body"].read() for k in found if k[-1] != "/"}


@pytest.fixture
def disk(instance: Any, tmp_path: Path) -> Path:
    """A local folder, in the library as ``disk``."""
    folder = tmp_path / "disk"
    folder.mkdir()
    instance.vfs.add("disk", "Disk", str(folder))
    return folder


# ---- relay-s3-to-sftp --------------------------------------------------------------------


def test_relay_s3_to_sftp(instance: Any, s3: Any, sftp: Path, sshd_server: Any) -> None:
    big = os.urandom(3_000_000)
    s3_put(s3, "outbound/orders.csv", b"id,total\n1,9.50\n")
    s3_put(s3, "outbound/big.bin", big)
    s3_put(s3, "elsewhere/skip.txt", b"not relayed")
    r = run(
        instance,
        "relay-s3-to-sftp.syncjs",
        params={
            "source": "s3",
            "target": "sftp",
            "sourceDir": "/outbound",
            "targetDir": "/in/today",
        },
    )
    assert r.state is JobState.SUCCEEDED, (r.error, texts(r))
    assert files(sftp) == {"in/today/big.bin": big, "in/today/orders.csv": b"id,total\n1,9.50\n"}
    assert "relayed 2 file(s), 3000016 bytes; 0 failed" in texts(r)
    assert set(s3_files(s3)) == {"outbound/orders.csv", "outbound/big.bin", "elsewhere/skip.txt"}
    assert all(sshd_server.password not in t for t in texts(r))


def test_relay_with_delete_source_moves(instance: Any, s3: Any, sftp: Path) -> None:
    s3_put(s3, "a.txt", b"A")
    r = run(
        instance,
        "relay-s3-to-sftp.syncjs",
        params={"source": "s3", "target": "sftp", "deleteSource": "true"},
    )
    assert r.state is JobState.SUCCEEDED, (r.error, texts(r))
    assert files(sftp) == {"a.txt": b"A"}
    assert s3_files(s3) == {}


def test_relay_fails_when_the_target_is_down(
    instance: Any, s3: Any, sshd_server: Any, s3_server: Any
) -> None:
    s3_put(s3, "a.txt", b"A")
    folder = sshd_server.new_dir()
    instance.vfs.add("sftp", "SFTP", sshd_server.target(folder), {"pass": "wrong-password-1"})
    r = run(instance, "relay-s3-to-sftp.syncjs", params={"source": "s3", "target": "sftp"})
    assert r.state is JobState.FAILED and r.exit_code == 1
    assert files(folder) == {}
    assert errors(r) and all("wrong-password-1" not in t for t in texts(r))
    assert all(s3_server.secret_key not in t for t in texts(r))


def test_relay_without_params_fails_clearly(instance: Any) -> None:
    r = run(instance, "relay-s3-to-sftp.syncjs")
    assert r.state is JobState.FAILED
    assert r.error == "Error: missing param: source"


# ---- csv-transform -----------------------------------------------------------------------


def test_csv_transform_between_sftp_and_s3(instance: Any, sftp: Path, s3: Any) -> None:
    (sftp / "export").mkdir()
    (sftp / "export" / "customers.csv").write_bytes(
        b'id,name,email,total\r\n1,"Smith, Jane",jane@example.com,10.5\r\n'
        b'2,"Say ""hi""",x@example.com,3\r\n\r\n3,"two\nlines",y@example.com,0\r\n'
    )
    r = run(
        instance,
        "csv-transform.syncjs",
        params={
            "source": "sftp",
            "sourceFile": "/export/customers.csv",
            "target": "s3",
            "targetFile": "/import/customers-2026.csv",
            "columns": "id:customer_id,total,name:customer",
        },
    )
    assert r.state is JobState.SUCCEEDED, (r.error, texts(r))
    assert s3_files(s3) == {
        "import/customers-2026.csv": b'customer_id,total,customer\r\n1,10.5,"Smith, Jane"\r\n'
        b'2,3,"Say ""hi"""\r\n3,0,"two\nlines"\r\n'
    }
    assert (sftp / "export" / "customers.csv").exists()
    assert any(t.startswith("wrote 3 row(s) of sftp:/export/customers.csv") for t in texts(r))


def test_csv_transform_semicolons_and_delete_source(instance: Any, disk: Path, sftp: Path) -> None:
    (disk / "in.csv").write_text("a;b\n1;2\n")
    r = run(
        instance,
        "csv-transform.syncjs",
        params={
            "source": "disk",
            "sourceFile": "/in.csv",
            "target": "sftp",
            "targetFile": "/out.csv",
            "columns": "b,a",
            "delimiter": ";",
            "deleteSource": "true",
        },
    )
    assert r.state is JobState.SUCCEEDED, (r.error, texts(r))
    assert files(sftp) == {"out.csv": b"b;a\r\n2;1\r\n"}
    assert files(disk) == {}


def test_csv_transform_fails_on_an_unknown_column(instance: Any, disk: Path, sftp: Path) -> None:
    (disk / "in.csv").write_text("a,b\n1,2\n")
    r = run(
        instance,
        "csv-transform.syncjs",
        params={
            "source": "disk",
            "sourceFile": "/in.csv",
            "target": "sftp",
            "targetFile": "/out.csv",
            "columns": "a,zip",
        },
    )
    assert r.state is JobState.FAILED
    assert r.error == "Error: column 'zip' is not in the header of /in.csv"
    assert files(sftp) == {}


def test_csv_transform_fails_on_a_missing_file(instance: Any, disk: Path, sftp: Path) -> None:
    r = run(
        instance,
        "csv-transform.syncjs",
        params={
            "source": "sftp",
            "sourceFile": "/nope.csv",
            "target": "disk",
            "targetFile": "/out.csv",
            "columns": "a",
        },
    )
    assert r.state is JobState.FAILED and r.exit_code == 1
    assert any(t.startswith("cannot read sftp:/nope.csv") for t in errors(r))
    assert files(disk) == {}


# ---- purge-archive -----------------------------------------------------------------------


@pytest.fixture
def archive(sftp: Path, sshd_server: Any) -> Path:
    (sftp / "2025").mkdir()
    shutil.chown(sftp / "2025", sshd_server.user)
    for name, days in [("old.zip", 40), ("new.zip", 2), ("2025/older.zip", 400)]:
        (sftp / name).write_bytes(name.encode())
        age(sftp / name, days)
    return sftp


def test_purge_archive_dry_run_deletes_nothing(instance: Any, archive: Path) -> None:
    before = files(archive)
    r = run(
        instance,
        "purge-archive.syncjs",
        params={"archive": "sftp", "days": 30, "recursive": "true"},
    )
    assert r.state is JobState.SUCCEEDED, (r.error, texts(r))
    assert files(archive) == before
    would = sorted(t.split(" (")[0] for t in texts(r) if t.startswith("would delete"))
    assert would == ["would delete /2025/older.zip", "would delete /old.zip"]


@pytest.mark.parametrize("recursive", [True, False])
def test_purge_archive_deletes_old_files(instance: Any, archive: Path, recursive: bool) -> None:
    r = run(
        instance,
        "purge-archive.syncjs",
        params={
            "archive": "sftp",
            "days": 30,
            "dryRun": "false",
            "recursive": str(recursive).lower(),
        },
    )
    assert r.state is JobState.SUCCEEDED, (r.error, texts(r))
    left = {"new.zip": b"new.zip"} | ({} if recursive else {"2025/older.zip": b"2025/older.zip"})
    assert files(archive) == left
    assert (archive / "2025").is_dir()


def test_purge_archive_on_s3(instance: Any, s3: Any) -> None:
    s3_put(s3, "logs/a.log", b"a")
    r = run(
        instance,
        "purge-archive.syncjs",
        params={"archive": "s3", "dir": "/logs", "days": "0", "dryRun": "false"},
    )
    assert r.state is JobState.SUCCEEDED, (r.error, texts(r))
    assert s3_files(s3) == {}


def test_purge_archive_fails_when_a_delete_fails(instance: Any, archive: Path) -> None:
    (archive / "2025").chmod(0o555)  # the SFTP user may no longer delete in it
    try:
        r = run(
            instance,
            "purge-archive.syncjs",
            params={"archive": "sftp", "days": 30, "dryRun": "false", "recursive": "true"},
        )
    finally:
        (archive / "2025").chmod(0o755)
    assert r.state is JobState.FAILED and r.exit_code == 1
    assert any(t.startswith("cannot delete /2025/older.zip") for t in errors(r))
    assert set(files(archive)) == {"new.zip", "2025/older.zip"}


def test_purge_archive_rejects_a_bad_age(instance: Any, archive: Path) -> None:
    r = run(instance, "purge-archive.syncjs", params={"archive": "sftp", "days": "a month"})
    assert r.state is JobState.FAILED
    assert r.error == "Error: param days must be a number of days, got: a month"
    assert len(files(archive)) == 3


# ---- health-monitor ----------------------------------------------------------------------


def test_health_monitor_all_up_with_probe(instance: Any, sftp: Path, s3: Any, disk: Path) -> None:
    (sftp / "x").write_text("x")
    r = run(
        instance,
        "health-monitor.syncjs",
        params={"vfs": "sftp, s3,disk", "probe": "true"},
        job_id="job-7",
    )
    assert r.state is JobState.SUCCEEDED, (r.error, texts(r))
    up = [t.split(":")[0] for t in texts(r) if t.startswith("UP ")]
    assert up == ["UP   sftp", "UP   s3", "UP   disk"]
    assert "summary: 3 of 3 VFS up" in texts(r)
    assert files(sftp) == {"x": b"x"} and s3_files(s3) == {} and files(disk) == {}


def test_health_monitor_fails_when_one_is_down(
    instance: Any, sftp: Path, disk: Path, sshd_server: Any, s3_server: Any
) -> None:
    instance.vfs.add(
        "sftp-bad", "SFTP", sshd_server.target(sshd_server.new_dir()), {"pass": "bad-pass-2"}
    )
    r = run(
        instance,
        "health-monitor.syncjs",
        params={"vfs": "sftp,sftp-bad,disk,ghost", "probe": "true"},
    )
    assert r.state is JobState.FAILED and r.exit_code == 1
    down = [t.split(":")[0] for t in errors(r) if t.startswith("DOWN ")]
    assert down == ["DOWN sftp-bad", "DOWN ghost"]
    assert "summary: 2 of 4 VFS up; down: sftp-bad, ghost" in texts(r)
    assert all("bad-pass-2" not in t for t in texts(r))


def test_health_monitor_probe_fails_on_a_read_only_folder(
    instance: Any, sftp: Path, sshd_server: Any
) -> None:
    (sftp / "ro").mkdir()
    shutil.chown(sftp / "ro", sshd_server.user)
    (sftp / "ro").chmod(0o555)
    r = run(
        instance, "health-monitor.syncjs", params={"vfs": "sftp", "dir": "/ro", "probe": "true"}
    )
    assert r.state is JobState.FAILED
    assert any(t.startswith("DOWN sftp: write probe:") for t in errors(r))
    r = run(instance, "health-monitor.syncjs", params={"vfs": "sftp", "dir": "/ro"})
    assert r.state is JobState.SUCCEEDED, texts(r)


def test_purge_archive_through_aft_run(instance: Any, archive: Path, run_aft: Any) -> None:
    """As cron runs it: ``aft run`` with the instance's VFS Library, exit status 0."""
    assert run_aft("settings", "set", "allow_cli_run", "true").returncode == 0
    params = '{"archive":"sftp","days":30,"dryRun":"false"}'
    proc = run_aft("run", "-f", str(EXAMPLES / "purge-archive.syncjs"), "-p", params)
    assert proc.returncode == 0, proc.stderr
    assert files(archive) == {"new.zip": b"new.zip", "2025/older.zip": b"2025/older.zip"}
    assert "deleted 1 file(s), 7 bytes; kept 1; 0 failure(s)" in proc.stderr


# ---- watch-upload-sftp -------------------------------------------------------------------


def test_watch_upload_sftp(instance: Any, sftp: Path, tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    (outbox / "sub").mkdir(parents=True)
    job = Background(
        instance,
        "watch-upload-sftp.syncjs",
        {"watchDir": str(outbox), "target": "sftp", "targetDir": "/inbox", "delay": 1},
    )
    job.wait_for("watching ")
    (outbox / "orders.csv").write_text("first part,")
    (outbox / "skip.tmp").write_text("never sent")
    with (outbox / "orders.csv").open("a") as f:
        f.write("second part\n")
    (outbox / "sub" / "rates.xml").write_bytes(b"<rates/>")
    job.wait_for(f"uploaded {outbox}/orders.csv", f"uploaded {outbox}/sub/rates.xml")
    r = job.stop()
    assert r.state is JobState.HALTED, (r.error, texts(r))
    assert files(sftp) == {
        "inbox/orders.csv": b"first part,second part\n",
        "inbox/sub/rates.xml": b"<rates/>",
    }
    assert "stopped: uploaded 2 file(s), 0 failed" in texts(r)


def test_watch_upload_sftp_refuses_a_missing_folder(
    instance: Any, sftp: Path, tmp_path: Path
) -> None:
    r = run(
        instance,
        "watch-upload-sftp.syncjs",
        params={"watchDir": str(tmp_path / "nope"), "target": "sftp"},
    )
    assert r.state is JobState.FAILED
    assert r.error == f"Error: watchDir is not a folder: {tmp_path / 'nope'}"


def test_watch_upload_sftp_fails_when_the_server_refuses(
    instance: Any, sshd_server: Any, tmp_path: Path
) -> None:
    instance.vfs.add(
        "sftp", "SFTP", sshd_server.target(sshd_server.new_dir()), {"pass": "wrong-pass-3"}
    )
    r = run(
        instance,
        "watch-upload-sftp.syncjs",
        params={"watchDir": str(tmp_path), "target": "sftp"},
    )
    assert r.state is JobState.FAILED and r.exit_code == 1
    assert any(t.startswith("cannot reach sftp:/") for t in errors(r))
    assert all("wrong-pass-3" not in t for t in texts(r))


# ---- watch-remote-download ---------------------------------------------------------------


def test_watch_remote_download(instance: Any, sftp: Path, sshd_server: Any, tmp_path: Path) -> None:
    local = tmp_path / "local"
    local.mkdir()
    (sftp / "before.csv").write_text("already there")
    job = Background(
        instance,
        "watch-remote-download.syncjs",
        {"source": "sftp", "localDir": str(local), "poll": 1, "include": "*.csv"},
    )
    job.wait_for("watching ")
    (sftp / "in").mkdir()
    shutil.chown(sftp / "in", sshd_server.user)
    put(sftp / "in" / "new.csv", "fresh")
    (sftp / "in" / "notes.txt").write_text("not wanted")
    job.wait_for("downloaded sftp:/in/new.csv")
    assert files(local) == {"in/new.csv": b"fresh"}
    put(sftp / "in" / "new.csv", "fresh, and changed")
    job.wait_for("downloaded sftp:/in/new.csv", times=2)
    r = job.stop()
    assert r.state is JobState.HALTED, (r.error, texts(r))
    assert files(local) == {"in/new.csv": b"fresh, and changed"}
    assert "stopped: downloaded 2 file(s), 0 failed" in texts(r)


# ---- workflow-api ------------------------------------------------------------------------


@pytest.fixture
def flow(instance: Any, http_server: Any, sftp: Path, disk: Path) -> dict[str, Any]:
    """A workflow API on the HTTP server; files to fetch on SFTP; the target on Disk."""
    (sftp / "out").mkdir()
    (sftp / "out" / "a.csv").write_text("a")
    (sftp / "out" / "b.csv").write_text("bb")
    instance.secrets.set("flow-token", "tok-flow-9f8e7d")
    return {
        "api": http_server.url + "/v1",
        "tokenSecret": "flow-token",
        "jobName": "nightly orders",
        "source": "sftp",
        "target": "disk",
        "targetDir": "/incoming",
    }


def test_workflow_api_fetch(instance: Any, http_server: Any, flow: dict, disk: Path) -> None:
    answer = {"id": "t-42", "action": "fetch", "files": ["/out/a.csv", "/out/b.csv"]}
    http_server.respond("/v1/transfers/next", 200, json.dumps(answer))
    r = run(instance, "workflow-api.syncjs", params=flow)
    assert r.state is JobState.SUCCEEDED, (r.error, texts(r))
    assert files(disk) == {"incoming/a.csv": b"a", "incoming/b.csv": b"bb"}
    (verb, path, headers, _), (verb2, path2, _, body) = http_server.requests
    assert (verb, path) == ("GET", "/v1/transfers/next?job=nightly%20orders")
    assert headers["Authorization"] == "Bearer tok-flow-9f8e7d"
    assert (verb2, path2) == ("POST", "/v1/transfers/t-42/result")
    assert json.loads(body) == {"id": "t-42", "status": "done", "copied": 2, "failed": 0}
    assert all("tok-flow-9f8e7d" not in t for t in texts(r))


def test_workflow_api_hold(instance: Any, http_server: Any, flow: dict, disk: Path) -> None:
    http_server.respond("/v1/transfers/next", 200, '{"action": "hold", "reason": "month end"}')
    r = run(instance, "workflow-api.syncjs", params=flow)
    assert r.state is JobState.SUCCEEDED, (r.error, texts(r))
    assert "the workflow API says hold: month end" in texts(r)
    assert files(disk) == {} and len(http_server.requests) == 1


def test_workflow_api_reports_a_failed_fetch(
    instance: Any, http_server: Any, flow: dict, disk: Path
) -> None:
    answer = {"id": "t-43", "action": "fetch", "files": ["/out/a.csv", "/out/missing.csv"]}
    http_server.respond("/v1/transfers/next", 200, json.dumps(answer))
    r = run(instance, "workflow-api.syncjs", params=flow)
    assert r.state is JobState.FAILED and r.exit_code == 1
    assert files(disk) == {"incoming/a.csv": b"a"}
    body = json.loads(http_server.requests[1][3])
    assert body == {"id": "t-43", "status": "failed", "copied": 1, "failed": 1}


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (
            503,
            "busy",
            "Error: GET /transfers/next?job=nightly%20orders: the workflow API answered 503",
        ),
        (200, "<html>", "Error: the workflow API answered with something that is not JSON"),
        (
            200,
            '{"action": "dance"}',
            'Error: the workflow API asked for an unknown action: "dance"',
        ),
    ],
)
def test_workflow_api_fails_on_a_bad_answer(
    instance: Any, http_server: Any, flow: dict, disk: Path, status: int, body: str, error: str
) -> None:
    http_server.respond("/v1/transfers/next", status, body)
    r = run(instance, "workflow-api.syncjs", params=flow)
    assert r.state is JobState.FAILED
    assert r.error == error
    assert files(disk) == {}


# ---- stale-file-alert --------------------------------------------------------------------


@pytest.fixture
def mail(instance: Any, smtp_server: Any) -> Any:
    """The instance's SMTP settings point at the real SMTP server."""
    for key, value in smtp_server.settings().items():
        instance.settings.set(key, value)
    instance.settings.set("smtp_from", "aft@example.com")
    instance.secrets.set("smtp-password", smtp_server.password)
    return smtp_server


def test_stale_file_alert_mails_what_is_stale(instance: Any, mail: Any, sftp: Path) -> None:
    for name, days in [("daily.csv", 2), ("rates.xml", 0.1)]:
        (sftp / name).write_text(name)
        age(sftp / name, days)
    params = {
        "vfs": "sftp",
        "files": "/daily.csv, /rates.xml, /missing.txt",
        "hours": "24",
        "mailTo": "ops@example.com",
    }
    r = run(instance, "stale-file-alert.syncjs", params=params)
    assert r.state is JobState.SUCCEEDED, (r.error, texts(r))
    [message] = mail.messages
    assert message["Subject"] == "[aft] 2 stale file(s) on sftp"
    assert message["To"] == "ops@example.com" and message["From"] == "aft@example.com"
    body = message.get_content()
    assert "/daily.csv: 48.0 hours old" in body and "/missing.txt: missing" in body
    assert "rates.xml" not in body
    assert all(mail.password not in t for t in texts(r))


def test_stale_file_alert_is_quiet_when_all_is_fresh(instance: Any, mail: Any, sftp: Path) -> None:
    (sftp / "daily.csv").write_text("new")
    params = {"vfs": "sftp", "files": "/daily.csv", "hours": "1", "mailTo": "ops@example.com"}
    r = run(instance, "stale-file-alert.syncjs", params=params)
    assert r.state is JobState.SUCCEEDED, (r.error, texts(r))
    assert mail.messages == []
    assert "all 1 file(s) on sftp are younger than 1 hours" in texts(r)


def test_stale_file_alert_fails_when_the_mail_does_not_go(
    instance: Any, mail: Any, sftp: Path
) -> None:
    instance.secrets.set("smtp-password", "not-the-password")
    params = {"vfs": "sftp", "files": "/gone.csv", "hours": "1", "mailTo": "ops@example.com"}
    r = run(instance, "stale-file-alert.syncjs", params=params)
    assert r.state is JobState.FAILED and r.exit_code == 1
    assert "could not send the alert to ops@example.com" in errors(r)
    assert mail.messages == []
    assert all("not-the-password" not in t for t in texts(r))


# ---- pgp-upload --------------------------------------------------------------------------


@pytest.fixture
def gpg(tmp_path: Path) -> Any:
    """A GnuPG home with a recipient's key pair; returns a runner of gpg in it."""
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)

    def gpg_run(*args: str) -> bytes:
        proc = subprocess.run(
            [
                "gpg",
                "--homedir",
                str(home),
                "--batch",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
                *args,
            ],
            capture_output=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr.decode()
        return proc.stdout

    gpg_run("--quick-gen-key", "Partner <partner@example.com>", "default", "default", "never")
    yield gpg_run
    stop_gnupg(home)


def test_pgp_upload(instance: Any, gpg: Any, sftp: Path, tmp_path: Path) -> None:
    key = tmp_path / "partner.asc"
    key.write_bytes(gpg("--armor", "--export", "partner@example.com"))
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    payroll = os.urandom(200_000)
    (outbox / "payroll.bin").write_bytes(payroll)
    (outbox / "notes.txt").write_text("not sent")
    params = {
        "localDir": str(outbox),
        "mask": "*.bin",
        "publicKey": str(key),
        "target": "sftp",
        "targetDir": "/secure",
    }
    r = run(instance, "pgp-upload.syncjs", params=params)
    assert r.state is JobState.SUCCEEDED, (r.error, texts(r))
    assert set(files(sftp)) == {"secure/payroll.bin.pgp"}
    sealed = (sftp / "secure" / "payroll.bin.pgp").read_bytes()
    assert payroll[:64] not in sealed
    assert gpg("--decrypt", str(sftp / "secure" / "payroll.bin.pgp")) == payroll
    assert files(outbox) == {"notes.txt": b"not sent", "sent/payroll.bin": payroll}
    assert "sent 1 encrypted file(s); 0 failed" in texts(r)


def test_pgp_upload_with_an_armored_key_in_the_param(
    instance: Any, gpg: Any, sftp: Path, tmp_path: Path
) -> None:
    (tmp_path / "a.txt").write_text("hello")
    armored = gpg("--armor", "--export", "partner@example.com").decode()
    params = {"localDir": str(tmp_path), "mask": "a.txt", "publicKey": armored, "target": "sftp"}
    r = run(instance, "pgp-upload.syncjs", params=params)
    assert r.state is JobState.SUCCEEDED, (r.error, texts(r))
    assert gpg("--decrypt", str(sftp / "a.txt.pgp")) == b"hello"


def test_pgp_upload_fails_with_a_bad_key(instance: Any, sftp: Path, tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    (outbox / "a.txt").write_text("secret")
    (tmp_path / "bad.asc").write_text("not a key")
    params = {"localDir": str(outbox), "publicKey": str(tmp_path / "bad.asc"), "target": "sftp"}
    r = run(instance, "pgp-upload.syncjs", params=params)
    assert r.state is JobState.FAILED and r.exit_code == 1
    assert f"cannot encrypt {outbox}/a.txt" in errors(r)
    assert files(sftp) == {}
    assert files(outbox) == {"a.txt": b"secret"}


# ---- batch-webhook -----------------------------------------------------------------------


@pytest.fixture
def hook(instance: Any, http_server: Any) -> str:
    """The chat webhook's URL (a credential) in the secret ``chat-hook``; returns its path."""
    path = "/hooks/T01/B02/s3cr3tHookToken"
    instance.secrets.set("chat-hook", http_server.url + path)
    return path


def test_batch_webhook(instance: Any, http_server: Any, hook: str, sftp: Path, s3: Any) -> None:
    (sftp / "out").mkdir()
    (sftp / "out" / "one.csv").write_bytes(b"1" * 100)
    (sftp / "out" / "two.csv").write_bytes(b"2" * 23)
    params = {
        "source": "sftp",
        "sourceDir": "/out",
        "target": "s3",
        "targetDir": "/in",
        "webhookSecret": "chat-hook",
    }
    r = run(instance, "batch-webhook.syncjs", params=params, job_id="job-12")
    assert r.state is JobState.SUCCEEDED, (r.error, texts(r))
    assert s3_files(s3) == {"in/one.csv": b"1" * 100, "in/two.csv": b"2" * 23}
    [(verb, path, headers, body)] = http_server.requests
    assert (verb, path, headers["Content-Type"]) == ("POST", hook, "application/json")
    summary = json.loads(body)
    assert {k: summary[k] for k in ("job", "files", "bytes", "failures", "failed")} == {
        "job": "job-12",
        "files": 2,
        "bytes": 123,
        "failures": 0,
        "failed": [],
    }
    assert summary["text"] == "Batch done: 2 file(s), 123 bytes from sftp:/out to s3:/in"
    assert all("s3cr3tHookToken" not in t for t in texts(r))


def test_batch_webhook_reports_failures(
    instance: Any, http_server: Any, hook: str, sftp: Path, sshd_server: Any
) -> None:
    (sftp / "a.txt").write_text("a")
    instance.vfs.add(
        "down", "SFTP", sshd_server.target(sshd_server.new_dir()), {"pass": "wrong-pass-4"}
    )
    params = {"source": "sftp", "target": "down", "webhookSecret": "chat-hook"}
    r = run(instance, "batch-webhook.syncjs", params=params)
    assert r.state is JobState.FAILED and r.exit_code == 1
    summary = json.loads(http_server.requests[0][3])
    assert (summary["files"], summary["failures"], summary["failed"]) == (0, 1, [])
    assert summary["error"].startswith("cannot reach the target: ")  # MkdirAll("/") logs in
    assert "login" in summary["error"] and "failed" in summary["error"]
    assert summary["text"].startswith("Batch FAILED: 0 file(s), 0 bytes from sftp:/ to down:/")
    assert "wrong-pass-4" not in http_server.requests[0][3].decode()


def test_batch_webhook_fails_when_the_webhook_refuses(
    instance: Any, http_server: Any, hook: str, sftp: Path, disk: Path
) -> None:
    (sftp / "a.txt").write_text("a")
    http_server.respond(hook, 404, "no such hook")
    params = {"source": "sftp", "target": "disk", "webhookSecret": "chat-hook"}
    r = run(instance, "batch-webhook.syncjs", params=params)
    assert r.state is JobState.FAILED and r.exit_code == 1
    assert "the webhook did not take the summary (HTTP 404)" in errors(r)
    assert files(disk) == {"a.txt": b"a"}
