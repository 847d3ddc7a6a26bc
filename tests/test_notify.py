"""Notifications: rules refused when aft could not honour them, and deliveries to a real SMTP
server and a real HTTP server on 127.0.0.1, from the library, ``aft serve``, ``aft run``, the
REST API and the CLI."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from aft.audit import AuditLog
from aft.exceptions import (
    NotificationError,
    NotificationExists,
    NotificationNotFound,
    ScheduleNotFound,
    ScriptNotFound,
)
from aft.instance import Instance
from aft.keys import ApiKeyStore
from aft.models import JobState, RunResult
from aft.notify import Notifier, any_rule_for_script, payload
from tests.service_helpers import ServeProcess, wait_for

HEADERS = {"Authorization": "Bearer tok-" + "s3cr3t-value", "X-Team": "ops"}


def _mail(instance: Any, smtp_server: Any) -> None:
    for key, value in smtp_server.settings().items():
        instance.settings.set(key, value)
    instance.settings.set("smtp_from", "aft@example.com")
    instance.secrets.set("smtp-password", smtp_server.password)


def _hook(instance: Any, http_server: Any, path: str = "/hook") -> None:
    instance.secrets.set("hook-url", http_server.url + path)
    instance.secrets.set("hook-headers", json.dumps(HEADERS))


def _wait(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("not delivered in time")
        time.sleep(0.05)


@pytest.fixture
def world(instance: Any, smtp_server: Any, http_server: Any) -> Any:
    _mail(instance, smtp_server)
    _hook(instance, http_server)
    instance.scripts.add("Nightly", 'Log("x")')
    instance.scripts.add("Other", 'Log("y")')
    instance.schedules.add("Every night", "Nightly", "0 2 * * *")
    return instance


def _ended(instance: Any, script: str, state: JobState, started_by: str = "cli:me") -> str:
    queue = instance.jobs
    job_id = queue.start_here("", script_name=script, params={}, worker="w", started_by=started_by)
    error = None if state is JobState.SUCCEEDED else "Line 3: boom"
    queue.finish(job_id, RunResult(state, 0 if error is None else 1, (), error, 3))
    return str(job_id)


def _log(instance: Any, job_id: str) -> list[str]:
    return [line.text for line in instance.jobs.log(job_id)[0]]


# ---- rules -------------------------------------------------------------------------------


def test_rules_aft_cannot_honour_are_refused_and_change_nothing(world):
    rules = world.notifications
    world.secrets.set("ftp-url", "ftp://example.com/hook")
    world.secrets.set("bad-headers", '["not", "an object"]')
    bad = [
        ({"script": "Nightly", "events": ["exploded"]}, "unknown event 'exploded'"),
        ({"script": "Nightly", "events": []}, "events is required"),
        ({"script": "Nightly", "events": ["long"]}, "long event needs minutes"),
        ({"script": "Nightly", "minutes": 5}, "minutes is only for the long event"),
        ({"script": "Nightly", "events": ["long"], "minutes": -1}, "more than 0"),
        ({"script": "Nightly", "schedule": "Every night"}, "exactly one of script and schedule"),
        ({}, "exactly one of script and schedule"),
        ({"script": "Nightly", "channel": "sms"}, "channel must be one of email, webhook"),
        ({"script": "Nightly", "recipients": "not an address"}, "is not an email address"),
        ({"script": "Nightly"}, "email needs recipients"),
        ({"script": "Nightly", "channel": "webhook"}, "needs url-secret"),
        ({"script": "Nightly", "channel": "webhook", "url_secret": "nope"}, "no secret named"),
        ({"script": "Nightly", "channel": "webhook", "url_secret": "ftp-url"}, "http:// or"),
        (
            {"script": "Nightly", "channel": "webhook", "url_secret": "hook-url",
             "headers_secret": "bad-headers"},
            "JSON object of header names",
        ),
        (
            {"script": "Nightly", "channel": "webhook", "url_secret": "hook-url",
             "recipients": "a@b.example"},
            "recipients are for email only",
        ),
    ]  # fmt: skip
    for fields, message in bad:
        with pytest.raises(NotificationError, match=message):
            rules.add("r", **fields)
    with pytest.raises(ScriptNotFound):
        rules.add("r", script="Nope", recipients="a@b.example")
    with pytest.raises(ScheduleNotFound):
        rules.add("r", schedule="Nope", recipients="a@b.example")
    assert rules.list() == []
    world.settings.set("smtp_host", "")
    with pytest.raises(NotificationError, match="email needs the instance's SMTP settings"):
        rules.add("r", script="Nightly", recipients="a@b.example")
    assert rules.list() == []


def test_rules_are_stored_listed_audited_and_removed(world):
    rules = world.notifications
    mail = rules.add("Ops mail", script="nightly", events=["failure", "long"], minutes=30,
                     recipients="ops@example.com,  me@example.com")  # fmt: skip
    hook = rules.add(
        "Hook", schedule="every NIGHT", events="success,failure", channel="webhook",
        url_secret="hook-url", headers_secret="hook-headers",
    )  # fmt: skip
    assert (mail.script, mail.schedule, mail.events) == ("Nightly", "", ["failure", "long"])
    assert mail.recipients == "ops@example.com, me@example.com" and mail.minutes == 30
    assert (hook.schedule, hook.events) == ("Every night", ["failure", "success"])
    assert [n.name for n in rules.list()] == ["Hook", "Ops mail"]
    assert [n.name for n in rules.list(script="NIGHTLY")] == ["Ops mail"]
    assert [n.name for n in rules.list(schedule="Every night")] == ["Hook"]
    with pytest.raises(NotificationExists):
        rules.add("ops MAIL", script="Nightly", recipients="a@b.example")
    assert rules.remove("ops mail").id == mail.id
    with pytest.raises(NotificationNotFound):
        rules.get("Ops mail")
    actions = [(e.action, e.target) for e in AuditLog(world.store).list()[0]]
    assert ("notification.add", "Ops mail") in actions
    assert ("notification.remove", "Ops mail") in actions
    text = json.dumps([e.detail for e in AuditLog(world.store).list()[0]])
    assert "s3cr3t" not in text and "/hook" not in text


def test_a_script_rule_is_found_in_any_case(world):
    assert not any_rule_for_script(world.store, "Nightly")
    world.notifications.add("Mail", script="Nightly", recipients="ops@example.com")
    assert any_rule_for_script(world.store, "NIGHTLY")
    assert not any_rule_for_script(world.store, "Other")


# ---- delivery ----------------------------------------------------------------------------


def test_a_failed_job_is_mailed_and_posted_with_the_secret_headers(world, smtp_server, http_server):
    rules = world.notifications
    rules.add("Mail", script="Nightly", recipients="ops@example.com")
    rules.add("Hook", script="Nightly", channel="webhook", url_secret="hook-url",
              headers_secret="hook-headers")  # fmt: skip
    notifier = Notifier(rules)
    job_id = _ended(world, "Nightly", JobState.FAILED)
    _ended(world, "Other", JobState.FAILED)  # no rule watches it
    _ended(world, "Nightly", JobState.SUCCEEDED)  # a success: no rule asks for it
    assert notifier.tick() == 2
    assert notifier.tick() == 0  # each delivery once
    assert len(smtp_server.messages) == 1 and len(http_server.requests) == 1
    message = smtp_server.messages[0]
    assert message["To"] == "ops@example.com" and job_id in message["Subject"]
    assert "failed" in message["Subject"] and "error: Line 3: boom" in message.get_content()
    method, path, headers, body = http_server.requests[0]
    assert (method, path) == ("POST", "/hook")
    assert headers["Authorization"] == HEADERS["Authorization"] and headers["X-Team"] == "ops"
    sent = json.loads(body)
    assert sent["jobId"] == job_id and sent["state"] == "failed" and sent["event"] == "failure"
    assert sent["script"] == "Nightly" and sent["error"] == "Line 3: boom"
    assert sent["link"] == f"/#/jobs/{job_id}" and sent["durationSeconds"] >= 0
    assert {"trigger", "startedBy", "started", "finished"} <= set(sent)
    log = _log(world, job_id)
    assert "notification Mail (failure, email): sent" in log
    assert "notification Hook (failure, webhook): sent" in log
    assert rules.get("Hook").last_result == "sent" and rules.get("Hook").last_sent


def test_success_and_schedule_rules(world, http_server):
    rules = world.notifications
    rules.add("Done", schedule="Every night", events=["success"], channel="webhook",
              url_secret="hook-url")  # fmt: skip
    notifier = Notifier(rules)
    _ended(world, "Nightly", JobState.SUCCEEDED)  # not the schedule's
    job_id = _ended(world, "Nightly", JobState.SUCCEEDED, started_by="schedule:Every night")
    _ended(world, "Nightly", JobState.FAILED, started_by="schedule:Every night")
    assert notifier.tick() == 1
    sent = json.loads(http_server.requests[0][3])
    assert (sent["jobId"], sent["event"], sent["state"]) == (job_id, "success", "succeeded")
    assert sent["startedBy"] == "schedule:Every night"


def test_a_long_run_is_reported_once_while_it_runs(world, http_server):
    rules = world.notifications
    rules.add("Slow", script="Nightly", events=["long"], minutes=0.01, channel="webhook",
              url_secret="hook-url")  # fmt: skip
    notifier = Notifier(rules)
    job_id = world.jobs.start_here("", script_name="Nightly", params={}, worker="w")
    assert notifier.tick() == 0  # not yet 0.6 s
    time.sleep(0.7)
    assert notifier.tick() == 1
    assert notifier.tick() == 0
    sent = json.loads(http_server.requests[0][3])
    assert (sent["jobId"], sent["event"], sent["state"]) == (job_id, "long", "running")
    assert sent["finished"] is None and sent["durationSeconds"] >= 0.6
    world.jobs.finish(job_id, RunResult(JobState.SUCCEEDED, 0, ()))
    assert notifier.tick() == 0  # it asked for long only


def test_a_failed_delivery_is_one_masked_line_and_never_raises(world, http_server):
    rules = world.notifications
    secret_path = "/hooks/tok-abcdef123456"
    world.secrets.set("hook-url", http_server.url + secret_path)
    http_server.respond(secret_path, 500, "no")
    rules.add("Hook", script="Nightly", channel="webhook", url_secret="hook-url")
    job_id = _ended(world, "Nightly", JobState.FAILED)
    assert Notifier(rules).tick() == 1
    assert rules.get("Hook").last_result == "the webhook answered HTTP 500"
    assert "notification Hook (failure, webhook): the webhook answered HTTP 500" in _log(
        world, job_id
    )
    world.secrets.set("hook-url", http_server.url + "/moved")
    http_server.respond("/moved", 302, "", {"Location": secret_path})
    assert Notifier(rules).test("Hook") == "the webhook answered HTTP 302"
    assert [r[1] for r in http_server.requests] == [secret_path, "/moved"]  # not followed
    world.secrets.set("hook-url", "http://127.0.0.1:9/tok-abcdef123456")  # nothing listens
    assert Notifier(rules, timeout=2).test("Hook").startswith("the webhook cannot be reached")
    assert "abcdef" not in (rules.get("Hook").last_result or "")


def test_a_webhook_that_hangs_is_given_up_after_the_timeout(world, http_server):
    http_server.respond("/hook", 200, "late", delay=30)
    rules = world.notifications
    rules.add("Hook", script="Nightly", channel="webhook", url_secret="hook-url")
    job_id = _ended(world, "Nightly", JobState.FAILED)
    began = time.monotonic()
    assert Notifier(rules, timeout=1).tick() == 1
    assert time.monotonic() - began < 5
    assert rules.get("Hook").last_result == "the webhook did not answer within 1s"
    assert world.jobs.get(job_id).state is JobState.FAILED  # the job's record is untouched


def test_payload_of_a_job():
    from aft.models import Job

    job = Job("job_1", None, "S", {}, "api", None, JobState.FAILED, 1, "bad", 2, 1, 1, 0.0,
              None, 0.0, 10.0, 10.0, 12.5, "w", None, started_by="key:ci (k1)")  # fmt: skip
    body = payload(job, "failure")
    assert body["durationSeconds"] == 2.5 and body["startedBy"] == "key:ci (k1)"
    assert body["errorLine"] == 2 and body["trigger"] == "api"


# ---- through the service, the REST API, aft run and the CLI ------------------------------


def test_serve_notifies_a_failed_job_and_rest_sends_tests(aft_home, smtp_server, http_server):
    with Instance(aft_home) as instance:
        _mail(instance, smtp_server)
        _hook(instance, http_server)
        key = ApiKeyStore(instance.store).create("admin", ["127.0.0.1"], scope="admin")[1]
        instance.scripts.add("Breaks", 'Log("start"); throw new Error("disk full");')
        instance.scripts.add("Naps", "Sleep(4000);")
    proc = ServeProcess(aft_home).start()
    try:
        with proc.client(key) as client:
            mail = client.add_notification(
                "Mail", script="Breaks", events=["failure"], channel="email",
                recipients="ops@example.com",
            )  # fmt: skip
            client.add_notification(
                "Hook", script="Breaks", channel="webhook", url_secret="hook-url",
                headers_secret="hook-headers",
            )  # fmt: skip
            client.add_notification(
                "Slow", script="Naps", events=["long", "success"], minutes=0.02,
                channel="webhook", url_secret="hook-url",
            )  # fmt: skip
            assert mail.id.startswith("ntf_") and mail.last_result is None
            assert [n.name for n in client.notifications(script="breaks")] == ["Hook", "Mail"]
            assert client.notification("hook").headers_secret == "hook-headers"
            for body, message in [
                ({"name": "X", "script": "Breaks", "events": ["boom"]}, "unknown event"),
                ({"name": "X", "script": "Breaks", "channel": "webhook", "urlSecret": "no"},
                 "no secret named 'no'"),
                ({"name": "X", "script": "Breaks", "recipients": "a@b.example", "when": 1},
                 "unknown field"),
            ]:  # fmt: skip
                with pytest.raises(Exception, match=message) as caught:
                    client.request("POST", "/v1/notifications", body)
                assert caught.value.code in ("notification_error", "bad_request")
            with pytest.raises(NotificationExists):
                client.add_notification("mail", script="Breaks", recipients="a@b.example")

            failed = client.submit_job(script_name="Breaks")
            napping = client.submit_job(script_name="Naps")
            assert wait_for(client, failed.id)["status"] == "failed"
            _wait(lambda: len(smtp_server.messages) == 1 and len(http_server.requests) >= 1)
            assert "disk full" in smtp_server.messages[0].get_content()
            hooks = [json.loads(r[3]) for r in http_server.requests]
            first = next(h for h in hooks if h["jobId"] == failed.id)
            assert first["event"] == "failure" and "disk full" in first["error"]
            assert wait_for(client, napping.id)["status"] == "succeeded"
            _wait(lambda: len(http_server.requests) == 3)
            events = [
                (h["event"], h["state"])
                for h in map(json.loads, (r[3] for r in http_server.requests))
                if h["jobId"] == napping.id
            ]
            assert events == [("long", "running"), ("success", "succeeded")]
            _wait(lambda: client.notification("Mail").last_result == "sent")
            log = [line.text for line in client.job_log(failed.id).lines]
            assert "notification Mail (failure, email): sent" in log
            assert "notification Hook (failure, webhook): sent" in log

            tested = client.test_notification("Hook")
            assert tested == (tested.name, True, "sent") and tested.name == "Hook"
            assert json.loads(http_server.requests[-1][3])["event"] == "test"
            assert http_server.requests[-1][2]["X-Team"] == "ops"
            assert client.test_notification("mail").ok
            assert "test notification Mail" in smtp_server.messages[-1]["Subject"]
            client.remove_notification("Mail")
            with pytest.raises(NotificationNotFound):
                client.test_notification("Mail")
    finally:
        output = proc.stop()
    assert "Traceback" not in output, output


def test_aft_run_notifies_its_script(run_aft, aft_home, tmp_path, http_server):
    with Instance(aft_home) as instance:
        instance.settings.set("allow_cli_run", True)
        _hook(instance, http_server)
        instance.scripts.add("broken.syncjs", 'throw new Error("no");')
        instance.notifications.add("Hook", script="broken.syncjs", channel="webhook",
                                   url_secret="hook-url")  # fmt: skip
    script = tmp_path / "broken.syncjs"
    script.write_text('throw new Error("kaput");')
    done = run_aft("run", "-f", str(script))
    assert done.returncode == 1, done.stderr
    assert len(http_server.requests) == 1  # delivered before aft run exits
    sent = json.loads(http_server.requests[0][3])
    assert sent["trigger"] == "cli" and "kaput" in sent["error"]
    other = tmp_path / "fine.syncjs"
    other.write_text('Log("ok");')
    assert run_aft("run", "-f", str(other)).returncode == 0
    assert len(http_server.requests) == 1  # no rule watches fine.syncjs

    with Instance(aft_home) as instance:
        instance.scripts.add("naps.syncjs", "Sleep(1)")
        instance.notifications.add("Slow", script="naps.syncjs", events=["long"], minutes=0.01,
                                   channel="webhook", url_secret="hook-url")  # fmt: skip
    naps = tmp_path / "naps.syncjs"
    naps.write_text('Sleep(2000); Log("woke");')
    done = run_aft("run", "-f", str(naps))
    assert done.returncode == 0, done.stderr
    sent = json.loads(http_server.requests[1][3])
    assert (sent["event"], sent["state"], sent["finished"]) == ("long", "running", None)
    assert 0.6 <= sent["durationSeconds"] < 2.0
    with Instance(aft_home) as instance:
        (job,) = [j for j in instance.jobs.list()[0] if j.script_name == "naps.syncjs"]
        log = [line.text for line in instance.jobs.log(job.id)[0]]
    assert log.index("notification Slow (long, webhook): sent") < log.index("woke")


def test_cli_notify_commands(run_aft, aft_home, smtp_server, http_server):
    with Instance(aft_home) as instance:
        _mail(instance, smtp_server)
        _hook(instance, http_server)
        instance.scripts.add("Nightly", 'Log("x")')
    added = run_aft("notify", "add", "ops", "--script", "Nightly", "--on", "failure,long",
                    "--minutes", "45", "--email", "ops@example.com")  # fmt: skip
    assert added.returncode == 0, added.stderr
    hook = run_aft("notify", "add", "hook", "--script", "Nightly", "--url-secret", "hook-url",
                   "--headers-secret", "hook-headers", "--on", "success")  # fmt: skip
    assert hook.returncode == 0, hook.stderr
    listed = run_aft("notify", "list", "--json")
    rules = json.loads(listed.stdout)
    assert [(r["name"], r["events"], r["minutes"]) for r in rules] == [
        ("hook", ["success"], 0.0),
        ("ops", ["failure", "long"], 45.0),
    ]
    assert "script Nightly" in run_aft("notify", "list").stdout
    assert json.loads(run_aft("notify", "show", "ops", "--json").stdout)["channel"] == "email"
    tested = run_aft("notify", "test", "hook")
    assert (tested.returncode, tested.stdout.strip()) == (0, "notification hook: sent")
    assert http_server.requests[0][2]["Authorization"] == HEADERS["Authorization"]
    assert run_aft("notify", "test", "ops").returncode == 0
    assert len(smtp_server.messages) == 1
    for args, message in [
        (["--on", "exploded", "--email", "a@b.example"], "unknown event 'exploded'"),
        (["--url-secret", "missing"], "no secret named 'missing'"),
        (["--email", "a@b.example", "--url-secret", "hook-url"], "one of --email and"),
        (["--on", "long", "--email", "a@b.example"], "needs minutes"),
        (["--minutes", "soon", "--on", "long", "--email", "a@b.example"], "takes a number"),
    ]:
        bad = run_aft("notify", "add", "bad", "--script", "Nightly", *args)
        assert bad.returncode == 2, (args, bad.stderr)
        assert message in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert run_aft("notify", "remove", "ops").returncode == 0
    gone = run_aft("notify", "test", "ops")
    assert gone.returncode == 1 and "no notification named 'ops'" in gone.stderr
    assert "--url-secret" in run_aft("notify", "add", "--help").stdout


def test_webhook_url_and_headers_stay_out_of_the_rule(world):
    rule = world.notifications.add(
        "Hook", script="Nightly", channel="webhook", url_secret="hook-url",
        headers_secret="hook-headers",
    )  # fmt: skip
    assert "s3cr3t" not in repr(rule) and "/hook" not in repr(rule)  # secret names only
