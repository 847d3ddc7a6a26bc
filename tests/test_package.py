"""The public surface of the package."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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
        "heavy = {'attrs', 'cattrs', 'fire', 'bottle', 'paramiko', 'botocore', 'urllib3', "
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
    env = dict(os.environ)
    source = Path(aft.__file__).resolve().parents[1]
    if "site-packages" not in source.parts:  # a source tree; an installed aft mypy finds
        env["MYPYPATH"] = str(source)
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "user.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# ---- the base install ------------------------------------------------------------------------

#: What the base install must not bring: the service, console and heavy pieces are extras.
EXTRA_ONLY = {
    "bottle",
    "cheroot",
    "argon2",
    "watchdog",
    "pysequoia",
    "paramiko",
    "botocore",
    "celery",
    "psycopg",
}


def _wheelhouse() -> Path:
    cache = Path(os.environ.get("AFT_TEST_CACHE") or Path.home() / ".cache" / "aft-test")
    return cache / "wheels"


def _pip(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def base_venv(tmp_path_factory) -> Path:
    """A fresh venv with the built wheel and no extras; dependencies come from a wheel cache
    ($AFT_TEST_CACHE/wheels), filled from the package index on the first run only."""
    import shutil

    work = tmp_path_factory.mktemp("base-install")
    source = work / "src"
    shutil.copytree(
        REPO,
        source,
        ignore=shutil.ignore_patterns(
            ".git", "tests", "benchmarks", "build", "*.egg-info", "node_modules"
        ),
    )
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
         "-w", str(work / "dist"), str(source)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    [wheel] = (work / "dist").glob("aft-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(work / "venv")], check=True, timeout=300)
    python = work / "venv" / "bin" / "python"
    offline = ["install", "-q", "--no-index", "--find-links", str(_wheelhouse()), str(wheel)]
    if _pip(python, *offline).returncode != 0:
        fetched = _pip(python, "download", "-q", "-d", str(_wheelhouse()), str(wheel))
        assert fetched.returncode == 0, fetched.stderr
        done = _pip(python, *offline)
        assert done.returncode == 0, done.stderr
    return work / "venv"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_base_install_runs_scripts_and_the_library(base_venv, tmp_path):
    """pip install aft (no extras): the README's first command, `aft run` of hello and the
    library's top-level names work, and none of the extras came with it."""
    bin_dir = base_venv / "bin"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")} | {
        "AFT_HOME": str(tmp_path / "home")
    }
    python = str(bin_dir / "python")
    names = 'from aft import Executor, JobQueue, VfsLibrary, ApiKeyStore; print("ok")'
    imported = subprocess.run([python, "-c", names], capture_output=True, text=True, env=env)
    assert imported.stdout == "ok\n", imported.stderr
    installed = _pip(Path(python), "list", "--format=freeze").stdout.lower()
    present = {line.split("==")[0].replace("_", "-") for line in installed.splitlines()}
    assert not {name.replace("argon2", "argon2-cffi") for name in EXTRA_ONLY} & present
    aft = str(bin_dir / "aft")
    on = subprocess.run([aft, "settings", "set", "allow_cli_run", "true"], env=env,
                        capture_output=True, text=True)  # fmt: skip
    assert on.returncode == 0, on.stderr
    hello = subprocess.run(
        [aft, "run", "-f", str(REPO / "examples" / "hello.syncjs"), "-p", '{"name":"world"}'],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert hello.returncode == 0, hello.stderr
    assert "world" in hello.stderr
    serve = subprocess.run([aft, "serve"], capture_output=True, text=True, env=env, timeout=60)
    assert serve.returncode == 1
    assert serve.stderr.endswith("installs: pip install 'aft[server]'\n"), serve.stderr
    assert len(serve.stderr.splitlines()) == 1
    sftp = subprocess.run(
        [aft, "vfs", "hostkey", "sftp://127.0.0.1:1"], capture_output=True, text=True, env=env
    )
    assert "pip install 'aft[sftp]'" in sftp.stderr and len(sftp.stderr.splitlines()) == 1


def test_every_extra_is_in_all():
    import configparser

    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    extras = config["options.extras_require"]

    def requirements(name: str) -> set[str]:
        return {line.strip() for line in extras[name].splitlines() if line.strip()}

    wanted = set().union(*(requirements(n) for n in extras if n not in ("all", "test", "docs")))
    assert requirements("all") == wanted
    for name in ("server", "watch", "pgp", "sftp", "s3", "azure", "gcp", "cluster"):
        assert name in extras, name
    base = config["options"]["install_requires"]
    for heavy in ("bottle", "cheroot", "argon2", "watchdog", "pysequoia"):
        assert heavy not in base, heavy
    assert (REPO / "LICENSE").read_text().startswith("MIT License")
    assert "License :: OSI Approved :: MIT License" in config["metadata"]["classifiers"]


def test_pgp_without_its_extra_names_it(monkeypatch):
    from aft import pgp
    from aft.exceptions import PgpError

    monkeypatch.setitem(sys.modules, "pysequoia", None)  # as if it were not installed
    with pytest.raises(PgpError, match=r"pip install 'aft\[pgp\]'$"):
        pgp._sequoia()
