"""The public surface of the package."""

from __future__ import annotations

import subprocess
import sys

import aft
from tests.conftest import REPO

#: The directories ruff keeps in the house style (pyproject.toml).
CODE = ["aft", "tests", "benchmarks", "docs", "examples"]

PUBLIC = [
    "AftError",
    "Executor",
    "FileInfo",
    "HaltSignal",
    "Instance",
    "JobState",
    "LogLine",
    "RunResult",
    "SecretStore",
    "Settings",
    "Vfs",
    "open_vfs",
    "parse_params",
]


def test_all_is_sorted_and_pinned():
    assert aft.__all__ == sorted(aft.__all__) == PUBLIC
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
