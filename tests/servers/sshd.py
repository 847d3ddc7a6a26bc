"""A real OpenSSH sshd on 127.0.0.1 for the SFTP tests: the ``sshd_server`` fixture.

The server runs from ``/usr/sbin/sshd -D`` with a generated config, a fresh host key and a
free port, for a dedicated system user created for the session (random name and password,
removed at teardown), with both password and public-key login. It needs root (to run sshd
with privilege separation and to check a password); ``openssh-server`` is installed with
apt-get when missing. A missing prerequisite fails the tests with the reason: never a skip.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

SSHD = "/usr/sbin/sshd"
START_TIMEOUT = 20.0


class SshdError(RuntimeError):
    """sshd could not be started."""


@dataclass(frozen=True)
class SshdServer:
    """How to reach the running server.

    Attributes:
        host, port: where sshd listens.
        user, password: the session's test user (password login works).
        key_pem: an unencrypted ed25519 private key (OpenSSH format) of ``user``.
        rsa_key_pem, rsa_key_pass: an RSA key in classic PEM format and its passphrase.
        host_key_sha256: the server's host-key fingerprint as OpenSSH prints it (``SHA256:...``).
        host_public_key: the server's host key as a ``.pub`` line.
        root: a directory owned by ``user``, for the tests' files (see :meth:`new_dir`).
        pid: the listening sshd process; ``log`` its output.
    """

    host: str
    port: int
    user: str
    password: str
    key_pem: str
    rsa_key_pem: str
    rsa_key_pass: str
    host_key_sha256: str
    host_public_key: str
    root: Path
    pid: int
    log: Path

    def new_dir(self, prefix: str = "t") -> Path:
        """A fresh empty directory under :attr:`root`, owned by :attr:`user`."""
        path = Path(tempfile.mkdtemp(prefix=prefix, dir=self.root))
        shutil.chown(path, self.user, self.user)
        path.chmod(0o755)
        return path

    def target(self, path: Path | str = "/", **query: str) -> str:
        """An ``sftp://`` target for ``path``, pinned to the host key unless ``query`` overrides."""
        params = {"hostKeySHA256": self.host_key_sha256, **query}
        qs = "&".join(f"{k}={quote(v, safe=':/=+')}" for k, v in params.items() if v is not None)
        return f"sftp://{self.user}@{self.host}:{self.port}{quote(str(path))}?{qs}"


def _run(*args: str, stdin: str | None = None) -> str:
    done = subprocess.run(args, input=stdin, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SshdError(f"{' '.join(args[:3])} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def _ensure_prerequisites() -> None:
    if os.geteuid() != 0:
        raise SshdError(
            "the sshd fixture needs root: it runs OpenSSH sshd with privilege separation and "
            "creates a test user with a password"
        )
    if not os.path.exists(SSHD):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "--no-install-recommends", "openssh-server"]
        done = subprocess.run(install, capture_output=True, text=True, env=env, check=False)
        if done.returncode:  # perhaps a fresh machine without package lists
            subprocess.run(["apt-get", "update"], capture_output=True, env=env, check=False)
            done = subprocess.run(install, capture_output=True, text=True, env=env, check=False)
        if done.returncode or not os.path.exists(SSHD):
            raise SshdError(
                f"{SSHD} is missing and apt-get could not install openssh-server: "
                f"{done.stderr.strip()[-500:]}"
            )
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privilege separation directory


def _keygen(path: Path, *options: str) -> tuple[str, str]:
    """Generate a key pair; return (private key text, public key line)."""
    _run("ssh-keygen", "-q", "-C", "", "-f", str(path), *options)
    return path.read_text(), path.with_suffix(".pub").read_text().strip()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_banner(proc: subprocess.Popen[bytes], port: int) -> bool:
    """Poll until the port answers with an SSH banner; False when sshd exited first."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(64).startswith(b"SSH-2.0-"):
                    return True
        except OSError:
            time.sleep(0.02)
    return False


def _descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (the per-connection sshd processes)."""
    children: dict[int, list[int]] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def _stop(proc: subprocess.Popen[bytes]) -> None:
    for pid in [*_descendants(proc.pid), proc.pid]:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


CONFIG = """\
ListenAddress 127.0.0.1
Port {port}
HostKey {state}/host_ed25519
PidFile {state}/sshd.pid
AuthorizedKeysFile {state}/authorized_keys
AllowUsers {user}
PermitRootLogin no
PasswordAuthentication yes
PubkeyAuthentication yes
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
{limits}LogLevel VERBOSE
Subsystem sftp internal-sftp
"""


@pytest.fixture(scope="session")
def sshd_server() -> Iterator[SshdServer]:
    """A running sshd for the whole session (one per xdist worker)."""
    try:
        with running_sshd() as server:
            yield server
    except SshdError as exc:
        pytest.fail(str(exc))


@contextlib.contextmanager
def running_sshd(
    ciphers: str | None = None, limits: str = "MaxStartups 100\nMaxSessions 100\n"
) -> Iterator[SshdServer]:
    """Start sshd (optionally offering only ``ciphers``) for the block; also used by benchmarks.

    ``limits`` are config lines that raise OpenSSH's limits on connections and sessions
    for the tests' many clients; "" keeps OpenSSH's own (MaxSessions 10, MaxStartups 10:30:100).

    Raises:
        SshdError: with sshd's own words when it does not start.
    """
    _ensure_prerequisites()
    state = Path(tempfile.mkdtemp(prefix="aft-sshd-"))
    state.chmod(0o711)
    user = f"afttest_{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(18)
    root = state / "data"
    proc = None
    try:
        root.mkdir(mode=0o755)
        _run(
            "useradd",
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            str(root),
            "--shell",
            "/usr/sbin/nologin",
            user,
        )
        shutil.chown(root, user, user)
        _run("chpasswd", stdin=f"{user}:{password}\n")
        _, host_pub = _keygen(state / "host_ed25519", "-t", "ed25519", "-N", "")
        key_pem, key_pub = _keygen(state / "user_ed25519", "-t", "ed25519", "-N", "")
        rsa_pass = secrets.token_urlsafe(12)
        rsa_pem, rsa_pub = _keygen(
            state / "user_rsa", "-t", "rsa", "-b", "2048", "-m", "PEM", "-N", rsa_pass
        )
        (state / "authorized_keys").write_text(f"{key_pub}\n{rsa_pub}\n")
        fingerprint = _run(
            "ssh-keygen", "-l", "-E", "sha256", "-f", str(state / "host_ed25519.pub")
        ).split()[1]
        log = state / "sshd.log"
        for _attempt in range(5):
            port = _free_port()
            config = state / "sshd_config"
            extra = f"Ciphers {ciphers}\n" if ciphers else ""
            config.write_text(
                CONFIG.format(port=port, state=state, user=user, limits=limits) + extra
            )
            with open(log, "wb") as out:
                proc = subprocess.Popen(
                    [SSHD, "-D", "-e", "-f", str(config)], stdout=out, stderr=subprocess.STDOUT
                )
            if _wait_for_banner(proc, port):
                break
            _stop(proc)
            proc = None
            if "Address already in use" not in log.read_text(errors="replace"):
                break
        if proc is None:
            raise SshdError(
                f"sshd did not start: {log.read_text(errors='replace').strip()[-1000:]}"
            )
        yield SshdServer(
            host="127.0.0.1",
            port=port,
            user=user,
            password=password,
            key_pem=key_pem,
            rsa_key_pem=rsa_pem,
            rsa_key_pass=rsa_pass,
            host_key_sha256=fingerprint,
            host_public_key=host_pub,
            root=root,
            pid=proc.pid,
            log=log,
        )
    finally:
        try:
            if proc is not None:
                _stop(proc)
        finally:
            subprocess.run(["userdel", "--force", user], capture_output=True, check=False)
            shutil.rmtree(state, ignore_errors=True)
