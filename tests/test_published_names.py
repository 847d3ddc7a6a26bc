"""Every name the original product publishes (docs/syncjs-names.md) works or is refused
loudly, checked by running scripts through the real runtime; and the scripts of that
product's own dialect that used to fail (``Params("job_id")``...) now run."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from aft.executor import Executor
from aft.models import RunResult
from tests.conftest import REPO
from tests.script_helpers import errors, js, texts

DOC = REPO / "docs" / "syncjs-names.md"
_ROW = re.compile(
    r"^\| `(?P<name>\w+)` \| (?P<kind>\w+) \| (?:`(?P<value>.*)`)? *\| (?P<status>.+) \|$"
)


class Name(NamedTuple):
    """One row of the table."""

    section: str
    name: str
    kind: str
    value: Any  # the default or value shown (None: none shown)
    reason: str | None  # why it is refused; None: it works


def published() -> list[Name]:
    """The table's rows, section by section."""
    rows, section = [], ""
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        elif (found := _ROW.match(line)) is not None:
            status = found["status"].strip()
            assert status == "works" or status.startswith("refused: "), line
            value = found["value"]
            rows.append(
                Name(
                    section,
                    found["name"],
                    found["kind"],
                    None if value is None else json.loads(value),
                    None if status == "works" else status.removeprefix("refused: "),
                )
            )
    return rows


#: JS that makes ``o``, the object a section's names belong to (DIR: a folder with a file f).
MAKE = {
    "Globals": "var o = globalThis;",
    "Constants": "var o = globalThis;",
    "VirtualFS": "var o = new VirtualFS(VfsTypeDisk, DIR);",
    "VirtualFS response": "var o = new VirtualFS(VfsTypeDisk, DIR).Stat('/f');",
    "DirListItem": "var o = new VirtualFS(VfsTypeDisk, DIR).Stat('/f').Info();",
    "Remote clients": "var o = new SftpClient();",
    "SftpClient": "var o = new SftpClient();",
    "FtpsClient": "var o = new FtpsClient();",
    "S3Client": "var o = new S3Client();",
    "AzureClient": "var o = new AzureClient();",
    "GCSClient": "var o = new GCSClient();",
    "Options": "var cli = new SftpClient(), o = cli.Options;",
    "FsWatcher": "var o = new FsWatcher();",
    "RemoteWatcher": "var o = new RemoteWatcher('nowhere');",
    "HttpCli": "var o = HttpCli();",
    "HttpRes": "var o = HttpCli().Url('http://127.0.0.1:9/').Timeout(5).Get();",
}


def probe(row: Name) -> str:
    """JS that gives ``["ok", what]`` for the row, or throws."""
    n = js(row.name)
    if row.kind == "option" and row.reason is not None:
        # left off, it is accepted; set, the transfer that would use it is refused
        on = "true" if isinstance(row.value, bool) else '"x"'
        return (
            f"o[{n}] = {js(row.value)}; o[{n}] = {on};"
            f"try {{ return ['ok', cli.Upload(DIR + '/f', '/')]; }}"
            f" finally {{ o[{n}] = {js(row.value)}; }}"
        )
    if row.kind in ("field", "option"):
        return f"var v = o[{n}]; o[{n}] = v; return ['ok', v];"
    if row.kind == "constant":
        return f"return ['ok', o[{n}]];"
    return f"return ['ok', typeof o[{n}]];"


def run_section(section: str, rows: list[Name], folder: Path) -> dict[str, Any]:
    """Probe every row of ``section`` in one script; each name's outcome."""
    lines = [f"var DIR = {js(folder)};", MAKE[section], "var out = {};"]
    for row in rows:
        lines.append(
            f"out[{js(row.name)}] = (function () {{ try {{ {probe(row)} }}"
            " catch (e) { return ['throw', e.name, e.message]; } })();"
        )
    lines.append("Log('OUT ' + JSON.stringify(out));")
    r = Executor().run("\n".join(lines))
    assert r.ok, (r.error, texts(r))
    return json.loads(next(t for t in texts(r) if t.startswith("OUT "))[4:])


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "f").write_text("x")
    return tmp_path


SECTIONS = sorted({row.section for row in published()})


def test_the_table_covers_the_contract_objects() -> None:
    assert set(SECTIONS) == set(MAKE)
    names = {(row.section, row.name) for row in published()}
    for needed in [
        ("Globals", "Params"),
        ("Constants", "VfsTypeR2FS"),
        ("VirtualFS", "Chown"),
        ("HttpCli", "Bearer"),
        ("Options", "OTFE"),
        ("Options", "OnDownloadGrantTo"),
    ]:
        assert needed in names


@pytest.mark.parametrize("section", SECTIONS)
def test_every_published_name_works_or_is_refused_loudly(section: str, folder: Path) -> None:
    rows = [row for row in published() if row.section == section]
    got = run_section(section, rows, folder)
    for row in rows:
        outcome = got[row.name]
        where = f"{section}.{row.name}: {outcome}"
        if row.reason is not None:
            assert outcome[:2] == ["throw", "TypeError"], where
            assert row.reason in outcome[2], where
        elif row.kind in ("function", "constructor", "method"):
            assert outcome == ["ok", "function"], where
        elif row.kind == "boolean":
            assert outcome == ["ok", "boolean"], where
        else:
            assert outcome[0] == "ok", where
            if row.value is not None:
                assert outcome[1] == row.value, where


def _objects() -> Iterator[str]:
    yield from (s for s in MAKE if s not in ("Globals", "Constants", "DirListItem"))


@pytest.mark.parametrize("section", list(_objects()))
def test_a_property_an_object_lacks_is_refused_when_written(section: str, folder: Path) -> None:
    r = Executor().run(
        f"var DIR = {js(folder)}; {MAKE[section]}"
        "try { o.NoSuchName = 1; Log('kept'); } catch (e) { Log(e.name + ': ' + e.message); }"
    )
    assert r.ok, r.error
    assert texts(r)[-1].startswith("TypeError: "), texts(r)
    assert "NoSuchName" in texts(r)[-1]


def test_a_constant_refuses_to_be_assigned() -> None:
    r = Executor().run(
        "try { VfsTypeS3 = 'x'; Log('kept'); } catch (e) { Log(e.name + ': ' + e.message); }"
        "Log(VfsTypeS3);"
    )
    assert texts(r) == ["TypeError: VfsTypeS3 is a constant", "S3"]


# ---- the original product's dialect ------------------------------------------------------


def test_params_with_a_name_is_that_parameter() -> None:
    """The workflow-API sample's spelling: Params("job_id"), checked with if (!jobId)."""
    source = """
    var jobId = Params("job_id");
    if (!jobId) { Log("no job id"); Exit(1); }
    var out = {id: jobId, count: Params("count"), missing: Params("nope"),
               all: Params(), alsoAll: Params(undefined).job_id};
    try { Params(3); } catch (e) { out.bad = e.name + ": " + e.message; }
    Log("OUT " + JSON.stringify(out));
    """
    r = Executor().run(source, params={"job_id": "J-42", "count": 3})
    assert r.ok, (r.error, texts(r))
    out = json.loads(texts(r)[-1][4:])
    assert out == {
        "id": "J-42",
        "count": "3",
        "missing": "",
        "all": {"job_id": "J-42", "count": 3},
        "alsoAll": "J-42",
        "bad": "TypeError: Params(name): name must be a string",
    }
    missing = Executor().run(source, params={})
    assert not missing.ok and "no job id" in texts(missing)


def run_result(source: str) -> RunResult:
    return Executor().run(source)


def test_vfs_type_r2fs_opens_an_r2_vfs() -> None:
    r = run_result(
        "Log(VfsTypeR2FS);"
        "var v = new VirtualFS(VfsTypeR2FS, 'r2://0123abcd');"
        "var s = v.Stat('/'); Log(s.Ok(), s.ErrorMsg());"
    )
    assert r.ok, r.error
    assert texts(r)[0] == "R2FS"
    assert "Bucket is required" in " ".join(errors(r))


@pytest.mark.parametrize(
    "line",
    ["new SftpClient().Hots = 'x';", "new FsWatcher().Events();", "VfsTypeS3 = 'x';"],
)
def test_a_refusal_names_the_script_line(line: str) -> None:
    r = run_result(f"var a = 1;\n\n{line}\n")
    assert not r.ok and r.error.startswith("TypeError: ")
    assert r.error_line == 3


def test_the_table_lists_what_aft_offers_on_those_objects() -> None:
    """A name aft adds to one of the product's objects is listed too (or the table is stale)."""
    from aft.syncjs.script_api import script_api

    api = script_api()
    listed: dict[str, set[str]] = {}
    for row in published():
        listed.setdefault(row.section, set()).add(row.name)
    assert set(api["functions"]["VirtualFS"]) <= listed["VirtualFS"]
    assert set(api["functions"]["Client"]) <= listed["Remote clients"]
    assert set(api["response"]) <= listed["VirtualFS response"]
    assert set(api["constants"]) - {"VfsTypeFTP"} <= listed["Constants"]
    for section in ("SftpClient", "FtpsClient", "S3Client", "AzureClient", "GCSClient"):
        assert set(api["defaults"][section]) <= listed[section], section
    assert set(api["defaults"]["Options"]) | set(api["optionNames"]) <= listed["Options"]
    for section in ("FsWatcher", "RemoteWatcher"):
        assert set(api["defaults"][section]) <= listed[section], section
