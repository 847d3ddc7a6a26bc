"""A QuickJS context (from dukpy) whose scripts can call Python host functions.

dukpy's public ``JSInterpreter`` costs more start-up time than ``node`` needs for a whole
script, so aft runs dukpy's native context directly, through
:mod:`aft.syncjs._dukpy_adapter` (the only user of dukpy's private names):
``call_python(name, ...args)`` in JS reaches :meth:`Engine.call_function` with JSON
arguments and takes a JSON answer back.

dukpy runs JS holding the GIL, and only the main thread's signal handlers can interrupt
it, so a script busy in JS (``while(true){}``) would freeze every other thread of its
process and could not be stopped. :func:`run_isolated` therefore runs the engine in a
forked child process that holds nothing but QuickJS: every host function still runs here,
in the calling thread, answered over a pair of pipes, and a script that has not ended
``grace`` seconds after the halt signal is killed (SIGKILL) without harming its caller.
A fork costs about a millisecond and a host call two pipe round trips.
"""

from __future__ import annotations

import json
import os
import select
import signal
import struct
import time
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, Protocol

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
        return host_answer(self._functions, name, args)


def host_answer(functions: dict[str, HostFunction], name: str, args: bytes) -> bytes:
    """Run the host function ``name`` with JSON ``args``; the answer is the envelope the
    JS bridge (runtime.js) unwraps: ``{"v": value}``, ``{"t": TypeError text}``,
    ``{"x": 1}`` for Exit or ``{"e": Error text}``."""
    try:
        answer = {"v": functions[name](*json.loads(args))}
    except HostTypeError as exc:
        answer = {"t": str(exc)}
    except ScriptExit:
        answer = {"x": 1}
    except Exception as exc:  # a bug in a host function: fail the script, not the process
        answer = {"e": f"internal error in {name}: {exc!r}"}
    return json.dumps(answer).encode()


#: One script for :func:`run_isolated`: (source, file name, variables of ``dukpy``).
Step = tuple[str, str, dict[str, Any]]


class EngineKilled(Exception):
    """The engine process was killed: it had not ended ``grace`` seconds after the halt."""


class HaltFlag(Protocol):
    """What :func:`run_isolated` needs of a halt signal (``aft.syncjs.host.HaltSignal``)."""

    def is_set(self) -> bool: ...

    def fileno(self) -> int: ...


def run_isolated(
    functions: dict[str, HostFunction], steps: Sequence[Step], halt: HaltFlag, grace: float
) -> str | None:
    """Run ``steps`` in order in one JS context in a child process; host functions run in
    the calling thread, whose process keeps all its other threads running meanwhile.

    Args:
        functions: the host functions by name, as for :class:`Engine`.
        steps: the scripts to evaluate, in order, in the same global context.
        halt: once set, the child has ``grace`` seconds to end before it is killed.
        grace: seconds between the halt and the kill.

    Returns:
        None when every step ran, else the text of the uncaught JS error (as
        :data:`JSError` has it) that ended them.

    Raises:
        EngineKilled: the child was killed after the grace.
    """
    requests_r, requests_w = os.pipe()
    answers_r, answers_w = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # never returns
        os.close(requests_r)
        os.close(answers_w)
        _child(functions, steps, answers_r, requests_w, parent)
    os.close(requests_w)
    os.close(answers_r)
    done = False
    try:
        kill_at: float | None = None
        while True:
            if kill_at is None and halt.is_set():
                kill_at = time.monotonic() + grace
            watch = [requests_r] if kill_at is not None else [requests_r, halt.fileno()]
            wait = None if kill_at is None else max(0.0, kill_at - time.monotonic())
            ready, _, _ = select.select(watch, [], [], wait)
            if requests_r in ready:
                frame = _receive(requests_r)
                if frame is None:
                    _, status = os.waitpid(pid, 0)
                    done = True
                    return f"Error: the script engine process died ({_describe_status(status)})"
                kind, payload = frame
                if kind == b"r":
                    os.waitpid(pid, 0)
                    done = True
                    error: str | None = json.loads(payload)["error"]
                    return error
                name, _, args = payload.partition(b"\0")
                _send(answers_w, b"a", host_answer(functions, name.decode(), args))
            elif kill_at is not None and time.monotonic() >= kill_at:
                raise EngineKilled(f"killed: still running {grace:g}s after the halt")
    finally:
        os.close(requests_r)
        os.close(answers_w)
        if not done:  # killed, or the caller was interrupted (Ctrl-C in a notebook)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


class _ChildContext(Engine):
    """The child's engine: each host call goes to the parent and waits for its answer."""

    def __init__(self, names: set[str], answers: int, requests: int) -> None:
        self._names = names
        self._answers = answers
        self._requests = requests
        super().__init__({})

    def has_function(self, name: str) -> bool:
        return name in self._names

    def call_function(self, name: str, args: bytes) -> bytes:
        _send(self._requests, b"c", name.encode() + b"\0" + args)
        frame = _receive(self._answers)
        if frame is None:  # the parent is gone
            os._exit(1)
        return frame[1]


def _child(
    functions: dict[str, HostFunction],
    steps: Sequence[Step],
    answers: int,
    requests: int,
    parent: int,
) -> NoReturn:
    code = 70
    try:
        for signum in signal.valid_signals():  # the caller's handlers are not ours
            if callable(signal.getsignal(signum)):
                signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the caller's to handle

        def orphaned(signum: int, frame: object) -> None:
            if os.getppid() != parent:
                os._exit(1)  # never outlive the caller, even busy in JS

        signal.signal(signal.SIGALRM, orphaned)
        signal.setitimer(signal.ITIMER_REAL, 0.5, 0.5)
        engine = _ChildContext(set(functions), answers, requests)
        error = None
        try:
            for source, filename, variables in steps:
                engine.eval(source, filename, **variables)
        except JSError as exc:
            error = str(exc)
        _send(requests, b"r", json.dumps({"error": error}).encode())
        code = 0
    finally:
        os._exit(code)


_HEADER = struct.Struct(">cI")


def _send(fd: int, kind: bytes, payload: bytes) -> None:
    data = memoryview(_HEADER.pack(kind, len(payload)) + payload)
    while data:
        data = data[os.write(fd, data) :]


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _receive(fd: int) -> tuple[bytes, bytes] | None:
    """One frame (kind, payload), or None at end of file."""
    header = _read_exactly(fd, _HEADER.size)
    if header is None:
        return None
    kind, size = _HEADER.unpack(header)
    payload = _read_exactly(fd, size) if size else b""
    return None if payload is None else (kind, payload)


def _describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit {os.waitstatus_to_exitcode(status)}"
