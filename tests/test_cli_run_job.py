"""``aft run`` is a job too: recorded in the instance (trigger cli) with its log, listed by
``aft jobs list`` and ``GET /v1/jobs``, unless ``record_cli_runs`` is off."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from aft.audit import cli_actor
from tests.conftest import aft_command
from tests.service_helpers import ServeProcess
from tests.test_service import prepare


@pytest.fixture
def cli_run_on(run_aft):
    assert run_aft("settings", "set", "allow_cli_run", "true").returncode == 0


def _script(tmp_path, text):
    path = tmp_path / "move.syncjs"
    path.write_text(text)
    return str(path)


def _jobs(run_aft):
    done = run_aft("jobs", "list")
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_a_cli_run_is_a_job_with_its_log(run_aft, cli_run_on, tmp_path, aft_home):
    source = 'Log("id " + JobID()); Log.Warn("two"); Log("three " + Param("n"));'
    done = run_aft("run", "-f", _script(tmp_path, source), "-p", '{"n": 3}')
    assert done.returncode == 0, done.stderr
    (line,) = _jobs(run_aft)
    job_id = line.split()[0]
    assert line.split()[1] == "succeeded"
    assert line.split()[4:] == ["move.syncjs", "cli", cli_actor()]
    assert f"id {job_id}" in done.stderr  # JobID() is the recorded job's
    shown = json.loads(run_aft("jobs", "show", job_id, "--json").stdout)
    assert (shown["trigger"], shown["startedBy"], shown["params"]) == ("cli", cli_actor(), {"n": 3})
    log = run_aft("jobs", "log", job_id).stdout.splitlines()
    assert [text[25:] for text in log] == [f"INFO  id {job_id}", "WARN  two", "INFO  three 3"]
    assert log == done.stderr.splitlines()  # the same lines, as they were streamed

    failed = run_aft("run", "-f", _script(tmp_path, 'Log("x");\nthrow new Error("nope");'))
    assert failed.returncode == 1
    newest = _jobs(run_aft)[0]
    shown = json.loads(run_aft("jobs", "show", newest.split()[0], "--json").stdout)
    assert shown["status"] == "failed" and "nope" in shown["error"]

    keys = prepare(aft_home)
    proc = ServeProcess(aft_home).start()
    try:
        listed = proc.client(keys["admin"]).request("GET", "/v1/jobs")["jobs"]
    finally:
        proc.stop()
    assert [(j["jobId"], j["trigger"], j["startedBy"]) for j in listed][1] == (
        job_id,
        "cli",
        cli_actor(),
    )


def test_the_setting_turns_recording_off(run_aft, cli_run_on, tmp_path):
    refused = run_aft("settings", "set", "record_cli_runs", "sometimes")
    assert refused.returncode == 2  # a value aft cannot take
    assert "record_cli_runs takes true or false, not 'sometimes'" in refused.stderr
    assert run_aft("settings", "set", "record_cli_runs", "false").returncode == 0
    done = run_aft("run", "-f", _script(tmp_path, 'Log("unrecorded")'))
    assert done.returncode == 0 and "unrecorded" in done.stderr
    assert _jobs(run_aft) == []


def test_a_run_killed_after_the_halt_grace_is_recorded_halted(
    run_aft, cli_run_on, tmp_path, aft_home
):
    assert run_aft("settings", "set", "halt_grace_seconds", "1").returncode == 0
    proc = subprocess.Popen(
        [aft_command(), "run", "-f", _script(tmp_path, 'Log("spinning"); while (true) {}')],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "AFT_HOME": str(aft_home)},
    )
    assert proc.stderr.readline().endswith("spinning\n")
    (line,) = _jobs(run_aft)
    assert " running " in line
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=20)
    shown = json.loads(run_aft("jobs", "show", line.split()[0], "--json").stdout)
    assert shown["status"] == "halted"
    assert shown["error"] == "the script had not ended 1s after the halt signal: killed"


def test_halting_the_job_halts_the_run(run_aft, cli_run_on, tmp_path, aft_home):
    source = 'Log("waiting"); WaitForHaltSignal(); Log("halted on request");'
    proc = subprocess.Popen(
        [aft_command(), "run", "-f", _script(tmp_path, source)],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "AFT_HOME": str(aft_home)},
    )
    assert proc.stderr.readline().endswith("waiting\n")
    job_id = _jobs(run_aft)[0].split()[0]
    assert run_aft("jobs", "halt", job_id).stdout.strip() == f"{job_id} halt requested"
    rest = proc.communicate(timeout=20)[1]
    assert proc.returncode == 0 and "halted on request" in rest
    shown = json.loads(run_aft("jobs", "show", job_id, "--json").stdout)
    assert (shown["status"], shown["exitCode"]) == ("halted", 0)
