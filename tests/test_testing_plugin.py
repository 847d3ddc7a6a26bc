"""aft.testing: the pytest plugin's fixtures, and the README's test run as a user runs it."""

from __future__ import annotations

import configparser
import os
import subprocess
import sys

from aft.vfs import BACKENDS
from tests.conftest import REPO
from tests.test_library import readme_block

pytest_plugins = ["aft.testing"]


def test_setup_cfg_ships_the_plugin():
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    points = config["options.entry_points"]["pytest11"].split()
    assert points == ["aft.testing", "=", "aft.testing"]


def test_the_readme_test_passes_under_the_plugin(tmp_path):
    test = tmp_path / "test_readme.py"
    test.write_text(readme_block("def test_the_report_is_archived(aft_instance):"))
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "aft.testing", "-p", "no:cacheprovider"]
        + ["--rootdir", str(tmp_path), str(test)],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
    )  # fmt: skip
    assert "1 passed" in out.stdout, out.stdout + out.stderr


def test_the_readme_test_fails_when_the_script_does(tmp_path):
    """The README's test can fail: a copy of a file that is not there."""
    test = tmp_path / "test_readme.py"
    block = readme_block("def test_the_report_is_archived(aft_instance):")
    test.write_text(block.replace('CopyToVFS("/out/report.csv"', 'CopyToVFS("/out/missing.csv"'))
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "aft.testing", "-p", "no:cacheprovider"]
        + ["--rootdir", str(tmp_path), str(test)],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
    )  # fmt: skip
    assert "1 failed" in out.stdout, out.stdout + out.stderr


def test_aft_instance_is_fresh_and_has_the_memory_type(aft_instance, tmp_path):
    assert aft_instance.home == tmp_path / "aft-home"
    assert aft_instance.vfs.list() == [] and "Memory" in BACKENDS
    aft_instance.vfs.add("m", "Memory", "memory://m")
    aft_instance.vfs.open("m").write_bytes("/x", b"1")
    assert aft_instance.vfs.open("m").read_bytes("/x") == b"1"


def test_the_memory_type_is_gone_after_the_test():
    assert "Memory" not in BACKENDS


def test_aft_service_runs_jobs_for_its_key(aft_service):
    aft_service.instance.scripts.add("hi", 'Log("hi " + Param("who"))')
    assert aft_service.url.startswith("http://127.0.0.1:")
    with aft_service.client() as client:
        job_id = client.submit_job(script_name="hi", params={"who": "fixture"}).id
    job = aft_service.instance.jobs.wait(job_id, timeout=60)
    assert job.state.value == "succeeded"
    assert [line.text for line in aft_service.instance.jobs.log(job_id)[0]] == ["hi fixture"]
