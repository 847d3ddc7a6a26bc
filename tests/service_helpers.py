"""A real `aft serve` process on 127.0.0.1 for tests, and a way to wait for its jobs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from aft._serde import to_json
from aft.client import AftClient
from tests.conftest import aft_command


class ServeProcess:
    """``aft serve`` (on a free port by default) in its own process; ready once it says
    where it listens."""

    def __init__(
        self, home: Path, *args: str, port: int = 0, env: dict[str, str] | None = None
    ) -> None:
        self.home = home
        self.args = args
        self.port_asked = port
        # PYTHONFAULTHANDLER: a service that will not stop shows its threads on SIGABRT
        self.env = {**os.environ, "AFT_HOME": str(home), "PYTHONFAULTHANDLER": "1", **(env or {})}
        self.proc: subprocess.Popen[str] | None = None
        self.output: list[str] = []

    def start(self, timeout: float = 30.0) -> ServeProcess:
        self.output = []
        self.proc = subprocess.Popen(
            [aft_command(), "serve", "--port", str(self.port_asked), *self.args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env=self.env,
        )
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"aft serve exited: {''.join(self.output)}")
            self.output.append(line)
            if "listening on" in line:
                return self
        raise AssertionError(f"aft serve not ready after {timeout}s: {''.join(self.output)}")

    @property
    def info(self) -> dict[str, str]:
        return dict(json.loads((self.home / "service.json").read_text()))

    @property
    def url(self) -> str:
        return self.info["url"]

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def client(self, key: str | None) -> AftClient:
        return AftClient(self.url, key, fingerprint=self.info.get("fingerprint"))

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> str:
        """Signal the service, wait for it, and return everything it printed."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rest = self.proc.communicate(timeout=timeout)[0]
        except subprocess.TimeoutExpired:  # aborted (its threads' stacks printed), then shown
            self.proc.send_signal(signal.SIGABRT)
            try:
                rest = self.proc.communicate(timeout=10)[0]
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rest = self.proc.communicate()[0]
            printed = "".join(self.output) + (rest or "")
            raise AssertionError(
                f"aft serve had not stopped {timeout:g}s after signal {sig}; it printed:\n"
                + printed
            ) from None
        self.output.append(rest or "")
        return "".join(self.output)


def wait_for(client: AftClient, job_id: str, timeout: float = 30.0) -> dict:
    """The job once it has ended, in its REST form (a dict)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.job(job_id)
        if job.state.is_final:
            return dict(to_json(job))
        time.sleep(0.05)
    raise AssertionError(f"{job_id} not done after {timeout}s: {client.job(job_id)}")
