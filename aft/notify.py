"""Notifications: a message when a script's or a schedule's job fails, succeeds or runs long.

A rule (:class:`Notification`) belongs to one stored script (every job of that script
name: started by the console, the REST API, a schedule or ``aft run``) or to one schedule
(the jobs it started). Its events:

- ``failure``: the job ended in any state but ``succeeded`` (failed, halted, interrupted);
  each attempt of a retried job counts;
- ``success``: the job succeeded;
- ``long``: the job is still running ``minutes`` after it started; once per job, while it
  runs.

Its channel is ``email`` (to ``recipients``, through the instance's SMTP settings) or
``webhook``: a JSON POST to the URL held in the secret ``url_secret``, with the headers
of the JSON object in the secret ``headers_secret`` (if any), so no credential sits in
the rule. A rule aft could not honour is refused when it is saved.

Delivery never holds up or fails a job: the :class:`Notifier` sends after the job's final
state is written, from its own thread (``aft serve``) or, for ``aft run``, after the run
is recorded, with a timeout. Each delivery is claimed once per rule, job and event in the
database (so two processes never send it twice) and its outcome, ``sent`` or the
one-line error with secrets masked, is kept with the rule (``last_result``) and as a line
in the job's log.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from aft import audit
from aft._store import Store
from aft.exceptions import (
    AftError,
    NotificationError,
    NotificationExists,
    NotificationNotFound,
    SecretNotFound,
)
from aft.models import Job, JobState, LogLevel, name_problem
from aft.secrets_store import SecretStore
from aft.settings import Settings

#: What a rule can fire on.
EVENTS = ("failure", "success", "long")
#: How a rule delivers.
CHANNELS = ("email", "webhook")
#: Seconds a delivery may take before it counts as failed.
TIMEOUT = 10.0
MASK = "********"
_COLUMNS = (
    "id, name, script, schedule, events, minutes, channel, recipients, url_secret,"
    " headers_secret, created, updated, last_sent, last_result"
)
_FIND = f"SELECT {_COLUMNS} FROM notifications WHERE id = ? OR name = ? ORDER BY id = ? DESC"
_JOB_COLUMNS = (
    "id, script_id, script_name, params, trigger, api_key_id, state, exit_code, error,"
    " error_line, attempt, max_attempts, retry_backoff, retry_of, not_before, created,"
    " started, finished, worker, halt_requested, grp, max_run_seconds, halt_reason, started_by"
)
_ADDRESS = re.compile(r"^[^@\s,<>]+@[^@\s,<>]+$")
_SLACK = 60.0  # a job that ended this long before the last look is looked at again


class Notification(NamedTuple):
    """A rule: on these events of this script's or schedule's jobs, send here.

    Attributes:
        id: ``ntf_`` and 12 hex digits.
        name: unique in any case.
        script: the stored script whose jobs it watches ("" for a schedule's rule).
        schedule: the schedule whose jobs it watches ("" for a script's rule).
        events: some of :data:`EVENTS`.
        minutes: for ``long``: how long a run may take before it is reported (else 0).
        channel: ``email`` or ``webhook``.
        recipients: for email: the addresses, comma-separated.
        url_secret: for a webhook: the secret holding the URL (http or https).
        headers_secret: for a webhook: the secret holding a JSON object of headers ("").
        created: Unix seconds.
        updated: Unix seconds of the last change.
        last_sent: Unix seconds of the last delivery (or test), None before the first.
        last_result: how it went: ``sent`` or the one-line error.
    """

    id: str
    name: str
    script: str
    schedule: str
    events: list[str]
    minutes: float
    channel: str
    recipients: str
    url_secret: str
    headers_secret: str
    created: float
    updated: float
    last_sent: float | None
    last_result: str | None

    @classmethod
    def _from_row(cls, row: Sequence[Any]) -> Notification:
        values = list(row)
        values[4] = json.loads(values[4])
        return cls(*values)

    def watches(self, job: Job) -> bool:
        """Whether ``job`` is one of the jobs this rule is about."""
        if self.script:
            return job.script_name.casefold() == self.script.casefold()
        started_by = job.started_by or ""
        return started_by.casefold() == f"schedule:{self.schedule}".casefold()


def _job(row: Sequence[Any]) -> Job:
    values = list(row)
    values[3] = json.loads(values[3])
    values[6] = JobState(values[6])
    return Job(*values)


def event_of(job: Job) -> str | None:
    """The end event of a job that has ended (``success`` or ``failure``), else None."""
    if not job.state.is_final:
        return None
    return "success" if job.state is JobState.SUCCEEDED else "failure"


def payload(job: Job, event: str, now: float | None = None) -> dict[str, Any]:
    """The JSON body a webhook receives (and the facts an email gives) for ``job``."""
    end = job.finished if job.finished is not None else (now or time.time())
    duration = None if job.started is None else round(end - job.started, 3)
    return {
        "event": event,
        "jobId": job.id,
        "script": job.script_name,
        "state": job.state.value,
        "trigger": job.trigger,
        "startedBy": job.started_by,
        "started": job.started,
        "finished": job.finished,
        "durationSeconds": duration,
        "error": job.error,
        "errorLine": job.error_line,
        "link": f"/#/jobs/{job.id}",
    }


# ---- checks --------------------------------------------------------------------------------


def _check_events(events: object) -> list[str]:
    if isinstance(events, str):
        events = [e.strip() for e in events.split(",") if e.strip()]
    if not isinstance(events, list) or not events:
        raise NotificationError(f"events is required: one or more of {', '.join(EVENTS)}")
    for event in events:
        if event not in EVENTS:
            raise NotificationError(f"unknown event {event!r}: the events are {', '.join(EVENTS)}")
    return [e for e in EVENTS if e in events]


def _check_minutes(minutes: object, events: list[str]) -> float:
    if minutes is None or minutes == 0:
        if "long" in events:
            raise NotificationError("the long event needs minutes: how long a run may take")
        return 0.0
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)):
        raise NotificationError("minutes must be a number")
    if "long" not in events:
        raise NotificationError("minutes is only for the long event; add it or leave minutes out")
    if not 0 < minutes <= 100_000:
        raise NotificationError("minutes must be more than 0 (and at most 100000)")
    return float(minutes)


def _check_recipients(recipients: object) -> str:
    if not isinstance(recipients, str) or not recipients.strip():
        raise NotificationError("email needs recipients: addresses separated by commas")
    found = [r.strip() for r in recipients.split(",") if r.strip()]
    for address in found:
        if not _ADDRESS.match(address):
            raise NotificationError(f"{address!r} is not an email address")
    return ", ".join(found)


def check_url(url: str) -> str:
    """``url`` when it is an http or https URL with a host.

    Raises:
        NotificationError: it is not (the message never shows the URL: it may hold a token).
    """
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url.strip())
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise NotificationError("a webhook URL must be an http:// or https:// URL with a host")
    return url.strip()


def check_headers(text: str) -> dict[str, str]:
    """The headers in a headers secret: a JSON object of names to string values.

    Raises:
        NotificationError: it is not one (the message never shows a value).
    """
    try:
        headers = json.loads(text)
    except ValueError:
        headers = None
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", k) for k in headers
    ):
        raise NotificationError(
            "a headers secret must hold a JSON object of header names and values,"
            ' like {"Authorization": "Bearer ..."}'
        )
    for key, value in headers.items():
        if not isinstance(value, str) or "\n" in value or "\r" in value:
            raise NotificationError(f"header {key!r} must be a one-line string")
    return headers


# ---- the store -----------------------------------------------------------------------------


class NotificationStore:
    """The notification rules.

    Args:
        store: the instance database.
        settings: the instance settings (email needs SMTP configured).
        secrets: the secrets a webhook's URL and headers come from.
        clock: Unix seconds now.
    """

    def __init__(
        self,
        store: Store,
        settings: Settings,
        secrets: SecretStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.settings = settings
        self.secrets = secrets
        self.clock = clock

    def add(
        self,
        name: str,
        *,
        script: str = "",
        schedule: str = "",
        events: Sequence[str] | str = ("failure",),
        minutes: float | None = None,
        channel: str = "email",
        recipients: str = "",
        url_secret: str = "",
        headers_secret: str = "",
    ) -> Notification:
        """Store a rule, refusing anything aft would not honour.

        Raises:
            NotificationError: a bad name, target, event, minutes, channel, address or
                secret; email without SMTP settings.
            NotificationExists: the name is taken (in any case).
            ScriptNotFound, ScheduleNotFound: the script or schedule does not exist.
        """
        problem = name_problem(name, "notification")
        if problem:
            raise NotificationError(problem)
        script, schedule = self._target(script, schedule)
        chosen = _check_events(list(events) if not isinstance(events, str) else events)
        minutes = _check_minutes(minutes, chosen)
        if channel not in CHANNELS:
            raise NotificationError(
                f"channel must be one of {', '.join(CHANNELS)}, not {channel!r}"
            )
        if channel == "email":
            recipients = _check_recipients(recipients)
            if url_secret or headers_secret:
                raise NotificationError("url-secret and headers-secret are for webhooks only")
            if not self.settings.get("smtp_host"):
                raise NotificationError(
                    "email needs the instance's SMTP settings: set smtp_host first"
                    " (aft settings set smtp_host ...)"
                )
        else:
            if recipients:
                raise NotificationError("recipients are for email only")
            self._webhook(url_secret, headers_secret)
        now = self.clock()
        rule_id = "ntf_" + os.urandom(6).hex()
        with self.store.transaction() as db:
            if db.execute("SELECT 1 FROM notifications WHERE name = ?", (name,)).fetchone():
                raise NotificationExists(f"a notification named {name!r} exists already")
            db.execute(
                f"INSERT INTO notifications ({_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
                (
                    rule_id,
                    name,
                    script,
                    schedule,
                    json.dumps(chosen),
                    minutes,
                    channel,
                    recipients,
                    url_secret,
                    headers_secret,
                    now,
                    now,
                ),
            )
            audit.record(
                db,
                "notification.add",
                name,
                id=rule_id,
                script=script,
                schedule=schedule,
                events=chosen,
                minutes=minutes,
                channel=channel,
                recipients=recipients,
                url_secret=url_secret,
                headers_secret=headers_secret,
            )
        return self.get(rule_id)

    def _target(self, script: str, schedule: str) -> tuple[str, str]:
        if bool(script) == bool(schedule):
            raise NotificationError("give exactly one of script and schedule")
        if script:
            from aft.scripts_store import ScriptStore

            return ScriptStore(self.store).get(script).name, ""
        from aft.schedules import ScheduleStore

        return "", ScheduleStore(self.store).get(schedule).name

    def _webhook(self, url_secret: str, headers_secret: str) -> None:
        if not url_secret:
            raise NotificationError("a webhook needs url-secret: the secret holding its URL")
        check_url(self._secret(url_secret, "url-secret"))
        if headers_secret:
            check_headers(self._secret(headers_secret, "headers-secret"))

    def _secret(self, name: str, what: str) -> str:
        try:
            return self.secrets.get(name)
        except SecretNotFound:
            raise NotificationError(f"{what}: no secret named {name!r}") from None

    def get(self, name_or_id: str) -> Notification:
        """By id, or by name in any case.

        Raises:
            NotificationNotFound: no rule has this id or name.
        """
        rows = self.store.query(_FIND, (name_or_id,) * 3)
        if not rows:
            raise NotificationNotFound(f"no notification named {name_or_id!r}")
        return Notification._from_row(rows[0])

    def list(self, *, script: str | None = None, schedule: str | None = None) -> list[Notification]:
        """Every rule sorted by name; only a script's or a schedule's when one is given."""
        rows = self.store.query(f"SELECT {_COLUMNS} FROM notifications ORDER BY name, id")
        found = [Notification._from_row(r) for r in rows]
        if script is not None:
            found = [n for n in found if n.script.casefold() == script.casefold()]
        if schedule is not None:
            found = [n for n in found if n.schedule.casefold() == schedule.casefold()]
        return found

    def remove(self, name_or_id: str) -> Notification:
        """Delete a rule (its deliveries' log lines stay in the jobs' logs).

        Raises:
            NotificationNotFound: no rule has this id or name.
        """
        with self.store.transaction() as db:
            rule = self.get(name_or_id)
            db.execute("DELETE FROM notifications WHERE id = ?", (rule.id,))
            db.execute("DELETE FROM notification_deliveries WHERE notification_id = ?", (rule.id,))
            audit.record(db, "notification.remove", rule.name, id=rule.id)
        return rule


def any_rule_for_script(store: Store, script_name: str) -> bool:
    """Whether some rule watches jobs of ``script_name`` (a cheap look, for ``aft run``)."""
    rows = store.query(
        "SELECT 1 FROM notifications WHERE script = ? COLLATE NOCASE LIMIT 1", (script_name,)
    )
    return bool(rows)


# ---- delivery ------------------------------------------------------------------------------


class Notifier:
    """Delivers the rules' notifications: :meth:`start` runs it in a thread (``aft serve``),
    :meth:`job_ended` and :meth:`follow` serve a single run (``aft run``).

    Args:
        rules: the rules (and the store, settings and secrets they use).
        timeout: seconds a delivery may take.
    """

    def __init__(self, rules: NotificationStore, timeout: float = TIMEOUT) -> None:
        self.rules = rules
        self.store = rules.store
        self.clock = rules.clock
        self.timeout = timeout
        self._since = self.clock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- the service's loop ------------------------------------------------------------

    def start(self, every: float = 1.0) -> None:
        """Look for jobs to report every ``every`` seconds, from a thread of its own."""
        self._since = self.clock()
        self._thread = threading.Thread(
            target=self._loop, args=(every,), name="aft-notifier", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop the thread after one last look (jobs that ended as the service stopped)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
            try:
                self.tick()
            except Exception:
                _log().exception("the notifier failed")

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _loop(self, every: float) -> None:
        while not self._stopping.wait(every):
            try:
                self.tick()
            except Exception:
                _log().exception("the notifier failed; it goes on")

    def tick(self) -> int:
        """Deliver for jobs that ended since the last look and jobs running too long.

        Returns:
            How many deliveries were made (sent or failed).
        """
        now = self.clock()
        rules = self.rules.list()
        if not rules:
            self._since = now
            return 0
        done = 0
        ended = self.store.query(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE finished >= ?"
            " AND state NOT IN ('queued', 'running') ORDER BY finished",
            (self._since - _SLACK,),
        )
        self._since = now
        for job in map(_job, ended):
            done += self._report(rules, job, event_of(job))
        longest = [r.minutes for r in rules if "long" in r.events]
        if longest:
            running = self.store.query(
                f"SELECT {_JOB_COLUMNS} FROM jobs WHERE state = 'running' AND started <= ?",
                (now - min(longest) * 60,),
            )
            for job in map(_job, running):
                done += self._report(rules, job, "long", now)
        return done

    def _report(
        self, rules: list[Notification], job: Job, event: str | None, now: float | None = None
    ) -> int:
        done = 0
        for rule in rules:
            if event is None or event not in rule.events or not rule.watches(job):
                continue
            if event == "long" and (
                now is None or job.started is None or job.started > now - rule.minutes * 60
            ):
                continue  # not running this rule's minutes yet
            if self._claim(rule, job, event):
                self.deliver(rule, job, event)
                done += 1
        return done

    def _claim(self, rule: Notification, job: Job, event: str) -> bool:
        key = (rule.id, job.id, event)
        if self.store.query(
            "SELECT 1 FROM notification_deliveries"
            " WHERE notification_id = ? AND job_id = ? AND event = ?",
            key,
        ):
            return False  # a read first: most looks find it done, and need no write
        return bool(
            self.store.execute(
                "INSERT INTO notification_deliveries (notification_id, job_id, event, time,"
                " result) VALUES (?, ?, ?, ?, 'sending') ON CONFLICT DO NOTHING",
                (rule.id, job.id, event, self.clock()),
            )
        )

    # ---- one run (aft run) -------------------------------------------------------------

    def job_ended(self, job_id: str) -> int:
        """Deliver the end event of a job that has ended; how many deliveries were made."""
        rows = self.store.query(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        if not rows:
            return 0
        job = _job(rows[0])
        return self._report(self.rules.list(), job, event_of(job))

    def follow(self, job_id: str, script_name: str) -> Callable[[], None]:
        """Report the ``long`` event of a running job when its time comes, from a thread;
        returns the function that stops it (call it once the run has ended)."""
        longest = [
            r.minutes
            for r in self.rules.list(script=script_name)
            if "long" in r.events and r.minutes
        ]
        stop = threading.Event()
        if not longest:
            return stop.set

        def watch() -> None:
            for minutes in sorted(set(longest)):
                rows = self.store.query("SELECT started FROM jobs WHERE id = ?", (job_id,))
                started = rows[0][0] if rows and rows[0][0] is not None else self.clock()
                if stop.wait(max(0.0, started + minutes * 60 - self.clock())):
                    return
                try:
                    found = self.store.query(
                        f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ? AND state = 'running'",
                        (job_id,),
                    )
                    if found:
                        self._report(self.rules.list(), _job(found[0]), "long", self.clock())
                except Exception:
                    _log().exception("notifying the long run of %s failed", job_id)

        threading.Thread(target=watch, name="aft-notify-long", daemon=True).start()
        return stop.set

    # ---- sending -----------------------------------------------------------------------

    def deliver(self, rule: Notification, job: Job, event: str) -> str:
        """Send one notification and record how it went; never raises.

        Returns:
            ``sent`` or the one-line error (secrets masked).
        """
        result = self._send(rule, payload(job, event, self.clock()))
        now = self.clock()
        try:
            with self.store.transaction() as db:
                db.execute(
                    "UPDATE notification_deliveries SET result = ?, time = ?"
                    " WHERE notification_id = ? AND job_id = ? AND event = ?",
                    (result, now, rule.id, job.id, event),
                )
                db.execute(
                    "UPDATE notifications SET last_sent = ?, last_result = ? WHERE id = ?",
                    (now, result, rule.id),
                )
                n = db.execute(
                    "SELECT COALESCE(MAX(n) + 1, 0) FROM job_logs WHERE job_id = ?", (job.id,)
                ).fetchone()[0]
                level = LogLevel.INFO if result == "sent" else LogLevel.WARN
                text = f"notification {rule.name} ({event}, {rule.channel}): {result}"
                db.execute(
                    "INSERT INTO job_logs (job_id, n, time, level, text) VALUES (?, ?, ?, ?, ?)",
                    (job.id, n, now, level.value, text),
                )
        except AftError as exc:
            _log().warning("cannot record notification %s of %s: %s", rule.name, job.id, exc)
        if result != "sent":
            _log().warning("notification %s of %s: %s", rule.name, job.id, result)
        return result

    def test(self, name_or_id: str) -> str:
        """Send a test message through a rule and record how it went (``last_result``).

        Returns:
            ``sent`` or the one-line error.

        Raises:
            NotificationNotFound: no such rule.
        """
        rule = self.rules.get(name_or_id)
        now = self.clock()
        body = {
            "event": "test",
            "jobId": None,
            "script": rule.script or None,
            "schedule": rule.schedule or None,
            "state": None,
            "trigger": None,
            "startedBy": None,
            "started": now,
            "finished": now,
            "durationSeconds": 0,
            "error": None,
            "errorLine": None,
            "link": "/#/jobs",
        }
        result = self._send(rule, body)
        self.store.execute(
            "UPDATE notifications SET last_sent = ?, last_result = ? WHERE id = ?",
            (self.clock(), result, rule.id),
        )
        return result

    def _send(self, rule: Notification, body: dict[str, Any]) -> str:
        hidden: list[str] = []
        try:
            if rule.channel == "email":
                self._email(rule, body, hidden)
            else:
                self._webhook(rule, body, hidden)
            return "sent"
        except Exception as exc:  # every failure is one line on the record, never a raise
            text = " ".join(str(exc).split()) or type(exc).__name__
            for value in sorted(hidden, key=len, reverse=True):
                if value:
                    text = text.replace(value, MASK)
            return text[:500]

    def _email(self, rule: Notification, body: dict[str, Any], hidden: list[str]) -> None:
        import attrs

        from aft.exceptions import MailError
        from aft.mail import MailSettings, send_mail

        settings = attrs.evolve(
            MailSettings.from_settings(self.rules.settings.all()), timeout=self.timeout
        )
        password = None
        if settings.user:
            if not settings.password_secret:
                raise MailError("smtp_user is set but smtp_password_secret is not")
            password = self.rules.secrets.get(settings.password_secret)
            hidden.append(password)
        what = body["script"] or body.get("schedule") or ""
        if body["event"] == "test":
            subject = f"aft: test notification {rule.name}"
        elif body["event"] == "long":
            subject = f"aft: {what} still running after {rule.minutes:g} min ({body['jobId']})"
        else:
            subject = f"aft: {what} {body['state']} ({body['jobId']})"
        text = "\n".join(f"{key}: {value}" for key, value in body.items() if value is not None)
        send_mail(settings, password, "", rule.recipients, subject, text + "\n")

    def _webhook(self, rule: Notification, body: dict[str, Any], hidden: list[str]) -> None:
        import urllib.error
        import urllib.request

        url = check_url(self.rules.secrets.get(rule.url_secret))
        hidden.append(url)
        headers = {"Content-Type": "application/json", "User-Agent": "aft-notify"}
        if rule.headers_secret:
            extra = check_headers(self.rules.secrets.get(rule.headers_secret))
            hidden.extend(extra.values())
            headers.update(extra)
        request = urllib.request.Request(
            url, data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        opener = urllib.request.build_opener(_no_redirect_handler())
        try:
            with opener.open(request, timeout=self.timeout) as answer:
                answer.read(65536)
        except urllib.error.HTTPError as exc:
            raise NotificationError(f"the webhook answered HTTP {exc.code}") from None
        except urllib.error.URLError as exc:
            raise NotificationError(f"the webhook cannot be reached: {exc.reason}") from None
        except TimeoutError:
            raise NotificationError(
                f"the webhook did not answer within {self.timeout:g}s"
            ) from None


def _log() -> Any:
    """This module's logger (logging is imported on first use: ``aft run`` does without)."""
    import logging

    return logging.getLogger("aft.notify")


def _no_redirect_handler() -> type:
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        """A redirect is an answer (a POST turned into a GET elsewhere would lose its body)."""

        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    return NoRedirect
