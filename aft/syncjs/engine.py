"""A QuickJS context (from dukpy) whose scripts can call Python host functions.

dukpy's public ``JSInterpreter`` also installs a Node-like module loader and its package
``__init__`` imports compilers and an HTTP client; together they cost more start-up time
than ``node`` needs for a whole script. aft needs only the native context, so this
module loads dukpy's extension module by itself and speaks its small host protocol:
``call_python(name, ...args)`` in JS reaches :meth:`Engine._call_python` with JSON
arguments and takes a JSON answer back.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
from collections.abc import Callable
from typing import Any

HostFunction = Callable[..., Any]


class HostTypeError(Exception):
    """Raised by a host function to throw a JS ``TypeError`` (a programming error)."""


class ScriptExit(Exception):
    """Raised by a host function to unwind the script after ``Exit()``."""


def _load_native() -> Any:
    spec = importlib.util.find_spec("dukpy")  # finds the package without running it
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("aft needs the dukpy package (pip install 'dukpy>=0.6')", name="dukpy")
    folder = spec.submodule_search_locations[0]
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = os.path.join(folder, "_dukpy" + suffix)
        if os.path.exists(path):
            loader = importlib.machinery.ExtensionFileLoader("_dukpy", path)
            module = importlib.util.module_from_spec(
                importlib.machinery.ModuleSpec("_dukpy", loader, origin=path)
            )
            loader.exec_module(module)
            return module
    raise ImportError(f"dukpy's native module is missing from {folder}", name="dukpy")


_native = _load_native()

#: Raised by :meth:`Engine.eval` for any uncaught JS error; its text is QuickJS's
#: message followed by the stack (``at fn (file:line:col)`` lines).
JSError = _native.JSRuntimeError


class Engine:
    """One JS global context.

    Args:
        functions: host functions by name; JS calls them as ``call_python(name, ...)``.
            A function returns a JSON-serialisable value.
    """

    def __init__(self, functions: dict[str, HostFunction]) -> None:
        self._functions = functions
        self._ctx = _native.create_context()

    def eval(self, source: str, filename: str, **variables: Any) -> Any:
        """Run ``source`` as a global script named ``filename`` (in stack traces).

        ``variables`` are visible to it as properties of the global ``dukpy`` object.
        Returns the script's completion value, decoded from JSON.

        Raises:
            JSError: on a syntax error or an uncaught exception.
        """
        result = _native.eval_string(
            self, source.encode(), json.dumps(variables).encode(), False, filename
        )
        return None if result is None else json.loads(result)

    # The two methods below are the protocol the native module calls back into.

    def _check_exported_function_exists(self, name: bytes) -> bool:
        return name.decode() in self._functions

    def _call_python(self, name: bytes, args: bytes) -> bytes:
        # The answer is an envelope the JS bridge (runtime.js) unwraps:
        # {"v": value} | {"t": TypeError text} | {"x": 1} for Exit | {"e": Error text}
        function = name.decode()
        try:
            answer = {"v": self._functions[function](*json.loads(args))}
        except HostTypeError as exc:
            answer = {"t": str(exc)}
        except ScriptExit:
            answer = {"x": 1}
        except Exception as exc:  # a bug in a host function: fail the script, not the process
            answer = {"e": f"internal error in {function}: {exc!r}"}
        return json.dumps(answer).encode()
