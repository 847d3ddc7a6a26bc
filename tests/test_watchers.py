"""FsWatcher and RemoteWatcher, through real scripts run by the Executor (and ``aft run``).

A script runs in a thread; its callbacks log ``EVT <Event> <Object>`` lines, which the test
follows as they happen (``on_log``) before making the next change, so no step relies on a
fixed sleep. Where a test proves that something does *not* happen, it waits a generous
multiple of the time the thing would need.
"""

from __future__ import annotations

import errno
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aft.executor import Executor, HaltSignal
from aft.models import JobState, LogLevel, LogLine, RunResult
from aft.syncjs import watchers
from tests.script_helpers import js

CALLBACK = 'function (e) { Log("EVT " + e.Event + " " + e.Object); }'


class Running:
    """A script running in a thread, whose log lines can be waited for."""

    def __init__(self, source: str, executor: Executor | None = None) -> None:
        self.halt = HaltSignal()
        self.lines: list[LogLine] = []
        self.result: RunResult | None = None
        self._changed = threading.Condition()
        self._executor = executor or Executor()
        self._thread = threading.Thread(target=self._run, args=(source,), daemon=True)
        self._thread.start()

    def _run(self, source: str) -> None:
        try:
            self.result = self._executor.run(source, halt=self.halt, on_log=self._on_log)
        finally:
            with self._changed:
                self._changed.notify_all()

    def _on_log(self, line: LogLine) -> None:
        with self._changed:
            self.lines.append(line)
            self._changed.notify_all()

    def texts(self) -> list[str]:
        with self._changed:
            return [line.text for line in self.lines]

    def events(self) -> list[str]:
        return [t[4:] for t in self.texts() if t.startswith("EVT ")]

    def wait_for(self, text: str, timeout: float = 15) -> None:
        """Wait until a log line equals ``text``."""
        self.wait_until(lambda: text in self.texts(), f"log line {text!r}", timeout)

    def wait_until(self, check: Callable[[], bool], what: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not check():
                left = deadline - time.monotonic()
                if left <= 0 or (self.result is not None and not check()):
                    raise AssertionError(f"no {what}; log: {self.texts()}")
                self._changed.wait(left)

    def finish(self, timeout: float = 15) -> RunResult:
        """Set the halt signal and return the result."""
        self.halt.set()
        self._thread.join(timeout)
        assert self.result is not None, "the script did not end"
        self.halt.close()
        return self.result


def fs_script(*dirs: tuple[Path, bool], setup: str = "") -> str:
    watch = "".join(f"w.WatchDir({js(d)}, {js(r)});" for d, r in dirs)
    return (
        f"var w = new FsWatcher(); {watch} {setup}\n"
        f"w.Start({CALLBACK}); Log('ready'); WaitForHaltSignal(); w.Stop();"
    )


def aft_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("aft-")]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "watched"
    path.mkdir()
    return path


@pytest.fixture
def aft_run(run_aft: Any) -> Any:
    """``run_aft`` on an instance where ``aft run`` is allowed."""
    assert run_aft("settings", "set", "allow_cli_run", "true").returncode == 0
    return run_aft


@pytest.fixture
def running() -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def start(source: str, executor: Executor | None = None) -> Running:
        run = Running(source, executor)
        started.append(run)
        run.wait_until(lambda: "ready" in run.texts() or run.result is not None, "start")
        return run

    yield start
    for run in started:
        if run.result is None:
            run.finish()


# ---- FsWatcher ---------------------------------------------------------------------------


def test_create_write_rename_chmod_remove(running: Any, folder: Path) -> None:
    run = running(fs_script((folder, False)))
    a, b = folder / "a.txt", folder / "b.txt"
    a.write_text("one")
    run.wait_for(f"EVT CREATE {a}")
    with a.open("a") as f:
        f.write("two")
    run.wait_for(f"EVT WRITE {a}")
    a.rename(b)
    run.wait_for(f"EVT CREATE {b}")
    b.chmod(0o600)
    run.wait_for(f"EVT CHMOD {b}")
    b.unlink()
    run.wait_for(f"EVT REMOVE {b}")
    result = run.finish()
    assert result.state is JobState.HALTED
    events = [e for e in run.events() if not e.startswith("WRITE")]  # one per write() call
    assert events == [
        f"CREATE {a}", f"RENAME {a}", f"CREATE {b}", f"CHMOD {b}", f"REMOVE {b}",
    ]  # fmt: skip


def test_event_object_has_timestamp_and_callback_runs_on_the_script_thread(
    running: Any, folder: Path
) -> None:
    run = running(
        f"var w = new FsWatcher(); w.WatchDir({js(folder)}, false);"
        "w.Start(function (e) { Log('EVT ' + JSON.stringify([Object.keys(e).sort(),"
        " typeof e.TimeStamp, Math.abs(Date.now() / 1000 - e.TimeStamp) < 60, this === w])); });"
        "Log('ready'); WaitForHaltSignal();"
    )
    (folder / "x").write_text("x")
    run.wait_until(lambda: bool(run.events()), "event")
    assert json.loads(run.events()[0]) == [["Event", "Object", "TimeStamp"], "number", True, True]
    assert run.finish().state is JobState.HALTED


def test_filters_match_name_or_relative_path(running: Any, folder: Path) -> None:
    (folder / "sub").mkdir()
    run = running(
        fs_script(
            (folder, True),
            setup="w.InclusionFilter = ['*.csv', 'sub/keep*']; w.ExclusionFilter = ['*skip*'];",
        )
    )
    for name in ["a.txt", "skip.csv", "sub/keep.log", "sub/other.log", "a.csv", "z.csv"]:
        (folder / name).write_text("x")
    run.wait_for(f"EVT CREATE {folder / 'z.csv'}")
    run.finish()
    created = {e for e in run.events() if e.startswith("CREATE")}
    assert created == {f"CREATE {folder / n}" for n in ["sub/keep.log", "a.csv", "z.csv"]}


def test_notify_flags(running: Any, folder: Path) -> None:
    run = running(
        fs_script((folder, False), setup="w.NotifyCreate = false; w.NotifyWrite = false;")
    )
    (folder / "a").write_text("x")
    (folder / "a").unlink()
    run.wait_for(f"EVT REMOVE {folder / 'a'}")
    run.finish()
    assert run.events() == [f"REMOVE {folder / 'a'}"]


def test_recursion_only_where_asked(running: Any, tmp_path: Path) -> None:
    flat, deep = tmp_path / "flat", tmp_path / "deep"
    for d in (flat / "sub", deep / "sub" / "subsub"):
        d.mkdir(parents=True)
    run = running(fs_script((flat, False), (deep, True)))
    (flat / "sub" / "hidden").write_text("x")
    (flat / "top").write_text("x")
    (deep / "sub" / "subsub" / "found").write_text("x")
    run.wait_for(f"EVT CREATE {deep / 'sub' / 'subsub' / 'found'}")
    run.wait_for(f"EVT CREATE {flat / 'top'}")
    run.finish()
    assert not [e for e in run.events() if "hidden" in e]


def test_slow_writer_is_reported_once_when_quiet(running: Any, folder: Path) -> None:
    run = running(
        f"var w = new FsWatcher(); w.WatchDir({js(folder)}, false); w.DelayBySeconds = 1;"
        "w.Start(function (e) {"
        "  var f = ListLocal(e.Object.replace(/\\/[^/]*$/, ''), 'slow.bin')[0];"
        "  Log('EVT ' + e.Event + ' ' + e.Object + ' ' + (f ? f.Size : -1));"
        "});"
        "Log('ready'); WaitForHaltSignal();"
    )
    target = folder / "slow.bin"
    done = threading.Event()
    finished: list[float] = []

    def write_slowly() -> None:
        with target.open("wb") as f:
            for _ in range(12):  # 3.6 s, each pause shorter than the delay
                f.write(b"x" * 1000)
                f.flush()
                time.sleep(0.3)
        finished.append(time.monotonic())
        done.set()

    writer = threading.Thread(target=write_slowly)
    writer.start()
    run.wait_until(lambda: bool(run.events()), "event", timeout=20)
    reported = time.monotonic()
    writer.join()
    assert done.is_set() and reported >= finished[0], "reported while still being written"
    time.sleep(2.5)  # proves no second report: more than twice the delay
    run.finish()
    assert run.events() == [f"CREATE {target} 12000"]


def test_stop_drops_queued_events_and_nothing_follows(running: Any, folder: Path) -> None:
    run = running(
        f"var w = new FsWatcher(); w.WatchDir({js(folder)}, false);"
        "w.Start(function (e) {"
        "  Log('EVT ' + e.Event + ' ' + e.Object); w.Stop(); Log('stopped');"
        "});"
        "Log('ready'); WaitForHaltSignal();"
    )
    assert aft_threads()
    for i in range(20):
        (folder / f"f{i}").write_text("x")
    run.wait_for("stopped")
    assert not aft_threads()  # Stop() ended the watcher's threads
    for i in range(20):
        (folder / f"f{i}").write_text("more")
    (folder / "late").write_text("x")
    time.sleep(2)  # events arrive within milliseconds; two seconds prove none come
    run.finish()
    assert len(run.events()) == 1


def test_a_throwing_callback_fails_the_job_at_its_line(folder: Path) -> None:
    halt = HaltSignal()
    source = (
        f"var w = new FsWatcher(); w.WatchDir({js(folder)}, false);\n"
        "w.Start(function (e) {\n"
        "  throw new Error('cannot handle ' + e.Object);\n"
        "});\n"
        "Sleep(30000);\n"
    )
    timer = threading.Timer(0.5, (folder / "bad").write_text, ["x"])
    timer.start()
    started = time.monotonic()
    result = Executor().run(source, halt=halt)
    timer.join()
    halt.close()
    assert time.monotonic() - started < 20
    assert result.state is JobState.FAILED
    assert result.error == f"Error: cannot handle {folder / 'bad'}" and result.error_line == 3
    assert not aft_threads()


def test_halt_while_waiting_ends_the_job_and_its_watchers(running: Any, folder: Path) -> None:
    run = running(fs_script((folder, True), setup="w.DelayBySeconds = 5;"))
    assert aft_threads()
    started = time.monotonic()
    result = run.finish()
    assert time.monotonic() - started < 5
    assert result.state is JobState.HALTED
    assert not aft_threads()


def test_a_watcher_left_running_is_stopped_at_the_end(folder: Path) -> None:
    result = Executor().run(
        f"var w = new FsWatcher(); w.WatchDir({js(folder)}, true); w.DelayBySeconds = 2;"
        f"Log(w.Start({CALLBACK}));"
    )
    assert result.state is JobState.SUCCEEDED and [line.text for line in result.log] == ["true"]
    assert not aft_threads()


def test_polling_fallback(running: Any, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable() -> Any:
        raise OSError(errno.ENOSPC, "inotify watch limit reached")

    monkeypatch.setattr(watchers, "_native_observer", unavailable)
    run = running(fs_script((folder, True)))
    assert any(
        line.level is LogLevel.WARN and "native file events unavailable" in line.text
        and "inotify watch limit reached" in line.text
        for line in run.lines
    )  # fmt: skip
    (folder / "sub").mkdir()
    (folder / "sub" / "p.txt").write_text("x")
    run.wait_for(f"EVT CREATE {folder / 'sub' / 'p.txt'}")
    (folder / "sub" / "p.txt").write_text("longer")
    run.wait_for(f"EVT WRITE {folder / 'sub' / 'p.txt'}")
    (folder / "sub" / "p.txt").unlink()
    run.wait_for(f"EVT REMOVE {folder / 'sub' / 'p.txt'}")
    assert run.finish().state is JobState.HALTED


def test_a_symlinked_folder_is_watched_and_reported_under_the_link(
    running: Any, folder: Path, tmp_path: Path
) -> None:
    link = tmp_path / "link"
    link.symlink_to(folder, target_is_directory=True)
    run = running(fs_script((link, True)))
    (folder / "sub").mkdir()
    (folder / "a.txt").write_text("a")
    run.wait_for(f"EVT CREATE {link / 'a.txt'}")
    (folder / "sub" / "b.txt").write_text("b")
    run.wait_for(f"EVT CREATE {link / 'sub' / 'b.txt'}")
    run.finish()
    assert not [e for e in run.events() if str(folder) in e]


def test_a_relative_folder_is_reported_as_the_script_gave_it(
    running: Any, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(folder.parent)
    run = running(fs_script((Path("watched/"), False), setup="w.DelayBySeconds = 0.2;"))
    (folder / "a.csv").write_text("a")
    run.wait_for("EVT CREATE watched/a.csv")
    run.finish()
    assert run.events() == ["CREATE watched/a.csv"]


def test_start_without_callback_or_folder_does_nothing(folder: Path) -> None:
    result = Executor().run(
        f"var w = new FsWatcher(); w.WatchDir({js(folder)}, false); Log(w.Start());"
        "Log(new FsWatcher().Start(function () {}));"
        f"var m = new FsWatcher(); m.WatchDir({js(folder / 'missing')}, false);"
        "Log(m.Start(function () {})); Log(w.Stop());"
    )
    texts = [(line.level, line.text) for line in result.log]
    assert result.state is JobState.SUCCEEDED
    assert texts == [
        (LogLevel.WARN, "FsWatcher.Start: no callback given, so nothing is watched"),
        (LogLevel.INFO, "false"),
        (LogLevel.WARN, "FsWatcher.Start: no folder to watch (call WatchDir first)"),
        (LogLevel.INFO, "false"),
        (LogLevel.ERROR, f"FsWatcher.Start: {folder / 'missing'}: no such directory"),
        (LogLevel.INFO, "false"),
        (LogLevel.INFO, "false"),
    ]


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("w.InclusionFilter = '*.csv'", "FsWatcher.InclusionFilter must be an array of strings"),
        ("w.DelayBySeconds = -1", "FsWatcher.DelayBySeconds must not be negative"),
        ("w.NotifyWrite = 'no'", "FsWatcher.NotifyWrite must be a boolean"),
        ("w.WatchDir(3)", "FsWatcher.WatchDir(path, recursive): path must be a string"),
    ],
)
def test_bad_settings_throw_type_errors(folder: Path, setting: str, message: str) -> None:
    result = Executor().run(
        f"var w = new FsWatcher(); w.WatchDir({js(folder)}, false);\n{setting};\n"
        "w.Start(function () {});"
    )
    assert result.error == f"TypeError: {message}"
    assert result.error_line == (2 if "WatchDir" in setting else 3)


# ---- RemoteWatcher -----------------------------------------------------------------------


@pytest.fixture(params=["Disk", "SFTP"])
def remote(request: pytest.FixtureRequest, instance: Any, tmp_path: Path) -> Path:
    """A VFS Library entry named "box" of each type; returns its folder on this machine."""
    if request.param == "Disk":
        root = tmp_path / "box"
        root.mkdir()
        instance.vfs.add("box", "Disk", str(root))
        return root
    server = request.getfixturevalue("sshd_server")
    root = server.new_dir()
    instance.vfs.add("box", "SFTP", server.target(root), {"pass": server.password})
    return root


def remote_script(setup: str = "") -> str:
    return (
        f"var w = new RemoteWatcher('box'); w.PollSeconds = 0.2; {setup}\n"
        f"Log(w.Start({CALLBACK}) ? 'ready' : 'not started'); WaitForHaltSignal(); w.Stop();"
    )


def test_remote_new_changed_removed(
    running: Any, instance: Any, remote: Path, tmp_path: Path
) -> None:
    (remote / "old.txt").write_text("old")
    (remote / "in").mkdir()
    executor = Executor(vfs_library=instance.vfs, state_dir=tmp_path / "state")
    run = running(
        remote_script("w.WatchDir('/in', true); w.ExclusionFilter = ['*.tmp'];"), executor
    )
    assert "ready" in run.texts()
    (remote / "in" / "sub").mkdir()
    (remote / "in" / "sub" / "new.csv").write_text("new")
    (remote / "in" / "skip.tmp").write_text("x")
    run.wait_for("EVT CREATE /in/sub/new.csv")
    (remote / "in" / "sub" / "new.csv").write_text("changed")
    run.wait_for("EVT WRITE /in/sub/new.csv")
    (remote / "in" / "sub" / "new.csv").unlink()
    run.wait_for("EVT REMOVE /in/sub/new.csv")
    (remote / "old.txt").write_text("outside the watched folder")
    time.sleep(1)  # five polls
    assert run.finish().state is JobState.HALTED
    assert run.events() == [
        "CREATE /in/sub/new.csv", "WRITE /in/sub/new.csv", "REMOVE /in/sub/new.csv",
    ]  # fmt: skip


def test_remote_state_survives_a_restart(
    running: Any, instance: Any, remote: Path, tmp_path: Path
) -> None:
    for name in ("keep", "change", "drop"):
        (remote / name).write_text(name)
    executor = Executor(vfs_library=instance.vfs, state_dir=tmp_path / "state")
    first = running(remote_script(), executor)
    (remote / "during").write_text("x")
    first.wait_for("EVT CREATE /during")
    first.finish()
    assert first.events() == ["CREATE /during"]
    (states,) = (tmp_path / "state").iterdir()
    assert set(json.loads(states.read_text())["files"]) == {"/keep", "/change", "/drop", "/during"}

    (remote / "change").write_text("changed")
    (remote / "drop").unlink()
    (remote / "added").write_text("x")
    second = running(remote_script(), executor)
    second.wait_until(lambda: len(second.events()) >= 3, "three events")
    assert sorted(second.events()) == ["CREATE /added", "REMOVE /drop", "WRITE /change"]
    time.sleep(1)  # five polls: nothing more
    second.finish()
    assert len(second.events()) == 3
    # Without a state directory, the listing at Start() is the baseline.
    third = running(remote_script(), Executor(vfs_library=instance.vfs))
    # Files that new filters leave out are not reported as removed.
    narrower = running(remote_script("w.InclusionFilter = ['keep'];"), executor)
    time.sleep(1)
    third.finish()
    narrower.finish()
    assert third.events() == [] and narrower.events() == []


def test_remote_delay_and_failed_polls(running: Any, instance: Any, tmp_path: Path) -> None:
    root = tmp_path / "box"
    (root / "in").mkdir(parents=True)
    instance.vfs.add("box", "Disk", str(root))
    run = running(
        remote_script("w.WatchDir('/in', false); w.DelayBySeconds = 0.5;"),
        Executor(vfs_library=instance.vfs),
    )
    (root / "in").rename(root / "away")
    run.wait_until(
        lambda: sum("RemoteWatcher(box): /in:" in t for t in run.texts()) >= 2, "failed polls"
    )
    (root / "away").rename(root / "in")
    written = time.time()
    (root / "in" / "f").write_text("x")
    run.wait_for("EVT CREATE /in/f")
    assert run.finish().state is JobState.HALTED
    assert run.events() == ["CREATE /in/f"]
    reported = next(line for line in run.lines if line.text == "EVT CREATE /in/f")
    assert reported.time - written >= 0.5  # DelayBySeconds


def test_remote_missing_entry_is_logged(instance: Any) -> None:
    result = Executor(vfs_library=instance.vfs).run(
        "var w = new RemoteWatcher('nope'); Log(w.Start(function () {}));"
    )
    assert result.state is JobState.SUCCEEDED
    assert [line.text for line in result.log] == [
        "RemoteWatcher.Start: no VFS named 'nope' in the library",
        "false",
    ]


def test_remote_watcher_state_through_aft_run(
    instance: Any, aft_run: Any, aft_home: Path, tmp_path: Path
) -> None:
    root = tmp_path / "box"
    root.mkdir()
    (root / "old").write_text("x")
    instance.vfs.add("box", "Disk", str(root))
    script = tmp_path / "watch.syncjs"
    script.write_text(
        "var w = new RemoteWatcher('box'); w.PollSeconds = 0.1; var seen = [];\n"
        "w.Start(function (e) { seen.push(e.Event + ' ' + e.Object); });\n"
        "for (var i = 0; i < 100 && seen.length < Number(Param('want')); i++) Sleep(100);\n"
        "Log('SEEN ' + JSON.stringify(seen.sort()));\n"
    )
    first = aft_run("run", "-f", str(script), "-p", '{"want": 0}')
    assert first.returncode == 0, first.stderr
    assert "SEEN []" in first.stdout + first.stderr
    assert len(list((aft_home / "watch-state").iterdir())) == 1
    (root / "old").unlink()
    (root / "new").write_text("x")
    second = aft_run("run", "-f", str(script), "-p", '{"want": 2}')
    assert second.returncode == 0, second.stderr
    assert 'SEEN ["CREATE /new","REMOVE /old"]' in second.stdout + second.stderr


def test_fs_watcher_through_aft_run(aft_run: Any, folder: Path, tmp_path: Path) -> None:
    script = tmp_path / "fs.syncjs"
    script.write_text(
        f"var w = new FsWatcher(); w.WatchDir({js(folder)}, false); var seen = [];\n"
        "w.InclusionFilter = ['*.csv'];\n"
        "w.Start(function (e) { seen.push(e.Event + ' ' + e.Object); });\n"
        f"WriteTextFile({js(folder / 'out.csv')}, 'a,b');\n"
        "for (var i = 0; i < 100 && seen.length < 1; i++) Sleep(50);\n"
        "Log('SEEN ' + JSON.stringify(seen));\n"
    )
    done = aft_run("run", "-f", str(script))
    assert done.returncode == 0, done.stderr
    assert f'SEEN ["CREATE {folder / "out.csv"}"]' in done.stdout + done.stderr


def test_without_watchdog_fs_watcher_names_its_extra(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "watchdog.observers", None)  # as if not installed
    result = Executor().run(fs_script((folder, False)))
    assert result.state is JobState.FAILED
    assert result.error is not None and "pip install 'aft[watch]'" in result.error
