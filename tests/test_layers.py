"""The layering of the package, as a test: a module imports only from its own layer or
lower ones, and aft's packages form no import cycle.

Every ``import`` counts, at module level or inside a function (the package imports lazily
to start fast, and a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

#: Lowest first. A module belongs to the first layer with a prefix that names it.
LAYERS: list[tuple[str, list[str]]] = [
    ("values", ["aft.exceptions", "aft.models", "aft.roles", "aft._version", "aft._waiting"]),
    (
        "storage and configuration",
        [
            "aft._paths",
            "aft._serde",
            "aft._store",
            "aft._pgstore",
            "aft.config",
            "aft.audit",
            "aft.journal",
        ],
    ),
    (
        "stores, queue and backends",
        [
            "aft.settings",
            "aft.secrets_store",
            "aft.keys",
            "aft.accounts",
            "aft.scripts_store",
            "aft.jobs",
            "aft.retention",
            "aft.schedules",
            "aft.migrate",
            "aft.mail",
            "aft.notify",
            "aft.pgp",
            "aft.otfe",
            "aft.vfs",
        ],
    ),
    ("script runtime", ["aft.syncjs", "aft.executor"]),
    ("composition root", ["aft.instance"]),
    ("other libraries' views of an instance (fsspec)", ["aft.fsspec"]),
    ("runners", ["aft.worker", "aft.cluster"]),
    ("service and client", ["aft.server", "aft.client"]),
    ("test harness: pytest fixtures over the library and the service", ["aft.testing"]),
    ("command line", ["aft.cli", "aft._fire_adapter"]),
    ("the package's front: its lazily loaded public names", ["aft"]),
]
#: Siblings in one layer that must never import each other.
APART = [("aft.server", "aft.client")]


def _under(module: str, prefix: str) -> bool:
    return module == prefix or (prefix != "aft" and module.startswith(prefix + "."))


def layer_of(module: str) -> int:
    """The index of the layer ``module`` belongs to (the longest matching prefix wins)."""
    best, length = -1, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if _under(module, prefix) and len(prefix) > length:
                best, length = index, len(prefix)
    if best < 0:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS in {__file__}")
    return best


def package_of(module: str) -> str:
    """The unit the cycle check looks at: ``aft.vfs`` for ``aft.vfs.sftp``, a module of
    the package's top level for itself."""
    parts = module.split(".")
    return ".".join(parts[:2])


def modules(root: Path) -> dict[str, Path]:
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The aft modules that ``name`` imports, anywhere in its code."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if _under(a.name, "aft") or a.name == "aft")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target != "aft" and not target.startswith("aft."):
                continue
            for alias in node.names:
                full = f"{target}.{alias.name}"
                found.add(full if full in known else target)
    found.discard(name)
    return found


def violations(graph: dict[str, set[str]]) -> list[str]:
    """Every import that runs up the layers or joins two siblings kept apart."""
    wrong = []
    for module, deps in sorted(graph.items()):
        for dep in sorted(deps):
            if layer_of(dep) > layer_of(module):
                wrong.append(
                    f"{module} ({LAYERS[layer_of(module)][0]}) imports {dep}"
                    f" ({LAYERS[layer_of(dep)][0]}), a higher layer"
                )
            for a, b in APART:
                if _under(module, a) and _under(dep, b) or _under(module, b) and _under(dep, a):
                    wrong.append(f"{module} imports {dep}: {a} and {b} stay apart")
    return wrong


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles between packages (each found once, as a path)."""
    edges: dict[str, set[str]] = {}
    for module, deps in graph.items():
        here = package_of(module)
        edges.setdefault(here, set()).update(package_of(d) for d in deps if package_of(d) != here)
    found, state = [], dict.fromkeys(edges, 0)  # 0 new, 1 on the path, 2 done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt, 0) == 1:
                found.append([*path[path.index(nxt) :], nxt])
            elif state.get(nxt, 0) == 0:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(edges):
        if state[start] == 0:
            visit(start, [start])
    return found


def the_graph() -> dict[str, set[str]]:
    known = modules(REPO / "aft")
    return {name: imports(name, path, known) for name, path in known.items()}


def test_no_module_imports_a_higher_layer():
    assert violations(the_graph()) == []


def test_the_packages_form_no_cycle():
    assert cycles(the_graph()) == []


def test_the_checks_find_what_they_look_for():
    """The checks can fail: an upward import, two siblings, and a cycle are each reported."""
    graph = {
        "aft.jobs": {"aft.server.app"},
        "aft.server.app": {"aft.client"},
        "aft.vfs.sftp": {"aft.syncjs.host"},
        "aft.syncjs.host": {"aft.vfs.base"},
    }
    found = violations(graph)
    assert any(w.startswith("aft.jobs (stores, queue and backends) imports") for w in found)
    assert any("aft.server and aft.client stay apart" in w for w in found)
    assert ["aft.syncjs", "aft.vfs", "aft.syncjs"] in cycles(graph) or [
        "aft.vfs",
        "aft.syncjs",
        "aft.vfs",
    ] in cycles(graph)
