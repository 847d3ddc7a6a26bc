"""The documentation site: it builds strictly, it covers the Python and the script API, and
the Python guide's examples run."""

from __future__ import annotations

import html
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import aft
from aft.syncjs import script_api
from tests.conftest import REPO

DOCS = REPO / "docs"
SYNCJS_PAGES = sorted((DOCS / "syncjs").glob("*.md"))

pytestmark = pytest.mark.slow


def build(root: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """``mkdocs build --strict`` of the site whose mkdocs.yml is in ``root``."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = build(REPO, out)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def test_the_site_builds_strictly_with_every_reference(site):
    rest = (site / "rest" / "index.html").read_text()
    for operation in ("POST /v1/jobs", "GET /v1/jobs/{jobId}/log", "DELETE /v1/vfs/{name}"):
        assert operation in rest
    cli = (site / "cli" / "index.html").read_text()
    assert "aft scripts add" in cli and "aft vfs hostkey" in cli
    assert (site / "syncjs" / "vfs" / "index.html").is_file()
    assert (site / "cluster" / "index.html").is_file()


def test_every_setting_is_on_the_settings_page(site):
    from aft.settings import SETTINGS

    page = (site / "settings" / "index.html").read_text()
    for setting in SETTINGS.values():
        assert f"<code>{setting.key}</code>" in page, setting.key
        assert html.escape(setting.help.split("`")[0], quote=False) in page, setting.key


def test_every_public_name_is_in_the_api_reference(site):
    page = (site / "api" / "index.html").read_text()
    assert ":class:" not in page and ":data:" not in page and ":meth:" not in page
    for name in aft.__all__:
        module = getattr(aft, name).__module__
        assert f'id="{module}.{name}"' in page, name


def test_a_broken_link_or_reference_fails_the_build(tmp_path):
    copy = tmp_path / "repo"
    shutil.copytree(DOCS, copy / "docs")
    shutil.copy(REPO / "mkdocs.yml", copy / "mkdocs.yml")
    with (copy / "docs" / "index.md").open("a") as page:
        page.write("\nSee [the plan](no-such-page.md) and [Nothing][aft.NoSuchThing].\n")
    done = build(copy, tmp_path / "site")
    assert done.returncode != 0
    assert "no-such-page.md" in done.stderr
    assert "aft.NoSuchThing" in done.stderr


def _in_backticks(name: str, text: str) -> bool:
    return re.search(rf"`[^`\n]*\b{re.escape(name)}\b[^`\n]*`", text) is not None


def script_names() -> set[str]:
    """Every name a script can use: declared in Python or defined by the runtime's JS."""
    api = script_api.script_api()
    names = set(api["constants"]) | set(api["clients"]) | set(api["response"])
    for members in api["functions"].values():
        names.update(members)
    for owner, fields in api["defaults"].items():
        if owner != "HttpCli":  # the request's inner state, not script-visible fields
            names.update(fields)
    for js in (REPO / "aft" / "syncjs").glob("*.js"):
        text = js.read_text()
        names.update(re.findall(r'define\("(\w+)"', text))
        names.update(re.findall(r'method\([\w.]+, "(\w+)"', text))
        for listed in re.findall(r"\[((?:\"\w+\", )*\"\w+\")\]\.forEach", text):
            names.update(re.findall(r"\w+", listed))  # Log.Debug..., HttpCli.Get...
    for function in script_api.declared_functions().values():
        member = function.member.removeprefix("new ")  # "new FsWatcher": the constructor
        if member[:1].isupper() and member != "Client":  # Client: the clients' shared base
            names.add(member)
    names.add("Options")
    return names


def test_the_syncjs_reference_names_every_script_name():
    text = "\n".join(page.read_text() for page in SYNCJS_PAGES)
    missing = sorted(name for name in script_names() if not _in_backticks(name, text))
    assert not missing, f"not in docs/syncjs/: {missing}"


def guide_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", (DOCS / "python.md").read_text(), re.S | re.M)


@pytest.mark.parametrize("block", range(len(guide_blocks())))
def test_the_python_guide_runs(block, tmp_path):
    code = guide_blocks()[block]
    env = {**os.environ, "PYTHONPATH": str(REPO), "AFT_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"block {block}:\n{code}\n{done.stdout}{done.stderr}"


def test_optional_pages_join_the_navigation_only_when_present(tmp_path):
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    assert spec is not None and spec.loader is not None
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)

    def nav_after(*present: str) -> list[object]:
        for name in present:
            (tmp_path / name).write_text("# page\n")
        config = {"docs_dir": str(tmp_path), "nav": [{"SyncJS scripts": ["syncjs/index.md"]}]}
        return hooks.on_config(config)["nav"][0]["SyncJS scripts"]

    assert nav_after() == ["syncjs/index.md"]
    assert nav_after("otfe.md") == ["syncjs/index.md", {"On-the-fly encryption": "otfe.md"}]
