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
A host call is one round trip over the pipes (about 15 µs more CPU than a call
in-process).

A fork costs a few milliseconds in a large process, more than a short script, so engine
processes are reused: each process keeps up to :data:`POOL_SIZE` idle ones, and every run
gets a fresh JS context in one of them (nothing of a run is left for the next). An engine
that was killed, died or was interrupted is never reused; one that a fork inherits is left
to the process that started it.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import struct
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, Protocol

from aft._waiting import wait_readable
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
    """Run ``steps`` in order in one fresh JS context in an engine process; host functions
    run in the calling thread, whose process keeps all its other threads running meanwhile.

    Args:
        functions: the host functions by name, as for :class:`Engine`.
        steps: the scripts to evaluate, in order, in the same global context.
        halt: once set, the engine has ``grace`` seconds to end before it is killed.
        grace: seconds between the halt and the kill.

    Returns:
        None when every step ran, else the text of the uncaught JS error (as
        :data:`JSError` has it) that ended them.

    Raises:
        EngineKilled: the engine was killed after the grace.
    """
    message = json.dumps({"steps": list(steps), "names": sorted(functions)}).encode()
    engine = _take_engine()
    try:
        _send(engine.to_engine, b"s", message)
    except BrokenPipeError:  # an idle engine that ended (its memory, say): start anew
        engine.kill()
        engine = _EngineProcess()
        _send(engine.to_engine, b"s", message)
    outcome: dict[str, str | None] = {}
    killed = False
    status = 0
    try:
        killed = _serve(engine, functions, halt.fileno(), grace, outcome)
    finally:
        if outcome:
            _give_back(engine)
        else:  # killed, died, or the caller was interrupted (Ctrl-C): never reused
            status = engine.kill()
    if outcome:
        return outcome["error"]
    if killed:
        raise EngineKilled(f"killed: still running {grace:g}s after the halt")
    return f"Error: the script engine process died ({_describe_status(status)})"


def _serve(
    engine: _EngineProcess,
    functions: dict[str, HostFunction],
    halt: int,
    grace: float,
    outcome: dict[str, str | None],
) -> bool:
    """Answer the engine's host calls until it sends its result (put in ``outcome``) or
    ends; returns whether it was killed for running ``grace`` seconds past the halt.

    This thread is the watchdog: the engine runs JS only while this thread waits here for
    its next frame (during a host call the engine itself waits for the answer), so a
    ``select`` on both the engine's pipe and the halt descriptor sees every halt in time
    for the kill, with no thread to start per run.
    """
    requests = engine.requests
    fd = requests.fileno()
    deadline: float | None = None
    while True:
        if not requests.buffered():
            if deadline is None:
                ready = wait_readable([fd, halt], None)
                if halt in ready:
                    deadline = time.monotonic() + grace
            else:
                ready = wait_readable([fd], deadline - time.monotonic())
                if not ready:
                    os.kill(engine.pid, signal.SIGKILL)  # not yet reaped: still the engine
                    return True
            if fd not in ready:
                continue
        frame = requests.next()
        if frame is None:  # it died
            return False
        kind, payload = frame
        if kind == b"r":
            outcome["error"] = json.loads(payload)["error"]
            return False
        name, _, args = payload.partition(b"\0")
        try:
            _send(engine.to_engine, b"a", host_answer(functions, name.decode(), args))
        except BrokenPipeError:
            return False  # it died meanwhile


#: Idle engines kept for the next run, at most; a run that finds none forks one.
POOL_SIZE = 2
#: Runs an engine serves before it is retired (whatever its heap grew to goes with it).
RUNS_PER_ENGINE = 500


class _EngineProcess:
    """A forked engine process and the parent's ends of its two pipes."""

    def __init__(self) -> None:
        to_engine_r, self.to_engine = os.pipe()
        requests_r, requests_w = os.pipe()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # never returns
            os.close(self.to_engine)
            os.close(requests_r)
            _child(to_engine_r, requests_w, parent)
        os.close(to_engine_r)
        os.close(requests_w)
        self.pid = pid
        self.requests = _Frames(requests_r)
        self.runs = 0

    def forget(self) -> None:
        """Close this process's ends of the pipes, leaving the engine alone (it is another
        process's, after a fork; it ends on end of file or its parent's end)."""
        os.close(self.to_engine)
        os.close(self.requests.fileno())

    def kill(self) -> int:
        """Kill and reap the engine; returns its wait status."""
        self.forget()
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:  # pragma: no cover - reaped by someone else
            return 0
        _, status = os.waitpid(self.pid, 0)
        return status


_pool_lock = threading.Lock()
_pool_pid = os.getpid()
_idle: list[_EngineProcess] = []


def _own_pool() -> None:
    """Forget engines inherited over a fork (call holding the lock): they are the parent's,
    and two processes writing to one engine would mix their runs."""
    global _pool_pid
    if _pool_pid != os.getpid():
        for engine in _idle:
            engine.forget()
        _idle.clear()
        _pool_pid = os.getpid()


def _after_fork_in_child() -> None:
    global _pool_lock
    _pool_lock = threading.Lock()  # another thread may have held it at the fork
    _own_pool()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _take_engine() -> _EngineProcess:
    with _pool_lock:
        _own_pool()
        if _idle:
            return _idle.pop()
    return _EngineProcess()


def _give_back(engine: _EngineProcess) -> None:
    engine.runs += 1
    with _pool_lock:
        _own_pool()
        if engine.runs < RUNS_PER_ENGINE and len(_idle) < POOL_SIZE:
            _idle.append(engine)
            return
    engine.kill()


def close_idle_engines() -> None:
    """End the idle engine processes of this process (the next run forks a new one)."""
    with _pool_lock:
        _own_pool()
        engines = _idle[:]
        _idle.clear()
    for engine in engines:
        engine.kill()


atexit.register(close_idle_engines)


class _ChildContext(Engine):
    """The child's engine: each host call goes to the parent and waits for its answer."""

    def __init__(self, names: set[str], answers: _Frames, requests: int) -> None:
        self._names = names
        self._answers = answers
        self._requests = requests
        super().__init__({})

    def has_function(self, name: str) -> bool:
        return name in self._names

    def call_function(self, name: str, args: bytes) -> bytes:
        _send(self._requests, b"c", name.encode() + b"\0" + args)
        frame = self._answers.next()
        if frame is None or frame[0] != b"a":  # the parent is gone
            os._exit(1)
        return frame[1]


def _child(answers: int, requests: int, parent: int) -> NoReturn:
    """The engine process: for each run message, a fresh context evaluates its steps and
    the result goes back; it ends at end of file (no parent writes to it any more)."""
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
        incoming = _Frames(answers)
        while (frame := incoming.next()) is not None and frame[0] == b"s":
            run = json.loads(frame[1])
            engine = _ChildContext(set(run["names"]), incoming, requests)
            error = None
            try:
                for source, filename, variables in run["steps"]:
                    engine.eval(source, filename, **variables)
            except JSError as exc:
                error = str(exc)
            del engine  # nothing of this run's context is left for the next
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

    def fileno(self) -> int:
        return self._fd

    def buffered(self) -> bool:
        """Whether a whole frame is already buffered (``select`` would not show it)."""
        buffer = self._buffer
        return (
            len(buffer) >= _HEADER.size
            and len(buffer) >= _HEADER.size + _HEADER.unpack_from(buffer)[1]
        )

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
