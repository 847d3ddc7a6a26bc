"""The service's commands as a user types them: aft start, aft run delegation, aft jobs,
aft scripts, aft apikeys."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time

import pytest

from aft.instance import Instance
from aft.jobs import JobQueue
from tests.conftest import aft_command
from tests.service_helpers import ServeProcess, wait_for


@pytest.fixture
def cli(aft_home, tmp_path):
    """Run `aft` with this instance and a private config dir (for certificate pins)."""
    env = {**os.environ, "AFT_HOME": str(aft_home), "XDG_CONFIG_HOME": str(tmp_path / "config")}

    def run(*args, input=None, timeout=60):
        return subprocess.run(
            [aft_command(), *args], input=input, capture_output=True, text=True,
            timeout=timeout, env=env, stdin=None if input is not None else subprocess.DEVNULL,
        )  # fmt: skip

    run.env = env
    return run


def last_line(proc):
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture
def setup(cli, tmp_path):
    """Scripts and keys made with the CLI itself, as an administrator would."""
    script = tmp_path / "backup.syncjs"
    script.write_text('Log("character=" + Param("character"));')
    assert (
        cli("scripts", "add", "My Backup Job", "-f", str(script), "--retries", "0").returncode == 0
    )
    (tmp_path / "slow.syncjs").write_text('Log("slow"); Sleep(60000); Log("woke")')
    assert cli("scripts", "add", "slow", "-f", str(tmp_path / "slow.syncjs")).returncode == 0
    made = cli("apikeys", "create", "--name", "ci", "--allow", "127.0.0.1", "--allow", "::1")
    assert made.returncode == 0, made.stderr
    run_key = last_line(made)
    admin = cli("apikeys", "create", "--name", "ops", "--allow", "127.0.0.0/8", "--scope", "admin")
    return {"run": run_key, "admin": last_line(admin)}


def test_scripts_and_apikeys_commands(cli, setup, tmp_path):
    listing = cli("scripts", "list").stdout
    assert "My Backup Job" in listing and "slow" in listing
    assert cli("scripts", "show", "my backup job").stdout.startswith('Log("character=')
    (tmp_path / "v2.syncjs").write_text('Log("v2")')
    assert (
        cli("scripts", "update", "MY BACKUP JOB", "-f", str(tmp_path / "v2.syncjs")).returncode == 0
    )
    assert cli("scripts", "show", "My Backup Job").stdout == 'Log("v2")'
    dup = cli("scripts", "add", "SLOW", "-f", str(tmp_path / "v2.syncjs"))
    assert dup.returncode == 1 and "exists already" in dup.stderr
    keys = cli("apikeys", "list").stdout
    assert "ci" in keys and "127.0.0.1/32,::1/128" in keys and setup["run"] not in keys
    bad = cli("apikeys", "create", "--name", "x", "--allow", "300.1.1.1")
    assert bad.returncode == 2 and "not an IP address or CIDR" in bad.stderr
    assert cli("apikeys", "revoke", "ci").returncode == 0
    assert "revoked" in cli("apikeys", "list").stdout
    assert cli("scripts", "remove", "slow").returncode == 0
    missing = cli("scripts", "show", "slow")
    assert missing.returncode == 1 and "no script named 'slow'" in missing.stderr


def free_port_44399():
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", 44399)) != 0


def serve_on_the_default_port(home, patience: float = 60.0) -> ServeProcess:
    """44399 lies in Linux's ephemeral range: a client socket or a port-0 server of another
    test may hold it for a while, so the start is tried again until it binds."""
    deadline = time.monotonic() + patience
    while True:
        try:
            return ServeProcess(home, port=44399).start()
        except AssertionError as e:
            if "Address already in use" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.mark.skipif(not free_port_44399(), reason="port 44399 is taken on this machine")
def test_seed_page_start_commands_on_the_default_port(cli, setup, aft_home):
    service = serve_on_the_default_port(aft_home)
    try:
        minimal = cli("start", "-n", "My Backup Job", "-a", setup["run"])
        assert minimal.returncode == 0, minimal.stderr
        assert "trusting the certificate of 127.0.0.1:44399" in minimal.stderr
        job_id = last_line(minimal)
        with_params = cli(
            "start", "-n", "My Backup Job", "-a", setup["run"],
            "--params", '{"character":"goofy"}', "--host", "127.0.0.1:44399",
        )  # fmt: skip
        assert with_params.returncode == 0 and "trusting" not in with_params.stderr  # pinned
        client = service.client(setup["admin"])
        assert wait_for(client, job_id)["status"] == "succeeded"
        goofy = wait_for(client, last_line(with_params))
        assert goofy["params"] == {"character": "goofy"}
        lines = client.job_log(goofy["jobId"]).lines
        assert [ln.text for ln in lines] == ["character=goofy"]
    finally:
        service.stop()


def test_start_errors_are_one_line(cli, setup, aft_home):
    service = ServeProcess(aft_home).start()
    host = f"127.0.0.1:{service.port}"
    try:
        cases = [
            (["-n", "My Backup Job", "-a", "wrong-key"], "unknown or revoked API key"),
            (["-n", "nope", "-a", setup["run"]], "no script named 'nope'"),
            (["-n", "My Backup Job", "-a", setup["run"], "--params", "[1]"], "JSON object"),
        ]
        for args, expected in cases:
            proc = cli("start", *args, "--host", host)
            assert proc.returncode == 1 and expected in proc.stderr, proc.stderr
            assert len(proc.stderr.strip().splitlines()) <= 2  # the pin note, then the error
    finally:
        service.stop()
    unreachable = cli("start", "-n", "x", "-a", "k", "--host", host)
    assert unreachable.returncode == 1 and "cannot reach" in unreachable.stderr


def test_start_pins_the_certificate_and_refuses_a_changed_one(cli, setup, aft_home):
    service = ServeProcess(aft_home).start()
    port = service.port
    host = f"127.0.0.1:{port}"
    assert cli("start", "-n", "My Backup Job", "-a", setup["run"], "--host", host).returncode == 0
    service.stop()
    for name in ("tls-cert.pem", "tls-key.pem"):
        (aft_home / name).unlink()  # a new certificate at the next start: an impostor, for the pin
    impostor = ServeProcess(aft_home, port=port).start()
    try:
        refused = cli("start", "-n", "My Backup Job", "-a", setup["run"], "--host", host)
        assert refused.returncode == 1 and "TLS" in refused.stderr, refused.stderr
        by_ca = cli(
            "start", "-n", "My Backup Job", "-a", setup["run"], "--host", host,
            "--ca-file", str(aft_home / "tls-cert.pem"),
        )  # fmt: skip
        assert by_ca.returncode == 0, by_ca.stderr
    finally:
        impostor.stop()


def test_start_wait_follows_and_exits_like_run(cli, setup, aft_home, tmp_path):
    service = ServeProcess(aft_home).start()
    try:
        host = f"127.0.0.1:{service.port}"
        ok = cli("start", "-n", "My Backup Job", "-a", setup["run"], "--host", host,
                 "--params", '{"character":"mickey"}', "--wait")  # fmt: skip
        assert ok.returncode == 0 and "INFO  character=mickey" in ok.stderr
        (tmp_path / "bad.syncjs").write_text("throw new Error('broken')")
        cli("scripts", "add", "bad", "-f", str(tmp_path / "bad.syncjs"))
        bad = cli("start", "-n", "bad", "-a", setup["run"], "--host", host, "--wait")
        assert bad.returncode == 1 and "Error: broken" in bad.stderr
    finally:
        service.stop()


def test_run_delegates_to_the_running_service(cli, setup, aft_home, tmp_path):
    assert cli("settings", "set", "allow_cli_run", "true").returncode == 0
    script = tmp_path / "delegated.syncjs"
    script.write_text('Log("dest=" + Param("destination")); Log(JobID().slice(0, 4));')
    service = ServeProcess(aft_home).start()
    try:
        ran = cli("run", "-f", str(script), "-p", '{"destination":"D:\\Archive\\2026"}')
        assert ran.returncode == 0, ran.stderr
        assert ran.stderr.splitlines()[0].endswith("INFO  dest=D:\\Archive\\2026")
        assert ran.stderr.splitlines()[1].endswith("INFO  job_")  # it ran as a service job
        with Instance(aft_home) as instance:
            jobs, _ = JobQueue(instance.store).list()
        assert jobs[0].trigger == "cli" and jobs[0].script_name == "delegated.syncjs"
        script.write_text("Exit(5)")
        assert cli("run", "-f", str(script)).returncode == 1
        missing = cli("run", "-f", str(tmp_path / "missing.syncjs"))
        assert missing.returncode == 1 and "script file not found" in missing.stderr
    finally:
        service.stop()


def test_run_delegated_halts_on_signal(cli, setup, aft_home, tmp_path):
    cli("settings", "set", "allow_cli_run", "true")
    script = tmp_path / "waits.syncjs"
    script.write_text('Log("waiting"); WaitForHaltSignal(); Log("halted in the service")')
    service = ServeProcess(aft_home).start()
    try:
        proc = subprocess.Popen(
            [aft_command(), "run", "-f", str(script)],
            stderr=subprocess.PIPE, text=True, env=cli.env,
        )  # fmt: skip
        assert proc.stderr.readline().endswith("waiting\n")
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=15)[1]
        assert proc.returncode == 0 and "halted in the service" in rest  # a clean stop
    finally:
        service.stop()


def test_jobs_commands(cli, setup, aft_home):
    service = ServeProcess(aft_home).start()
    try:
        host = f"127.0.0.1:{service.port}"
        job_id = last_line(cli("start", "-n", "slow", "-a", setup["run"], "--host", host))
        follower = subprocess.Popen(
            [aft_command(), "jobs", "log", job_id, "--follow"],
            stdout=subprocess.PIPE, text=True, env=cli.env,
        )  # fmt: skip
        assert follower.stdout.readline().endswith("INFO  slow\n")
        running = cli("jobs", "list", "--state", "running").stdout
        assert job_id in running, cli("jobs", "show", job_id).stdout + service.stop()
        assert cli("jobs", "halt", job_id).stdout.strip() == f"{job_id} halt requested"
        follower.wait(15)
        shown = json.loads(cli("jobs", "show", job_id, "--json").stdout)
        assert shown["status"] == "halted" and shown["trigger"] == "api"
        again = cli("jobs", "halt", job_id)
        assert again.returncode == 1 and "already ended" in again.stderr
        assert "no job 'job_x'" in cli("jobs", "show", "job_x").stderr
    finally:
        service.stop()


def test_serve_stops_cleanly_on_sigterm(aft_home, setup):
    service = ServeProcess(aft_home).start()
    client = service.client(setup["admin"])
    job_id = client.submit_job(script_name="slow").id
    while not client.job_log(job_id).lines:
        time.sleep(0.05)
    output = service.stop(signal.SIGTERM, timeout=20)
    assert service.proc.returncode == 0 and "stopping" in output and "Traceback" not in output
    assert not (aft_home / "service.json").exists()
    with Instance(aft_home) as instance:
        assert JobQueue(instance.store).get(job_id).state.value == "halted"


def test_start_with_an_idempotency_key_queues_one_job(cli, setup, aft_home):
    service = ServeProcess(aft_home).start()
    host = f"127.0.0.1:{service.port}"
    try:
        args = ["-n", "My Backup Job", "-a", setup["run"], "--host", host]
        first = cli("start", *args, "--idempotency-key", "nightly-2026-12-02")
        again = cli("start", *args, "--idempotency-key", "nightly-2026-12-02")
        other = cli("start", *args, "--idempotency-key", "nightly-2026-12-03")
        assert first.returncode == again.returncode == other.returncode == 0, first.stderr
        first_id = first.stdout.split()[-1]
        assert again.stdout.split()[-1] == first_id != other.stdout.split()[-1]
        changed = cli("start", *args, "--idempotency-key", "nightly-2026-12-02", "-p", '{"x": "1"}')
        assert changed.returncode == 1 and "different request" in changed.stderr
    finally:
        service.stop()
