"""A client of the REST API v1, on urllib3: a method for every operation (:data:`OPERATIONS`),
returning the library's own value classes (``Job``, ``Script``, ``Schedule``...).

Errors come back as the same exception classes the service raised (by stable code),
so ``except ScriptNotFound`` works across the wire. A connection that cannot be made is
:class:`ServiceUnavailable`.

TLS: with ``fingerprint`` the server's certificate must have that SHA-256 (pinning, for
the self-signed certificate ``aft serve`` makes); with ``ca_file`` it must chain to that
CA and name the host; otherwise the system's CAs are used.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, TypeVar
from urllib.parse import quote, urlencode, urlsplit

import urllib3

from aft._serde import from_json
from aft.accounts import Account
from aft.audit import AuditEntry
from aft.exceptions import AftError, ConfigError, ServiceUnavailable, error_class
from aft.jobs import Job
from aft.journal import Transfer
from aft.keys import ApiKey
from aft.models import JobState, LogLevel, LogLine
from aft.notify import Notification
from aft.schedules import Schedule
from aft.scripts_store import Script
from aft.vfs.library import VfsProfile

T = TypeVar("T")

#: Every operation of the REST API (aft/server/openapi.py) and the method that calls it.
OPERATIONS: dict[tuple[str, str], str] = {
    ("POST", "/v1/jobs"): "submit_job",
    ("GET", "/v1/jobs"): "jobs",
    ("GET", "/v1/jobs/{jobId}"): "job",
    ("GET", "/v1/jobs/{jobId}/log"): "job_log",
    ("POST", "/v1/jobs/{jobId}/halt"): "halt_job",
    ("GET", "/v1/jobs/{jobId}/transfers"): "job_transfers",
    ("GET", "/v1/transfers"): "transfers",
    ("GET", "/v1/scripts"): "scripts",
    ("POST", "/v1/scripts"): "add_script",
    ("GET", "/v1/scripts/{name}"): "script",
    ("PUT", "/v1/scripts/{name}"): "update_script",
    ("DELETE", "/v1/scripts/{name}"): "remove_script",
    ("GET", "/v1/secrets"): "secret_names",
    ("PUT", "/v1/secrets/{name}"): "set_secret",
    ("DELETE", "/v1/secrets/{name}"): "delete_secret",
    ("GET", "/v1/apikeys"): "api_keys",
    ("POST", "/v1/apikeys"): "create_api_key",
    ("DELETE", "/v1/apikeys/{keyId}"): "revoke_api_key",
    ("GET", "/v1/settings"): "settings",
    ("PUT", "/v1/settings/{key}"): "set_setting",
    ("GET", "/v1/vfs"): "vfs_profiles",
    ("POST", "/v1/vfs"): "add_vfs",
    ("POST", "/v1/vfs/test"): "test_new_vfs",
    ("GET", "/v1/vfs/types"): "vfs_types",
    ("POST", "/v1/vfs/types/{type}/target"): "compose_vfs_target",
    ("GET", "/v1/vfs/hostkey"): "vfs_hostkey",
    ("GET", "/v1/vfs/{name}"): "vfs_profile",
    ("PUT", "/v1/vfs/{name}"): "update_vfs",
    ("DELETE", "/v1/vfs/{name}"): "remove_vfs",
    ("POST", "/v1/vfs/{name}/test"): "test_vfs",
    ("GET", "/v1/schedules"): "schedules",
    ("POST", "/v1/schedules"): "add_schedule",
    ("GET", "/v1/schedules/{id}"): "schedule",
    ("PUT", "/v1/schedules/{id}"): "update_schedule",
    ("DELETE", "/v1/schedules/{id}"): "remove_schedule",
    ("POST", "/v1/cron/preview"): "cron_preview",
    ("GET", "/v1/notifications"): "notifications",
    ("POST", "/v1/notifications"): "add_notification",
    ("GET", "/v1/notifications/{id}"): "notification",
    ("DELETE", "/v1/notifications/{id}"): "remove_notification",
    ("POST", "/v1/notifications/{id}/test"): "test_notification",
    ("GET", "/v1/audit"): "audit",
    ("GET", "/v1/health"): "health",
    ("GET", "/v1/openapi.json"): "openapi",
}


class JobList(NamedTuple):
    """A page of jobs, newest first, and the cursor of the next page (None: the last)."""

    jobs: list[Job]
    next_cursor: int | None


class AuditPage(NamedTuple):
    """A page of the audit trail, oldest first, and the cursor of the next page (None: the
    last)."""

    entries: list[AuditEntry]
    next_cursor: int | None


class TransferPage(NamedTuple):
    """A page of the transfer journal, oldest first, and the cursor of the next page (None:
    the last)."""

    transfers: list[Transfer]
    next_cursor: int | None


class CronPreview(NamedTuple):
    """A cron line's next runs (Unix times), or what is wrong with it, by field
    (``cron``, ``timezone``)."""

    runs: list[float]
    errors: dict[str, str]


class LogPage(NamedTuple):
    """A job's log lines from an offset on, the offset to ask from next, and the job's state."""

    lines: list[LogLine]
    next_offset: int
    status: JobState


class ConnectionTest(NamedTuple):
    """What trying a VFS profile gave: connected, and the entries at its root."""

    ok: bool
    entries: int
    message: str


class TargetCheck(NamedTuple):
    """A target written from its fields, and what is wrong with them, by field
    (``_target`` for the whole target)."""

    target: str
    errors: dict[str, str]


class NotificationTest(NamedTuple):
    """What a test message through a notification rule gave: sent, and ``sent`` or why not."""

    name: str
    ok: bool
    result: str


class AftClient:
    """Talks to one aft service.

    Args:
        url: ``https://host:port`` (or ``http://`` when the service was asked for it).
        api_key: sent as ``X-API-Key``.
        fingerprint: the SHA-256 (hex) the server's certificate must have.
        ca_file: a CA bundle to verify the server's certificate against.
        timeout: seconds for each request.
    """

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        *,
        fingerprint: str | None = None,
        ca_file: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.url = url.rstrip("/")
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["X-API-Key"] = api_key
        tls: dict[str, Any] = {}
        if fingerprint:
            tls = {"cert_reqs": "CERT_NONE", "assert_fingerprint": fingerprint}
        elif ca_file:
            tls = {"cert_reqs": "CERT_REQUIRED", "ca_certs": ca_file}
        self._http = urllib3.PoolManager(
            maxsize=4,
            timeout=urllib3.Timeout(connect=min(timeout, 10.0), read=timeout),
            retries=False,
            **tls,
        )

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """Call ``path``; returns the decoded JSON answer or raises the service's error."""
        data = None if body is None else json.dumps(body).encode()
        return self._answer(self._send(method, path, data, query, headers))

    def _answer(self, response: Any) -> Any:
        """The decoded JSON of ``response``, or the service's error raised."""
        try:
            answer = json.loads(response.data or b"null")
        except ValueError:
            raise ServiceUnavailable(
                f"{self.url} answered HTTP {response.status} with something that is not JSON"
            ) from None
        if response.status >= 400:
            if isinstance(answer, dict) and "error" in answer:
                raise error_class(str(answer["error"]))(str(answer.get("message", "")))
            raise AftError(f"HTTP {response.status} from {self.url}")
        return answer

    def _send(
        self,
        method: str,
        path: str,
        data: bytes | None,
        query: dict[str, Any] | None,
        headers: dict[str, str] | None,
    ) -> Any:
        url = self.url + path + ("?" + urlencode(query) if query else "")
        try:
            return self._http.request(
                method, url, body=data, headers={**self._headers, **(headers or {})}
            )
        except urllib3.exceptions.SSLError as exc:
            raise ServiceUnavailable(f"TLS with {self.url} failed: {_reason(exc)}") from None
        except urllib3.exceptions.HTTPError as exc:
            raise ServiceUnavailable(f"cannot reach {self.url}: {_reason(exc)}") from None

    def _get(self, cls: type[T], method: str, path: str, body: Any = None, **kw: Any) -> T:
        return from_json(cls, self.request(method, path, body, **kw))

    # ---- jobs -------------------------------------------------------------------------

    def submit_job(
        self,
        *,
        script_name: str | None = None,
        script_id: str | None = None,
        file_path: str | None = None,
        params: dict[str, Any] | None = None,
        group: str | None = None,
        idempotency_key: str | None = None,
    ) -> Job:
        """Queue a job (in worker group ``group`` of a cluster): ``POST /v1/jobs``.

        Exactly one of ``script_name``, ``script_id`` and ``file_path``. With
        ``idempotency_key``, asking again with the same key (after a lost answer, say)
        within 24 hours returns the first job instead of queueing another.
        """
        body: dict[str, Any] = _given(
            scriptName=script_name, scriptId=script_id, filePath=file_path, group=group
        )
        if params:
            body["params"] = params
        headers = {} if idempotency_key is None else {"Idempotency-Key": idempotency_key}
        return from_json(Job, self.request("POST", "/v1/jobs", body, headers=headers))

    def jobs(
        self,
        *,
        status: JobState | str | None = None,
        script: str | None = None,
        trigger: str | None = None,
        since: float | None = None,
        limit: int | None = None,
        cursor: int | None = None,
    ) -> JobList:
        """Jobs, newest first, one page (``next_cursor`` asks for the next): ``GET /v1/jobs``.
        A ``run`` key sees the jobs it started."""
        query = _given(
            status=None if status is None else JobState(status).value,
            script=script,
            trigger=trigger,
            since=since,
            limit=limit,
            cursor=cursor,
        )
        page = self.request("GET", "/v1/jobs", query=query)
        return JobList([from_json(Job, j) for j in page["jobs"]], page["nextCursor"])

    def job(self, job_id: str) -> Job:
        """One job: ``GET /v1/jobs/{jobId}``."""
        return self._get(Job, "GET", f"/v1/jobs/{_quote(job_id)}")

    def job_log(self, job_id: str, offset: int = 0) -> LogPage:
        """A job's log lines from ``offset`` on: ``GET /v1/jobs/{jobId}/log``."""
        page = self.request("GET", f"/v1/jobs/{_quote(job_id)}/log", query={"offset": offset})
        lines = [LogLine(ln["time"], LogLevel(ln["level"]), ln["text"]) for ln in page["lines"]]
        return LogPage(lines, int(page["nextOffset"]), JobState(page["status"]))

    def halt_job(self, job_id: str) -> Job:
        """Send a job the halt signal (killed after the grace period):
        ``POST /v1/jobs/{jobId}/halt``; returns the job as it is then."""
        self.request("POST", f"/v1/jobs/{_quote(job_id)}/halt")
        return self.job(job_id)

    def follow(self, job_id: str, on_line: Callable[[LogLine], None], poll: float = 0.1) -> Job:
        """Pass each log line to ``on_line`` until the job ends; returns the final job."""
        offset = 0
        while True:
            page = self.job_log(job_id, offset)
            for line in page.lines:
                on_line(line)
            offset = page.next_offset
            if page.status.is_final and not page.lines:
                return self.job(job_id)
            if not page.lines:
                time.sleep(poll)

    # ---- scripts ----------------------------------------------------------------------

    def scripts(self) -> list[Script]:
        """Stored scripts, without their sources (``source`` is empty): ``GET /v1/scripts``."""
        listed = self.request("GET", "/v1/scripts")["scripts"]
        return [from_json(Script, {"source": "", **s}) for s in listed]

    def script(self, name: str) -> Script:
        """One stored script, by name or id: ``GET /v1/scripts/{name}``."""
        return self._get(Script, "GET", f"/v1/scripts/{_quote(name)}")

    def add_script(
        self,
        name: str,
        source: str,
        *,
        retries: int | None = None,
        retry_backoff: float | None = None,
        group: str | None = None,
        max_run_seconds: int | None = None,
    ) -> Script:
        """Store a script: ``POST /v1/scripts``."""
        body = _given(
            name=name,
            source=source,
            retries=retries,
            retryBackoff=retry_backoff,
            group=group,
            maxRunSeconds=max_run_seconds,
        )
        return self._get(Script, "POST", "/v1/scripts", body)

    def update_script(
        self,
        name: str,
        *,
        source: str | None = None,
        rename: str | None = None,
        retries: int | None = None,
        retry_backoff: float | None = None,
        group: str | None = None,
        max_run_seconds: int | None = None,
    ) -> Script:
        """Change a stored script; what is left out stays: ``PUT /v1/scripts/{name}``."""
        body = _given(
            name=rename,
            source=source,
            retries=retries,
            retryBackoff=retry_backoff,
            group=group,
            maxRunSeconds=max_run_seconds,
        )
        return self._get(Script, "PUT", f"/v1/scripts/{_quote(name)}", body)

    def remove_script(self, name: str) -> None:
        """Delete a stored script (its jobs stay): ``DELETE /v1/scripts/{name}``."""
        self.request("DELETE", f"/v1/scripts/{_quote(name)}")

    # ---- secrets ----------------------------------------------------------------------

    def secret_names(self) -> list[str]:
        """The secrets' names, never their values: ``GET /v1/secrets``."""
        return [str(n) for n in self.request("GET", "/v1/secrets")["secrets"]]

    def set_secret(self, name: str, value: str) -> None:
        """Create or replace a secret (write-only): ``PUT /v1/secrets/{name}``."""
        self.request("PUT", f"/v1/secrets/{_quote(name)}", {"value": value})

    def delete_secret(self, name: str) -> None:
        """Delete a secret: ``DELETE /v1/secrets/{name}``."""
        self.request("DELETE", f"/v1/secrets/{_quote(name)}")

    # ---- console accounts -------------------------------------------------------------

    def accounts(self) -> list[Account]:
        """The web console's accounts and their roles: ``GET /ui/accounts``."""
        return [from_json(Account, a) for a in self.request("GET", "/ui/accounts")["accounts"]]

    def add_account(self, username: str, password: str, role: str) -> Account:
        """Add an account with a role (``viewer``, ``operator``, ``admin``): ``POST
        /ui/accounts``."""
        body = {"username": username, "password": password, "role": role}
        return self._get(Account, "POST", "/ui/accounts", body)

    def set_account_role(self, username: str, role: str) -> Account:
        """Change an account's role (the last admin keeps theirs): ``PUT
        /ui/accounts/{name}/role``."""
        path = f"/ui/accounts/{_quote(username)}/role"
        return self._get(Account, "PUT", path, {"role": role})

    # ---- API keys ---------------------------------------------------------------------

    def api_keys(self) -> list[ApiKey]:
        """The keys' records, never the keys: ``GET /v1/apikeys``."""
        return [from_json(ApiKey, k) for k in self.request("GET", "/v1/apikeys")["apiKeys"]]

    def create_api_key(self, name: str, allow: list[str], scope: str = "run") -> tuple[ApiKey, str]:
        """Create a key: its record, and the key itself (in this answer only):
        ``POST /v1/apikeys``."""
        made = self.request("POST", "/v1/apikeys", {"name": name, "allow": allow, "scope": scope})
        return from_json(ApiKey, made), str(made["key"])

    def revoke_api_key(self, key_id: str) -> None:
        """Revoke a key for good: ``DELETE /v1/apikeys/{keyId}``."""
        self.request("DELETE", f"/v1/apikeys/{_quote(key_id)}")

    # ---- settings ---------------------------------------------------------------------

    def settings(self) -> dict[str, bool | int | str]:
        """Every setting's value: ``GET /v1/settings``."""
        return dict(self.request("GET", "/v1/settings")["settings"])

    def set_setting(self, key: str, value: bool | int | str) -> bool | int | str:
        """Change a setting; returns the value as stored: ``PUT /v1/settings/{key}``."""
        answer = self.request("PUT", f"/v1/settings/{_quote(key)}", {"value": value})
        stored: bool | int | str = answer["value"]
        return stored

    # ---- the VFS Library --------------------------------------------------------------

    def vfs_profiles(self) -> list[VfsProfile]:
        """The profiles, never their credentials: ``GET /v1/vfs``."""
        return [from_json(VfsProfile, p) for p in self.request("GET", "/v1/vfs")["vfs"]]

    def vfs_profile(self, name: str) -> VfsProfile:
        """One profile: ``GET /v1/vfs/{name}``."""
        return self._get(VfsProfile, "GET", f"/v1/vfs/{_quote(name)}")

    def add_vfs(
        self, name: str, type: str, target: str, payload: dict[str, Any] | None = None
    ) -> VfsProfile:
        """Add a profile; the payload (credentials) is write-only: ``POST /v1/vfs``."""
        body = _given(name=name, type=type, target=target, payload=payload)
        return self._get(VfsProfile, "POST", "/v1/vfs", body)

    def update_vfs(
        self,
        name: str,
        *,
        type: str | None = None,
        target: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> VfsProfile:
        """Change a profile; what is left out stays (the payload too): ``PUT /v1/vfs/{name}``."""
        body = _given(type=type, target=target, payload=payload)
        return self._get(VfsProfile, "PUT", f"/v1/vfs/{_quote(name)}", body)

    def remove_vfs(self, name: str) -> None:
        """Delete a profile: ``DELETE /v1/vfs/{name}``."""
        self.request("DELETE", f"/v1/vfs/{_quote(name)}")

    def test_vfs(self, name: str, target: str | None = None) -> ConnectionTest:
        """Connect with a saved profile and list its root: ``POST /v1/vfs/{name}/test``.

        With ``target``, connect there instead, with the profile's stored credentials (to try
        a changed target before saving it)."""
        body = _given(target=target) or None
        return self._get(ConnectionTest, "POST", f"/v1/vfs/{_quote(name)}/test", body)

    def test_new_vfs(
        self, type: str, target: str, payload: dict[str, Any] | None = None
    ) -> ConnectionTest:
        """Connect with a profile that is not saved and list its root: ``POST /v1/vfs/test``."""
        body = _given(type=type, target=target, payload=payload)
        return self._get(ConnectionTest, "POST", "/v1/vfs/test", body)

    def vfs_types(self) -> list[dict[str, Any]]:
        """Each VFS type's schema (its target's and payload's fields): ``GET /v1/vfs/types``."""
        return list(self.request("GET", "/v1/vfs/types")["types"])

    def compose_vfs_target(
        self, type: str, fields: dict[str, str], payload: dict[str, Any] | None = None
    ) -> TargetCheck:
        """The target ``fields`` describe and what is wrong with them (by field):
        ``POST /v1/vfs/types/{type}/target``."""
        path = f"/v1/vfs/types/{_quote(type)}/target"
        return self._get(TargetCheck, "POST", path, _given(fields=fields, payload=payload))

    def vfs_hostkey(self, url: str) -> str:
        """The SHA-256 host key of ``sftp://host:port``, to pin: ``GET /v1/vfs/hostkey``."""
        return str(self.request("GET", "/v1/vfs/hostkey", query={"url": url})["fingerprint"])

    # ---- schedules --------------------------------------------------------------------

    def schedules(self) -> list[Schedule]:
        """Every schedule: ``GET /v1/schedules``."""
        listed = self.request("GET", "/v1/schedules")["schedules"]
        return [from_json(Schedule, s) for s in listed]

    def schedule(self, name: str) -> Schedule:
        """One schedule, by id or name: ``GET /v1/schedules/{id}``."""
        return self._get(Schedule, "GET", f"/v1/schedules/{_quote(name)}")

    def add_schedule(
        self,
        name: str,
        script: str,
        cron: str,
        *,
        timezone: str | None = None,
        params: dict[str, Any] | None = None,
        enabled: bool | None = None,
        overlap: str | None = None,
        catch_up: bool | None = None,
    ) -> Schedule:
        """Run a stored script at cron times: ``POST /v1/schedules``."""
        body = _given(
            name=name,
            script=script,
            cron=cron,
            timezone=timezone,
            params=params,
            enabled=enabled,
            overlap=overlap,
            catchUp=catch_up,
        )
        return self._get(Schedule, "POST", "/v1/schedules", body)

    def update_schedule(
        self,
        name: str,
        *,
        rename: str | None = None,
        script: str | None = None,
        cron: str | None = None,
        timezone: str | None = None,
        params: dict[str, Any] | None = None,
        enabled: bool | None = None,
        overlap: str | None = None,
        catch_up: bool | None = None,
    ) -> Schedule:
        """Change a schedule; what is left out stays: ``PUT /v1/schedules/{id}``."""
        body = _given(
            name=rename,
            script=script,
            cron=cron,
            timezone=timezone,
            params=params,
            enabled=enabled,
            overlap=overlap,
            catchUp=catch_up,
        )
        return self._get(Schedule, "PUT", f"/v1/schedules/{_quote(name)}", body)

    def remove_schedule(self, name: str) -> None:
        """Delete a schedule (its jobs stay): ``DELETE /v1/schedules/{id}``."""
        self.request("DELETE", f"/v1/schedules/{_quote(name)}")

    def cron_preview(self, cron: str, timezone: str = "UTC") -> CronPreview:
        """The next runs of ``cron`` in ``timezone``, or what is wrong with them, without
        saving anything: ``POST /v1/cron/preview``."""
        answer = self.request("POST", "/v1/cron/preview", {"cron": cron, "timezone": timezone})
        return CronPreview([float(r) for r in answer["runs"]], dict(answer["errors"]))

    # ---- notifications ------------------------------------------------------------------

    def notifications(
        self, *, script: str | None = None, schedule: str | None = None
    ) -> list[Notification]:
        """Notification rules, all or one script's or schedule's: ``GET /v1/notifications``."""
        query = _given(script=script, schedule=schedule)
        listed = self.request("GET", "/v1/notifications", query=query)["notifications"]
        return [from_json(Notification, n) for n in listed]

    def notification(self, name: str) -> Notification:
        """One rule, by id or name: ``GET /v1/notifications/{id}``."""
        return self._get(Notification, "GET", f"/v1/notifications/{_quote(name)}")

    def add_notification(
        self,
        name: str,
        *,
        script: str | None = None,
        schedule: str | None = None,
        events: list[str] | None = None,
        minutes: float | None = None,
        channel: str | None = None,
        recipients: str | None = None,
        url_secret: str | None = None,
        headers_secret: str | None = None,
    ) -> Notification:
        """Email or call a webhook on a script's or schedule's job events:
        ``POST /v1/notifications``."""
        body = _given(
            name=name,
            script=script,
            schedule=schedule,
            events=events,
            minutes=minutes,
            channel=channel,
            recipients=recipients,
            urlSecret=url_secret,
            headersSecret=headers_secret,
        )
        return self._get(Notification, "POST", "/v1/notifications", body)

    def remove_notification(self, name: str) -> None:
        """Delete a rule: ``DELETE /v1/notifications/{id}``."""
        self.request("DELETE", f"/v1/notifications/{_quote(name)}")

    def test_notification(self, name: str) -> NotificationTest:
        """Send a test message through a rule: ``POST /v1/notifications/{id}/test``."""
        answer = self.request("POST", f"/v1/notifications/{_quote(name)}/test")
        return NotificationTest(str(answer["name"]), bool(answer["ok"]), str(answer["result"]))

    # ---- the transfer journal ----------------------------------------------------------

    def transfers(
        self,
        *,
        job: str | None = None,
        since: float | None = None,
        until: float | None = None,
        path: str | None = None,
        failed: bool = False,
        limit: int | None = None,
        cursor: int | None = None,
    ) -> TransferPage:
        """Transfer records, oldest first, one page: ``GET /v1/transfers`` (every job's
        for any role but run; a run key gives ``job``). ``path`` is a glob over source and
        destination paths; ``failed`` keeps only failed files."""
        query = _given(
            job=job,
            since=since,
            until=until,
            path=path,
            failed="true" if failed else None,
            limit=limit,
            cursor=cursor,
        )
        return _transfer_page(self.request("GET", "/v1/transfers", query=query))

    def transfers_csv(
        self,
        *,
        job: str | None = None,
        since: float | None = None,
        until: float | None = None,
        path: str | None = None,
        failed: bool = False,
    ) -> str:
        """Every matching transfer record as CSV (a header line, then one line each), as
        ``aft transfers list --csv`` prints them: ``GET /v1/transfers?format=csv``."""
        query = _given(
            job=job,
            since=since,
            until=until,
            path=path,
            failed="true" if failed else None,
            format="csv",
        )
        response = self._send("GET", "/v1/transfers", None, query, None)
        if response.status >= 400:  # an error answers in JSON, as every route's does
            self._answer(response)
        return str(response.data.decode("utf-8"))

    def job_transfers(
        self,
        job_id: str,
        *,
        path: str | None = None,
        failed: bool = False,
        cursor: int | None = None,
    ) -> TransferPage:
        """One job's transfer records: ``GET /v1/jobs/{jobId}/transfers``."""
        query = _given(path=path, failed="true" if failed else None, cursor=cursor)
        page = self.request("GET", f"/v1/jobs/{_quote(job_id)}/transfers", query=query)
        return _transfer_page(page)

    # ---- the audit trail --------------------------------------------------------------

    def audit(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        actor: str | None = None,
        limit: int | None = None,
        cursor: int | None = None,
    ) -> AuditPage:
        """The audit trail, oldest first, one page (admin keys): ``GET /v1/audit``.
        ``actor`` is one actor, or a prefix ending in ':' (``key:``)."""
        query = _given(since=since, until=until, actor=actor, limit=limit, cursor=cursor)
        page = self.request("GET", "/v1/audit", query=query)
        return AuditPage([AuditEntry(**e) for e in page["entries"]], page["nextCursor"])

    # ---- the service ------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """Liveness: ``GET /v1/health``."""
        return dict(self.request("GET", "/v1/health"))

    def openapi(self) -> dict[str, Any]:
        """The service's OpenAPI document: ``GET /v1/openapi.json``."""
        return dict(self.request("GET", "/v1/openapi.json"))

    def close(self) -> None:
        self._http.clear()

    def __enter__(self) -> AftClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _quote(segment: str) -> str:
    """A path segment, escaped (a name may hold spaces or slashes)."""
    return quote(segment, safe="")


def _given(**fields: Any) -> dict[str, Any]:
    """The fields that are given (None: left out), for a request body or query."""
    return {k: v for k, v in fields.items() if v is not None}


def _reason(exc: Exception) -> str:
    reason = getattr(exc, "reason", None) or exc
    return str(reason).splitlines()[0]


# ---- trust on first use ---------------------------------------------------------------------


def known_hosts_file() -> Path:
    """Where pinned certificate fingerprints are kept (the user's config dir)."""
    import platformdirs

    return Path(platformdirs.user_config_dir("aft", appauthor=False)) / "known_hosts.json"


def pinned_fingerprint(host: str, port: int, *, on_new: Callable[[str], None]) -> str:
    """The fingerprint pinned for ``host:port``; on first contact, fetch, pin and report it.

    Later calls return the stored pin, so a changed certificate fails verification.
    """
    store = known_hosts_file()
    try:
        pins = json.loads(store.read_text())
    except FileNotFoundError:
        pins = {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {store}: {exc}") from None
    key = f"{host}:{port}"
    if key in pins:
        return str(pins[key])
    import hashlib

    try:
        pem = ssl.get_server_certificate((host, port), timeout=10)
    except OSError as exc:
        raise ServiceUnavailable(f"cannot reach https://{key}: {exc}") from None
    fingerprint = hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()
    pins[key] = fingerprint
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_text(json.dumps(pins, indent=1, sort_keys=True))
    on_new(fingerprint)
    return fingerprint


def split_host(host: str, default_port: int = 44399) -> tuple[str, str, int]:
    """``host[:port]`` or a URL -> (scheme, host, port); https unless ``http://`` is given."""
    parts = urlsplit(host if "://" in host else f"https://{host}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"bad --host {host!r}: use HOST:PORT or http(s)://HOST:PORT")
    try:
        port = parts.port or default_port
    except ValueError:
        raise ConfigError(f"bad port in --host {host!r}") from None
    return parts.scheme, parts.hostname, port


def _transfer_page(page: dict[str, Any]) -> TransferPage:
    return TransferPage([Transfer.from_json(r) for r in page["transfers"]], page["nextCursor"])
