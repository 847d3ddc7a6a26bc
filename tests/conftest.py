"""Shared fixtures. Each real server lives in its own module under tests/servers/."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins: list[str] = [
    "tests.servers.sshd",
    "tests.servers.plain_sftpd",
    "tests.servers.ftpd",
    "tests.servers.seaweedfs",
    "tests.servers.azurite",
    "tests.servers.gcs",
    "tests.servers.http",
    "tests.servers.smtp",
]

REPO = Path(__file__).resolve().parent.parent

# Commands run by the tests see the buffering a user's pipe gives them, whatever this shell sets.
os.environ.pop("PYTHONUNBUFFERED", None)

# Every server a test talks to is on loopback: a proxy the machine sets for its registries must
# never stand between them (a test that wants a proxy clears these itself).
for _name in ("no_proxy", "NO_PROXY"):
    _hosts = [h for h in os.environ.get(_name, "").split(",") if h.strip()]
    os.environ[_name] = ",".join([*_hosts, "127.0.0.1", "localhost", "::1"])


def aft_command() -> str:
    """The installed ``aft`` console script beside this interpreter."""
    found = Path(sys.executable).with_name("aft")
    if not found.exists():
        found = Path(shutil.which("aft") or "aft")
    return str(found)


def stop_gnupg(home: Path) -> None:
    """gpg starts daemons (its agent, ...) for each home it uses and leaves them running:
    stop those of ``home``."""
    if home.exists():
        subprocess.run(
            ["gpgconf", "--homedir", str(home), "--kill", "all"], check=False, capture_output=True
        )


@pytest.fixture
def aft_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh instance home, set as AFT_HOME for this test and its subprocesses."""
    home = tmp_path / "home"
    monkeypatch.setenv("AFT_HOME", str(home))
    return home


@pytest.fixture
def instance(aft_home: Path):
    from aft.instance import Instance

    with Instance(aft_home) as inst:
        yield inst


@pytest.fixture
def run_aft(aft_home: Path):
    """Run the real ``aft`` command; returns the CompletedProcess (text)."""

    def run(
        *args: str, input: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess:
        env = {**os.environ, "AFT_HOME": str(aft_home)}
        return subprocess.run(
            [aft_command(), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            stdin=None if input is not None else subprocess.DEVNULL,
        )

    return run
