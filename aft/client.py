"""A client of the REST API v1, on urllib3.

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
from typing import Any
from urllib.parse import urlencode, urlsplit

import urllib3

from aft.exceptions import AftError, ConfigError, ServiceUnavailable, error_class

FINAL_STATES = ("succeeded", "failed", "halted", "interrupted")


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
        url = self.url + path + ("?" + urlencode(query) if query else "")
        data = None if body is None else json.dumps(body).encode()
        try:
            response = self._http.request(
                method, url, body=data, headers={**self._headers, **(headers or {})}
            )
        except urllib3.exceptions.SSLError as exc:
            raise ServiceUnavailable(f"TLS with {self.url} failed: {_reason(exc)}") from None
        except urllib3.exceptions.HTTPError as exc:
            raise ServiceUnavailable(f"cannot reach {self.url}: {_reason(exc)}") from None
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
    ) -> dict[str, Any]:
        """Queue a job (in worker group ``group`` of a cluster); returns ``{"jobId", "status"}``.

        With ``idempotency_key``, asking again with the same key (after a lost answer, say)
        within 24 hours returns the first job instead of queueing another.
        """
        body: dict[str, Any] = {
            k: v
            for k, v in (
                ("scriptName", script_name),
                ("scriptId", script_id),
                ("filePath", file_path),
                ("group", group),
            )
            if v is not None
        }
        if params:
            body["params"] = params
        headers = {} if idempotency_key is None else {"Idempotency-Key": idempotency_key}
        return dict(self.request("POST", "/v1/jobs", body, headers=headers))

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(self.request("GET", f"/v1/jobs/{job_id}"))

    def job_log(self, job_id: str, offset: int = 0) -> dict[str, Any]:
        return dict(self.request("GET", f"/v1/jobs/{job_id}/log", query={"offset": offset}))

    def halt_job(self, job_id: str) -> dict[str, Any]:
        return dict(self.request("POST", f"/v1/jobs/{job_id}/halt"))

    def follow(
        self, job_id: str, on_line: Callable[[dict[str, Any]], None], poll: float = 0.1
    ) -> dict[str, Any]:
        """Pass each log line to ``on_line`` until the job ends; returns the final job."""
        offset = 0
        while True:
            page = self.job_log(job_id, offset)
            for line in page["lines"]:
                on_line(line)
            offset = page["nextOffset"]
            if page["status"] in FINAL_STATES and not page["lines"]:
                return self.job(job_id)
            if not page["lines"]:
                time.sleep(poll)

    def close(self) -> None:
        self._http.clear()

    def __enter__(self) -> AftClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
