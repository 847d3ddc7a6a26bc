"""The ``aft`` command as a user runs it: a real process, real signals, real exit codes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time

import pytest

from tests.conftest import aft_command

WAIT_FOR_HALT = 'Log("waiting"); WaitForHaltSignal(); Log("got halt " + HaltSignalReceived);'


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 1, proc
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.fixture
def cli_run_on(run_aft):
    assert run_aft("settings", "set", "allow_cli_run", "true").returncode == 0


def script(tmp_path, text, name="job.syncjs"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_run_is_refused_while_allow_cli_run_is_off(run_aft, tmp_path):
    proc = run_aft("run", "-f", script(tmp_path, 'Log("never")'))
    line = one_line_error(proc)
    assert "allow_cli_run" in line and "aft settings set allow_cli_run true" in line
    assert "never" not in proc.stderr + proc.stdout


def test_run_success_streams_log_to_stderr_only(run_aft, cli_run_on, tmp_path):
    proc = run_aft("run", "-f", script(tmp_path, 'Log("hello"); Log.Warn("careful")'))
    assert proc.returncode == 0 and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert lines[0].endswith("INFO  hello") and lines[1].endswith("WARN  careful")


@pytest.mark.parametrize(
    "source,line",
    [("Log('a');\nthrow new Error('boom');", 2), ("Exit(3)", None), ("\nvar = ;", 2)],
)
def test_run_failure_exits_1(run_aft, cli_run_on, tmp_path, source, line):
    proc = run_aft("run", "-f", script(tmp_path, source))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "ERROR" in last
    if line:
        assert last.endswith(f"(line {line})")


def test_seed_page_examples(run_aft, cli_run_on, tmp_path):
    path = script(tmp_path, 'Log("dest=" + Param("destination"))', "my-transfer.syncjs")
    assert run_aft("run", "-f", path).returncode == 0
    linux = run_aft("run", "-f", path, "-p", '{"destination":"/archive/2026"}')
    assert linux.returncode == 0 and linux.stderr.strip().endswith("dest=/archive/2026")
    windows = run_aft("run", "-f", path, "-p", '{"destination":"D:\\Archive\\2026"}')
    assert windows.returncode == 0 and windows.stderr.strip().endswith("dest=D:\\Archive\\2026")
    long_form = run_aft("run", "--file=" + path, "--params", '{"destination":"x"}')
    assert long_form.returncode == 0 and long_form.stderr.strip().endswith("dest=x")


@pytest.mark.parametrize(
    "args,expected",
    [
        (["run"], "missing -f FILE"),
        (["run", "-f"], "-f needs a value"),
        (["run", "-f", "x.syncjs", "--bogus"], "unexpected argument '--bogus'"),
        (["run", "-f", "/no/such/file.syncjs"], "script file not found: /no/such/file.syncjs"),
        (["run", "-f", "/tmp"], "script path is a directory"),
        (["run", "-f", "{script}", "-p", "[1]"], "params must be a JSON object"),
        (["run", "-f", "{script}", "-p", "{nope"], "params are not valid JSON"),
        (["settings", "get", "nope"], "unknown setting 'nope'"),
        (["settings", "set", "allow_cli_run", "perhaps"], "allow_cli_run takes true or false"),
        (["secrets", "delete", "ghost"], "no secret named 'ghost'"),
    ],
)
def test_bad_input_gets_one_line_and_exit_1(run_aft, cli_run_on, tmp_path, args, expected):
    path = script(tmp_path, 'Log("x")')
    proc = run_aft(*[a.replace("{script}", path) for a in args])
    assert expected in one_line_error(proc)


def test_non_utf8_script(run_aft, cli_run_on, tmp_path):
    (tmp_path / "bad.syncjs").write_bytes(b"\xff\xfe\x00")
    assert "not UTF-8" in one_line_error(run_aft("run", "-f", str(tmp_path / "bad.syncjs")))


def test_corrupt_database(run_aft, aft_home):
    aft_home.mkdir()
    (aft_home / "aft.db").write_bytes(b"garbage" * 1000)
    assert "not a usable aft database" in one_line_error(run_aft("settings", "list"))


def test_newer_schema_database(run_aft, aft_home):
    assert run_aft("settings", "list").returncode == 0
    db = sqlite3.connect(aft_home / "aft.db")
    db.execute("PRAGMA user_version = 999")
    db.close()
    assert "upgrade aft" in one_line_error(run_aft("settings", "list"))


def test_unwritable_home(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    env = {**os.environ, "AFT_HOME": str(blocker / "home")}
    proc = subprocess.run(
        [aft_command(), "settings", "list"], capture_output=True, text=True, env=env, timeout=60
    )
    assert "cannot create instance home" in one_line_error(proc)


def test_settings_commands(run_aft):
    assert run_aft("settings", "get", "allow_cli_run").stdout == "false\n"
    assert run_aft("settings", "set", "allow_exec", "yes").stdout == "allow_exec = true\n"
    listing = run_aft("settings", "list").stdout.splitlines()
    assert listing[:2] == ["allow_cli_run = false", "allow_exec = true"]
    assert "port = 44399" in listing and "bind = 127.0.0.1" in listing
    assert "port takes 1 to 65535, not 0" in one_line_error(run_aft("settings", "set", "port", "0"))


def test_secrets_commands_read_stdin_and_never_print_values(
    run_aft, cli_run_on, tmp_path, aft_home
):
    canary = "cAnArY-0b5f-value"
    assert run_aft("secrets", "set", "api", input=canary + "\n").returncode == 0
    assert run_aft("secrets", "set", "1e3", input="x").returncode == 0  # names stay as typed
    listing = run_aft("secrets", "list")
    assert listing.stdout.splitlines() == ["1e3", "api"]
    proc = run_aft("run", "-f", script(tmp_path, 'var s = GetSecret("api"); Log(s.length, s)'))
    assert proc.stderr.strip().endswith("INFO  17 ********")
    everything = proc.stderr + listing.stdout + listing.stderr
    for f in aft_home.iterdir():
        everything += f.read_bytes().decode("latin-1")
    assert canary not in everything
    assert run_aft("secrets", "delete", "api").returncode == 0
    assert run_aft("secrets", "list").stdout.splitlines() == ["1e3"]


def start(aft_home, path):
    env = {**os.environ, "AFT_HOME": str(aft_home)}
    return subprocess.Popen(
        [aft_command(), "run", "-f", path],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
    )


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_halts_the_script(aft_home, cli_run_on, tmp_path, signum):
    proc = start(aft_home, script(tmp_path, WAIT_FOR_HALT + 'Sleep(60000); Log("slept")'))
    first = proc.stderr.readline()  # streamed while the script still runs
    assert first.endswith("INFO  waiting\n")
    proc.send_signal(signum)
    rest = proc.communicate(timeout=10)[1]
    assert proc.returncode == 0  # asked to stop, and it stopped cleanly
    assert "got halt true" in rest and "slept" in rest and "halted on request" in rest


def test_a_script_that_fails_while_halting_exits_1(aft_home, cli_run_on, tmp_path):
    proc = start(aft_home, script(tmp_path, WAIT_FOR_HALT + 'throw new Error("cleanup failed")'))
    assert proc.stderr.readline().endswith("INFO  waiting\n")
    proc.send_signal(signal.SIGTERM)
    rest = proc.communicate(timeout=10)[1]
    assert proc.returncode == 1 and "cleanup failed" in rest


def test_second_signal_ends_a_busy_script_at_once(aft_home, cli_run_on, tmp_path):
    proc = start(aft_home, script(tmp_path, 'Log("spinning"); while (true) {}'))
    assert proc.stderr.readline().endswith("spinning\n")
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    assert proc.poll() is None  # the loop ignores the halt signal
    proc.send_signal(signal.SIGINT)
    rest = proc.communicate(timeout=5)[1]
    assert proc.returncode == 1 and "halt forced" in rest


def test_a_busy_script_is_killed_a_grace_after_the_first_signal(
    aft_home, cli_run_on, run_aft, tmp_path
):
    assert run_aft("settings", "set", "halt_grace_seconds", "1").returncode == 0
    proc = start(aft_home, script(tmp_path, 'Log("spinning"); while (true) {}'))
    assert proc.stderr.readline().endswith("spinning\n")
    proc.send_signal(signal.SIGINT)
    started = time.monotonic()
    rest = proc.communicate(timeout=10)[1]
    assert proc.returncode == 1 and time.monotonic() - started < 5
    assert "the script had not ended 1s after the halt signal: killed" in rest


def test_aft_run_halts_a_script_past_max_run_seconds(aft_home, cli_run_on, run_aft, tmp_path):
    assert run_aft("settings", "set", "max_run_seconds", "1").returncode == 0
    done = run_aft("run", "-f", script(tmp_path, WAIT_FOR_HALT), timeout=20)
    assert done.returncode == 1
    assert "ran past its maximum of 1s: halting it" in done.stderr
    assert "got halt true" in done.stderr and "killed" not in done.stderr


def test_a_missing_argument_shows_the_commands_usage(run_aft):
    done = run_aft("scripts", "add")
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "Usage: aft scripts add NAME FILE" in output
    assert "FIRE_METADATA" not in output and "groups" not in output  # no internals


def test_help_lists_the_groups_and_commands(run_aft):
    done = run_aft("--help")
    output = done.stdout + done.stderr
    for name in ("scripts", "apikeys", "jobs", "vfs", "schedules", "run", "start", "serve"):
        assert f"\n     {name}\n" in output, name


def test_a_scripts_group_needs_a_cluster(run_aft, tmp_path):
    (tmp_path / "s.syncjs").write_text('Log("x")')
    assert run_aft("scripts", "add", "s", "-f", str(tmp_path / "s.syncjs")).returncode == 0
    done = run_aft("scripts", "group", "s", "beta")
    assert done.returncode == 1
    assert done.stderr == "aft: error: worker groups need a cluster (database_url and broker_url)\n"


def test_version(run_aft):
    from aft import __version__

    for flag in ("--version", "-V"):
        done = run_aft(flag)
        assert (done.returncode, done.stdout) == (0, f"aft {__version__}\n")


def test_hostkey_of_a_server_that_is_not_ssh_is_one_line(run_aft):
    import socket
    import threading

    server = socket.create_server(("127.0.0.1", 0))

    def answer_like_http() -> None:
        conn, _ = server.accept()
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        conn.close()

    threading.Thread(target=answer_like_http, daemon=True).start()
    try:
        done = run_aft("vfs", "hostkey", f"sftp://127.0.0.1:{server.getsockname()[1]}")
    finally:
        server.close()
    assert "no SSH banner" in one_line_error(done)


def test_vfs_update_changes_a_profile_in_place(run_aft, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    assert run_aft("vfs", "add", "local", "--type", "Disk", "--target", str(first)).returncode == 0
    done = run_aft("vfs", "update", "local", "--target", str(second))
    assert (done.returncode, done.stdout) == (0, "vfs local (Disk) updated\n")
    shown = run_aft("vfs", "show", "local")
    assert f'"target": "{second}"' in shown.stdout
    missing = run_aft("vfs", "update", "nope", "--target", str(second))
    assert "no VFS named 'nope'" in one_line_error(missing)
