"""The host functions as declared in Python, the checks generated from them, and the JS
runtime that exposes them: neither side names a host function the other does not know.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from aft.executor import LAZY_RUNTIME
from aft.syncjs.declarations import (
    BadArgument,
    HostObject,
    ScriptRecord,
    bind,
    bind_methods,
    host_function,
)
from aft.syncjs.engine import Engine, HostTypeError
from aft.syncjs.host import HaltSignal, Inbox, JobHost, Masker
from aft.syncjs.net_host import NetHost
from aft.syncjs.script_api import declared_functions, script_api, script_api_json
from aft.syncjs.vfs_handles import VFS_TYPES
from aft.syncjs.vfs_host import VfsHost
from aft.syncjs.watchers import WatcherHost
from tests.conftest import REPO

RUNTIME_DIR = REPO / "aft" / "syncjs"
RUNTIME_FILES = ("runtime.js", *LAZY_RUNTIME)
#: The JS classes that carry the methods declared for each owner.
OWNERS: dict[str, list[str]] = {
    "VirtualFS": ["VirtualFS"],
    "Client": script_api()["clients"],
    "Watcher": ["FsWatcher", "RemoteWatcher"],
    "HttpCli": ["HttpCli"],
}


def js_source(name: str) -> str:
    return (RUNTIME_DIR / name).read_text(encoding="utf-8")


def named_in_js() -> dict[str, set[str]]:
    """The host functions each runtime file calls by name: ``host("name"...``."""
    pattern = re.compile(r"""\bhost\(\s*["']([^"']+)["']""")
    return {name: set(pattern.findall(js_source(name))) for name in RUNTIME_FILES}


def run_hosts() -> dict[str, Any]:
    """One run's function table, built as the Executor builds it."""
    halt = HaltSignal()
    masker = Masker()
    host = JobHost(emit=lambda level, text: None, halt=halt, secret=lambda n: None, masker=masker)
    vfs = VfsHost(library=None, log=host.log, reveal=masker.reveal, halt=halt)
    watchers = WatcherHost(inbox=Inbox(halt), log=host.log, reveal=masker.reveal)
    net = NetHost(log=host.log, halt=halt, mask=masker, reveal=masker.reveal, secret=lambda n: None)
    return host.functions(vfs.functions(), watchers.functions(), net.functions())


def runtime_faces() -> dict[str, Any]:
    """What the runtime defines: global functions, and each class's methods."""
    engine = Engine(run_hosts())
    lazy = [[f, names, js_source(f)] for f, names in LAZY_RUNTIME.items()]
    variables = {"api": script_api_json(), "params": {}, "jobId": "", "scriptName": ""}
    engine.eval(js_source("runtime.js"), "runtime.js", **variables, lazy=lazy)
    found = engine.eval(  # reading each global compiles the lazy files
        """
        (function () {
          var found = {globals: [], methods: {}};
          Object.getOwnPropertyNames(globalThis).forEach(function (name) {
            var value = globalThis[name];
            if (typeof value !== "function") return;
            found.globals.push(name);
            var names = [];
            var p = value.prototype;
            for (; p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
              names = names.concat(Object.getOwnPropertyNames(p));
            }
            found.methods[name] = names;
          });
          return found;
        })()
        """,
        "faces.js",
    )
    assert isinstance(found, dict)
    return found


# ---- Python and JS name the same host functions ---------------------------------------------


def test_every_host_function_a_js_file_names_is_declared() -> None:
    declared = declared_functions()
    for file, names in named_in_js().items():
        assert names - set(declared) == set(), f"{file} calls host functions Python lacks"


def test_every_declared_host_function_is_exposed_by_the_runtime() -> None:
    """A wrapped function is called by name in a JS file; the runtime defines the others
    (globals, and methods on each class of their owner)."""
    named = set().union(*named_in_js().values())
    faces = runtime_faces()
    missing = []
    for name, function in declared_functions().items():
        if function.wrapped:
            if name not in named:
                missing.append(f"{name} (wrapped, but no JS file calls it)")
        elif not function.owner:
            if name not in faces["globals"]:
                missing.append(f"{name} (no such global)")
        else:
            assert function.owner in OWNERS, f"add {function.owner}'s classes to OWNERS"
            for js_class in OWNERS[function.owner]:
                if function.member not in faces["methods"].get(js_class, []):
                    missing.append(f"{js_class}.{function.member}")
    assert missing == []


def test_the_runtime_table_holds_exactly_the_declared_functions() -> None:
    assert set(run_hosts()) == set(declared_functions())


def test_js_files_repeat_no_declared_name_or_constant() -> None:
    """The plain functions' names and the constants reach JS only through the api."""
    api = script_api()
    names = [f.member for f in declared_functions().values() if not f.wrapped]
    names += list(api["constants"]) + list(api["clients"])
    for file in RUNTIME_FILES:
        text = js_source(file)
        quoted = {n for n in names if re.search(rf"""["']{re.escape(n)}["']""", text)}
        constants = {n for n in api["constants"] if re.search(rf"\b{re.escape(n)}\b", text)}
        assert quoted | constants == set(), f"{file} repeats names Python declares"


def test_every_declared_signature_can_be_checked() -> None:
    """Each annotation names a type the checks understand (and exists at run time)."""
    for function in declared_functions().values():
        assert function.signature()  # parses the parameters


def test_the_api_is_built_once_per_process() -> None:
    assert script_api() is script_api()
    assert script_api_json() is script_api_json()
    assert json.loads(script_api_json()) == script_api()


def test_vfs_type_constants_name_every_backend() -> None:
    from aft.vfs import BACKENDS

    assert sorted(VFS_TYPES.values()) == sorted(BACKENDS)


# ---- the generated checks -----------------------------------------------------------------


class Sample(HostObject):
    @host_function("Sample.Run")
    def Run(
        self,
        path: str,
        count: int = 1,
        ratio: float = 0.5,
        tags: list[str] | None = None,
        flag: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> list[Any]:
        return [path, count, ratio, tags, flag, extra]

    @host_function("Sample.Either")
    def Either(self, value: str | list[str], from_: int | float) -> list[Any]:
        if value == "bad":
            raise BadArgument("must not be 'bad'", argument="value")
        return [value, from_]


def call(name: str, *args: Any, owner: str | None = None) -> Any:
    return Sample.HOST_FUNCTIONS[name].call(Sample(), args, owner=owner)


def test_checked_arguments_reach_the_method_with_defaults() -> None:
    assert call("Sample.Run", "/p") == ["/p", 1, 0.5, None, False, None]
    assert call("Sample.Run", "/p", 3, 2, ["a"], True, {"k": 1}) == [
        "/p", 3, 2, ["a"], True, {"k": 1},
    ]  # fmt: skip
    # JS gives null for an undefined argument: the default, unless the type takes None.
    assert call("Sample.Run", "/p", None, None, None) == ["/p", 1, 0.5, None, False, None]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "path must be a string"),
        ((3,), "path must be a string"),
        (("/p", True), "count must be a whole number"),
        (("/p", 1.5), "count must be a whole number"),
        (("/p", 1, False), "ratio must be a number"),
        (("/p", 1, "x"), "ratio must be a number"),
        (("/p", 1, 1, "a"), "tags must be an array of strings"),
        (("/p", 1, 1, ["a", 2]), "tags must be an array of strings"),
        (("/p", 1, 1, [], 1), "flag must be a boolean"),
        (("/p", 1, 1, [], True, []), "extra must be an object"),
        (("/p", 1, 1, [], True, {}, 7), "too many arguments (7)"),
    ],
)
def test_wrong_arguments_throw_a_type_error_naming_them(
    args: tuple[Any, ...], message: str
) -> None:
    with pytest.raises(HostTypeError) as caught:
        call("Sample.Run", *args)
    assert str(caught.value) == f"Sample.Run(path, count, ratio, tags, flag, extra): {message}"


def test_unions_names_and_bad_values() -> None:
    assert call("Sample.Either", ["a"], 2.5) == [["a"], 2.5]
    with pytest.raises(HostTypeError, match=r"^Sample\.Either\(value, from\): value must be a "
                       r"string or an array of strings$"):  # fmt: skip
        call("Sample.Either", 1, 1)
    with pytest.raises(HostTypeError, match=r"from must be a number$"):
        call("Sample.Either", "a", None)
    with pytest.raises(HostTypeError, match=r"^Mine\.Either\(value, from\): value must not be"):
        call("Sample.Either", "bad", 1, owner="Mine")


def test_bound_functions_resolve_their_receiver() -> None:
    sample = Sample()
    table = bind_methods(Sample, lambda number: sample)
    assert table["Sample.Run"](1, "/p") == ["/p", 1, 0.5, None, False, None]
    assert set(bind(sample)) == {"Sample.Run", "Sample.Either"}


class Settings(ScriptRecord):
    Name: str = "x"
    Globs: list[str] | None = []
    Delay: float = 0


def test_records_check_each_field_and_keep_defaults() -> None:
    assert Settings.defaults() == {"Name": "x", "Globs": [], "Delay": 0}
    read = Settings.read({"Name": "n", "Globs": None, "Other": 1}, "Thing")
    assert (read.Name, read.Globs, read.Delay) == ("n", None, 0)
    with pytest.raises(HostTypeError, match=r"^Thing\.Delay must be a number$"):
        Settings.read({"Delay": True}, "Thing")
    with pytest.raises(HostTypeError, match=r"^Thing must be an object$"):
        Settings.read([], "Thing")


def test_runtime_files_exist() -> None:
    for name in RUNTIME_FILES:
        assert Path(RUNTIME_DIR / name).is_file()


def test_transfer_options_refuse_what_aft_does_not_honour() -> None:
    from aft.syncjs.transfer_policy import TransferOptions

    honoured = {"OTFE": True, "OTFEKey": "k", "OTFEKeyFromSecret": "", "UploadPolicy": 1}
    assert vars(TransferOptions.read(honoured, "SftpClient.Options")).items() >= honoured.items()
    with pytest.raises(HostTypeError, match=r"^SftpClient\.Options\.OnDownloadGrantTo is refused"):
        TransferOptions.read({"OnDownloadGrantTo": "DOMAIN\\ops"}, "SftpClient.Options")
    with pytest.raises(HostTypeError, match=r"UplaodPolicy is refused: aft has no such option"):
        TransferOptions.read({"UplaodPolicy": 1}, "SftpClient.Options")
