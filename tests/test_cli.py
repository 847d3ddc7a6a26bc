"""The ``aft`` command as a user runs it: a real process, real signals, real exit codes."""

from __future__ import annotations

import inspect
import json
import os
import signal
import sqlite3
import subprocess
import time

import pytest

from tests.conftest import aft_command

WAIT_FOR_HALT = 'Log("waiting"); WaitForHaltSignal(); Log("got halt " + HaltSignalReceived);'


def one_line_error(proc: subprocess.CompletedProcess, status: int = 1) -> str:
    assert proc.returncode == status, proc
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
        (["run", "-f", "/no/such/file.syncjs"], "script file not found: /no/such/file.syncjs"),
        (["run", "-f", "/tmp"], "script path is a directory"),
        (["run", "-f", "{script}", "-p", "[1]"], "params must be a JSON object"),
        (["run", "-f", "{script}", "-p", "{nope"], "params are not valid JSON"),
        (["secrets", "delete", "ghost"], "no secret named 'ghost'"),
    ],
)
def test_bad_input_gets_one_line_and_exit_1(run_aft, cli_run_on, tmp_path, args, expected):
    path = script(tmp_path, 'Log("x")')
    proc = run_aft(*[a.replace("{script}", path) for a in args])
    assert expected in one_line_error(proc)


@pytest.mark.parametrize(
    "args,expected",
    [
        (["run"], "missing -f FILE"),
        (["run", "-f"], "-f needs a value"),
        (["run", "-f", "x.syncjs", "--bogus"], "unexpected argument '--bogus'"),
        (["settings", "get", "nope"], "unknown setting 'nope'"),
        (["settings", "set", "allow_cli_run", "perhaps"], "allow_cli_run takes true or false"),
        (
            ["jobs", "list", "--state", "bogus"],
            "--state takes queued | running | succeeded | failed | halted | interrupted",
        ),
        (["jobs", "list", "--limit", "many"], "--limit takes a whole number, not 'many'"),
        (["jobs", "log", "job_x", "--follow=perhaps"], "--follow takes true or false"),
        (["jobs", "list", "--bogus"], "aft jobs list has no option --bogus"),
        (["jobs", "list", "--stat", "queued"], "did you mean --state?"),
        (["jbos", "list"], "aft has no command 'jbos'; did you mean aft jobs?"),
        (["jobs", "lsit"], "did you mean aft jobs list?"),
        (["vfs", "ad"], "did you mean aft vfs add?"),
        (["jobs"], "aft jobs needs a command: halt, list, log, show"),
        ([], "aft needs a command"),
        (["scripts", "add"], "missing NAME; usage: aft scripts add NAME --file FILE [options]"),
        (["scripts", "add", "n"], "missing FILE; usage: aft scripts add NAME --file FILE"),
        (["scripts", "remove", "a", "b"], "unexpected argument 'b'"),
        (["secrets", "list", "--json=maybe"], "--json takes true or false"),
        (["move-to-postgres", "mysql://x"], "give a postgresql:// URL"),
        (["start", "-n", "x"], "aft start needs an API key: set AFT_API_KEY"),
        (["jobs", "list", "--", "--trace"], "aft jobs list takes no flags after --"),
        (["apikeys", "create", "--name", "x", "--allow", "300.1.1.1"], "not an IP address"),
        (["vfs", "add", "x", "--type", "disk", "--target", "/tmp"], "unknown VFS type 'disk'"),
    ],
)
def test_a_command_line_aft_cannot_take_is_one_line_and_exit_2(run_aft, args, expected):
    done = run_aft(*args)
    assert expected in one_line_error(done, 2)
    assert done.stdout == ""


def test_run_and_start_keep_exit_1_for_a_refused_value(run_aft, cli_run_on, tmp_path):
    """Their contract gives cron and CI 0 or 1: bad params are a failure, not a usage error."""
    (tmp_path / "ok.syncjs").write_text('Log("x")')
    assert "JSON object" in one_line_error(
        run_aft("run", "-f", str(tmp_path / "ok.syncjs"), "-p", "[1]")
    )


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
    listing = [
        line.split("  #")[0].rstrip() for line in run_aft("settings", "list").stdout.splitlines()
    ]
    assert listing[:2] == ["allow_cli_run = false", "allow_exec = true"]
    assert "port = 44399" in listing and "bind = 127.0.0.1" in listing
    assert "port takes 1 to 65535, not 0" in one_line_error(
        run_aft("settings", "set", "port", "0"), 2
    )


def test_settings_list_explains_every_setting(run_aft):
    from aft.settings import SETTINGS

    lines = run_aft("settings", "list").stdout.splitlines()
    assert len(lines) == len(SETTINGS)
    for line, (key, setting) in zip(lines, sorted(SETTINGS.items()), strict=True):
        assert line.startswith(f"{key} = ")
        explained = line.split("  # ", 1)[1]
        assert explained.startswith(setting.help) and len(setting.help) > 20, line
    assert "allow_file_path = false" in "\n".join(lines)
    assert "(starttls | tls | none)" in lines[[k for k in sorted(SETTINGS)].index("smtp_tls")]
    shown = json.loads(run_aft("settings", "list", "--json").stdout)
    assert shown["port"] == {"value": 44399, "default": 44399, "help": SETTINGS["port"].help}


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


def test_the_supervisor_of_aft_run_wakes_for_signal_handlers(monkeypatch):
    """Every wait of aft run's supervising process (for the limits line, for the child's
    end) ends within SIGNAL_CHECK seconds, so a SIGTERM that lands just before one is
    answered then, not when the script ends (a blocking readline or waitpid slept
    through it)."""
    import select

    import aft.cli
    from aft._waiting import SIGNAL_CHECK

    limits_read, limits_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # a child that says its limits, then runs until it is stopped
        os.write(limits_write, b"3 0 -\n")
        time.sleep(30)
        os._exit(0)
    os.close(limits_write)
    real, waits = select.select, []

    def spy(rlist, wlist, xlist, timeout=None):
        assert timeout is not None and timeout <= SIGNAL_CHECK, timeout
        waits.append(list(rlist))
        if len(waits) == 3:  # the child has said its limits and runs on
            os.kill(os.getpid(), signal.SIGTERM)
        return real(rlist, wlist, xlist, timeout)

    monkeypatch.setattr(select, "select", spy)
    started = time.monotonic()
    assert aft.cli._supervise(pid, limits_read) == 1  # halted, and died of the signal
    assert time.monotonic() - started < 5
    assert waits[0] == [limits_read] and len(waits) >= 3  # the limits, then the child's end


def test_the_supervisor_of_aft_run_polls_for_its_child_without_pidfds(monkeypatch):
    """Where os.pidfd_open is missing (not Linux) the supervisor polls for the child's
    end, and a SIGTERM still halts the script at once."""
    import threading

    import aft.cli

    monkeypatch.delattr(os, "pidfd_open")
    limits_read, limits_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(limits_write, b"3 0 -\n")
        time.sleep(30)
        os._exit(0)
    os.close(limits_write)
    threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM)).start()
    started = time.monotonic()
    assert aft.cli._supervise(pid, limits_read) == 1  # halted, and died of the signal
    assert time.monotonic() - started < 5


def test_aft_run_halts_a_script_past_max_run_seconds(aft_home, cli_run_on, run_aft, tmp_path):
    assert run_aft("settings", "set", "max_run_seconds", "1").returncode == 0
    done = run_aft("run", "-f", script(tmp_path, WAIT_FOR_HALT), timeout=20)
    assert done.returncode == 1
    assert "ran past its maximum of 1s: halting it" in done.stderr
    assert "got halt true" in done.stderr and "killed" not in done.stderr


def test_help_lists_the_groups_and_commands(run_aft):
    done = run_aft("--help")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("usage: aft COMMAND [options]\n")
    for name in ("scripts", "apikeys", "jobs", "vfs", "schedules", "run", "start", "serve"):
        assert f"\n  {name} " in done.stdout, name
    assert "\n  move-to-postgres  Copy this instance's SQLite" in done.stdout
    assert "move_to_postgres" not in done.stdout


def _every_command():
    from aft._fire_adapter import commands_of
    from aft.cli import AftCommands

    def walk(path, component):
        for word, value in commands_of(component).items():
            if callable(value):
                yield [*path, word], value
            else:
                yield from walk([*path, word], value)

    return list(walk([], AftCommands()))


@pytest.mark.parametrize(
    "path,function", _every_command(), ids=lambda v: " ".join(v) if isinstance(v, list) else ""
)
def test_help_of_every_command_lists_each_option_with_a_line(run_aft, path, function):
    """Each option, in the README's kebab-case, with a line saying what it does; no pager,
    no noise line, nothing of Fire's."""
    import inspect

    done = run_aft(*path, "--help", timeout=30)
    assert (done.returncode, done.stderr) == (0, ""), done
    text = done.stdout
    assert text.startswith(f"usage: aft {' '.join(path)}")
    assert "INFO:" not in text and "Showing help" not in text and "\nNAME\n" not in text
    params = [p for p in inspect.signature(function).parameters]
    if params:
        options = text.split("\noptions:\n", 1)[1].split("\n\n")[0].splitlines()
        assert len(options) == len(params), text
        for param, line in zip(params, options, strict=True):
            flag = "--" + param.replace("_", "-")
            assert f"{flag} " in line + " ", line
            assert all("_" not in word for word in line.split() if word.startswith("--")), line
            explanation = line.split(flag, 1)[1].split(None, 1)
            assert len(explanation) == 2 and len(explanation[1]) > 10, line


def test_help_after_a_separator_is_aft_help_too(run_aft):
    done = run_aft("jobs", "list", "--", "--help")
    assert done.returncode == 0 and done.stdout.startswith("usage: aft jobs list [options]")


def test_help_spells_commands_and_options_as_the_readme_does(run_aft):
    assert "--ca-file CA_FILE" in run_aft("start", "--help").stdout
    assert "--payload-file" in run_aft("vfs", "add", "--help").stdout
    assert run_aft("move-to-postgres", "--help").stdout.startswith(
        "usage: aft move-to-postgres URL"
    )
    assert run_aft("move_to_postgres", "--help").returncode == 0  # the old spelling works too


def test_vfs_add_help_lists_the_types_and_their_target_formats(run_aft):
    from aft.vfs import BACKENDS, schema_class

    text = run_aft("vfs", "add", "--help").stdout
    for type_name in BACKENDS:
        assert f"  {type_name:<6} {schema_class(type_name).shape}\n" in text
    assert "sftp://user@host:port/path?hostKeySHA256=..." in text
    assert "payload fields: pass, key, keyPass" in text


def test_run_help_is_more_than_a_usage_line(run_aft):
    text = run_aft("run", "--help").stdout
    assert text.startswith("usage: aft run FILE [options]\n")
    assert "-f, --file FILE" in text and "-p, --params PARAMS" in text
    assert "allow_cli_run" in text and "Exits 0" in text
    assert len(text.splitlines()) > 8


def test_run_takes_the_file_as_an_argument(run_aft, cli_run_on, tmp_path):
    done = run_aft("run", script(tmp_path, 'Log("bare")'))
    assert done.returncode == 0 and done.stderr.strip().endswith("bare")


def test_completion_script(run_aft, tmp_path):
    done = run_aft("--completion")
    assert done.returncode == 0 and "complete -F" in done.stdout
    assert "move-to-postgres" in done.stdout and "--ca-file" in done.stdout
    (tmp_path / "c.sh").write_text(done.stdout)
    check = subprocess.run(
        ["bash", "-c", f". {tmp_path / 'c.sh'} && complete -p aft"], capture_output=True, text=True
    )
    assert check.returncode == 0 and "aft" in check.stdout, check.stderr
    assert "function __fish" in run_aft("--completion", "fish").stdout


def test_every_list_and_show_takes_json(run_aft, tmp_path):
    (tmp_path / "s.syncjs").write_text('Log("x")')
    assert run_aft("scripts", "add", "S", "-f", str(tmp_path / "s.syncjs")).returncode == 0
    assert (
        run_aft("vfs", "add", "local", "--type", "Disk", "--target", str(tmp_path)).returncode == 0
    )
    assert run_aft("secrets", "set", "tok", input="a-long-secret-value").returncode == 0
    keys = run_aft("apikeys", "create", "--name", "ci", "--allow", "127.0.0.1")
    assert keys.returncode == 0
    cron = ["--script", "S", "--cron", "0 2 * * *"]
    assert run_aft("schedules", "add", "nightly", *cron).returncode == 0
    for group, item in [
        ("scripts", "S"),
        ("vfs", "local"),
        ("secrets", None),
        ("apikeys", None),
        ("schedules", "nightly"),
        ("jobs", None),
        ("settings", None),
    ]:
        listed = run_aft(group, "list", "--json")
        assert listed.returncode == 0, listed.stderr
        value = json.loads(listed.stdout)
        assert value or group == "jobs", group
        if item is not None:
            shown = run_aft(group, "show", item, "--json")
            assert json.loads(shown.stdout)["name"] == item, shown
    assert json.loads(run_aft("secrets", "list", "--json").stdout) == ["tok"]
    [script_record] = json.loads(run_aft("scripts", "list", "--json").stdout)
    assert script_record["name"] == "S" and "source" not in script_record
    assert json.loads(run_aft("scripts", "show", "S", "--json").stdout)["source"] == 'Log("x")'
    [key] = json.loads(run_aft("apikeys", "list", "--json").stdout)
    assert key["name"] == "ci" and keys.stdout.splitlines()[-1] not in json.dumps(key)


def test_an_unexpected_error_is_one_line(run_aft, aft_home):
    """A bug still reaches the user as one line (AFT_DEBUG=1 shows the traceback)."""
    from aft.cli import main

    class Boom:
        def list(self):
            raise RuntimeError("the unexpected\nhappened")

    import aft.cli

    saved = aft.cli.SecretsCommands
    aft.cli.SecretsCommands = Boom  # type: ignore[misc]
    try:
        import contextlib
        import io

        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            status = main(["secrets", "list"])
    finally:
        aft.cli.SecretsCommands = saved  # type: ignore[misc]
    assert status == 1
    assert err.getvalue() == (
        "aft: internal error: the unexpected happened (AFT_DEBUG=1 shows where)\n"
    )


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
    fields = dict(line.split(None, 1) for line in shown.stdout.splitlines())
    assert (fields["type"], fields["target"]) == ("Disk", str(second))
    missing = run_aft("vfs", "update", "nope", "--target", str(second))
    assert "no VFS named 'nope'" in one_line_error(missing)


def test_start_takes_the_key_and_host_from_the_environment(run_aft, aft_home, tmp_path):
    """AFT_API_KEY and AFT_HOST, so the key is not in argv (nor in `ps`)."""
    from tests.service_helpers import ServeProcess

    (tmp_path / "hi.syncjs").write_text('Log("hi " + Param("who"))')
    assert run_aft("scripts", "add", "Hi", "-f", str(tmp_path / "hi.syncjs")).returncode == 0
    made = run_aft("apikeys", "create", "--name", "ci", "--allow", "127.0.0.1")
    key = made.stdout.strip().splitlines()[-1]
    service = ServeProcess(aft_home, "--http").start()
    try:
        env = {
            **os.environ,
            "AFT_HOME": str(aft_home),
            "AFT_API_KEY": key,
            "AFT_HOST": f"http://127.0.0.1:{service.port}",
        }
        argv = [aft_command(), "start", "-n", "hi", "--params", '{"who":"env"}', "--wait"]
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stderr.strip().endswith("hi env") and done.stdout.startswith("job_")
        wrong = subprocess.run(
            argv, capture_output=True, text=True, env={**env, "AFT_API_KEY": "nope"}, timeout=60
        )
        assert wrong.returncode == 1 and "unknown or revoked API key" in wrong.stderr
        # -a and --host still win over the environment
        given = subprocess.run(
            [*argv, "-a", key, "--host", f"http://127.0.0.1:{service.port}"],
            capture_output=True,
            text=True,
            env={**env, "AFT_API_KEY": "nope", "AFT_HOST": "127.0.0.1:1"},
            timeout=60,
        )
        assert given.returncode == 0, given.stderr
    finally:
        service.stop()


def _readme_commands():
    """Every ``aft ...`` command line in the README's shell blocks, split into words."""
    import re
    import shlex

    from tests.conftest import REPO

    readme = (REPO / "README.md").read_text()
    found = []
    for block in re.findall(r"```sh\n(.*?)```", readme, re.S):
        text = block.replace("\\\n", " ")
        for line in text.splitlines():
            lexer = shlex.shlex(line, posix=True, punctuation_chars=";|&")
            lexer.whitespace_split = True
            words: list[str] = []
            for word in [*lexer, ";"]:
                if word.strip(";|&"):
                    words.append(word)
                    continue
                if words[:1] in (["aft"], [".venv/bin/aft"]):
                    found.append(words[1:])
                words = []
    return found


def test_the_readme_spells_every_command_and_option_as_the_cli_takes_them():
    from aft._fire_adapter import resolve
    from aft.cli import AftCommands

    commands = _readme_commands()
    assert len(commands) > 30
    for words in commands:
        if words[:1] == ["run"] or words[:1] == ["--completion"]:
            continue
        path, target, rest = resolve(AftCommands(), words)
        assert callable(target), words
        params = inspect.signature(target).parameters
        for word in rest:
            if word.startswith("--"):
                assert word[2:].split("=")[0].replace("-", "_") in params, (words, word)
                assert "_" not in word.split("=")[0], (words, word)


def test_the_readme_lists_every_extra():
    import configparser

    from tests.conftest import REPO

    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    readme = (REPO / "README.md").read_text()
    for extra in config["options.extras_require"]:
        if extra != "test":
            assert f"`{extra}`" in readme, extra
    assert 'eval "$(aft --completion)"' in readme and "AFT_API_KEY" in readme
