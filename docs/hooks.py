"""MkDocs hooks: the reference pages that are generated from the code at build time.

- ``api.md``: one mkdocstrings section per public name of ``aft.__all__``;
- ``rest.md``: the REST API, from the OpenAPI document (:mod:`aft.server.openapi`);
- ``cli.md``: the ``--help`` text of ``aft`` and of each of its commands;
- ``settings.md``: every instance setting, its type, default, allowed values and meaning.

The site documents this checkout: its root goes first on ``sys.path`` (and on the
``PYTHONPATH`` of the ``aft`` process whose help texts are read). Pages that other parts of the
project add (listed in ``OPTIONAL_PAGES``) join the navigation when their file exists.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from http import HTTPStatus
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

#: Pages that join the navigation only when their file exists: (section, title, file).
OPTIONAL_PAGES = (
    ("SyncJS scripts", "On-the-fly encryption", "otfe.md"),
    ("SyncJS scripts", "Names from the original product", "syncjs-names.md"),
)


def on_config(config: Any) -> Any:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    docs = Path(config["docs_dir"])
    for section, title, page in OPTIONAL_PAGES:
        if (docs / page).is_file():
            for entry in config["nav"]:
                if isinstance(entry, dict) and section in entry:
                    entry[section].append({title: page})
    return config


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    pages = {
        "api.md": api_markdown(),
        "rest.md": rest_markdown(),
        "cli.md": cli_markdown(),
        "settings.md": settings_markdown(),
    }
    for name, content in pages.items():
        files.append(File.generated(config, name, content=content))
    return files


# ---- the Python API ----------------------------------------------------------------------


def api_markdown() -> str:
    """A page with one mkdocstrings section per name of ``aft.__all__``, by module."""
    import aft

    by_module: dict[str, list[str]] = {}
    for name in aft.__all__:
        module = getattr(aft, name).__module__
        by_module.setdefault(module, []).append(name)
    out = [
        "# Python API",
        "",
        "Every name below is importable from `aft` itself (`from aft import Instance`);",
        "the heading says the module it lives in. Generated from the docstrings;",
        "the [Python guide](python.md) shows how the pieces fit together.",
        "",
    ]
    for module in sorted(by_module):
        out += [f"## `{module}`", ""]
        for name in by_module[module]:
            out += [f"::: {module}.{name}", "    options:", "      heading_level: 3", ""]
    return "\n".join(out)


# ---- the REST API ------------------------------------------------------------------------


def _schema_type(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        text = " or ".join(kind)
    elif kind == "array":
        text = f"array of {_schema_type(schema.get('items', {}))}"
    else:
        text = kind or "any"
    if "enum" in schema:
        text += ": " + ", ".join(f"`{v}`" for v in schema["enum"])
    limits = [
        f"{word} {schema[key]}"
        for key, word in (("minimum", "min"), ("maximum", "max"), ("maxLength", "max length"))
        if key in schema
    ]
    if "pattern" in schema:
        limits.append(f"pattern `{schema['pattern']}`")
    return text + (f" ({', '.join(limits)})" if limits else "")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _fields(schema: dict[str, Any]) -> list[str]:
    """A table of an object schema's properties, or its JSON when it has none."""
    properties = schema.get("properties")
    if not properties:
        if schema.get("type") == "array" and "items" in schema:
            return ["An array; each item:", "", *_fields(schema["items"])]
        return ["```json", json.dumps(schema, indent=2), "```", ""]
    required = set(schema.get("required", []))
    rows = ["| field | type | required | description |", "|---|---|---|---|"]
    for name, field in properties.items():
        rows.append(
            f"| `{name}` | {_cell(_schema_type(field))} | {'yes' if name in required else ''} "
            f"| {_cell(field.get('description', ''))} |"
        )
    notes = []
    if "oneOf" in schema:
        choices = [" and ".join(f"`{r}`" for r in o.get("required", [])) for o in schema["oneOf"]]
        notes.append("Exactly one of " + ", ".join(choices) + ".")
    if schema.get("additionalProperties") is False:
        notes.append("Other fields are refused.")
    return [*rows, "", *([" ".join(notes), ""] if notes else [])]


def _resolve(document: dict[str, Any], value: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in value:
        node: Any = document
        for part in value["$ref"].lstrip("#/").split("/"):
            node = node[part]
        value = node
    return value


def rest_markdown() -> str:
    """The REST reference: every operation of the OpenAPI document, in its order."""
    from aft.server.openapi import openapi_document

    document = openapi_document()
    scheme = document["components"]["securitySchemes"]["apiKey"]
    out = [
        "# REST API",
        "",
        f"`aft serve` answers under `/v1`; this page is generated from the OpenAPI "
        f"{document['openapi']} document that the service also serves at "
        "`GET /v1/openapi.json`. Every request carries an API key in the "
        f"`{scheme['name']}` header (`aft apikeys create`) or comes from a signed-in console "
        "session. Each operation says which roles may call it (`x-aft-role`; see "
        "[Roles](roles.md)): a key of scope `run` may start jobs and read the jobs it "
        "started; `viewer` reads, `operator` also runs and halts jobs, `admin` does everything.",
        "",
        "An error answer is a JSON object with a stable `error` code and a `message` for a person:",
        "",
        *_fields(
            _resolve(document, {"$ref": "#/components/responses/Error"})["content"][
                "application/json"
            ]["schema"]
        ),
    ]
    for path, item in document["paths"].items():
        shared = item.get("parameters", [])
        for method, operation in item.items():
            if method == "parameters":
                continue
            out += [f"## `{method.upper()} {path}`", "", operation.get("summary", ""), ""]
            if operation.get("description"):
                out += [operation["description"], ""]
            parameters = [*shared, *operation.get("parameters", [])]
            if parameters:
                out += ["| parameter | in | type | required | description |"]
                out += ["|---|---|---|---|---|"]
                for p in parameters:
                    out.append(
                        f"| `{p['name']}` | {p['in']} | {_cell(_schema_type(p.get('schema', {})))}"
                        f" | {'yes' if p.get('required') else ''}"
                        f" | {_cell(p.get('description', ''))} |"
                    )
                out.append("")
            body = operation.get("requestBody")
            if body:
                out += ["Request body (JSON):", ""]
                out += _fields(body["content"]["application/json"]["schema"])
            errors = []
            for status, response in operation["responses"].items():
                if response.get("$ref") == "#/components/responses/Error":
                    errors.append(f"`{status}` {HTTPStatus(int(status)).phrase}")
                    continue
                schema = response.get("content", {}).get("application/json", {})
                out += [f"Answer: `{status}` {HTTPStatus(int(status)).phrase}", ""]
                if schema.get("schema", {}).get("properties"):
                    out += _fields(schema["schema"])
            if errors:
                out += ["Errors (the error object above): " + ", ".join(sorted(errors)) + ".", ""]
    return "\n".join(out)


# ---- the command line --------------------------------------------------------------------


def _commands() -> list[list[str]]:
    """Every command line whose help the page shows: aft, each group and each command."""
    from aft.cli import AftCommands

    def public(kind: type) -> list[str]:
        return [
            n.replace("_", "-")
            for n, v in vars(kind).items()
            if callable(v) and not n.startswith("_")
        ]

    top = AftCommands()
    lines: list[list[str]] = [[]]
    lines += [[name] for name in public(AftCommands)]
    for group, commands in vars(top).items():
        lines.append([group])
        lines += [[group, name] for name in public(type(commands))]
    return lines


#: Run in one ``aft`` process of its own: prints each command's help, as JSON.
_HELP_TEXTS = """
import contextlib, io, json, sys
from aft.cli import main
texts = []
for words in json.loads(sys.argv[1]):
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        status = main([*words, "--help"])
    texts.append([status, printed.getvalue()])
print(json.dumps(texts))
"""


def _help_texts(commands: list[list[str]]) -> list[str]:
    """What ``aft WORDS --help`` prints, for each command line."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", _HELP_TEXTS, json.dumps(commands)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"reading the help of aft failed: {done.stderr.strip()}")
    texts = []
    for words, (status, printed) in zip(commands, json.loads(done.stdout), strict=True):
        # Fire starts its help with a line of its own that says how it was asked.
        text = "\n".join(
            line
            for line in printed.splitlines()
            if not line.startswith("INFO: Showing help with the command")
        ).strip()
        if status != 0 or not text:
            raise RuntimeError(f"aft {' '.join(words)} --help failed: {text}")
        texts.append(text)
    return texts


def cli_markdown() -> str:
    """The CLI reference: the help text of every command, as ``aft ... --help`` prints it."""
    commands = _commands()
    texts = _help_texts(commands)
    out = [
        "# Command line",
        "",
        "The `aft` command, as `aft ... --help` prints it (this page is generated from",
        "those texts).",
        "",
    ]
    for words, text in zip(commands, texts, strict=True):
        title = " ".join(["aft", *words])
        level = "##" if len(words) < 2 else "###"
        out += [f"{level} `{title}`", "", "```text", text, "```", ""]
    return "\n".join(out)


# ---- settings ----------------------------------------------------------------------------


def settings_markdown() -> str:
    """Every setting of :data:`aft.settings.SETTINGS`, as ``aft settings list`` knows it."""
    from aft.settings import SETTINGS, SettingDef

    def allowed(setting: SettingDef) -> str:
        if setting.choices:
            return " \\| ".join(f"`{c}`" for c in setting.choices)
        if setting.type is bool:
            return "`true` \\| `false`"
        if setting.type is int:
            top = "" if setting.high is None else f" to {setting.high}"
            return f"{setting.low}{top}"
        return "absolute folders separated by `:`" if setting.folders else "text"

    def default(setting: SettingDef) -> str:
        value = str(setting.default).lower() if setting.type is bool else str(setting.default)
        return f"`{value}`" if value else "(empty)"

    out = [
        "# Settings",
        "",
        "An instance's settings, as `aft settings list` prints them (this page is generated",
        "from the same table). Read one with `aft settings get KEY`, change it with",
        "`aft settings set KEY VALUE`, over REST with `PUT /v1/settings/{key}`, or on the",
        "console's Settings page. A value outside the allowed ones is refused with exit",
        "status 2 (400 over REST); every change goes into the audit trail.",
        "",
        "| setting | allowed values | default | what it does |",
        "|---|---|---|---|",
    ]
    for setting in SETTINGS.values():
        out.append(
            f"| `{setting.key}` | {allowed(setting)} | {default(setting)} | {_cell(setting.help)} |"
        )
    return "\n".join(out) + "\n"
