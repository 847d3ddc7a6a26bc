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
A fork costs about a millisecond; a host call is one round trip over the pipes (about
15 µs more CPU than a call in-process).
"""

from __future__ import annotations

import json
import os
import select
import signal
import struct
import threading
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

    def fileno(self) -> int:
        """A descriptor that becomes readable once the halt signal is set."""
        ...


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
    watchdog = _Watchdog(pid, halt, grace)
    requests = _Frames(requests_r)
    outcome: dict[str, str | None] = {}
    try:
        while (frame := requests.next()) is not None:
            kind, payload = frame
            if kind == b"r":
                outcome["error"] = json.loads(payload)["error"]
                break
            name, _, args = payload.partition(b"\0")
            try:
                _send(answers_w, b"a", host_answer(functions, name.decode(), args))
            except BrokenPipeError:
                break  # it was killed meanwhile
    finally:
        watchdog.stop()  # from here on, nothing kills it but this
        os.close(requests_r)
        os.close(answers_w)
        if not outcome:  # killed, died, or the caller was interrupted (Ctrl-C)
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    if outcome:
        return outcome["error"]
    if watchdog.killed:
        raise EngineKilled(f"killed: still running {grace:g}s after the halt")
    return f"Error: the script engine process died ({_describe_status(status)})"


class _Watchdog:
    """A thread that kills the engine process ``grace`` seconds after the halt signal,
    unless :meth:`stop` comes first."""

    def __init__(self, pid: int, halt: HaltFlag, grace: float) -> None:
        self.killed = False
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(
            target=self._run,
            args=(pid, halt.fileno(), grace),
            name="script-engine-watchdog",
            daemon=True,
        )
        self._thread.start()

    def _run(self, pid: int, halt: int, grace: float) -> None:
        ready, _, _ = select.select([self._stop_r, halt], [], [])
        if self._stop_r in ready:
            return
        ready, _, _ = select.select([self._stop_r], [], [], grace)
        if not ready:
            self.killed = True
            os.kill(pid, signal.SIGKILL)  # not yet reaped: the pid is still the child's

    def stop(self) -> None:
        os.write(self._stop_w, b"!")
        self._thread.join()
        os.close(self._stop_r)
        os.close(self._stop_w)


class _ChildContext(Engine):
    """The child's engine: each host call goes to the parent and waits for its answer."""

    def __init__(self, names: set[str], answers: int, requests: int) -> None:
        self._names = names
        self._answers = _Frames(answers)
        self._requests = requests
        super().__init__({})

    def has_function(self, name: str) -> bool:
        return name in self._names

    def call_function(self, name: str, args: bytes) -> bytes:
        _send(self._requests, b"c", name.encode() + b"\0" + args)
        frame = self._answers.next()
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
        _close_inherited(answers, requests)
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


def _close_inherited(*keep: int) -> None:
    """Close every descriptor the caller had open except ``keep`` and the standard three.

    A forked child shares its parent's sockets and files: while it held them, a connection
    the caller closes (or loses) would stay open until the script ended.
    """
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, os.sysconf("SC_OPEN_MAX"))


_HEADER = struct.Struct(">cI")


def _send(fd: int, kind: bytes, payload: bytes) -> None:
    data = memoryview(_HEADER.pack(kind, len(payload)) + payload)
    while data:
        data = data[os.write(fd, data) :]


class _Frames:
    """Reads the frames (kind, payload) that :func:`_send` writes to a pipe, buffered so
    that a small frame takes one ``read``."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = bytearray()

    def next(self) -> tuple[bytes, bytes] | None:
        """The next frame, or None at end of file."""
        buffer = self._buffer
        while True:
            if len(buffer) >= _HEADER.size:
                kind, size = _HEADER.unpack_from(buffer)
                end = _HEADER.size + size
                if len(buffer) >= end:
                    payload = bytes(buffer[_HEADER.size : end])
                    del buffer[:end]
                    return kind, payload
                want = end - len(buffer)
            else:
                want = _HEADER.size
            chunk = os.read(self._fd, max(want, 1 << 16))
            if not chunk:
                return None
            buffer += chunk


def _describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit {os.waitstatus_to_exitcode(status)}"
