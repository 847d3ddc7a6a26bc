"""A QuickJS context (from dukpy) whose scripts can call Python host functions.

dukpy's public ``JSInterpreter`` costs more start-up time than ``node`` needs for a whole
script, so aft runs dukpy's native context directly, through
:mod:`aft.syncjs._dukpy_adapter` (the only user of dukpy's private names):
``call_python(name, ...args)`` in JS reaches :meth:`Engine.call_function` with JSON
arguments and takes a JSON answer back.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aft.syncjs._dukpy_adapter import JSRuntimeError, NativeContext

HostFunction = Callable[..., Any]


class HostTypeError(Exception):
    """Raised by a host function to throw a JS ``TypeError`` (a programming error)."""


class ScriptExit(Exception):
    """Raised by a host function to unwind the script after ``Exit()``."""


#: Raised by :meth:`Engine.eval` for any uncaught JS error; its text is QuickJS's
#: message followed by the stack (``at fn (file:line:col)`` lines).
JSError = JSRuntimeError


class Engine(NativeContext):
    """One JS global context.

    Args:
        functions: host functions by name; JS calls them as ``call_python(name, ...)``.
            A function returns a JSON-serialisable value.
    """

    def __init__(self, functions: dict[str, HostFunction]) -> None:
        self._functions = functions
        super().__init__()

    def eval(self, source: str, filename: str, **variables: Any) -> Any:
        """Run ``source`` as a global script named ``filename`` (in stack traces).

        ``variables`` are visible to it as properties of the global ``dukpy`` object.
        Returns the script's completion value, decoded from JSON.

        Raises:
            JSError: on a syntax error or an uncaught exception.
        """
        result = self.eval_script(source.encode(), json.dumps(variables).encode(), filename)
        return None if result is None else json.loads(result)

    def has_function(self, name: str) -> bool:
        return name in self._functions

    def call_function(self, name: str, args: bytes) -> bytes:
        # The answer is an envelope the JS bridge (runtime.js) unwraps:
        # {"v": value} | {"t": TypeError text} | {"x": 1} for Exit | {"e": Error text}
        try:
            answer = {"v": self._functions[name](*json.loads(args))}
        except HostTypeError as exc:
            answer = {"t": str(exc)}
        except ScriptExit:
            answer = {"x": 1}
        except Exception as exc:  # a bug in a host function: fail the script, not the process
            answer = {"e": f"internal error in {name}: {exc!r}"}
        return json.dumps(answer).encode()
