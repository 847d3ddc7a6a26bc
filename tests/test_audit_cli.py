"""The audit trail as users meet it: ``aft audit list/verify`` after real CLI actions,
``GET /v1/audit`` after real REST calls over a socket (with the right actors), and hand
edits of the SQLite file found by ``aft audit verify``."""

from __future__ import annotations

import json
import sqlite3

import urllib3

from aft.audit import cli_actor, entry_hash
from aft.exceptions import Forbidden
from aft.instance import Instance
from tests.service_helpers import ServeProcess, wait_for
from tests.test_service import prepare

PASSWORD = "correct horse battery"
SECRET_VALUE = "cli-secret-canary-3f9a"


def _audit_json(run_aft, *args):
    done = run_aft("audit", "list", "--json", *args)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_cli_actions_are_listed_and_verified(run_aft):
    assert run_aft("settings", "set", "allow_exec", "true").returncode == 0
    assert run_aft("secrets", "set", "partner-token", input=SECRET_VALUE + "\n").returncode == 0
    assert run_aft("apikeys", "create", "deploy", "--allow", "127.0.0.1").returncode == 0
    assert run_aft("secrets", "delete", "partner-token").returncode == 0
    entries = _audit_json(run_aft)
    assert [(e["seq"], e["action"], e["target"]) for e in entries] == [
        (1, "setting.set", "allow_exec"),
        (2, "secret.set", "partner-token"),
        (3, "api_key.create", "deploy"),
        (4, "secret.delete", "partner-token"),
    ]
    assert {e["actor"] for e in entries} == {cli_actor()}
    assert SECRET_VALUE not in json.dumps(entries)
    assert _audit_json(run_aft, "--actor", "key:") == []
    assert [e["seq"] for e in _audit_json(run_aft, "--since", str(entries[2]["time"]))] == [3, 4]
    assert [e["seq"] for e in _audit_json(run_aft, "--until", str(entries[1]["time"]))] == [1]
    text = run_aft("audit", "list").stdout.splitlines()
    assert text[0].startswith("1  ") and text[0].endswith(
        'setting.set  allow_exec  {"value": "true"}'
    )
    bad = run_aft("audit", "list", "--since", "yesterday-ish")
    assert bad.returncode == 2  # a value aft cannot take
    assert bad.stderr == (
        "aft: error: --since takes Unix seconds or an ISO date and time, not 'yesterday-ish'\n"
    )
    ok = run_aft("audit", "verify")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == (
        f"audit trail intact: 4 entries, last hash {entries[-1]['hash']}\n"
        f"transfer journal intact: 0 records, last hash {'0' * 64}\n"
    )


def _sqlite(aft_home):
    db = sqlite3.connect(aft_home / "aft.db", isolation_level=None)
    db.execute("DROP TRIGGER audit_no_update")
    db.execute("DROP TRIGGER audit_no_delete")
    return db


def _broken(run_aft, entry_problem):
    done = run_aft("audit", "verify")
    assert done.returncode == 1
    assert done.stderr == f"aft: error: the audit trail is broken: {entry_problem}\n"


def test_verify_names_an_edit_a_deletion_and_an_insertion_in_the_file(run_aft, aft_home):
    for n in range(1, 7):
        assert run_aft("settings", "set", "concurrency", str(n)).returncode == 0
    assert (aft_home / "aft.db").exists()
    refused = sqlite3.connect(aft_home / "aft.db")
    try:
        refused.execute("DELETE FROM audit WHERE seq = 2")
        raise AssertionError("the trigger let a DELETE through")
    except sqlite3.IntegrityError as exc:
        assert "append-only" in str(exc)
    refused.close()

    db = _sqlite(aft_home)
    db.execute("UPDATE audit SET actor = 'account:mallory' WHERE seq = 5")
    _broken(run_aft, "entry 5 was changed: its content does not match its hash")
    db.execute("UPDATE audit SET actor = ? WHERE seq = 5", (cli_actor(),))
    assert run_aft("audit", "verify").returncode == 0
    row = db.execute("SELECT * FROM audit WHERE seq = 4").fetchone()
    db.execute("DELETE FROM audit WHERE seq = 4")
    _broken(run_aft, "entry 4 was removed: entry 5 comes after entry 3")
    db.execute("INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
    assert run_aft("audit", "verify").returncode == 0
    # A well-formed entry slipped in after entry 3, the later ones moved up one place.
    for seq in (6, 5, 4):
        db.execute("UPDATE audit SET seq = ? WHERE seq = ?", (seq + 1, seq))
    when, prev = row[1], row[7]
    digest = entry_hash(when, "cli:mallory", "", "setting.set", "allow_exec", "{}", prev)
    forged = (4, when, "cli:mallory", "", "setting.set", "allow_exec", "{}", prev, digest)
    db.execute("INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", forged)
    _broken(run_aft, "entry 4 was inserted (entry 5 follows entry 3), or entry 5 was")
    db.close()


def test_rest_calls_are_recorded_with_the_calling_key_or_account(aft_home):
    keys = prepare(aft_home)
    with Instance(aft_home) as instance:
        instance.accounts.create("alice", PASSWORD)
        first = len(instance.audit.list(limit=1000)[0])
    proc = ServeProcess(aft_home).start()
    try:
        admin, runner = proc.client(keys["admin"]), proc.client(keys["run"])
        admin.request("PUT", "/v1/secrets/partner-token", {"value": SECRET_VALUE})
        admin.request("PUT", "/v1/settings/concurrency", {"value": 3})
        job = runner.submit_job(script_name="trivial", params={"n": 1})
        wait_for(runner, job.id)
        try:
            proc.client("not-a-key-at-all").request("GET", "/v1/settings")
            raise AssertionError("a wrong key got in")
        except Exception as exc:
            assert "unknown or revoked" in str(exc)
        try:
            runner.request("GET", "/v1/audit")
            raise AssertionError("a run key read the audit trail")
        except Forbidden:
            pass

        http = urllib3.PoolManager(
            cert_reqs="CERT_NONE", assert_fingerprint=proc.info["fingerprint"]
        )
        plain = {"Content-Type": "application/json"}

        def login(password):
            body = json.dumps({"username": "alice", "password": password})
            return http.request("POST", proc.url + "/ui/login", body=body, headers=plain)

        assert login("wrong password!").status == 401
        signed_in = login(PASSWORD)
        assert signed_in.status == 200
        session = {
            **plain,
            "Cookie": signed_in.headers["Set-Cookie"].split(";")[0],
            "X-CSRF-Token": json.loads(signed_in.data)["csrf"],
        }
        changed = http.request(
            "PUT", proc.url + "/v1/settings/concurrency", body='{"value": 4}', headers=session
        )
        assert changed.status == 200, changed.data

        page = admin.request("GET", "/v1/audit", query={"cursor": first, "limit": 3})
        rest = admin.request("GET", "/v1/audit", query={"cursor": page["nextCursor"]})
        assert rest["nextCursor"] is None
        entries = page["entries"] + rest["entries"]
        admin_key = f"key:admin ({admin.request('GET', '/v1/apikeys')['apiKeys'][0]['id']})"
        assert [(e["actor"], e["address"], e["action"], e["target"]) for e in entries] == [
            (admin_key, "127.0.0.1", "secret.set", "partner-token"),
            (admin_key, "127.0.0.1", "setting.set", "concurrency"),
            ("anonymous", "127.0.0.1", "auth.refused", ""),
            ("anonymous", "127.0.0.1", "auth.refused", "runner"),
            ("anonymous", "127.0.0.1", "auth.signin_failed", "alice"),
            ("account:alice", "127.0.0.1", "account.signin", "alice"),
            ("account:alice", "127.0.0.1", "setting.set", "concurrency"),
        ]
        assert SECRET_VALUE not in json.dumps(entries)
        keys_by_name = {k["name"]: k["id"] for k in admin.request("GET", "/v1/apikeys")["apiKeys"]}
        shown = runner.job(job.id)
        assert shown.trigger == "api"
        assert shown.started_by == f"key:runner ({keys_by_name['runner']})"
    finally:
        proc.stop()
    verified = Instance(aft_home)
    try:
        assert verified.audit.verify().ok
    finally:
        verified.close()
