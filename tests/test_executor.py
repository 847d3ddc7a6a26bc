"""The SyncJS job context, constants and local helpers, script by script."""

from __future__ import annotations

import json
import os
import threading
import time
import zipfile

import pytest

from aft._waiting import SIGNAL_CHECK
from aft.exceptions import ParamsError, ScriptError, ScriptNotFound
from aft.executor import Executor, HaltSignal, parse_params
from aft.models import JobState, LogLevel
from aft.syncjs import engine
from aft.syncjs.host import Masker
from tests.script_helpers import js, texts


def run(source, **kwargs):
    executor_args = {k: kwargs.pop(k) for k in ("secrets", "allow_exec") if k in kwargs}
    return Executor(**executor_args).run(source, **kwargs)


# ---- job context --------------------------------------------------------------------


def test_param_strings_missing_and_json_text():
    r = run(
        'Log(Param("s")); Log("[" + Param("missing") + "]"); Log(Param("n")); Log(Param("b"));'
        'Log(Param("o")); Log(typeof Param("n"))',
        params={"s": "text", "n": 3, "b": True, "o": {"k": [1]}},
    )
    assert r.ok, r.error
    assert texts(r) == ["text", "[]", "3", "true", '{"k":[1]}', "string"]


def test_params_returns_a_copy():
    r = run(
        'var p = Params(); p.a = "changed"; Log(Param("a"), Object.keys(p).length)',
        params={"a": "x"},
    )
    assert texts(r) == ["x 1"]


def test_job_id_and_script_name():
    r = run("Log(JobID() + '|' + ScriptName())", job_id="j-42", name="nightly.syncjs")
    assert texts(r) == ["j-42|nightly.syncjs"]


def test_script_name_defaults_to_file_base_name(tmp_path):
    script = tmp_path / "my-transfer.syncjs"
    script.write_text("Log(ScriptName())")
    assert texts(Executor().run(file=script)) == ["my-transfer.syncjs"]


def test_log_levels_and_console_and_values():
    r = run(
        'Log("i"); Log.Debug("d"); Log.Info("i2"); Log.Warn("w"); Log.Error("e");'
        'console.log("c", 1, {a: 1}, null)'
    )
    assert [(line.level, line.text) for line in r.log] == [
        (LogLevel.INFO, "i"),
        (LogLevel.DEBUG, "d"),
        (LogLevel.INFO, "i2"),
        (LogLevel.WARN, "w"),
        (LogLevel.ERROR, "e"),
        (LogLevel.INFO, 'c 1 {"a":1} null'),
    ]
    assert r.ok  # logging at error level does not fail a job


def test_log_lines_stream_as_they_happen():
    seen = []
    r = Executor().run('Log("one"); Log("two")', on_log=lambda line: seen.append(line.text))
    assert seen == ["one", "two"] == texts(r)
    assert all(line.time == pytest.approx(time.time(), abs=60) for line in r.log)


def test_exit_codes():
    ok = run('Log("a"); Exit(0); Log("never")')
    assert ok.state is JobState.SUCCEEDED and ok.exit_code == 0 and texts(ok) == ["a"]
    bad = run("Exit(4)")
    assert bad.state is JobState.FAILED and bad.exit_code == 4 and bad.error == "Exit(4)"


def test_exit_cannot_be_swallowed():
    r = run('try { Exit(0) } catch (e) { Log("caught") } Log("after"); Exit(2)')
    assert r.state is JobState.SUCCEEDED and texts(r) == []


def test_sleep_blocks_then_returns_false():
    start = time.monotonic()
    r = run("Log(String(Sleep(150)))")
    assert time.monotonic() - start >= 0.14
    assert texts(r) == ["false"]


def test_a_script_that_fails_while_halting_is_not_clean():
    halt = HaltSignal()
    halt.set()
    r = Executor().run('WaitForHaltSignal(); throw new Error("cleanup failed")', halt=halt)
    assert r.state is JobState.HALTED and r.exit_code == 1 and not r.clean
    assert "cleanup failed" in (r.error or "")


def test_halt_ends_sleep_and_wait_early():
    halt = HaltSignal()
    threading.Timer(0.2, halt.set).start()
    start = time.monotonic()
    r = Executor().run(
        "Log(String(HaltSignalReceived)); Sleep(60000); Log(String(HaltSignalReceived));"
        "WaitForHaltSignal(); Log(typeof HaltSignalReceived)",
        halt=halt,
    )
    assert time.monotonic() - start < 5
    assert texts(r)[:3] == ["false", "true", "boolean"]
    assert r.state is JobState.HALTED and r.exit_code == 0 and r.clean  # a clean stop


class Ticker:
    """A thread of the caller that ticks every 0.05 s while the script runs."""

    def __init__(self):
        self.ticks = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(0.05):
            self.ticks += 1

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def test_a_busy_loop_is_stopped_by_its_timeout_while_the_caller_runs_on():
    with Ticker() as ticker:
        start = time.monotonic()
        r = Executor(halt_grace_seconds=0.5).run('Log("spinning"); while (true) {}', timeout=2)
        took = time.monotonic() - start
    assert 2.4 < took < 4.0  # the timeout, then the grace, then killed
    assert ticker.ticks >= 20  # the engine held no lock the caller's threads need
    assert r.state is JobState.HALTED and r.exit_code == 1 and not r.clean
    assert (
        r.error
        == "halted: it ran past its timeout of 2s (killed: still running 0.5s after the halt)"
    )
    assert texts(r) == ["spinning", r.error]


def test_a_busy_loop_is_killed_a_grace_after_the_halt_signal_from_another_thread():
    halt = HaltSignal()
    threading.Timer(0.3, halt.set).start()
    start = time.monotonic()
    r = Executor(halt_grace_seconds=0.5).run("while (true) {}", halt=halt)
    assert 0.8 <= time.monotonic() - start < 2.5
    assert r.state is JobState.HALTED and r.exit_code == 1 and not r.clean
    assert r.error == "killed: still running 0.5s after the halt"
    assert texts(r)[-1] == "halted on request"


def test_a_script_that_heeds_its_timeout_ends_halted_not_clean():
    start = time.monotonic()
    r = Executor(halt_grace_seconds=30).run('WaitForHaltSignal(); Log("tidying up")', timeout=0.3)
    assert time.monotonic() - start < 5  # ended by itself, long before the grace
    assert r.state is JobState.HALTED and r.exit_code == 1 and not r.clean
    assert texts(r) == ["tidying up", "halted: it ran past its timeout of 0.3s"]


def test_a_script_that_ends_in_time_is_untouched_by_its_timeout():
    r = Executor().run('Log("quick")', timeout=30)
    assert r.ok and texts(r) == ["quick"]


@pytest.mark.parametrize("timeout", [0, -1, float("nan")])
def test_a_timeout_must_be_positive(timeout):
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        Executor().run('Log("never")', timeout=timeout)
    with pytest.raises(ValueError, match="halt_grace_seconds"):
        Executor(halt_grace_seconds=-1)


def test_get_secret_and_masking(instance):
    instance.secrets.set("pw", "hunter2-secret")
    r = run(
        'var s = GetSecret("pw"); Log("pw is " + s); Log("[" + GetSecret("nope") + "]");'
        'Log.Warn(s.length); throw new Error("failed with " + s)',
        secrets=instance.secrets,
    )
    assert texts(r)[:3] == ["pw is ********", "[]", "14"]
    assert r.error == "Error: failed with ********"
    assert all("hunter2" not in t for t in texts(r))


def test_constants():
    r = run(
        "Log([LIST_ALL, LIST_FILES, LIST_DIRS, NeverOverwrite, AlwaysOverwrite,"
        " OverwriteIfDiffSize, OverwriteIfNewer, FromStart, FromCurrent, FromEnd].join());"
        "Log([VfsTypeDisk, VfsTypeSFTP, VfsTypeFTP, VfsTypeS3, VfsTypeAzure, VfsTypeGCS].join());"
        "Log([SortByName, SortByNameDirsFirst, SortBySize, SortByTime, SortAsc, SortDesc].join());"
        "Log([EVT_CREATE, EVT_WRITE, EVT_REMOVE, EVT_RENAME, EVT_CHMOD].join());"
        "Log([TLS_MODE_NONE, TLS_MODE_EXPLICIT, TLS_MODE_IMPLICIT].join())"
    )
    assert texts(r) == [
        "0,1,2,0,1,2,3,0,1,2",
        "Disk,SFTP,FTP,S3,Azure,GCP",
        "name,namedf,size,time,asc,desc",
        "CREATE,WRITE,REMOVE,RENAME,CHMOD",
        "none,explicit,implicit",
    ]


def test_modern_and_es5_syntax_both_run():
    r = run(
        "var a = [1, 2].map(function (x) { return x * 2; });\n"
        "const b = [...a].map((x) => x + 1); class K { get v() { return `${b}`; } }\n"
        "Log(new K().v, a.join())"
    )
    assert texts(r) == ["3,5 2,4"]


# ---- failures ---------------------------------------------------------------------------


def test_uncaught_exception_fails_with_line():
    r = run("Log('start');\nfunction f() {\n  null.x;\n}\nf();")
    assert r.state is JobState.FAILED and r.exit_code == 1
    assert r.error == "TypeError: cannot read property 'x' of null" and r.error_line == 3
    assert r.log[-1].level is LogLevel.ERROR and r.log[-1].text.endswith("(line 3)")


def test_syntax_error_fails_with_line():
    r = run("Log('a');\n\nvar = 3;\n")
    assert r.state is JobState.FAILED
    assert r.error.startswith("SyntaxError") and r.error_line == 3
    assert texts(r) == [f"{r.error} (line 3)"]


def test_wrong_argument_type_throws_type_error_at_the_script_line():
    r = run('\n\nSleep("soon")')
    assert r.error == "TypeError: Sleep(ms): ms must be a number" and r.error_line == 3
    caught = run("try { GetSecret(1) } catch (e) { Log(e instanceof TypeError) }")
    assert texts(caught) == ["true"]


def test_script_value_that_is_not_json_does_not_fail():
    assert run("var f = function () {}; f").ok


def test_file_errors(tmp_path):
    with pytest.raises(ScriptNotFound, match="not found"):
        Executor().run(file=tmp_path / "missing.syncjs")
    with pytest.raises(ScriptNotFound, match="directory"):
        Executor().run(file=tmp_path)
    (tmp_path / "latin1.syncjs").write_bytes(b"Log('\xe9')")
    with pytest.raises(ScriptError, match="not UTF-8"):
        Executor().run(file=tmp_path / "latin1.syncjs")


@pytest.mark.parametrize(
    "text,expected",
    [
        ('{"destination":"D:\\Archive\\2026"}', {"destination": "D:\\Archive\\2026"}),
        ('{"destination":"/archive/2026"}', {"destination": "/archive/2026"}),
        (
            '{"q":"say \\"hi\\"","b":"a\\\\b","u":"\\u00e9"}',
            {"q": 'say "hi"', "b": "a\\b", "u": "é"},
        ),
        ('{"n": 3, "t": true}', {"n": 3, "t": True}),
    ],
)
def test_parse_params(text, expected):
    assert parse_params(text) == expected


@pytest.mark.parametrize("text", ["[1,2]", '"x"', "{bad json}", "", "3"])
def test_parse_params_refuses_non_objects(text):
    with pytest.raises(ParamsError):
        parse_params(text)


# ---- local helpers ----------------------------------------------------------------------


def test_local_file_helpers(tmp_path):
    d = tmp_path
    r = run(
        f"var d = {js(d)};"
        'Log(WriteTextFile(d + "/a.txt", "héllo"), FileExists(d + "/a.txt"), DirExists(d));'
        'Log(ReadTextFile(d + "/a.txt"));'
        'Log(CopyFile(d + "/a.txt", d + "/b.txt"), MoveFile(d + "/b.txt", d + "/c.txt"));'
        'Log(FileExists(d + "/b.txt"), ListLocal(d, "*.txt").map(function (i) {'
        '  return i.Name + ":" + i.Type + ":" + i.Size; }).join());'
        'Log(DelFile(d + "/c.txt"), FileExists(d + "/c.txt"),'
        ' FileExists(d), DirExists(d + "/a.txt"))'
    )
    assert r.ok, r.error
    assert texts(r) == [
        "true true true",
        "héllo",
        "true true",
        "false a.txt:FILE:6,c.txt:FILE:6",
        "true false false false",
    ]
    assert not [p for p in os.listdir(d) if "aft-part" in p]


def test_local_helpers_report_io_failures_without_throwing(tmp_path):
    missing = js(tmp_path / "missing")
    r = run(
        f"var m = {missing};"
        'Log(ReadTextFile(m) === null, CopyFile(m, m + "2"), MoveFile(m, m + "2"), DelFile(m),'
        " ListLocal(m).length, Unzip(m, m), Zip([m], m + '.zip'));"
        f'Log(WriteTextFile({js(tmp_path / "no" / "dir" / "f")}, "x"))'
    )
    assert r.ok, r.error
    infos = [line.text for line in r.log if line.level is LogLevel.INFO]
    assert infos == ["true false false false 0 false false", "false"]
    errors = [line.text for line in r.log if line.level is LogLevel.ERROR]
    assert len(errors) == 8 and errors[0].startswith("ReadTextFile: /")
    assert errors[0].endswith("/missing: no such file or directory")


def test_zip_and_unzip_round_trip(tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "top.txt").write_text("top")
    (src / "sub" / "deep.txt").write_text("deep")
    (tmp_path / "single.csv").write_text("a,b")
    r = run(
        f"Log(Zip([{js(src)}, {js(tmp_path / 'single.csv')}], {js(tmp_path / 'out.zip')}));"
        f"Log(Unzip({js(tmp_path / 'out.zip')}, {js(tmp_path / 'unpacked')}))"
    )
    assert texts(r) == ["true", "true"]
    assert (tmp_path / "unpacked" / "src" / "sub" / "deep.txt").read_text() == "deep"
    assert (tmp_path / "unpacked" / "single.csv").read_text() == "a,b"


def test_unzip_refuses_members_outside_the_target(tmp_path):
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../escaped.txt", "x")
    r = run(f"Log(Unzip({js(evil)}, {js(tmp_path / 'out')}))")
    assert texts(r)[0].startswith("Unzip:") and "outside" in texts(r)[0]
    assert texts(r)[1] == "false"
    assert not (tmp_path / "escaped.txt").exists()


def test_exec_is_off_unless_allowed():
    r = run('var x = Exec("echo", ["hi"], 5); Log(x.ExitCode, x.Stdout === "")')
    assert texts(r)[-1] == "-1 true" and "allow_exec" in texts(r)[0]


def test_exec_runs_programs_when_allowed():
    r = run(
        'var x = Exec("sh", ["-c", "echo out; echo err >&2; exit 3"], 10);'
        "Log(x.ExitCode, x.Stdout.trim(), x.Stderr.trim());"
        'var t = Exec("sleep", ["30"], 0.3); Log(t.ExitCode);'
        'Log(Exec("/no/such/program", [], 1).ExitCode)',
        allow_exec=True,
    )
    assert texts(r)[0] == "3 out err"
    assert "-1" in texts(r) and any("timeout" in t for t in texts(r))
    assert texts(r)[-1] == "-1"


def test_a_long_log_line_is_cut_with_a_marker():
    executor = Executor(log_line_bytes=300)
    result = executor.run('Log("é".repeat(1000)); Log("short")')
    first = result.log[0].text
    assert first.startswith("é" * 150) and first.endswith("[line cut: 1700 more bytes]")
    assert result.log[1].text == "short"


def test_past_the_log_quota_one_notice_then_nothing_and_the_job_runs_on(tmp_path):
    marker = tmp_path / "ran-on"
    executor = Executor(log_line_bytes=1000, log_quota_bytes=10_000)
    result = executor.run(
        'for (var i = 0; i < 5000; i++) Log("x".repeat(500));'
        f' WriteTextFile({str(marker)!r}, "yes")'
    )
    assert result.state is JobState.SUCCEEDED and marker.read_text() == "yes"
    notices = [line for line in result.log if "quota" in line.text]
    assert len(result.log) == 20 and len(notices) == 1 and result.log[-1] == notices[0]
    assert notices[0].level is LogLevel.WARN


def test_secrets_are_masked_in_their_common_encodings(instance):
    instance.secrets.set("pw", 'p@ss w/rd"ü')
    r = run(
        'var s = GetSecret("pw"); Log("url " + encodeURIComponent(s));'
        ' Log("json " + JSON.stringify({p: s}));',
        secrets=instance.secrets,
    )
    assert texts(r) == ["url ********", 'json {"p":"********"}']
    mask = Masker()
    mask.reveal('p@ss w/rd"ü')
    assert mask("basic cEBzcyB3L3JkIsO8 and cEBzcyB3L3JkIsO8") == "basic ******** and ********"
    assert mask("q=p%40ss+w%2Frd%22%C3%BC") == "q=********"


def test_a_short_secret_is_masked_only_as_a_whole_word(instance):
    instance.secrets.set("k", "s")
    r = run(
        'var k = GetSecret("k"); Log("UP   short: 1 entries in / (230 ms) key=" + k)',
        secrets=instance.secrets,
    )
    assert texts(r) == ["UP   short: 1 entries in / (230 ms) key=********"]


def test_log_lines_reach_stdlib_logging_masked(instance, caplog):
    import logging

    instance.secrets.set("pw", "hunter2-secret")
    with caplog.at_level(logging.DEBUG, logger="aft.job"):
        Executor(secrets=instance.secrets).run(
            'Log.Warn("pw " + GetSecret("pw")); Log.Debug("fine")', job_id="job_1", name="t.js"
        )
    records = [(r.levelname, r.getMessage(), r.job_id, r.script) for r in caplog.records]
    assert records == [
        ("WARNING", "pw ********", "job_1", "t.js"),
        ("DEBUG", "fine", "job_1", "t.js"),
    ]


def _children(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


def _gone(pid, within):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True  # ended, not yet reaped by its new parent
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("how", ["killed", "interrupted"])
def test_the_engine_process_never_outlives_its_caller(how):
    """A caller killed (or interrupted by Ctrl-C) while its script spins leaves no
    engine process behind."""
    import signal
    import subprocess
    import sys

    code = (  # Ctrl-C raises KeyboardInterrupt even where the suite runs with SIGINT ignored
        "import faulthandler, signal, sys; faulthandler.register(signal.SIGUSR1);"
        " signal.signal(signal.SIGINT, signal.default_int_handler);"
        " from aft.executor import Executor; print('go', flush=True);"
        " Executor().run('while (true) {}')"
    )
    caller = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert caller.stdout.readline() == "go\n"
        deadline = time.monotonic() + 10
        while not (engines := _children(caller.pid)) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(engines) == 1
        caller.send_signal(signal.SIGKILL if how == "killed" else signal.SIGINT)
        try:
            assert caller.wait(10) != 0
        except subprocess.TimeoutExpired:  # say where it waits, and what it does with signals
            with open(f"/proc/{caller.pid}/status") as f:
                state = [line for line in f if line.startswith("Sig")]
            caller.send_signal(signal.SIGUSR1)
            time.sleep(1)
            caller.kill()
            pytest.fail(f"still running 10 s after the signal; {state}\n{caller.communicate()[1]}")
        assert _gone(engines[0], within=3)
    finally:
        caller.kill()
        caller.wait()


def test_a_wait_on_a_spinning_engine_wakes_for_signal_handlers(monkeypatch):
    """A signal that lands just before the wait on the engine is not lost: each wait ends
    within SIGNAL_CHECK seconds, so the main thread runs the handler then (Ctrl-C once left
    its caller waiting for the next frame of a script that never sends one)."""
    import select

    caller = threading.current_thread()
    real = select.select
    halt = HaltSignal()
    waits: list[float | None] = []

    def spy(rlist, wlist, xlist, timeout=None):
        if threading.current_thread() is caller:
            assert timeout is not None and timeout <= SIGNAL_CHECK, timeout
            waits.append(timeout)
            if len(waits) == 3:  # the script has spun for about half a second
                halt.set()
        return real(rlist, wlist, xlist, timeout)

    monkeypatch.setattr(select, "select", spy)
    try:
        with pytest.raises(engine.EngineKilled):
            engine.run_isolated({}, [("while (true) {}", "spin.js", {})], halt, grace=0.3)
    finally:
        halt.close()
    assert len(waits) >= 4  # the grace went by in waits of SIGNAL_CHECK too


def _thread_children():
    """The processes forked by any thread of this one."""
    found = []
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/children") as f:
            found += [int(p) for p in f.read().split()]
    return found


def test_the_engine_process_holds_none_of_the_callers_sockets():
    """A connection the caller closes is closed: the engine keeps no copy of its socket."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    try:
        done = threading.Event()
        engine.close_idle_engines()  # so that the run forks its engine after the socket
        others = set(_thread_children())  # servers that fixtures started, say
        runner = threading.Thread(
            target=lambda: (Executor().run("while (true) {}", timeout=5), done.set())
        )
        runner.start()
        deadline = time.monotonic() + 10
        while not (engines := sorted(set(_thread_children()) - others)) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.02)
        assert engines
        fds = f"/proc/{engines[0]}/fd"
        while time.monotonic() < deadline:  # from a moment after the fork
            held = [os.readlink(f"{fds}/{fd}") for fd in os.listdir(fds)]
            if not [h for h in held if h.startswith("socket:")]:
                break
            time.sleep(0.05)
        assert not [h for h in held if h.startswith("socket:")], held
        assert len([h for h in held if h.startswith("pipe:")]) >= 2
    finally:
        listener.close()
        runner.join(15)
    assert done.is_set()


def _idle_pids():
    with engine._pool_lock:
        return [e.pid for e in engine._idle]


def test_each_run_on_a_reused_engine_gets_a_fresh_context():
    engine.close_idle_engines()
    first = Executor().run("globalThis.leak = 1; var leak2 = 2; Log('set')")
    assert first.state is JobState.SUCCEEDED
    (pid,) = _idle_pids()
    second = Executor().run(
        "if (typeof leak !== 'undefined' || typeof leak2 !== 'undefined') throw new Error('kept')"
    )
    assert second.state is JobState.SUCCEEDED, second.error
    assert _idle_pids() == [pid]  # the same engine served both


def test_a_killed_engine_is_not_reused():
    engine.close_idle_engines()
    Executor().run("Log('x')")
    (pid,) = _idle_pids()
    result = Executor(halt_grace_seconds=0.2).run("while (true) {}", timeout=0.2)
    assert "killed" in result.error
    assert _idle_pids() == []
    assert not os.path.exists(f"/proc/{pid}")  # killed and reaped
    assert Executor().run("Log('y')").state is JobState.SUCCEEDED
    assert len(_idle_pids()) == 1 and _idle_pids() != [pid]


def test_a_forked_process_starts_its_own_engines_and_leaves_the_parents_alone():
    engine.close_idle_engines()
    Executor().run("Log('x')")
    (pid,) = _idle_pids()
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the forked process reports through the pipe
        try:
            inherited = _idle_pids()
            ran = Executor().run("globalThis.x = 1; Log('in the fork')").state is JobState.SUCCEEDED
            os.write(write, json.dumps([inherited, _idle_pids(), ran]).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        inherited, own, ran = json.loads(f.read())
    os.waitpid(child, 0)
    assert inherited == [] and ran and own and own != [pid]
    assert _idle_pids() == [pid]  # the parent's engine still serves the parent
    assert Executor().run("Log('z')").state is JobState.SUCCEEDED
    assert _idle_pids() == [pid]


@pytest.mark.parametrize("how", ["exits", "killed"])
def test_an_idle_engine_never_outlives_its_caller(how):
    import subprocess
    import sys

    code = (
        "import sys, time; from aft.executor import Executor; from aft.syncjs import engine; "
        "Executor().run('Log(1)'); print(engine._idle[0].pid, flush=True); "
        + ("" if how == "exits" else "time.sleep(60)")
    )
    caller = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(caller.stdout.readline())
        if how == "killed":
            caller.kill()
        caller.wait(10)
        assert _gone(pid, within=3)
    finally:
        caller.kill()
        caller.wait()


def test_each_lazy_runtime_file_defines_exactly_the_globals_it_is_listed_with():
    """runtime.js compiles vfs.js, watchers.js and net.js when a script first reads a name
    listed for them in LAZY_RUNTIME: a name missing from a list would be undefined."""
    from aft.executor import LAZY_RUNTIME, _runtime_source
    from aft.syncjs.engine import Engine
    from aft.syncjs.script_api import script_api_json

    names_now = "JSON.stringify(Object.getOwnPropertyNames(globalThis).sort())"
    for file, listed in LAZY_RUNTIME.items():
        context = Engine({})
        variables = {"api": script_api_json(), "params": {}, "jobId": "", "scriptName": ""}
        context.eval(_runtime_source("runtime.js"), "runtime.js", **variables, lazy=[])
        before = set(json.loads(context.eval(names_now, "names")))
        context.eval(_runtime_source(file), file)
        assert set(json.loads(context.eval(names_now, "names"))) - before == set(listed), file


def test_a_lazy_runtime_name_is_loaded_on_first_use_and_stays_a_constant():
    result = run(
        "Log(typeof HttpCli, typeof FsWatcher, typeof SftpClient, typeof GetVFS);"
        "var before = VirtualFS; VirtualFS = 1;"
        "Log(VirtualFS === before, typeof new S3Client().Options);"
        "Log(Object.getOwnPropertyDescriptor(globalThis, 'HttpCli').configurable);"
    )
    assert texts(result) == ["function function function function", "true object", "false"]
