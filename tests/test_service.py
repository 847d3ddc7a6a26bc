"""`aft serve` as other systems see it: the REST API over a real socket, real workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time

import pytest
import urllib3

from aft.exceptions import (
    AuthError,
    BadRequest,
    Forbidden,
    InvalidSetting,
    JobAlreadyEnded,
    JobNotFound,
    ScriptNotFound,
)
from aft.instance import Instance
from aft.keys import ApiKeyStore
from aft.scripts_store import ScriptStore
from tests.conftest import aft_command
from tests.service_helpers import ServeProcess, wait_for

SPIN = 'Log("spinning"); while (true) {}'
KEY_CANARY_NAME = "canary-key"
SECRET_CANARY = "secret-canary-5d1f0e77"
VFS_CANARY = "vfs-canary-a81c33"


class Served:
    def __init__(self, home, proc, keys):
        self.home, self.proc, self.keys = home, proc, keys

    def client(self, key="admin"):
        return self.proc.client(self.keys.get(key, key))


def prepare(home, **settings):
    with Instance(home) as instance:
        for key, value in {"concurrency": 2, "halt_grace_seconds": 1, **settings}.items():
            instance.settings.set(key, value)
        keys = ApiKeyStore(instance.store)
        made = {
            "admin": keys.create("admin", ["127.0.0.1", "::1"], scope="admin")[1],
            "run": keys.create("runner", ["127.0.0.0/8"], scope="run")[1],
            "other": keys.create("other runner", ["127.0.0.1"], scope="run")[1],
            "elsewhere": keys.create("far away", ["10.1.0.0/16", "2001:db8::/32"], scope="admin")[
                1
            ],
            "revoked": keys.create("old", ["127.0.0.1"], scope="admin")[1],
        }
        keys.revoke("old")
        scripts = ScriptStore(instance.store)
        scripts.add("My Backup Job", 'Log("backing up " + Param("character"));')
        scripts.add(
            "fails", 'Log("about to fail");\nthrow new Error("nope");', retries=1, retry_backoff=0
        )
        scripts.add("spin", 'Log("spinning"); while (true) {}')
        scripts.add("hog", "var a = []; while (true) { a.push(new Array(1e6).fill(1.5)); }")
        scripts.add("wait", 'Log("waiting"); WaitForHaltSignal(); Log("halted politely")')
        scripts.add("trivial", 'Log("t " + Param("n"))')
    return made


@pytest.fixture
def served(aft_home):
    keys = prepare(aft_home, job_memory_mb=512)
    proc = ServeProcess(aft_home).start()
    yield Served(aft_home, proc, keys)
    proc.stop()


def raw(served, method, path, body=None, key="admin", headers=None):
    """A request with urllib3 directly: for bodies the client would never send."""
    http = urllib3.PoolManager(
        cert_reqs="CERT_NONE", assert_fingerprint=served.proc.info["fingerprint"]
    )
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if key:
        all_headers["X-API-Key"] = served.keys.get(key, key)
    response = http.request(method, served.proc.url + path, body=body, headers=all_headers)
    return response.status, json.loads(response.data)


def test_health_and_openapi_need_no_key(served):
    status, health = raw(served, "GET", "/v1/health", key=None)
    assert status == 200 and health["status"] == "ok"
    status, doc = raw(served, "GET", "/v1/openapi.json", key=None)
    assert status == 200 and doc["openapi"].startswith("3.")
    jobs = ("/v1/jobs", "/v1/jobs/{jobId}", "/v1/jobs/{jobId}/log", "/v1/jobs/{jobId}/halt")
    admin = ("/v1/scripts", "/v1/secrets", "/v1/apikeys", "/v1/settings", "/v1/health")
    for path in jobs + admin:
        assert path in doc["paths"]


def test_auth_matrix(served):
    for key in (None, "not-a-key", "revoked"):
        status, body = raw(
            served, "POST", "/v1/jobs", json.dumps({"scriptName": "trivial"}), key=key
        )
        assert (status, body["error"]) == (401, "unauthorized"), key
    status, body = raw(
        served, "POST", "/v1/jobs", json.dumps({"scriptName": "trivial"}), key="elsewhere"
    )
    assert (status, body["error"]) == (403, "forbidden")
    with pytest.raises(Forbidden):
        served.client("run").request("GET", "/v1/scripts")
    with pytest.raises(AuthError):
        served.client("revoked").request("GET", "/v1/jobs")
    mine = served.client("run").submit_job(script_name="trivial").id
    with pytest.raises(JobNotFound):
        served.client("other").job(mine)
    assert served.client("other").request("GET", "/v1/jobs")["jobs"] == []
    assert served.client("run").job(mine).id == mine
    assert served.client("admin").job(mine).id == mine


def test_job_life_through_the_api(served):
    client = served.client("run")
    job_id = client.submit_job(script_name="my backup job", params={"character": "goofy"}).id
    job = wait_for(client, job_id)
    assert job["status"] == "succeeded" and job["trigger"] == "api" and job["exitCode"] == 0
    assert job["params"] == {"character": "goofy"} and job["scriptName"] == "My Backup Job"
    log = client.job_log(job_id)
    assert [ln.text for ln in log.lines] == ["backing up goofy"] and log.next_offset == 1
    assert client.job_log(job_id, 1).lines == []
    by_id = client.submit_job(script_id=ScriptStore_id(served, "trivial"), params={"n": 7})
    assert wait_for(client, by_id.id)["status"] == "succeeded"
    listed = client.request("GET", "/v1/jobs", query={"script": "TRIVIAL"})["jobs"]
    assert [j["jobId"] for j in listed] == [by_id.id]


def ScriptStore_id(served, name):  # noqa: N802 - reads like the class it asks
    with Instance(served.home) as instance:
        return ScriptStore(instance.store).get(name).id


def test_failed_job_is_retried_per_policy(served):
    client = served.client("admin")
    job_id = client.submit_job(script_name="fails").id
    job = wait_for(client, job_id)
    assert job["status"] == "failed" and job["errorLine"] == 2 and job["error"] == "Error: nope"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        retries = [j for j in client.request("GET", "/v1/jobs")["jobs"] if j["retryOf"] == job_id]
        if retries and retries[0]["status"] == "failed":
            break
        time.sleep(0.05)
    assert retries[0]["attempt"] == 2 and retries[0]["status"] == "failed"


@pytest.mark.parametrize(
    "body,code",
    [
        (b"{not json", "bad_request"),
        (b"[1, 2]", "bad_request"),
        (b"", "bad_request"),
        (json.dumps({"scriptName": "trivial", "scriptId": "x"}).encode(), "bad_request"),
        (json.dumps({}).encode(), "bad_request"),
        (json.dumps({"scriptName": "trivial", "params": {"a": {"b": 1}}}).encode(), "bad_request"),
        (json.dumps({"scriptName": "trivial", "params": [1]}).encode(), "bad_request"),
        (json.dumps({"scriptName": 5}).encode(), "bad_request"),
        (json.dumps({"scriptName": "trivial", "surprise": 1}).encode(), "bad_request"),
        (json.dumps({"filePath": "/etc/passwd"}).encode(), "forbidden"),
        (json.dumps({"scriptName": "no such script"}).encode(), "script_not_found"),
    ],
)
def test_bad_job_requests_change_nothing(served, body, code):
    status, answer = raw(served, "POST", "/v1/jobs", body)
    assert answer["error"] == code and 400 <= status < 500 and "\n" not in answer["message"]
    assert served.client().request("GET", "/v1/jobs")["jobs"] == []


def test_job_type_is_accepted_and_ignored(served):
    status, answer = raw(
        served, "POST", "/v1/jobs", json.dumps({"scriptName": "trivial", "jobType": 3})
    )
    assert status == 202 and answer["status"] == "queued"


def test_unknown_routes_and_methods_are_json(served):
    assert raw(served, "GET", "/v1/nope") == (404, raw(served, "GET", "/v1/nope")[1])
    status, body = raw(served, "DELETE", "/v1/health")
    assert status == 405 and body["error"] == "method_not_allowed"
    with pytest.raises(JobNotFound):
        served.client().job("job_missing")


def test_halt_ends_an_endless_loop_within_5s_while_serving(served):
    client = served.client("run")
    spin = client.submit_job(script_name="spin").id
    polite = client.submit_job(script_name="wait").id
    for job_id in (spin, polite):
        while not client.job_log(job_id).lines:
            time.sleep(0.02)
    asked = time.monotonic()
    assert client.halt_job(spin).id == spin
    client.halt_job(polite)
    assert raw(served, "GET", "/v1/health", key=None)[0] == 200  # still serving meanwhile
    spun = wait_for(client, spin, timeout=5)
    assert time.monotonic() - asked < 5 and spun["status"] == "halted"
    done = wait_for(client, polite)
    assert done["status"] == "halted"
    assert [ln.text for ln in client.job_log(polite).lines][:2] == [
        "waiting",
        "halted politely",
    ]
    with pytest.raises(JobAlreadyEnded):
        client.halt_job(spin)


def test_memory_hog_is_stopped_and_others_run(served):
    client = served.client("admin")
    hog = client.submit_job(script_name="hog").id
    other = client.submit_job(script_name="trivial", params={"n": 1}).id
    assert wait_for(client, other)["status"] == "succeeded"
    job = wait_for(client, hog, timeout=60)
    assert job["status"] == "failed" and "out of memory" in job["error"]


def test_admin_routes(served):
    client = served.client("admin")
    client.request("POST", "/v1/scripts", {"name": "Nightly", "source": "Log(1)", "retries": 2})
    with pytest.raises(Exception) as exists:
        client.request("POST", "/v1/scripts", {"name": "nightly", "source": "Log(2)"})
    assert exists.value.code == "script_exists"
    assert client.request("GET", "/v1/scripts/NIGHTLY")["retries"] == 2
    client.request("PUT", "/v1/scripts/nightly", {"source": "Log(3)"})
    assert client.request("GET", "/v1/scripts/nightly")["source"] == "Log(3)"
    with pytest.raises(BadRequest) as broken:  # refused with its line, and nothing changes
        client.request("PUT", "/v1/scripts/nightly", {"source": "Log(1);\nvar x = ;\n"})
    assert str(broken.value) == "line 2: SyntaxError: unexpected token in expression: ';'"
    assert client.request("GET", "/v1/scripts/nightly")["source"] == "Log(3)"
    client.request("PUT", "/v1/scripts/nightly", {"source": "while (true) {}"})  # not run
    strict = {"source": '"use strict";\nwith (Math) { Log(PI); }'}  # strict as it would run
    with pytest.raises(BadRequest, match="^line 2: SyntaxError: invalid keyword: with$"):
        client.request("PUT", "/v1/scripts/nightly", strict)
    client.request("DELETE", "/v1/scripts/nightly")
    with pytest.raises(ScriptNotFound):
        client.request("GET", "/v1/scripts/nightly")
    client.request("PUT", "/v1/secrets/token", {"value": SECRET_CANARY})
    listed = client.request("GET", "/v1/secrets")
    assert listed["secrets"] == ["token"] and listed["updated"]["token"] > time.time() - 60
    created = client.request("POST", "/v1/apikeys", {"name": "ci", "allow": ["127.0.0.1"]})
    assert len(created["key"]) >= 40 and created["scope"] == "run"
    assert all("key" not in k for k in client.request("GET", "/v1/apikeys")["apiKeys"])
    assert served.proc.client(created["key"]).request("GET", "/v1/jobs")["jobs"] == []
    client.request("DELETE", f"/v1/apikeys/{created['id']}")
    with pytest.raises(AuthError):
        served.proc.client(created["key"]).request("GET", "/v1/jobs")
    assert client.request("PUT", "/v1/settings/allow_exec", {"value": True})["value"] is True
    with pytest.raises(InvalidSetting):
        client.request("PUT", "/v1/settings/allow_exec", {"value": "perhaps"})
    with pytest.raises(BadRequest):
        client.request("PUT", "/v1/settings/allow_exec", {"value": [1]})


def test_nothing_secret_at_rest_or_in_logs(served):
    admin = served.client("admin")
    created = admin.request(
        "POST", "/v1/apikeys", {"name": KEY_CANARY_NAME, "allow": ["127.0.0.1"]}
    )
    key_canary = created["key"]
    admin.request("PUT", "/v1/secrets/pw", {"value": SECRET_CANARY})
    with Instance(served.home) as instance:
        instance.vfs.add("partner", "FTP", "ftp://u@127.0.0.1:1/", {"pass": VFS_CANARY})
    admin.request(
        "POST",
        "/v1/scripts",
        {
            "name": "leaky",
            "source": 'Log("pw=" + GetSecret("pw")); throw new Error(GetSecret("pw"))',
        },
    )
    job_id = served.proc.client(key_canary).submit_job(script_name="leaky").id
    job = wait_for(admin, job_id)
    assert job["error"] == "Error: ********"
    log_text = repr(admin.job_log(job_id))
    service_output = served.proc.stop()
    stored = b"".join(p.read_bytes() for p in served.home.iterdir() if p.is_file())
    for canary in (key_canary, SECRET_CANARY, VFS_CANARY):
        assert canary not in log_text and canary not in service_output
        assert canary.encode() not in stored


def test_2000_jobs_from_8_clients_each_end_once(served):
    errors: list[Exception] = []
    ids: list[str] = []
    lock = threading.Lock()

    def post(n):
        try:
            client = served.client("run")
            for i in range(250):
                job = client.submit_job(script_name="trivial", params={"n": n * 1000 + i})
                with lock:
                    ids.append(job.id)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=post, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(set(ids)) == 2000
    admin = served.client("admin")
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        counts = {s: 0 for s in ("queued", "running", "succeeded")}
        cursor = None
        seen: list[dict] = []
        while True:
            page = admin.request(
                "GET", "/v1/jobs", query={"limit": 500, **({"cursor": cursor} if cursor else {})}
            )
            seen += page["jobs"]
            cursor = page["nextCursor"]
            if cursor is None:
                break
        for job in seen:
            counts[job["status"]] = counts.get(job["status"], 0) + 1
        if counts["succeeded"] == 2000:
            break
        time.sleep(0.5)
    assert counts == {"queued": 0, "running": 0, "succeeded": 2000}
    assert {j["jobId"] for j in seen} == set(ids)
    with Instance(served.home) as instance:
        lines = instance.store.query("SELECT job_id, COUNT(*) FROM job_logs GROUP BY job_id")
    assert len(lines) == 2000 and all(count == 1 for _, count in lines)  # each ran exactly once


def test_kill_9_then_restart_loses_nothing_and_runs_nothing_twice(aft_home, tmp_path):
    keys = prepare(aft_home, concurrency=2)
    marks = tmp_path / "marks"
    marks.mkdir()
    with Instance(aft_home) as instance:
        ScriptStore(instance.store).add(
            "marker",
            f'WriteTextFile("{marks}/" + JobID() + "-" + Date.now(), "x");'
            ' Sleep(Number(Param("ms")));',
        )
    first = ServeProcess(aft_home).start()
    client = first.client(keys["admin"])
    slow = [client.submit_job(script_name="marker", params={"ms": 60000}).id for _ in range(2)]
    queued = [client.submit_job(script_name="marker", params={"ms": 0}).id for _ in range(6)]
    while len(os.listdir(marks)) < 2:
        time.sleep(0.05)
    first.stop(signal.SIGKILL)
    second = ServeProcess(aft_home).start()
    try:
        client = second.client(keys["admin"])
        for job_id in queued:
            assert wait_for(client, job_id)["status"] == "succeeded"
        for job_id in slow:
            job = client.job(job_id)
            assert job.state.value == "interrupted" and job.error and "service stopped" in job.error
        started = [name.split("-")[0] for name in os.listdir(marks)]
        assert sorted(started) == sorted(slow + queued)  # every job ran, and only once
    finally:
        second.stop()


def test_second_service_and_reinit_are_refused_while_serving(served, run_aft):
    again = subprocess.run(
        [aft_command(), "serve", "--port", "0"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "AFT_HOME": str(served.home)},
    )  # fmt: skip
    assert again.returncode == 1 and "already runs" in again.stderr
    refused = run_aft("reinit")
    assert refused.returncode == 1 and "stop it first" in refused.stderr
    served.proc.stop()
    assert run_aft("reinit").returncode == 0


def test_a_job_past_its_scripts_maximum_run_time_is_halted_and_says_why(served):
    client = served.client()
    client.request(
        "POST", "/v1/scripts", {"name": "short leash", "source": SPIN, "maxRunSeconds": 1}
    )
    job = wait_for(client, client.submit_job(script_name="short leash").id, timeout=20)
    assert job["status"] == "halted" and job["maxRunSeconds"] == 1
    assert job["error"].startswith("halted: it ran past its maximum run time; killed")


def test_the_instance_default_maximum_run_time_halts_a_polite_script(aft_home):
    prepare(aft_home, max_run_seconds=1)
    service = ServeProcess(aft_home).start()
    try:
        with Instance(aft_home) as instance:
            client = service.client(instance.api_keys.create("k", ["127.0.0.1"], "admin")[1])
        job = wait_for(client, client.submit_job(script_name="wait").id, timeout=20)
        assert job["status"] == "halted"
        assert job["error"].startswith("halted: it ran past its maximum run time")
        assert "halted politely" in [ln.text for ln in client.job_log(job["jobId"]).lines]
    finally:
        service.stop()


def test_clients_retrying_with_idempotency_keys_through_a_crash_get_one_job_each(aft_home):
    """Four clients submit under load while the service is killed; after the restart each
    retries what got no answer, with the same key: every key ends with exactly one job."""
    keys = prepare(aft_home, concurrency=2)
    first = ServeProcess(aft_home).start()
    port = first.port
    answered: dict[str, str] = {}
    unanswered: list[str] = []
    lock = threading.Lock()

    def submit_many(client_no: int) -> None:
        client = first.client(keys["admin"])
        for n in range(40):
            key = f"c{client_no}-{n}"
            try:
                job = client.submit_job(script_name="trivial", params={"n": n}, idempotency_key=key)
            except Exception:  # the service died under this request
                with lock:
                    unanswered.append(key)
            else:
                with lock:
                    answered[key] = job.id

    threads = [threading.Thread(target=submit_many, args=(c,)) for c in range(4)]
    for thread in threads:
        thread.start()
    while len(answered) < 40:
        time.sleep(0.01)
    first.stop(signal.SIGKILL)
    for thread in threads:
        thread.join(60)
    second = ServeProcess(aft_home, port=port).start()
    try:
        client = second.client(keys["admin"])
        for key in sorted(unanswered) + sorted(answered):  # the answered ones again too
            again = client.submit_job(
                script_name="trivial", params={"n": int(key.split("-")[1])}, idempotency_key=key
            ).id
            assert answered.setdefault(key, again) == again, key
        assert len(answered) == 160
        jobs = client.request("GET", "/v1/jobs", query={"limit": 500})["jobs"]
        assert sorted(j["jobId"] for j in jobs) == sorted(answered.values())  # none twice
        ended = [wait_for(client, job_id)["status"] for job_id in answered.values()]
        assert set(ended) <= {"succeeded", "interrupted"}
        assert ended.count("interrupted") <= 2  # only the ones running at the crash
    finally:
        second.stop()


def test_console_routes_answer_odd_input_with_a_4xx_never_a_500(instance):
    """Every route the console uses, fed bodies, fields and addresses no form would send."""
    import io
    import re

    from aft.server.app import create_app
    from aft.server.http import ServiceContext
    from aft.server.schedule_routes import add_schedule_routes
    from aft.server.ui import add_ui
    from aft.server.vfs_routes import add_vfs_routes

    key = ApiKeyStore(instance.store).create("admin", ["127.0.0.1"], scope="admin")[1]
    ScriptStore(instance.store).add("s", 'Log("x");')
    context = ServiceContext(instance, notify=lambda: None)
    app = create_app(context, [add_vfs_routes, add_schedule_routes, add_ui])

    def call(method, path, body, query=""):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        environ = {
            "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
            "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "https", "wsgi.input": io.BytesIO(data),
            "CONTENT_LENGTH": str(len(data)), "CONTENT_TYPE": "application/json",
            "SERVER_NAME": "aft", "SERVER_PORT": "443", "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_X_API_KEY": key,
        }  # fmt: skip
        status = []
        b"".join(app(environ, lambda line, headers, exc=None: status.append(int(line[:3]))))
        return status[0]

    odd = [
        None,
        "",
        -1,
        1e308,
        True,
        [],
        {},
        "s3://x/y",
        "sftp://127.0.0.1:47322",
        "\x00",
        "é" * 300,
    ]
    fields = [
        "name",
        "type",
        "target",
        "payload",
        "fields",
        "source",
        "params",
        "script",
        "cron",
        "timezone",
        "value",
        "enabled",
        "retries",
        "host",
        "bucket",
        "password",
        "username",
    ]
    bodies = [b"", b"not json", b"[]", b"null", {}] + [{f: v} for f in fields for v in odd]
    bodies += [{"fields": {"host": v, "bucket": v}} for v in odd if isinstance(v, str)]
    queries = [
        "",
        "url=sftp://sftp://127.0.0.1:47322",
        "url=sftp://u@[sftp://127.0.0.1:1]:22/",
        "url=sftp://h:99999",
        "url=sftp://[x",
        "limit=-1&offset=x&state=zz&after=x",
    ]
    failures = []
    for route in app.routes:
        for name in ["s", "S3", "SFTP", "zz", "%00", "é"]:
            path = re.sub(r"<[^>]+>", name, route.rule)
            for body in bodies if route.method in ("POST", "PUT") else [b""]:
                for query in queries if route.method == "GET" else [""]:
                    if call(route.method, path, body, query) >= 500:
                        failures.append((route.method, path, body, query))
    assert not failures, failures[:5]


def test_a_client_refusing_the_certificate_is_logged_once_not_per_connection(aft_home):
    import socket
    import ssl

    prepare(aft_home)
    proc = ServeProcess(aft_home).start()
    trusting_nothing_here = ssl.create_default_context()  # as a browser: unknown issuer
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", proc.port)) as raw_sock:
            with pytest.raises(ssl.SSLCertVerificationError):
                trusting_nothing_here.wrap_socket(raw_sock, server_hostname="127.0.0.1")
    assert proc.client("x").request("GET", "/v1/health")["status"] == "ok"  # it still serves
    output = proc.stop()
    refused = [line for line in output.splitlines() if "TLS handshakes from 127.0.0.1" in line]
    assert len(refused) == 1, output
    assert "trusts this service's certificate" in refused[0]


def test_jobs_listed_by_trigger_page_by_page(served):
    admin = served.client("admin")
    with Instance(served.home) as instance:  # as the scheduler would: started by cron
        cron_job = instance.jobs.submit('Log("c")', script_name="trivial", trigger="cron").id
    api_jobs = [admin.submit_job(script_name="trivial").id for _ in range(3)]

    def listed(**query):
        return admin.request("GET", "/v1/jobs", query=query)

    assert [j["jobId"] for j in listed(trigger="cron")["jobs"]] == [cron_job]
    assert [j["jobId"] for j in listed(trigger="api")["jobs"]] == api_jobs[::-1]
    first = listed(trigger="cron", limit=1)  # three newer api jobs are passed over
    assert [j["jobId"] for j in first["jobs"]] == [cron_job] and first["nextCursor"] is None
    page = listed(trigger="api", limit=2)
    assert [j["jobId"] for j in page["jobs"]] == api_jobs[:0:-1]
    rest = listed(trigger="api", limit=2, cursor=page["nextCursor"])
    assert [j["jobId"] for j in rest["jobs"]] == [api_jobs[0]] and rest["nextCursor"] is None
    assert listed(trigger="ui") == {"jobs": [], "nextCursor": None}
    with pytest.raises(BadRequest, match="trigger is one of api, cli, cron, ui"):
        listed(trigger="robot")
