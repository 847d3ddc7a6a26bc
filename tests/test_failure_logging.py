"""A failure is logged once, where the most is known: a VirtualFS call's failure is in its
response (the script logs it with what it was doing), an ``Exit(n)`` after that reason adds
no line, a run that ends well has no ERROR line, and a missing file or folder reads the same
on every backend."""

from __future__ import annotations

from typing import Any

import pytest

from aft.executor import Executor
from aft.models import JobState, LogLevel
from tests.conftest import REPO


def run(instance: Any, source: str = "", **kwargs: Any) -> Any:
    executor = Executor(vfs_library=instance.vfs, secrets=instance.secrets)
    return executor.run(source, **kwargs) if source else executor.run(**kwargs)


def errors(result: Any) -> list[str]:
    return [line.text for line in result.log if line.level is LogLevel.ERROR]


@pytest.fixture
def library(instance, tmp_path, sshd_server, s3_server, s3_bucket, ftp_server):
    """The same empty folder reachable as disk, sftp, s3 and ftp."""
    (tmp_path / "disk").mkdir()
    instance.vfs.add("disk", "Disk", str(tmp_path / "disk"))
    folder = sshd_server.new_dir()
    instance.vfs.add("sftp", "SFTP", sshd_server.target(folder), {"pass": sshd_server.password})
    instance.vfs.add("s3", "S3", s3_server.target(s3_bucket), s3_server.payload)
    instance.vfs.add("ftp", "FTP", ftp_server.target("/"), ftp_server.payload)
    return instance


def test_a_missing_folder_or_file_reads_the_same_on_every_backend(library):
    script = """
        var out = [];
        ["disk", "sftp", "s3", "ftp"].forEach(function (name) {
          var v = GetVFS(name);
          out.push(name + " " + v.ReadDir("/nope").ErrorMsg());
          out.push(name + " " + v.ReadFileAsText("/nope.txt").ErrorMsg());
        });
        Log(out.join("\\n"));
    """
    result = run(library, script)
    assert result.state is JobState.SUCCEEDED, result.error
    lines = result.log[-1].text.splitlines()
    assert lines == [
        f"{name} {call}: {path}: no such file or directory"
        for name in ("disk", "sftp", "s3", "ftp")
        for call, path in (("ReadDir", "/nope"), ("ReadFileAsText", "/nope.txt"))
    ]


def test_a_failure_is_logged_once_and_exit_adds_nothing(instance, tmp_path):
    (tmp_path / "disk").mkdir()
    instance.vfs.add("disk", "Disk", str(tmp_path / "disk"))
    result = run(
        instance,
        file=REPO / "examples" / "relay-s3-to-sftp.syncjs",
        params={"source": "disk", "target": "disk", "sourceDir": "/nope"},
    )
    assert (result.state, result.exit_code) == (JobState.FAILED, 1)
    assert errors(result) == ["cannot list disk:/nope: ReadDir: /nope: no such file or directory"]


def test_an_exit_without_a_reason_still_says_so(instance):
    result = run(instance, 'Log("about to stop"); Exit(3);')
    assert (result.exit_code, errors(result)) == (3, ["Exit(3)"])


def test_a_run_that_handles_its_failures_and_ends_well_logs_no_error(instance, tmp_path):
    (tmp_path / "disk").mkdir()
    instance.vfs.add("disk", "Disk", str(tmp_path / "disk"))
    result = run(
        instance,
        'var v = GetVFS("disk"); if (!v.Stat("/optional.cfg").Ok()) Log("no optional.cfg");'
        'v.ReadDir("/maybe");',
    )
    assert result.state is JobState.SUCCEEDED and result.exit_code == 0
    assert errors(result) == [] and [line.text for line in result.log] == ["no optional.cfg"]
