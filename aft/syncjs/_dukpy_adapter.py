"""dukpy's private native module, loaded on its own, and the host protocol it speaks.

dukpy's public ``JSInterpreter`` also installs a Node-like module loader, and its package
``__init__`` imports compilers and an HTTP client: about 35 ms more than the 5 ms this
module takes, on every ``aft run`` (more than ``node`` needs for a whole script). aft
needs only the native QuickJS context, so this module loads dukpy's extension module by
file, without running the package, and :class:`NativeContext` speaks its protocol. It is
the only user of these names; :data:`PRIVATE_NAMES` lists them for
``tests/test_adapters.py``, which fails naming the missing one when an upgrade drops it,
and ``setup.cfg`` pins dukpy below its next minor version (0.x minors change this layer).

- ``dukpy._dukpy`` (private extension module), found as ``_dukpy<suffix>`` in the
  ``dukpy`` package folder and loaded under the name ``_dukpy``.
- ``_dukpy.create_context()``: a new QuickJS context.
- ``_dukpy.eval_string(interpreter, source, variables, as_module, filename)``: run a
  script; ``variables`` (JSON) become properties of the global ``dukpy`` object.
- ``_dukpy.JSRuntimeError``: the exception for an uncaught JS error.
- Names the native module looks up on the ``interpreter`` it is given: the context in
  ``_ctx``, and the methods ``_check_exported_function_exists(name)`` and
  ``_call_python(name, json_args)`` through which JS ``call_python(name, ...args)``
  reaches Python (see :class:`NativeContext`).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
from types import ModuleType
from typing import Literal, NamedTuple


class PrivateName(NamedTuple):
    """One private dukpy name this module relies on.

    Attributes:
        owner: the dotted path of the module that holds it (``dukpy._dukpy`` is the native
            module as loaded here: :data:`native`).
        name: the attribute's name.
        kind: ``"callable"`` or ``"class"`` (an attribute of the owner), or ``"callback"``
            (a name the owner looks up on an object aft gives it).
        used_by: for a callback, the module whose code must still name it; else ``""``.
    """

    owner: str
    name: str
    kind: Literal["callable", "class", "callback"]
    used_by: str = ""


#: Every private dukpy name used here (see the module docstring).
PRIVATE_NAMES: tuple[PrivateName, ...] = (
    PrivateName("dukpy._dukpy", "create_context", "callable"),
    PrivateName("dukpy._dukpy", "eval_string", "callable"),
    PrivateName("dukpy._dukpy", "JSRuntimeError", "class"),
    PrivateName("dukpy._dukpy", "_ctx", "callback", "dukpy._dukpy"),
    PrivateName("dukpy._dukpy", "_check_exported_function_exists", "callback", "dukpy._dukpy"),
    PrivateName("dukpy._dukpy", "_call_python", "callback", "dukpy._dukpy"),
)


def load_native() -> ModuleType:
    """dukpy's extension module, loaded without importing the ``dukpy`` package.

    Raises:
        ImportError: when dukpy or its native module is missing.
    """
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


#: The native module (``dukpy._dukpy``), loaded once when this module is imported.
native = load_native()

#: The exception for an uncaught JS error; its text is QuickJS's message followed by the
#: stack (``at fn (file:line:col)`` lines).
JSRuntimeError: type[Exception] = native.JSRuntimeError


class NativeContext:
    """One QuickJS global context whose scripts call back into Python.

    Subclasses say which functions exist (:meth:`has_function`) and run them
    (:meth:`call_function`).
    """

    def __init__(self) -> None:
        self._ctx = native.create_context()

    def eval_script(self, source: bytes, variables: bytes, filename: str) -> bytes | None:
        """Run ``source`` as a global script named ``filename`` (in stack traces).

        Args:
            source: the script's UTF-8 text.
            variables: a JSON object whose properties the global ``dukpy`` object gets.
            filename: the script's name in stack traces.

        Returns:
            The script's completion value as JSON, or None.

        Raises:
            JSRuntimeError: on a syntax error or an uncaught exception.
        """
        result: bytes | None = native.eval_string(self, source, variables, False, filename)
        return result

    def has_function(self, name: str) -> bool:
        """Whether JS ``call_python(name, ...)`` may be called."""
        raise NotImplementedError

    def call_function(self, name: str, args: bytes) -> bytes:
        """Run the host function ``name`` for JS; ``args`` and the answer are JSON."""
        raise NotImplementedError

    # The two methods below are the protocol the native module calls back into.

    def _check_exported_function_exists(self, name: bytes) -> bool:
        return self.has_function(name.decode())

    def _call_python(self, name: bytes, args: bytes) -> bytes:
        return self.call_function(name.decode(), args)
