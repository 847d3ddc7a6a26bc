"""HttpCli, SendMail and the PGP helpers, against real servers and the real gpg."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from aft.exceptions import InvalidSetting
from aft.executor import Executor, HaltSignal
from aft.mail import MailError, MailSettings, send_mail
from aft.models import JobState, RunResult
from aft.pgp import PgpError, decrypt_file, encrypt_file
from aft.syncjs import net_host
from tests.conftest import stop_gnupg
from tests.script_helpers import errors, js, texts
from tests.script_helpers import outcome as outcome_with
from tests.test_web_ui import browser, page, served  # noqa: F401 (fixtures for the Settings page)


def run(instance: Any, source: str, **kwargs: Any) -> RunResult:
    executor = Executor(secrets=instance.secrets, mail=instance.settings)
    return executor.run(source, **kwargs)


def outcome(instance: Any, body: str, **kwargs: Any) -> tuple[Any, RunResult]:
    return outcome_with(run, instance, body, **kwargs)


def free_port() -> int:
    """A port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


RESPONSE = """
out.valid = r.IsValid(); out.ok = r.Ok(); out.status = r.StatusCode();
out.body = r.BodyAsString(); out.error = r.ErrorMsg();
"""


# ---- HttpCli -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call,verb",
    [
        ("Get()", "GET"),
        ("Post()", "POST"),
        ("Put()", "PUT"),
        ("Patch()", "PATCH"),
        ("Delete()", "DELETE"),
        ("Head()", "HEAD"),
        ('Do("options")', "OPTIONS"),
        ('Do("PATCH")', "PATCH"),
    ],
)
def test_every_verb(instance: Any, http_server: Any, call: str, verb: str) -> None:
    http_server.respond("/thing", 200, "hello", {"Content-Type": "text/plain"})
    out, _ = outcome(
        instance,
        f"var r = new HttpCli().Url({js(http_server.url + '/thing?a=1')}).{call};{RESPONSE}",
    )
    assert out == {
        "valid": True,
        "ok": True,
        "status": 200,
        "body": "" if verb == "HEAD" else "hello",
        "error": "",
    }
    assert [(m, p) for m, p, _, _ in http_server.requests] == [(verb, "/thing?a=1")]


def test_request_headers_and_body(instance: Any, http_server: Any) -> None:
    out, _ = outcome(
        instance,
        f"""
        var req = new HttpCli().Url({js(http_server.url + "/in")}).Timeout(10)
          .Header("X-Trace", "first").Header("x-trace", "second")
          .Header("Content-Type", "application/json");
        req.ReqBody(JSON.stringify({{name: "café", n: 3}}));
        out.same = req.Header("X-Other", "o") === req;
        var r = req.Post();
        out.json = JSON.parse(r.BodyAsString());
        """,
    )
    assert out == {"same": True, "json": {"ok": True}}
    [(method, path, headers, body)] = http_server.requests
    assert (method, path) == ("POST", "/in")
    assert headers.get_all("X-Trace") == ["second"]
    assert headers["x-other"] == "o"
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "aft"
    assert json.loads(body) == {"name": "café", "n": 3}


def test_vendor_sample_dialect_without_new_bearer_and_post_body(
    instance: Any, http_server: Any
) -> None:
    """The original product's workflow sample: HttpCli() without new, Bearer, Post(body)."""
    instance.secrets.set("flow-token", "tok-9f8e7d6c")
    out, r = outcome(
        instance,
        f"""
        var resp = HttpCli().Url({js(http_server.url + "/jobs")})
          .Bearer(GetSecret("flow-token")).Header("Content-Type", "application/json")
          .Post(JSON.stringify({{job: "nightly"}}));
        out.ok = resp.Ok();
        out.same = HttpCli() instanceof HttpCli;
        Log("sent with Bearer tok-9f8e7d6c");
        """,
    )
    assert out == {"ok": True, "same": True}
    [(method, path, headers, body)] = http_server.requests
    assert (method, path) == ("POST", "/jobs")
    assert headers["Authorization"] == "Bearer tok-9f8e7d6c"
    assert json.loads(body) == {"job": "nightly"}
    assert "sent with Bearer ********" in texts(r)
    assert all("tok-9f8e7d6c" not in t for t in texts(r))


@pytest.mark.parametrize("verb", ["Post", "Put", "Patch"])
def test_a_body_given_to_the_verb_replaces_req_body(
    instance: Any, http_server: Any, verb: str
) -> None:
    out, _ = outcome(
        instance,
        f"""
        var base = {js(http_server.url)};
        out.text = new HttpCli().Url(base + "/a").ReqBody("old").{verb}("new").Ok();
        out.obj = HttpCli().Url(base + "/b").{verb}({{n: 1, s: "é"}}).Ok();
        out.typed = HttpCli().Url(base + "/c").Header("content-type", "text/x-json")
          .{verb}({{n: 2}}).Ok();
        out.kept = HttpCli().Url(base + "/d").ReqBody("kept").{verb}().Ok();
        """,
    )
    assert out == {"text": True, "obj": True, "typed": True, "kept": True}
    got = {
        path: (headers.get("Content-Type"), body) for _, path, headers, body in http_server.requests
    }
    assert got["/a"][1] == b"new"
    assert got["/b"][0] == "application/json" and json.loads(got["/b"][1]) == {"n": 1, "s": "é"}
    assert got["/c"][0] == "text/x-json" and json.loads(got["/c"][1]) == {"n": 2}
    assert got["/d"][1] == b"kept"


def test_response_status_headers_and_body(instance: Any, http_server: Any) -> None:
    http_server.respond(
        "/missing",
        404,
        "nope".encode("latin-1"),
        {"X-Reason": "gone", "Content-Type": "text/plain; charset=latin-1"},
    )
    http_server.respond("/made", 201, "é", {"Content-Type": "text/plain; charset=utf-8"})
    out, r = outcome(
        instance,
        f"""
        var r = new HttpCli().Url({js(http_server.url + "/missing")}).Get();
        {RESPONSE}
        out.reason = r.Header("x-REASON"); out.none = r.Header("X-Absent");
        out.type = r.Headers()["content-type"];
        var m = new HttpCli().Url({js(http_server.url + "/made")}).Put();
        out.made = [m.Ok(), m.StatusCode(), m.BodyAsString(), m.ErrorMsg()];
        """,
    )
    assert out == {
        "valid": True,
        "ok": False,
        "status": 404,
        "body": "nope",
        "error": "HTTP 404 Not Found",
        "reason": "gone",
        "none": "",
        "type": "text/plain; charset=latin-1",
        "made": [True, 201, "é", ""],
    }
    assert errors(r) == []  # an answer, even a 404, is the script's to judge


def test_redirects_are_followed(instance: Any, http_server: Any) -> None:
    http_server.respond("/old", 302, "", {"Location": "/new"})
    http_server.respond("/new", 200, "moved here")
    out, _ = outcome(
        instance, f"var r = new HttpCli().Url({js(http_server.url + '/old')}).Get();{RESPONSE}"
    )
    assert (out["status"], out["body"]) == (200, "moved here")
    assert [p for _, p, _, _ in http_server.requests] == ["/old", "/new"]


def test_timeout_gives_an_invalid_response(instance: Any, http_server: Any) -> None:
    http_server.respond("/slow", 200, "late", delay=30)
    started = time.monotonic()
    out, r = outcome(
        instance,
        f"var r = new HttpCli().Url({js(http_server.url + '/slow')}).Timeout(0.5).Get();{RESPONSE}",
    )
    assert time.monotonic() - started < 10
    assert out == {
        "valid": False,
        "ok": False,
        "status": 0,
        "body": "",
        "error": "timed out after 0.5s",
    }
    assert errors(r) == [f"HttpCli: GET {http_server.url}/slow: timed out after 0.5s"]


def test_connection_refused_gives_an_invalid_response(instance: Any) -> None:
    url = f"http://127.0.0.1:{free_port()}/x"
    out, r = outcome(instance, f"var r = new HttpCli().Url({js(url)}).Post();{RESPONSE}")
    assert out["valid"] is False and out["status"] == 0
    assert out["error"] == "connection refused"
    assert errors(r) == [f"HttpCli: POST {url}: connection refused"]


@pytest.mark.parametrize(
    "url,reason",
    [("", "no URL set"), ("ftp://example.com/", "the URL must start with http:// or https://")],
)
def test_bad_urls_give_an_invalid_response(instance: Any, url: str, reason: str) -> None:
    out, r = outcome(instance, f"var r = new HttpCli().Url({js(url)}).Get();{RESPONSE}")
    assert (out["valid"], out["error"]) == (False, reason)
    assert len(errors(r)) == 1


def test_halt_aborts_a_waiting_request(instance: Any, http_server: Any) -> None:
    http_server.respond("/slow", 200, "late", delay=60)
    halt = HaltSignal()

    def halt_once_asked() -> None:
        http_server.wait_for_requests(1)
        halt.set()

    thread = threading.Thread(target=halt_once_asked)
    thread.start()
    started = time.monotonic()
    r = run(
        instance,
        f"var r = new HttpCli().Url({js(http_server.url + '/slow')}).Timeout(0).Get();"
        "Log('valid=' + r.IsValid() + ' ' + r.ErrorMsg());",
        halt=halt,
    )
    thread.join()
    halt.close()
    assert time.monotonic() - started < 10
    assert r.state is JobState.HALTED
    assert "valid=false halted" in texts(r)


def test_tls_is_verified_unless_skipped(instance: Any, https_server: Any) -> None:
    out, r = outcome(
        instance,
        f"""
        var url = {js(https_server.url + "/secure")};
        var strict = new HttpCli().Url(url).Get();
        out.strict = [strict.IsValid(), strict.ErrorMsg()];
        var lax = new HttpCli().Url(url).InsecureSkipVerify(true).Get();
        out.lax = [lax.IsValid(), lax.StatusCode()];
        """,
    )
    assert out["strict"][0] is False
    assert "certificate verify failed" in out["strict"][1]
    assert out["lax"] == [True, 200]
    assert len(errors(r)) == 1


def test_body_size_is_capped(
    instance: Any, http_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(net_host, "MAX_BODY", 1000)
    http_server.respond("/big", 200, b"x" * 5000)
    http_server.respond("/fits", 200, b"y" * 1000)
    out, _ = outcome(
        instance,
        f"""
        var big = new HttpCli().Url({js(http_server.url + "/big")}).Get();
        out.big = [big.IsValid(), big.ErrorMsg()];
        out.fits = new HttpCli().Url({js(http_server.url + "/fits")}).Get().BodyAsString().length;
        """,
    )
    assert out["big"][0] is False and "larger than" in out["big"][1]
    assert out["fits"] == 1000


def test_secrets_are_masked_in_urls_and_errors(instance: Any) -> None:
    instance.secrets.set("token", "t0ps3cr3t")
    url = f"http://127.0.0.1:{free_port()}/hook?token="
    out, r = outcome(
        instance,
        f'var r = new HttpCli().Url({js(url)} + GetSecret("token")).Get();'
        "out.error = r.ErrorMsg();",
    )
    assert "t0ps3cr3t" not in " ".join(texts(r)) + out["error"]
    assert errors(r) == [f"HttpCli: GET {url}********: connection refused"]


@pytest.mark.parametrize(
    "call",
    [
        "new HttpCli().Url(5)",
        'new HttpCli().Timeout("10")',
        'new HttpCli().Header("X-A", 1)',
        "new HttpCli().ReqBody({a: 1})",
        'new HttpCli().InsecureSkipVerify("yes")',
        "new HttpCli().Do(7)",
        'new HttpCli().Do("GE T")',
        'new HttpCli().Url("http://127.0.0.1:9/").Get().Header(3)',
        "HttpCli().Bearer(5)",
        'HttpCli().Url("http://127.0.0.1:9/").Get("body")',
        'HttpCli().Url("http://127.0.0.1:9/").Delete("body")',
        'HttpCli().Url("http://127.0.0.1:9/").Post(5)',
        'HttpCli().Url("http://127.0.0.1:9/").Post("a", "b")',
    ],
)
def test_wrong_argument_types_throw_type_error(instance: Any, call: str) -> None:
    r = run(instance, f"try {{ {call}; Log('no throw'); }} catch (e) {{ Log(e.name); }}")
    assert r.ok, r.error
    assert texts(r)[-1] == "TypeError"


# ---- SendMail ------------------------------------------------------------------------


@pytest.fixture
def mail_ready(instance: Any, smtp_server: Any) -> Any:
    """The instance set up to send through ``smtp_server``."""
    for key, value in smtp_server.settings().items():
        instance.settings.set(key, value)
    instance.secrets.set("smtp-password", smtp_server.password)
    return smtp_server


def test_send_mail_with_starttls_auth_and_attachments(
    instance: Any, mail_ready: Any, tmp_path: Path
) -> None:
    report = tmp_path / "report.csv"
    report.write_text("a,b\n1,2\n")
    blob = tmp_path / "data.bin"
    blob.write_bytes(bytes(range(256)))
    out, r = outcome(
        instance,
        f"""out.sent = SendMail("Robot <robot@example.com>", "ops@example.com, Me <me@example.com>",
          "Nightly run", "All files sent.\\nSee the report.", {js(f"{report}, {blob}")});""",
    )
    assert out == {"sent": True}
    [message] = mail_ready.messages
    assert message["From"] == "Robot <robot@example.com>"
    assert message["To"] == "ops@example.com, me@example.com"
    assert message["Subject"] == "Nightly run"
    assert message.get_body().get_content() == "All files sent.\nSee the report.\n"
    files = {a.get_filename(): a for a in message.iter_attachments()}
    assert files["report.csv"].get_content() == "a,b\n1,2\n"
    assert files["report.csv"].get_content_type() == "text/csv"
    assert files["data.bin"].get_content() == bytes(range(256))
    assert mail_ready.envelopes == [("robot@example.com", ["ops@example.com", "me@example.com"])]
    log = "\n".join(texts(r))
    assert mail_ready.password not in log
    assert "SendMail: sent 'Nightly run' to ops@example.com, me@example.com" in log


def test_send_mail_takes_attachments_as_an_array_and_the_default_sender(
    instance: Any, mail_ready: Any, tmp_path: Path
) -> None:
    instance.settings.set("smtp_from", "aft@example.com")
    note = tmp_path / "note.txt"
    note.write_text("hi")
    out, _ = outcome(instance, f'out.sent = SendMail("", "a@example.com", "S", "B", [{js(note)}]);')
    assert out == {"sent": True}
    [message] = mail_ready.messages
    assert message["From"] == "aft@example.com"
    assert [a.get_filename() for a in message.iter_attachments()] == ["note.txt"]


def test_missing_attachment_sends_nothing(instance: Any, mail_ready: Any, tmp_path: Path) -> None:
    here = tmp_path / "here.txt"
    here.write_text("x")
    gone = tmp_path / "gone.txt"
    out, r = outcome(
        instance,
        f'out.sent = SendMail("r@example.com", "a@example.com", "S", "B", {js(f"{here},{gone}")});',
    )
    assert out == {"sent": False}
    assert errors(r) == [f"SendMail: attachment not found: {gone}"]
    assert mail_ready.messages == []


def test_unconfigured_smtp_is_one_clear_line(instance: Any) -> None:
    out, r = outcome(
        instance, 'out.sent = SendMail("r@example.com", "a@example.com", "S", "B", "");'
    )
    assert out == {"sent": False}
    [line] = errors(r)
    assert line.startswith("SendMail: mail is not configured: set smtp_host")
    assert "\n" not in line
    # and an Executor without mail settings says the same
    result = Executor().run('SendMail("r@example.com", "a@example.com", "S", "B", "")')
    assert errors(result) == [line]


def test_wrong_password_is_one_line_and_never_logged(instance: Any, mail_ready: Any) -> None:
    instance.secrets.set("smtp-password", "not-the-password")
    out, r = outcome(
        instance, 'out.sent = SendMail("r@example.com", "a@example.com", "S", "B", "");'
    )
    assert out == {"sent": False}
    [line] = errors(r)
    assert line.startswith(f"SendMail: SMTP server 127.0.0.1:{mail_ready.port} refused the login")
    assert "535" in line and "\n" not in line
    assert "not-the-password" not in "\n".join(texts(r))
    assert mail_ready.messages == []


def test_missing_password_secret(instance: Any, mail_ready: Any) -> None:
    instance.secrets.delete("smtp-password")
    out, r = outcome(
        instance, 'out.sent = SendMail("r@example.com", "a@example.com", "S", "B", "");'
    )
    assert out == {"sent": False}
    assert errors(r) == [
        "SendMail: no secret named 'smtp-password' (the smtp_password_secret setting)"
    ]


def test_bad_recipients_and_argument_types(instance: Any, mail_ready: Any) -> None:
    out, r = outcome(instance, 'out.sent = SendMail("r@example.com", "nobody", "S", "B", "");')
    assert out == {"sent": False}
    assert errors(r) == ["SendMail: bad recipient list 'nobody'"]
    r = run(instance, 'SendMail("r@example.com", ["a@example.com"], "S", "B", "")')
    assert r.state is JobState.FAILED
    assert "TypeError" in (r.error or "") and "to must be a string" in (r.error or "")


def test_library_send_mail_verifies_the_certificate(smtp_server: Any) -> None:
    settings = MailSettings(host=smtp_server.host, port=smtp_server.port, user=smtp_server.user)
    with pytest.raises(MailError, match="certificate verify failed"):
        send_mail(settings, smtp_server.password, "r@example.com", "a@example.com", "S", "B")
    trusted = MailSettings(
        host=smtp_server.host,
        port=smtp_server.port,
        user=smtp_server.user,
        cafile=str(smtp_server.cafile),
    )
    send_mail(trusted, smtp_server.password, "r@example.com", ["a@example.com"], "S", "B")
    assert [m["Subject"] for m in smtp_server.messages] == ["S"]


def test_library_send_mail_over_implicit_tls(smtps_server: Any, tmp_path: Path) -> None:
    settings = MailSettings(
        host=smtps_server.host,
        port=smtps_server.port,
        tls="tls",
        user=smtps_server.user,
        sender="robot@example.com",
        cafile=str(smtps_server.cafile),
    )
    assert send_mail(settings, smtps_server.password, "", "a@example.com", "S", "B") == [
        "a@example.com"
    ]
    assert [m["From"] for m in smtps_server.messages] == ["robot@example.com"]
    with pytest.raises(MailError, match="refused the login"):
        send_mail(settings, "wrong", "", "a@example.com", "S", "B")
    missing = attrs.evolve(settings, cafile=str(tmp_path / "none.pem"))
    with pytest.raises(MailError, match=r"the CA file .*none.pem \(smtp_cafile\) does not exist"):
        send_mail(missing, smtps_server.password, "", "a@example.com", "S", "B")
    assert len(smtps_server.messages) == 1


def test_smtp_settings_are_validated(instance: Any) -> None:
    assert instance.settings.get("smtp_port") == 587
    assert instance.settings.set("smtp_tls", " TLS ") == "tls"
    with pytest.raises(InvalidSetting, match=r"smtp_tls takes starttls \| tls \| none, not 'ssl'"):
        instance.settings.set("smtp_tls", "ssl")
    with pytest.raises(MailError, match="SMTP TLS mode must be one of"):
        MailSettings(tls="ssl")


def test_aft_run_sends_mail_with_the_instance_settings(
    instance: Any, mail_ready: Any, run_aft: Any, tmp_path: Path
) -> None:
    instance.settings.set("allow_cli_run", True)
    script = tmp_path / "mail.syncjs"
    script.write_text(
        'if (!SendMail("r@example.com", "a@example.com", "From aft run", "B", "")) Exit(3);'
    )
    done = run_aft("run", "-f", str(script))
    assert done.returncode == 0, done.stderr
    assert [m["Subject"] for m in mail_ready.messages] == ["From aft run"]
    assert mail_ready.password not in done.stderr


@pytest.mark.slow
def test_settings_page_edits_the_smtp_settings(page: Any, served: Any) -> None:  # noqa: F811
    from playwright.sync_api import expect

    from aft.instance import Instance
    from tests.test_web_ui import nav, setup_admin

    setup_admin(page, served.url)
    nav(page, "Settings")
    smtp = page.locator("section.card", has=page.get_by_role("heading", name="Email (SMTP)"))
    labels = smtp.locator("label").all_inner_texts()
    assert [t.strip() for t in labels[:3]] == ["SMTP server", "SMTP port", "Encryption"]
    secret_name = smtp.get_by_label("Password secret")
    expect(secret_name).to_have_attribute("type", "text")  # a secret's name, not a password
    smtp.get_by_label("SMTP server").fill("mail.example.com")
    smtp.get_by_label("Encryption").select_option("tls")
    secret_name.fill("smtp-password")
    smtp.get_by_role("button", name="Save").click()
    expect(page.locator(".toast", has_text="3 settings saved")).to_be_visible()
    with Instance(served.home) as instance:
        assert instance.settings.get("smtp_host") == "mail.example.com"
        assert instance.settings.get("smtp_tls") == "tls"
        assert instance.settings.get("smtp_password_secret") == "smtp-password"


# ---- PGP -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sequoia_key() -> Any:
    import pysequoia

    return pysequoia.Tsk.generate("Partner <partner@example.com>")


@pytest.fixture(scope="module")
def gpg_home() -> Iterator[dict[str, str]]:
    """A throwaway GnuPG home with one key pair protected by a passphrase."""
    gpg = shutil.which("gpg")
    assert gpg, "the gpg command is missing: install Debian's gnupg (scripts/install-test-deps)"
    home = tempfile.mkdtemp(prefix="aftgpg", dir="/tmp")  # short: gpg-agent's socket path
    env = {**os.environ, "GNUPGHOME": home}
    passphrase = "correct horse battery"
    loopback = ["--batch", "--pinentry-mode", "loopback", "--passphrase", passphrase]

    def gpg_run(*args: str) -> str:
        done = subprocess.run([gpg, *args], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    try:
        gpg_run(
            *loopback,
            "--quick-gen-key",
            "Gpg User <gpg@example.com>",
            "future-default",
            "default",
            "never",
        )
        yield {
            "home": home,
            "passphrase": passphrase,
            "public": gpg_run("--armor", "--export", "gpg@example.com"),
            "private": gpg_run(*loopback, "--armor", "--export-secret-keys", "gpg@example.com"),
        }
    finally:
        stop_gnupg(Path(home))
        shutil.rmtree(home, ignore_errors=True)


def gpg(home: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "GNUPGHOME": home["home"]}
    command = [
        "gpg",
        "--batch",
        "--yes",
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        home["passphrase"],
        *args,
    ]
    return subprocess.run(command, env=env, capture_output=True, timeout=60)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".aft-part-" in p.name)


def test_pgp_round_trip(instance: Any, sequoia_key: Any, tmp_path: Path) -> None:
    plain = tmp_path / "plain.csv"
    plain.write_bytes(os.urandom(300_000))
    key_file = tmp_path / "partner.asc"
    key_file.write_text(str(sequoia_key.extract_certificate()))
    instance.secrets.set("partner-key", str(sequoia_key))
    public = str(sequoia_key.extract_certificate())
    a_pgp, b_asc = js(tmp_path / "a.pgp"), js(tmp_path / "b.asc")
    out, r = outcome(
        instance,
        f"""
        out.armored = PGPEncryptFile({js(plain)}, {a_pgp}, {js(public)});
        out.fromFile = PGPEncryptFile({js(plain)}, {b_asc}, {js(key_file)});
        out.back = PGPDecryptFile({a_pgp}, {js(tmp_path / "a.csv")}, "partner-key");
        out.backAsc = PGPDecryptFile({b_asc}, {js(tmp_path / "b.csv")}, "partner-key");
        """,
    )
    assert out == {"armored": True, "fromFile": True, "back": True, "backAsc": True}
    assert (tmp_path / "a.csv").read_bytes() == plain.read_bytes()
    assert (tmp_path / "b.csv").read_bytes() == plain.read_bytes()
    assert not (tmp_path / "a.pgp").read_bytes().startswith(b"-----BEGIN")  # binary
    assert (tmp_path / "b.asc").read_text().startswith("-----BEGIN PGP MESSAGE-----")
    assert str(sequoia_key) not in "\n".join(texts(r))
    assert leftovers(tmp_path) == []


def test_gpg_decrypts_what_aft_encrypts(gpg_home: dict[str, str], tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("for gpg's eyes only\n" * 1000)
    sealed, public = js(tmp_path / "x.gpg"), js(gpg_home["public"])
    r = Executor().run(f"if (!PGPEncryptFile({js(plain)}, {sealed}, {public})) Exit(2);")
    assert r.ok, texts(r)
    done = gpg(gpg_home, "--decrypt", "--output", str(tmp_path / "x.txt"), str(tmp_path / "x.gpg"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "x.txt").read_text() == plain.read_text()


def test_aft_decrypts_what_gpg_encrypts(
    instance: Any, gpg_home: dict[str, str], tmp_path: Path
) -> None:
    plain = tmp_path / "plain.bin"
    plain.write_bytes(os.urandom(100_000))
    for armor in ([], ["--armor"]):
        sealed = tmp_path / f"sealed{len(armor)}"
        done = gpg(
            gpg_home,
            *armor,
            "--encrypt",
            "-r",
            "gpg@example.com",
            "--output",
            str(sealed),
            str(plain),
        )
        assert done.returncode == 0, done.stderr
    instance.secrets.set("gpg-key", gpg_home["private"])
    instance.secrets.set("gpg-key.passphrase", gpg_home["passphrase"])
    out, r = outcome(
        instance,
        f"""
        var dir = {js(tmp_path)} + "/";
        out.binary = PGPDecryptFile(dir + "sealed0", dir + "out0", "gpg-key");
        out.armored = PGPDecryptFile(dir + "sealed1", dir + "out1", "gpg-key");
        """,
    )
    assert out == {"binary": True, "armored": True}
    assert (
        (tmp_path / "out0").read_bytes() == (tmp_path / "out1").read_bytes() == plain.read_bytes()
    )
    assert gpg_home["passphrase"] not in "\n".join(texts(r))


def test_protected_key_needs_its_passphrase(
    instance: Any, gpg_home: dict[str, str], tmp_path: Path
) -> None:
    plain = tmp_path / "p.txt"
    plain.write_text("x")
    encrypt_file(plain, tmp_path / "p.gpg", gpg_home["public"])
    instance.secrets.set("gpg-key", gpg_home["private"])
    out, r = outcome(
        instance,
        f'out.ok = PGPDecryptFile({js(tmp_path / "p.gpg")}, {js(tmp_path / "p.out")}, "gpg-key");',
    )
    assert out == {"ok": False}
    assert errors(r) == [
        "PGPDecryptFile: the private key is protected by a passphrase; none was given"
        " (the secret gpg-key.passphrase holds it)"
    ]
    instance.secrets.set("gpg-key.passphrase", "wrong")
    out, r = outcome(
        instance,
        f'out.ok = PGPDecryptFile({js(tmp_path / "p.gpg")}, {js(tmp_path / "p.out")}, "gpg-key");',
    )
    assert out == {"ok": False}
    assert "does not unlock the private key" in errors(r)[0]
    assert not (tmp_path / "p.out").exists()


def test_wrong_key_leaves_no_file(instance: Any, sequoia_key: Any, tmp_path: Path) -> None:
    import pysequoia

    plain = tmp_path / "plain.txt"
    plain.write_text("secret")
    encrypt_file(plain, tmp_path / "m.pgp", str(sequoia_key.extract_certificate()))
    instance.secrets.set("other-key", str(pysequoia.Tsk.generate("Other <o@example.com>")))
    out, r = outcome(
        instance,
        f'out.ok = PGPDecryptFile({js(tmp_path / "m.pgp")}, {js(tmp_path / "m.txt")}, "other-key")',
    )
    assert out == {"ok": False}
    [line] = errors(r)
    assert line.startswith(
        f"PGPDecryptFile: cannot decrypt {tmp_path / 'm.pgp'}: No key to decrypt"
    )
    assert not (tmp_path / "m.txt").exists() and leftovers(tmp_path) == []


def test_corrupt_input_leaves_no_file(instance: Any, sequoia_key: Any, tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_bytes(os.urandom(200_000))
    sealed = tmp_path / "m.pgp"
    encrypt_file(plain, sealed, str(sequoia_key.extract_certificate()))
    data = bytearray(sealed.read_bytes())
    data[len(data) // 2] ^= 0xFF  # tampered in the middle: the integrity check fails at the end
    sealed.write_bytes(bytes(data))
    (tmp_path / "junk.pgp").write_bytes(b"not pgp at all")
    instance.secrets.set("partner-key", str(sequoia_key))
    out, r = outcome(
        instance,
        f"""
        out.tampered = PGPDecryptFile({js(sealed)}, {js(tmp_path / "m.txt")}, "partner-key");
        var junk = {js(tmp_path / "junk.pgp")};
        out.junk = PGPDecryptFile(junk, {js(tmp_path / "j.txt")}, "partner-key");
        """,
    )
    assert out == {"tampered": False, "junk": False}
    assert len(errors(r)) == 2
    assert all(line.startswith("PGPDecryptFile: cannot decrypt") for line in errors(r))
    assert not (tmp_path / "m.txt").exists() and not (tmp_path / "j.txt").exists()
    assert leftovers(tmp_path) == []


def test_pgp_failures_are_logged_not_thrown(
    instance: Any, sequoia_key: Any, tmp_path: Path
) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    public = str(sequoia_key.extract_certificate())
    instance.secrets.set("public-only", public)
    out, r = outcome(
        instance,
        f"""
        var plain = {js(plain)}, o = {js(tmp_path / "o")};
        out.noSecret = PGPDecryptFile(plain, o, "no-such-key");
        out.publicOnly = PGPDecryptFile(plain, o, "public-only");
        out.badKey = PGPEncryptFile(plain, o, "-----BEGIN PGP PUBLIC KEY BLOCK-----\\nxx");
        out.noKeyFile = PGPEncryptFile(plain, o, {js(tmp_path / "none.asc")});
        out.noInput = PGPEncryptFile({js(tmp_path / "none.txt")}, o, {js(public)});
        """,
    )
    assert out == dict.fromkeys(["noSecret", "publicOnly", "badKey", "noKeyFile", "noInput"], False)
    assert errors(r) == [
        "PGPDecryptFile: no secret named 'no-such-key' (it should hold the armored private key)",
        "PGPDecryptFile: that is a public key, not a private one",
        errors(r)[2],
        f"PGPEncryptFile: {tmp_path / 'none.asc'}: no such file or directory",
        f"PGPEncryptFile: {tmp_path / 'none.txt'}: no such file or directory",
    ]
    assert errors(r)[2].startswith("PGPEncryptFile: not a usable public key")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "call",
    [
        'PGPEncryptFile(1, "o", "k")',
        'PGPEncryptFile("i", "o", null)',
        'PGPDecryptFile("i", "o", 3)',
    ],
)
def test_pgp_wrong_argument_types_throw(instance: Any, call: str) -> None:
    r = run(instance, f"try {{ {call}; Log('no throw'); }} catch (e) {{ Log(e.name); }}")
    assert texts(r)[-1] == "TypeError"


def test_library_pgp_errors(sequoia_key: Any, tmp_path: Path) -> None:
    plain = tmp_path / "p"
    plain.write_text("x")
    with pytest.raises(PgpError, match="no public key given"):
        encrypt_file(plain, tmp_path / "o", "")
    with pytest.raises(PgpError, match="must be ASCII-armored"):
        decrypt_file(plain, tmp_path / "o", "not a key")
    with pytest.raises(FileNotFoundError):
        decrypt_file(tmp_path / "missing", tmp_path / "o", str(sequoia_key))
