"""Each backend's schema: its target grammar round-trips, its checks refuse what does not
fit, it loads without the backend's library, and the service serves it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from aft.exceptions import Forbidden, VfsError, VfsPathError
from aft.instance import Instance
from aft.keys import ApiKeyStore
from aft.vfs import BACKENDS, backend_class, schema_class
from aft.vfs.library import check_target
from tests.service_helpers import ServeProcess
from tests.test_web_ui import browser, page, served  # noqa: F401 (fixtures for the form)

PIN = "SHA256:ab+/cd" + "A" * 37

#: Representative fields of each type: every field, some at their defaults, some not.
FIELDS: dict[str, list[dict[str, str]]] = {
    "Disk": [{"root": "/srv/exchange"}, {"root": "/in box/ü"}],
    "SFTP": [
        {
            "host": "sftp.example.com", "port": "2222", "user": "bob@corp", "path": "/in box",
            "hostKeySHA256": PIN, "hostKeySHA1": "", "hostKeyMD5": "", "timeout": "30",
        },
        {
            "host": "::1", "port": "", "user": "u", "path": "/", "hostKeySHA256": "",
            "hostKeySHA1": "", "hostKeyMD5": "0" * 32, "timeout": "2.5",
        },
    ],
    "FTP": [
        {
            "host": "ftp.example.com", "port": "", "user": "", "path": "/", "tls": "none",
            "insecure": "false", "cafile": "", "timeout": "60",
        },
        {
            "host": "127.0.0.1", "port": "2121", "user": "u", "path": "/out/2026",
            "tls": "implicit", "insecure": "true", "cafile": "/etc/ssl/ca+x.pem", "timeout": "12.5",
        },
    ],
    "S3": [
        {"bucket": "backups", "prefix": "", "endpoint": "", "region": "us-east-1", "timeout": "10"},
        {
            "bucket": "backups", "prefix": "2026/q1 & q2", "region": "eu-west-1",
            "endpoint": "http://127.0.0.1:8333", "timeout": "4",
        },
    ],
    "Azure": [
        {"account": "acct", "container": "c", "prefix": "", "endpoint": ""},
        {
            "account": "devstoreaccount1", "container": "in", "prefix": "a/b",
            "endpoint": "http://127.0.0.1:10000/devstoreaccount1?x=1&y=2",
        },
    ],
    "R2FS": [
        {"account": "0123abcd", "bucket": "backups", "prefix": "", "endpoint": ""},
        {
            "account": "0123abcd", "bucket": "b-2", "prefix": "2026/q1 & q2",
            "endpoint": "https://0123abcd.eu.r2.cloudflarestorage.com",
        },
    ],
    "GCP": [
        {"bucket": "b", "prefix": "", "endpoint": ""},
        {"bucket": "b-2", "prefix": "runs/x", "endpoint": "https://storage.googleapis.com"},
    ],
}  # fmt: skip


def test_every_backend_has_a_schema_with_examples_here():
    assert set(FIELDS) == set(BACKENDS)
    for type_name in BACKENDS:
        schema = schema_class(type_name)
        assert schema.type_name == type_name and schema.summary and schema.target_fields
        names = [f.name for f in schema.target_fields + schema.payload_fields]
        assert len(names) == len(set(names)), type_name


@pytest.mark.parametrize(
    ("type_name", "fields"), [(t, f) for t, many in FIELDS.items() for f in many]
)
def test_parse_gives_back_what_compose_wrote(type_name, fields):
    schema = schema_class(type_name)
    target = schema.compose_target(fields)
    assert schema.parse_target(target) == fields, target
    assert schema.compose_target(schema.parse_target(target)) == target
    assert schema.check_fields(fields) == {}
    check_target(type_name, target)


def test_the_backend_class_is_its_schema():
    for type_name in ("Disk", "FTP"):  # the others are checked with their servers
        assert issubclass(backend_class(type_name), schema_class(type_name))


def test_targets_as_written_today_read_as_before():
    sftp = schema_class("SFTP").parse_target(f"sftp://bob@H:22/x/?hostkeysha256={PIN}")
    assert sftp["host"] == "h" and sftp["port"] == "22" and sftp["path"] == "/x"
    assert sftp["hostKeySHA256"] == PIN  # "+" is kept, the parameter's name is any case
    ftp = schema_class("FTP").parse_target("ftp://u@h/?tls=EXPLICIT&insecure=1")
    assert (ftp["tls"], ftp["insecure"], ftp["timeout"]) == ("explicit", "true", "60")
    s3 = schema_class("S3").parse_target("s3://bucket/p/?endpoint=http%3A//127.0.0.1%3A8333")
    assert s3 == {
        "bucket": "bucket", "prefix": "p", "endpoint": "http://127.0.0.1:8333",
        "region": "us-east-1", "timeout": "10",
    }  # fmt: skip
    assert schema_class("Disk").parse_target("file:///srv/x") == {"root": "/srv/x"}


@pytest.mark.parametrize(
    ("type_name", "target", "message"),
    [
        ("Disk", "relative/path", "absolute path"),
        ("Disk", "file://elsewhere/x", "names a local path"),
        ("SFTP", "ftp://h/x", "sftp://"),
        ("SFTP", "sftp://bob@h:22/x", "must pin the server's host key"),
        ("SFTP", "sftp://h/x?hostKeySHA256=abc", "User is required"),
        ("SFTP", f"sftp://u@h/?hostKeySHA256={PIN}&hostKeyMD5=00", "one host key pin"),
        ("SFTP", "sftp://u@h:99999/x?hostKeySHA256=abc", "bad port"),
        ("SFTP", "sftp://u@h/x?hostKeySHA256=abc&cipher=x", "unknown SFTP target parameter"),
        ("FTP", "ftp://bob:secret@h/x", "holds no password"),
        ("FTP", "ftp:///x", "ftp://"),
        ("FTP", "ftp://h/?tls=maybe", "TLS is one of none, explicit, implicit"),
        ("FTP", "ftp://h/?insecure=perhaps", "true or false"),
        ("FTP", "ftp://h/?timeout=soon", "positive number"),
        ("S3", "s3://", "s3://"),
        ("S3", "s3://bucket?endpoint=localhost:9000", "Endpoint is a URL"),
        ("S3", "s3://bucket?Secret=x", "unknown S3 target parameter"),
        ("S3", "s3://user@bucket", "s3://bucket/prefix"),
        ("Azure", "azure://acct", "Container is required"),
        ("Azure", "gs://acct/c", "azure://"),
        ("GCP", "gs://b?endpoint=ftp://x", "http:// or https://"),
        ("R2FS", "r2://0123abcd", "Bucket is required"),
        ("R2FS", "r2://acc@0123abcd/b", "r2://account/bucket/prefix"),
        ("R2FS", "r2://0123abcd/b?region=us-east-1", "unknown R2FS target parameter"),
        ("Nope", "/x", "unknown VFS type"),
    ],
)
def test_check_target_refuses_what_does_not_fit(type_name, target, message):
    with pytest.raises(VfsError, match=message) as caught:
        check_target(type_name, target)
    assert "secret" not in str(caught.value)
    if type_name != "Nope":
        assert isinstance(caught.value, VfsPathError)


def test_a_url_typed_as_the_bucket_is_refused_on_its_field():
    problems = schema_class("S3").check_fields({"bucket": "s3://x/y", "prefix": "p"})
    assert problems == {
        "bucket": "Bucket is a plain name, without /, :, @, ? or spaces, not 's3://x/y'"
    }
    host = schema_class("SFTP").check_fields({"host": "sftp://h", "user": "u", "port": "0"})
    assert set(host) == {"host", "port", "hostKeySHA256"}


def test_secrets_are_never_quoted():
    problems = schema_class("GCP").check_payload({"credentialsJSON": "{not json canary"})
    assert problems == {"credentialsJSON": "Service account key (JSON) is not a valid JSON object"}


def test_schemas_load_without_the_backends_libraries():
    code = (
        "import sys, json; from aft.vfs import BACKENDS, schema_class\n"
        "types = [schema_class(t).describe() for t in BACKENDS]\n"
        "heavy = {'paramiko', 'boto3', 'botocore', 'azure', 'google'}\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & heavy)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


# ---- the service ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    with Instance(home) as instance:
        keys = ApiKeyStore(instance.store)
        admin = keys.create("admin", ["127.0.0.1", "::1"], scope="admin")[1]
        run = keys.create("runner", ["127.0.0.1", "::1"], scope="run")[1]
    proc = ServeProcess(home).start()
    yield proc, admin, run
    proc.stop()


def test_types_route_serves_every_schema(service):
    proc, admin, run = service
    answer = proc.client(admin).request("GET", "/v1/vfs/types")
    assert [t["type"] for t in answer["types"]] == list(BACKENDS)
    s3 = next(t for t in answer["types"] if t["type"] == "S3")
    assert s3["schemes"] == ["s3"] and s3["summary"]
    bucket = next(f for f in s3["target"] if f["name"] == "bucket")
    assert (bucket["part"], bucket["required"], bucket["label"]) == ("host", True, "Bucket")
    region = next(f for f in s3["target"] if f["name"] == "region")
    assert (region["part"], region["default"], region["initial"]) == (
        "query",
        "us-east-1",
        "us-east-1",
    )
    sftp = next(t for t in answer["types"] if t["type"] == "SFTP")
    assert {f["name"]: f["secret"] for f in sftp["payload"]} == {
        "pass": True, "key": True, "keyPass": True,
    }  # fmt: skip
    with pytest.raises(Forbidden):
        proc.client(run).request("GET", "/v1/vfs/types")
    doc = proc.client(None).request("GET", "/v1/openapi.json")
    assert "/v1/vfs/types" in doc["paths"] and "/v1/vfs/types/{type}/target" in doc["paths"]


def test_target_route_composes_and_checks(service):
    proc, admin, _ = service
    client = proc.client(admin)
    fields = FIELDS["S3"][1]
    answer = client.request("POST", "/v1/vfs/types/S3/target", {"fields": fields})
    assert answer == {"target": schema_class("S3").compose_target(fields), "errors": {}}
    bad = client.request(
        "POST", "/v1/vfs/types/S3/target", {"fields": {**fields, "bucket": "s3://x/y"}}
    )
    assert set(bad["errors"]) == {"bucket"} and "plain name" in bad["errors"]["bucket"]
    flags = client.request(
        "POST",
        "/v1/vfs/types/FTP/target",
        {"fields": {"host": "h", "insecure": True}, "payload": {"pass": "p"}},
    )
    assert flags == {"target": "ftp://h/?insecure=true", "errors": {}}
    json_key = client.request(
        "POST",
        "/v1/vfs/types/GCP/target",
        {"fields": {"bucket": "b"}, "payload": {"credentialsJSON": "{"}},
    )
    assert set(json_key["errors"]) == {"credentialsJSON"}
    with pytest.raises(VfsError, match="unknown VFS type"):
        client.request("POST", "/v1/vfs/types/Nope/target", {"fields": {}})


def test_a_profile_comes_with_its_fields(service):
    proc, admin, _ = service
    client = proc.client(admin)
    fields = FIELDS["Azure"][1]
    target = schema_class("Azure").compose_target(fields)
    client.request("POST", "/v1/vfs", {"name": "blobs", "type": "Azure", "target": target})
    try:
        profile = client.request("GET", "/v1/vfs/blobs")
        assert profile["target"] == target and profile["fields"] == fields
    finally:
        client.request("DELETE", "/v1/vfs/blobs")


def test_r2_form_round_trip(page, served, monkeypatch, tmp_path):  # noqa: F811
    """The console's form, built from the schema, makes and edits an R2 profile."""
    from tests import test_web_ui

    r2 = (
        "R2FS",
        {"Account id": "0123abcd", "Bucket": "backups", "Prefix": "2026/q1",
         "Endpoint": "http://127.0.0.1:8333"},
        {"Access key id": "AKID", "Secret access key": "SK"},
        "r2://0123abcd/backups/2026/q1?endpoint=http://127.0.0.1:8333",
    )  # fmt: skip
    monkeypatch.setattr(test_web_ui, "VFS_FORMS", [r2])
    test_web_ui.test_vfs_form_round_trip_of_every_type(page, served, tmp_path)


def test_cli_adds_an_r2_profile(run_aft):
    target = "r2://0123abcd/backups?endpoint=http://127.0.0.1:8333"
    payload = json.dumps({"accessKeyId": "AKID", "secretAccessKey": "SK"})
    add = run_aft(
        "vfs", "add", "cf", "--type", "R2FS", "--target", target, "--payload-file", "-",
        input=payload,
    )  # fmt: skip
    assert add.returncode == 0, add.stderr
    assert add.stdout.strip() == "vfs cf (R2FS) added"
    bad = run_aft("vfs", "add", "cf2", "--type", "R2FS", "--target", "r2://0123abcd")
    assert bad.returncode != 0 and "Bucket is required" in bad.stderr
