"""What a hostile or careless client cannot do to the service: bad encodings, deep
nesting, non-finite numbers, surrogates and oversized bodies are each a 4xx with the usual
one-line JSON error, over a real socket."""

from __future__ import annotations

import json
import os
import re
import socket
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import pytest

from aft.exceptions import InvalidSetting, SecretError
from aft.instance import Instance
from aft.server.service import Service


class Plain:
    """A service on 127.0.0.1 over plain HTTP, and raw requests to it."""

    def __init__(self, service: Service, admin: str, run: str) -> None:
        self.service, self.admin, self.run = service, admin, run

    def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: dict[str, Any] | None = None,
        key: bool | str = True,
        send_body: bool = True,
    ) -> tuple[int, dict[str, Any]]:
        fields: dict[str, Any] = {
            "Host": "aft",
            "Content-Length": str(len(body)),
            "Connection": "close",
        }
        if key:
            fields["X-API-Key"] = self.admin if key is True else key
        fields["Content-Type"] = "application/json"
        fields.update(headers or {})
        fields = {name: v for name, v in fields.items() if v is not None}
        head = f"{method} {path} HTTP/1.1\r\n".encode() + b"".join(
            name.encode() + b": " + (v if isinstance(v, bytes) else str(v).encode()) + b"\r\n"
            for name, v in fields.items()
        )
        with socket.create_connection(("127.0.0.1", self.service.port), timeout=10) as sock:
            sock.sendall(head + b"\r\n" + (body if send_body else b""))
            answer = b""
            while b"\r\n\r\n" not in answer or not _complete(answer):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        status_line, _, rest = answer.partition(b"\r\n")
        payload = rest.partition(b"\r\n\r\n")[2]
        return int(status_line.split()[1]), json.loads(payload)


def _complete(answer: bytes) -> bool:
    head, _, body = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


@pytest.fixture
def plain(aft_home) -> Iterator[Plain]:
    with Instance(aft_home) as instance:
        admin = instance.api_keys.create("admin", ["127.0.0.1"], scope="admin")[1]
        run = instance.api_keys.create("runner", ["127.0.0.1"], scope="run")[1]
        instance.scripts.add("Zürich report", 'Log("grüezi")')
        service = Service(instance, bind="127.0.0.1", port=0, tls=False)
        service.start()
        try:
            yield Plain(service, admin, run)
        finally:
            service.stop()


def test_a_key_that_is_not_utf8_is_a_400(plain):
    for path in ("/v1/jobs", "/v1/scripts", "/v1/settings"):
        status, body = plain.request("GET", path, headers={"X-API-Key": b"\xff\xfe"})
        assert (status, body["error"]) == (400, "bad_request"), path
        assert "X-API-Key" in body["message"]


@pytest.mark.parametrize("path", ["/v1/scripts", "/v1/jobs", "/ui/login", "/ui/setup"])
def test_json_nested_too_deep_is_a_400(plain, path):
    status, body = plain.request("POST", path, b"[" * 1000 + b"]" * 1000)
    assert (status, body["message"]) == (400, "request body is nested too deeply")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_in_params_are_refused(plain, constant):
    body = b'{"scriptName": "Zurich report", "params": {"n": %s}}' % constant.encode()
    status, answer = plain.request("POST", "/v1/jobs", body)
    assert status == 400 and constant in answer["message"]
    with Instance(plain.service.instance.home) as instance:
        assert instance.jobs.list()[0] == []  # nothing queued, nothing written out


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/scripts", {"name": "\ud800", "source": "Log(1)"}),
        ("PUT", "/v1/secrets/token", {"value": "a\udfffb"}),
        ("PUT", "/v1/settings/smtp_host", {"value": "\ud800"}),
        ("POST", "/ui/login", {"username": "\ud800", "password": "x"}),
    ],
)
def test_unpaired_surrogates_are_a_400(plain, method, path, body):
    status, answer = plain.request(method, path, json.dumps(body).encode())
    assert (status, answer["error"]) == (400, "bad_request")
    assert "surrogate" in answer["message"]


def test_an_oversized_body_is_refused_from_its_length_before_it_is_sent(
    plain, tmp_path, monkeypatch
):
    # a temporary folder of this test's own: other tests' services come and go in the
    # shared one
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    before = set(os.listdir(tempfile.gettempdir()))
    started = time.monotonic()
    for path, key in (("/ui/login", False), ("/ui/setup", False), ("/v1/jobs", True)):
        status, answer = plain.request(
            "POST", path, headers={"Content-Length": 10**9}, key=key, send_body=False
        )
        assert (status, answer["error"]) == (413, "payload_too_large"), path
    assert time.monotonic() - started < 5  # answered at once: nothing was waited for
    spooled = set(os.listdir(tempfile.gettempdir())) - before
    assert not spooled, spooled


def test_a_chunked_body_is_read_with_a_cap(plain):
    chunk = b"x" * 65536
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(20)) + b"0\r\n\r\n"
    status, answer = plain.request(
        "POST",
        "/v1/scripts",
        body,
        headers={"Transfer-Encoding": "chunked", "Content-Length": None},
    )
    assert (status, answer["error"]) == (413, "payload_too_large")


def test_query_values_are_utf8(plain):
    status, answer = plain.request(
        "POST", "/v1/jobs", json.dumps({"scriptName": "Zürich report"}).encode()
    )
    assert status == 202
    status, found = plain.request("GET", "/v1/jobs?script=Z%C3%BCrich%20report")
    assert status == 200 and [j["jobId"] for j in found["jobs"]] == [answer["jobId"]]
    status, answer = plain.request("GET", "/v1/jobs?script=%FF")
    assert (status, answer["error"]) == (400, "bad_request")


def test_file_path_jobs_need_an_admin_key_and_a_file_inside_the_roots(plain, tmp_path):
    settings = plain.service.instance.settings
    root = tmp_path / "scripts"
    root.mkdir()
    (root / "ok.syncjs").write_text('Log("from disk")')
    outside = tmp_path / "outside.syncjs"
    outside.write_text('Log("secret")')
    (root / "escape.syncjs").symlink_to(outside)
    os.mkfifo(root / "fifo.syncjs")
    (root / "big.syncjs").write_text("//" + "x" * (1024 * 1024))

    def submit(path: object, key: bool | str = True) -> tuple[int, dict[str, Any]]:
        return plain.request(
            "POST", "/v1/jobs", json.dumps({"filePath": str(path)}).encode(), key=key
        )

    assert submit(root / "ok.syncjs", key=plain.run)[1]["message"] == (
        "filePath jobs need an admin key"
    )
    assert submit(root / "ok.syncjs")[1]["error"] == "forbidden"  # allow_file_path is off
    settings.set("allow_file_path", True)
    refused = "filePath must name a file inside the file_path_roots folders"
    for path in ("/etc/shadow", "/nonexistent/x", root / "ok.syncjs"):  # no roots yet
        assert submit(path) == (403, {"error": "forbidden", "message": refused}), path
    with pytest.raises(InvalidSetting, match="absolute folders"):
        settings.set("file_path_roots", "relative/dir")
    settings.set("file_path_roots", f"/nonexistent:{root}")
    assert submit(root / "ok.syncjs")[0] == 202
    assert submit(root / "escape.syncjs") == (403, {"error": "forbidden", "message": refused})
    assert submit(f"{root}/../outside.syncjs")[1]["message"] == refused
    status, answer = submit(root / "fifo.syncjs")  # answered at once: a FIFO is never opened
    assert (status, answer["error"]) == (404, "script_not_found")
    assert "not a regular file" in answer["message"]
    status, answer = submit(root / "big.syncjs")
    assert (status, answer["error"]) == (400, "script_error") and "larger than" in answer["message"]


def test_a_repeated_job_request_with_an_idempotency_key_returns_the_first_job(plain):
    body = json.dumps({"scriptName": "Zürich report", "params": {"day": "1"}}).encode()
    key = {"Idempotency-Key": "run-0001"}
    status, first = plain.request("POST", "/v1/jobs", body, headers=key)
    assert status == 202
    status, again = plain.request("POST", "/v1/jobs", body, headers=key)
    assert status == 202 and again["jobId"] == first["jobId"]
    status, other = plain.request("POST", "/v1/jobs", body, headers=key, key=plain.run)
    assert status == 202 and other["jobId"] != first["jobId"]  # each API key has its own keys
    changed = json.dumps({"scriptName": "Zürich report", "params": {"day": "2"}}).encode()
    status, answer = plain.request("POST", "/v1/jobs", changed, headers=key)
    assert (status, answer["error"]) == (409, "job_conflict")
    status, answer = plain.request("POST", "/v1/jobs", body, headers={"Idempotency-Key": "k" * 201})
    assert (status, answer["error"]) == (400, "bad_request")
    assert len(plain.service.instance.jobs.list()[0]) == 2


@pytest.mark.parametrize("bad", ["a/b", " padded", "tail ", "..", "x" * 201, "tab\there"])
def test_one_naming_rule_for_every_named_thing(plain, bad):
    vfs = {"name": bad, "type": "Disk", "target": "/tmp"}
    for method, path, body in [
        ("POST", "/v1/scripts", {"name": bad, "source": "Log(1)"}),
        ("POST", "/v1/vfs", vfs),
        ("POST", "/v1/schedules", {"name": bad, "script": "Zürich report", "cron": "0 2 * * *"}),
        ("POST", "/v1/apikeys", {"name": bad, "allow": ["127.0.0.1"]}),
    ]:
        status, answer = plain.request(method, path, json.dumps(body).encode())
        assert status == 400 and "printable characters, without /" in answer["message"], path
    with pytest.raises(SecretError, match="without /"):
        plain.service.instance.secrets.set(bad, "v")


@pytest.mark.parametrize("word", ["hostkey", "Test", "TYPES"])
def test_names_that_would_shadow_a_route_are_reserved(plain, word):
    body = {"name": word, "type": "Disk", "target": "/tmp"}
    status, answer = plain.request("POST", "/v1/vfs", json.dumps(body).encode())
    assert status == 400 and "reserved" in answer["message"]


def test_every_name_the_rule_allows_is_addressable(plain):
    name = "Nightly ? #1 % 100 Zürich"
    quoted = "Nightly%20%3F%20%231%20%25%20100%20Z%C3%BCrich"
    for method, path, body in [
        ("POST", "/v1/scripts", {"name": name, "source": "Log(1)"}),
        ("PUT", f"/v1/secrets/{quoted}", {"value": "s3cret"}),
        ("POST", "/v1/vfs", {"name": name, "type": "Disk", "target": "/tmp"}),
        ("POST", "/v1/schedules", {"name": name, "script": name, "cron": "0 2 * * *"}),
    ]:
        status, _ = plain.request(method, path, json.dumps(body).encode())
        assert status in (200, 201), path
    for path in ("/v1/scripts/", "/v1/vfs/", "/v1/schedules/"):
        status, answer = plain.request("GET", path + quoted)
        assert status == 200 and answer["name"] == name, path
    for path in ("/v1/scripts/", "/v1/secrets/", "/v1/vfs/", "/v1/schedules/"):
        status, _ = plain.request("DELETE", path + quoted)
        assert status == 200, path


def test_failed_api_key_attempts_are_limited_per_address(plain):
    for _ in range(30):
        status, _ = plain.request("GET", "/v1/jobs", headers={"X-API-Key": "guess"})
        assert status == 401
    status, answer = plain.request("GET", "/v1/jobs", headers={"X-API-Key": "guess"})
    assert (status, answer["error"]) == (429, "too_many_attempts")
    assert "failed API key attempts from 127.0.0.1" in answer["message"]
    status, answer = plain.request("GET", "/v1/jobs")  # a good key waits out the window too
    assert status == 429
    assert plain.request("GET", "/v1/health", key=False)[0] == 200  # open routes stay open


def test_https_answers_carry_strict_transport_security(aft_home):
    import ssl
    import urllib.request

    with Instance(aft_home) as instance:
        service = Service(instance, bind="127.0.0.1", port=0, tls=True)
        service.start()
        try:
            context = ssl.create_default_context(cafile=str(aft_home / "tls-cert.pem"))
            context.check_hostname = False
            with urllib.request.urlopen(f"{service.url}/v1/health", context=context) as answer:
                assert answer.headers["Strict-Transport-Security"] == "max-age=31536000"
        finally:
            service.stop()


#: The operations a run-scope key may call; every other authenticated one needs admin
#: (GET /v1/transfers too, unless it names one of the key's jobs).
RUN_SCOPE = {
    "/v1/jobs",
    "/v1/jobs/{jobId}",
    "/v1/jobs/{jobId}/log",
    "/v1/jobs/{jobId}/halt",
    "/v1/jobs/{jobId}/transfers",
}


def test_the_auth_matrix_over_every_documented_operation(aft_home):
    from aft.server.openapi import openapi_document

    with Instance(aft_home) as instance:
        instance.settings.set("failed_key_attempts", 100000)  # this test sends many bad keys
        keys = instance.api_keys
        admin = keys.create("admin", ["127.0.0.1"], scope="admin")[1]
        run = keys.create("runner", ["127.0.0.1"], scope="run")[1]
        far = keys.create("far", ["10.0.0.0/8"], scope="admin")[1]
        old_record, old = keys.create("old", ["127.0.0.1"], scope="admin")
        keys.revoke(old_record.id)
        service = Service(instance, bind="127.0.0.1", port=0, tls=False)
        service.start()
        try:
            client = Plain(service, admin, run)
            checked = 0
            for path, operations in openapi_document()["paths"].items():
                for method, operation in operations.items():
                    if method not in {"get", "put", "post", "delete"}:
                        continue  # path-level parameters
                    if operation.get("security") == []:
                        continue  # an open route
                    url = re.sub(r"\{[^}]+\}", "x", path)
                    admin_only = path not in RUN_SCOPE
                    expected: list[tuple[object, set[int]]] = [
                        (False, {401}),
                        ("not-a-key", {401}),
                        (old, {401}),
                        (far, {403}),
                        (b"\xff", {400}),
                        (run, {403} if admin_only else set()),
                        (admin, set()),
                    ]
                    for key, statuses in expected:
                        headers = {"X-API-Key": key} if isinstance(key, bytes) else None
                        status, answer = client.request(
                            method.upper(),
                            url,
                            b"{}",
                            headers=headers,
                            key=False if isinstance(key, bytes) else key,  # type: ignore[arg-type]
                        )
                        where = f"{method.upper()} {path} with {key!r}"
                        assert status < 500, where
                        if statuses:
                            assert status in statuses, (where, status, answer)
                        else:
                            assert status not in (401, 403, 429), (where, status, answer)
                    checked += 1
            assert checked >= 30
        finally:
            service.stop()
