"""The web console's JavaScript without a browser, under Node.js and no npm package: the unit
tests of its modules (``tests/js/*.test.mjs``, run by Node's own test runner), a syntax check
of every script in ``aft/server/static/``, and how the service serves them.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from aft import __version__
from aft.server.ui import STATIC
from tests.conftest import REPO

SOURCE_STATIC = REPO / "aft" / "server" / "static"
JS_TESTS = REPO / "tests" / "js"
#: The oldest Node.js with what the tests use (the test runner's spec reporter).
MIN_NODE = (18, 15)


def node() -> str:
    """The ``node`` command; a missing or too old Node.js fails the test with the reason."""
    found = shutil.which("node")
    if found is None:
        pytest.fail(
            "node is not on PATH: the console's JavaScript tests need Node.js "
            f"{'.'.join(map(str, MIN_NODE))} or newer (scripts/install-test-deps installs it)"
        )
    version = subprocess.run([found, "--version"], capture_output=True, text=True, check=True)
    numbers = tuple(int(n) for n in re.findall(r"\d+", version.stdout)[:2])
    if numbers < MIN_NODE:
        pytest.fail(
            f"node {version.stdout.strip()} is too old for the console's JavaScript tests: "
            f"they need {'.'.join(map(str, MIN_NODE))} or newer"
        )
    return found


def scripts() -> list[Path]:
    """Every script the package serves to the browser."""
    return sorted(STATIC.rglob("*.js"))


def shown(path: Path) -> str:
    return f"aft/server/static/{path.relative_to(STATIC).as_posix()}"


def test_the_modules_pass_their_unit_tests():
    tests = sorted(JS_TESTS.glob("*.test.mjs"))
    assert tests, f"no *.test.mjs in {JS_TESTS}"
    done = subprocess.run(
        [node(), "--test", "--test-reporter=spec", *(str(t) for t in tests)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"node --test failed:\n{done.stdout}{done.stderr}"


def syntax_error(path: Path, stderr: str) -> str:
    """Node's report of a syntax error read from stdin, named by ``path``, without the stack."""
    lines = stderr.replace("[stdin]", shown(path)).splitlines()
    end = next((i for i, line in enumerate(lines) if re.match(r"\w*Error\b", line)), len(lines))
    return "\n".join(lines[: end + 1])


def test_every_script_parses_as_a_module():
    """Each .js file parses as an ES module, whatever Node makes of its file name (theme.js, a
    classic script, is valid module code too); an error names its file and line."""
    command = [node(), "--input-type=module", "--check"]
    failures = []
    for path in scripts():
        source = path.read_text(encoding="utf-8")
        done = subprocess.run(command, input=source, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            failures.append(syntax_error(path, done.stderr))
    assert not failures, "\n\n".join(failures)


def test_a_syntax_error_is_reported_with_its_file_and_line():
    broken = STATIC / "js" / "broken.js"
    stderr = subprocess.run(
        [node(), "--input-type=module", "--check"],
        input='import { h } from "./dom.js";\n\nconst x = ;\n',
        capture_output=True,
        text=True,
    ).stderr
    report = syntax_error(broken, stderr)
    assert report.startswith("aft/server/static/js/broken.js:3\nconst x = ;\n")
    assert report.endswith("SyntaxError: Unexpected token ';'")


def test_the_package_ships_every_console_file():
    """The installed static/ (package data, setup.cfg) holds every file of the source tree."""

    def files(root: Path) -> set[str]:
        return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}

    assert files(SOURCE_STATIC) - files(STATIC) == set()


def get(app, path: str) -> tuple[int, dict[str, str], bytes]:
    """One GET straight into the WSGI app."""
    target, _, query = path.partition("?")
    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": target, "QUERY_STRING": query,
        "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(),
        "SERVER_NAME": "aft", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
    }  # fmt: skip
    answer: dict[str, object] = {}

    def start_response(status, headers, exc_info=None):
        answer["status"] = int(status.split()[0])
        answer["headers"] = dict(headers)

    body = b"".join(app(environ, start_response))
    return answer["status"], answer["headers"], body  # type: ignore[return-value]


def test_the_page_loads_the_entry_module_and_every_module_is_javascript(instance):
    """Browsers run a module only when served as JavaScript. The page's asset URLs carry the
    version; modules import each other by relative URL and every asset is sent with
    ``Cache-Control: no-cache``, so after an upgrade the browser checks each one again."""
    from aft.server.app import create_app
    from aft.server.http import ServiceContext
    from aft.server.ui import add_ui

    app = create_app(ServiceContext(instance, notify=lambda: None), [add_ui])
    status, _, page = get(app, "/")
    html = page.decode()
    assert status == 200
    assert f'<script type="module" src="/ui/static/app.js?v={__version__}"></script>' in html
    assets = re.findall(r'(?:src|href)="(/ui/static/[^"]+)"', html)
    assert assets and all(a.endswith(f"?v={__version__}") for a in assets), assets
    for path in scripts():
        status, headers, body = get(app, "/ui/static/" + path.relative_to(STATIC).as_posix())
        assert status == 200 and body == path.read_bytes(), shown(path)
        assert "javascript" in headers["Content-Type"], (shown(path), headers["Content-Type"])
        assert headers["Cache-Control"] == "no-cache", shown(path)


#: Reads the VFS types on stdin; for each field, the control its form gets and, for a field
#: that says which messages are about it, which of the sample messages its pattern matches.
VFS_FORM = """
import { readFileSync } from "node:fs";
const { vfsFieldOptions } = await import(process.argv[1]);
const { types, messages } = JSON.parse(readFileSync(0, "utf8"));
const fields = {};
for (const spec of types) {
  for (const f of [...spec.target, ...spec.payload]) {
    const options = vfsFieldOptions(f, f.initial ?? "", {});
    fields[`${spec.type}.${f.name}`] = {
      control: options.type || "text",
      options: options.options || null,
      about: f.about ? messages.map((m) => new RegExp(f.about, "i").test(m)) : null,
    };
  }
}
process.stdout.write(JSON.stringify(fields));
"""


def test_the_vfs_form_takes_every_type_the_service_describes():
    """Every field of every VFS type gets a control, and each field's ``about`` pattern picks
    the same messages in the browser as in Python (the messages each field's checks write)."""
    from aft.vfs import BACKENDS, schema_class

    schemas = [schema_class(name) for name in BACKENDS]
    types = [schema.describe() for schema in schemas]
    every = [f for schema in schemas for f in schema.target_fields + schema.payload_fields]
    messages = [f.label for f in every] + [f.help for f in every if f.help]
    for f in every:
        messages += [m for m in (f.problem(v) for v in ("x y/@?", "-1", "{", "maybe")) if m]
    done = subprocess.run(
        [node(), "--input-type=module", "-e", VFS_FORM, (STATIC / "js" / "vfs-form.js").as_uri()],
        input=json.dumps({"types": types, "messages": messages}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    fields = json.loads(done.stdout)
    assert len(fields) == len(every)
    for spec in types:
        for f in spec["target"] + spec["payload"]:
            form = fields[f"{spec['type']}.{f['name']}"]
            assert form["control"] in {"text", "select", "checkbox", "textarea", "password"}
            if f["kind"] == "choice":
                assert form["options"] == f["choices"] and f["choices"], f["name"]
            if f["about"]:
                python = [re.search(f["about"], m, re.IGNORECASE) is not None for m in messages]
                assert form["about"] == python, f"{spec['type']}.{f['name']}: {f['about']!r}"
