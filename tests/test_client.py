"""AftClient: a method for every REST operation, the library's value classes as results and
aft's exception classes as errors, over a real socket to the embedded service."""

from __future__ import annotations

import inspect
import time

import pytest

from aft.client import OPERATIONS, AftClient, ConnectionTest, JobList, LogPage, TargetCheck
from aft.exceptions import (
    ApiKeyNotFound,
    AuthError,
    BadRequest,
    Forbidden,
    JobNotFound,
    ScheduleNotFound,
    ScriptExists,
    ScriptNotFound,
    SecretNotFound,
    ServiceUnavailable,
    UnknownSetting,
    VfsNotFound,
)
from aft.instance import Instance
from aft.jobs import Job
from aft.keys import ApiKey
from aft.models import JobState, LogLevel, LogLine
from aft.schedules import Schedule
from aft.scripts_store import Script
from aft.server.openapi import openapi_document
from aft.server.service import Service
from aft.vfs.library import VfsProfile

METHODS = ("get", "post", "put", "patch", "delete")


def test_every_openapi_operation_has_a_client_method():
    operations = {
        (method.upper(), path)
        for path, item in openapi_document()["paths"].items()
        for method in item
        if method in METHODS
    }
    assert operations == set(OPERATIONS)
    for name in OPERATIONS.values():
        method = getattr(AftClient, name)
        assert callable(method) and inspect.getdoc(method), name
    # each method's docstring names the operation it calls
    for (verb, path), name in OPERATIONS.items():
        assert f"{verb} {path}" in inspect.getdoc(getattr(AftClient, name)), name


@pytest.fixture
def service(tmp_path):
    """The embedded service on a free port (plain HTTP) with an admin and a run key."""
    with Instance(tmp_path / "home") as instance:
        instance.settings.set("concurrency", 1)
        _, admin = instance.api_keys.create("admin", ["127.0.0.1"], scope="admin")
        _, run = instance.api_keys.create("runner", ["127.0.0.1"], scope="run")
        with Service(instance, bind="127.0.0.1", port=0, tls=False) as served:
            served.keys = {"admin": admin, "run": run}  # type: ignore[attr-defined]
            yield served


def client(service, key="admin"):
    return AftClient(service.url, service.keys[key])


def wait(client, job_id, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.job(job_id)
        if job.state.is_final:
            return job
        time.sleep(0.05)
    raise AssertionError(f"{job_id} did not end")


def test_scripts_jobs_and_logs_are_typed(service):
    admin = client(service)
    script = admin.add_script("Hello", 'Log("hi " + Param("who"))', retries=1)
    assert isinstance(script, Script) and script.retries == 1 and script.name == "Hello"
    assert admin.script("hello") == script
    [listed] = admin.scripts()
    assert listed.id == script.id and listed.source == ""  # the listing leaves sources out
    changed = admin.update_script("hello", source='Log("hi " + Param("who"))', retry_backoff=5)
    assert changed.retry_backoff == 5.0 and changed.updated >= script.updated
    with pytest.raises(ScriptExists):
        admin.add_script("HELLO", "Log(1)")

    runner = client(service, "run")
    job = runner.submit_job(script_name="hello", params={"who": "client"}, idempotency_key="k1")
    assert isinstance(job, Job) and job.script_name == "Hello"
    assert job.params == {"who": "client"} and job.trigger == "api"
    assert (
        runner.submit_job(script_name="hello", params={"who": "client"}, idempotency_key="k1").id
        == job.id
    )
    done = wait(runner, job.id)
    assert done.state is JobState.SUCCEEDED and done.exit_code == 0
    page = runner.job_log(job.id)
    assert isinstance(page, LogPage) and page.status is JobState.SUCCEEDED
    [line] = page.lines
    assert isinstance(line, LogLine) and line.level is LogLevel.INFO and line.text == "hi client"
    assert runner.job_log(job.id, page.next_offset).lines == []
    seen: list[LogLine] = []
    assert runner.follow(job.id, seen.append).id == job.id and seen == [line]

    listing = admin.jobs(status="succeeded", script="HELLO", limit=5)
    assert isinstance(listing, JobList) and [j.id for j in listing.jobs] == [job.id]
    assert listing.next_cursor is None
    assert admin.jobs(status=JobState.FAILED).jobs == []
    assert [j.id for j in admin.jobs(trigger="api").jobs] == [job.id]
    assert admin.jobs(trigger="cron").jobs == []

    admin.add_script("wait", 'Log("w"); WaitForHaltSignal(); Log("asked")')
    waiting = admin.submit_job(script_name="wait")
    while not admin.job_log(waiting.id).lines:
        time.sleep(0.05)
    assert admin.halt_job(waiting.id).id == waiting.id
    assert wait(admin, waiting.id).state is JobState.HALTED

    with pytest.raises(JobNotFound):
        admin.job("job_nope")
    with pytest.raises(ScriptNotFound):
        runner.submit_job(script_name="nope")
    admin.remove_script("hello")
    with pytest.raises(ScriptNotFound):
        admin.script("hello")


def test_secrets_keys_and_settings(service):
    admin = client(service)
    admin.set_secret("token", "a-long-secret-value")
    assert admin.secret_names() == ["token"]
    admin.delete_secret("token")
    assert admin.secret_names() == []
    with pytest.raises(SecretNotFound):
        admin.delete_secret("token")

    record, key = admin.create_api_key("ci", ["127.0.0.1"], scope="run")
    assert isinstance(record, ApiKey) and record.allow == ("127.0.0.1/32",) and key
    assert record in admin.api_keys()
    admin.revoke_api_key(record.id)
    assert [k.revoked for k in admin.api_keys() if k.id == record.id] == [True]
    with pytest.raises(ApiKeyNotFound):
        admin.revoke_api_key("key_000000000000")
    with pytest.raises(AuthError):
        AftClient(service.url, key).jobs()

    assert admin.settings()["concurrency"] == 1
    assert admin.set_setting("max_run_seconds", 60) == 60
    with pytest.raises(UnknownSetting):
        admin.set_setting("nope", 1)
    with pytest.raises(Forbidden):
        client(service, "run").settings()


def test_vfs_library(service, tmp_path):
    admin = client(service)
    folder = tmp_path / "share"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    profile = admin.add_vfs("local", "Disk", str(folder))
    assert isinstance(profile, VfsProfile) and profile.target == str(folder)
    assert admin.vfs_profiles() == [profile] and admin.vfs_profile("local") == profile
    tried = admin.test_vfs("local")
    assert isinstance(tried, ConnectionTest) and tried.ok and tried.entries == 1
    assert admin.test_new_vfs("Disk", str(folder)).entries == 1
    other = tmp_path / "other"
    other.mkdir()
    # a changed target, tried before it is saved (with the stored credentials)
    assert admin.test_vfs("local", target=str(other)).entries == 0
    assert admin.vfs_profile("local").target == str(folder)
    with pytest.raises(BadRequest, match="unknown"):
        admin.request("POST", "/v1/vfs/local/test", {"payload": {"pass": "x"}})
    assert admin.update_vfs("local", target=str(other)).target == str(other)
    assert {t["type"] for t in admin.vfs_types()} >= {"Disk", "SFTP", "S3"}
    check = admin.compose_vfs_target("Disk", {"root": str(other)})
    assert check == TargetCheck(str(other), {})
    with pytest.raises(BadRequest):
        admin.vfs_hostkey("ftp://nowhere")
    admin.remove_vfs("local")
    with pytest.raises(VfsNotFound):
        admin.vfs_profile("local")


def test_sftp_hostkey(service, sshd_server):
    fingerprint = client(service).vfs_hostkey(f"sftp://{sshd_server.host}:{sshd_server.port}")
    assert fingerprint == sshd_server.host_key_sha256


def test_schedules_health_and_openapi(service):
    admin = client(service)
    admin.add_script("nightly job", 'Log("n")')
    schedule = admin.add_schedule(
        "nightly", "nightly job", "0 2 * * *", timezone="Europe/Berlin", params={"a": 1}
    )
    assert isinstance(schedule, Schedule) and schedule.enabled and schedule.next_run
    assert schedule.params == {"a": 1} and schedule.timezone == "Europe/Berlin"
    assert admin.schedule("NIGHTLY") == schedule and admin.schedules() == [schedule]
    off = admin.update_schedule("nightly", enabled=False, catch_up=True)
    assert not off.enabled and off.catch_up and off.next_run is None
    admin.remove_schedule("nightly")
    with pytest.raises(ScheduleNotFound):
        admin.schedule("nightly")
    preview = admin.cron_preview("0 2 * * *", "Europe/Berlin")
    assert len(preview.runs) == 5 and preview.runs == sorted(preview.runs) and not preview.errors
    assert "cron" in admin.cron_preview("0 25 * * *").errors
    assert admin.health()["status"] == "ok"
    assert admin.openapi()["paths"].keys() == openapi_document()["paths"].keys()


def test_a_service_that_is_not_there(tmp_path):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ServiceUnavailable, match="cannot reach"):
        AftClient(f"http://127.0.0.1:{port}", "k").health()


def test_the_audit_trail_is_read_as_entries(service):
    admin = client(service)
    admin.set_secret("token", "a-long-secret-value")
    admin.delete_secret("token")
    page = admin.audit(actor="key:")
    actions = [(e.action, e.target) for e in page.entries]
    assert ("secret.set", "token") in actions and ("secret.delete", "token") in actions
    assert all(e.actor.startswith("key:admin") for e in page.entries)
    first = admin.audit(limit=1)
    assert len(first.entries) == 1 and first.next_cursor is not None
    assert admin.audit(cursor=first.next_cursor).entries[0].seq == first.entries[0].seq + 1
    with pytest.raises(Forbidden):
        client(service, "run").audit()
