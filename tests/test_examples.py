"""Every example in examples/ runs, as a user would run it."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO

EXAMPLES = REPO / "examples"


def test_hello_syncjs(run_aft):
    assert run_aft("settings", "set", "allow_cli_run", "true").returncode == 0
    proc = run_aft("run", "-f", str(EXAMPLES / "hello.syncjs"), "-p", '{"name":"Ops"}')
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().endswith("INFO  Hello, Ops!")


def test_library_api_example(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "library_api.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "sending report.csv with token ********" in proc.stdout
    assert "tok-123456" not in proc.stdout
    assert proc.stdout.strip().endswith("state=succeeded exit_code=0")
