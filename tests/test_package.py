"""The public surface of the package."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import aft
from tests.conftest import REPO

#: The directories ruff keeps in the house style (pyproject.toml).
CODE = ["aft", "tests", "benchmarks", "docs", "examples"]

PUBLIC = [
    "AftError",
    "ApiKeyStore",
    "Executor",
    "FileInfo",
    "HaltSignal",
    "Instance",
    "Job",
    "JobQueue",
    "JobState",
    "LogLine",
    "QueuedJob",
    "RunResult",
    "ScheduleStore",
    "Script",
    "ScriptStore",
    "SecretStore",
    "Settings",
    "Vfs",
    "VfsLibrary",
    "WorkerPool",
    "open_vfs",
    "parse_params",
]


def test_all_is_sorted_and_pinned():
    assert aft.__all__ == sorted(aft.__all__) == PUBLIC == sorted(aft._EXPORTS)
    for name in PUBLIC:
        assert getattr(aft, name) is not None


def test_import_aft_is_cheap():
    code = (
        "import sys, aft; aft.Executor; aft.Instance; "
        "heavy = {'attrs', 'cattrs', 'fire', 'bottle', 'paramiko', 'boto3', 'urllib3', "
        "'cryptography', 'dukpy', 'platformdirs'} & set(sys.modules); print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_js_runtime_ships_as_package_data():
    from importlib import resources

    assert "HaltSignalReceived" in resources.files("aft.syncjs").joinpath("runtime.js").read_text()


def test_the_code_keeps_the_house_style():
    """ruff's checks and formatting hold for all the code (README's snippets are prose)."""
    ruff = [sys.executable, "-m", "ruff"]
    for args in (["check", "--no-cache"], ["format", "--check", "--no-cache"]):
        done = subprocess.run([*ruff, *args, *CODE], cwd=REPO, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_package_type_checks():
    """mypy (configured in pyproject.toml) finds no error in the package."""
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "aft"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


USER_SCRIPT = """
from aft import (
    ApiKeyStore, Executor, HaltSignal, Instance, Job, JobQueue, QueuedJob, RunResult,
    VfsLibrary, WorkerPool,
)


def main() -> None:
    with Instance("home") as instance:
        jobs: JobQueue = instance.jobs
        keys: ApiKeyStore = instance.api_keys
        library: VfsLibrary = instance.vfs
        executor: Executor = instance.executor(halt_grace_seconds=1)
        result: RunResult = executor.run('Log("hi")', timeout=10.0, halt=HaltSignal())
        print(result.ok, jobs.counts(), len(keys.list()), library.list())
        with WorkerPool.for_instance(instance, concurrency=1):
            queued: QueuedJob = jobs.submit('Log("hi")', script_name="adhoc")
            ended: Job = queued.wait(timeout=60)
            print(ended.state, queued.result(timeout=1).log)
"""


def test_a_user_script_on_the_top_level_names_is_strictly_typed(tmp_path):
    """mypy --strict sees the real classes behind aft's lazy top-level names."""
    (tmp_path / "user.py").write_text(USER_SCRIPT)
    env = {**os.environ, "MYPYPATH": str(Path(aft.__file__).resolve().parents[1])}
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "user.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
