"""The ``aft`` command: a thin Fire shell over the library.

Every argument reaches the library as the text that was typed (Fire would otherwise
evaluate ``{"a":"D:\\x"}`` or ``1e3`` as Python literals). ``aft run`` is parsed here
without Fire: it is timed against ``node``, and importing Fire alone costs more than a
whole ``node`` start.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from aft._fire_adapter import UsageError
from aft._waiting import wait_readable
from aft.exceptions import AftError, CliRunDisabled, InvalidSetting, UnknownSetting
from aft.roles import ACCOUNT_ROLES, ROLES

if TYPE_CHECKING:  # the commands import what they use when they run (a short start)
    from aft.accounts import Account
    from aft.keys import ApiKey
    from aft.models import Job
    from aft.notify import Notification
    from aft.schedules import Schedule

T = TypeVar("T")

USAGE_RUN = "usage: aft run [-f] FILE [-p JSON]"


def _print(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def _instance() -> Any:
    from aft.instance import Instance

    return Instance()


def run_file(file: str, params: str | None = None) -> int:
    """Run a script file and wait for it; 0 when it succeeded (or stopped cleanly when
    asked to halt), else 1.

    The work happens in a child process forked at once (see :func:`_supervise`), so this
    process can always answer signals, even while the script is busy in the engine. When
    ``aft serve`` runs for this instance the run is delegated to it (so the script has the
    service's VFS Library and secrets); else it runs in the child. Either way log lines
    stream to stderr as they happen, and SIGINT or SIGTERM sends the halt signal.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    limits_read, limits_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: everything but the supervision
        os.close(limits_read)
        code = 1
        try:
            code = _run_here(file, params, limits_write)
        except AftError as exc:
            sys.stderr.write(f"aft: error: {' '.join(str(exc).split())}\n")
            code = _exit_status(exc, "run")
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    os.close(limits_write)
    return _supervise(pid, limits_read)


def _run_here(file: str, params: str | None, limits: int) -> int:
    """The child's part of :func:`run_file`; it tells the parent the instance's
    ``halt_grace_seconds`` and ``max_run_seconds`` through the ``limits`` pipe."""
    asked: list[int] = []  # a signal before the halt signal exists is kept for it
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: asked.append(1))
    from aft.executor import HaltSignal, parse_params

    halt = HaltSignal()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: halt.set())
    if asked:
        halt.set()
    values = parse_params(params) if params else {}
    with _instance() as instance:
        if not instance.settings.get("allow_cli_run"):
            raise CliRunDisabled(
                "aft run is disabled on this instance (setting allow_cli_run is off);"
                " an administrator can turn it on: aft settings set allow_cli_run true"
            )
        grace = instance.settings.get("halt_grace_seconds")
        max_run = instance.settings.get("max_run_seconds")
        service = _local_service(instance)
        record = None
        if service is not None:
            max_run = 0  # the service holds its jobs to their limits
        else:
            from aft.executor import read_script

            source = read_script(file)
            record = _record_run(instance, source, os.path.basename(file), values, halt)
        os.write(limits, f"{grace} {max_run} {getattr(record, 'job_id', '-')}\n".encode())
        os.close(limits)
        if service is not None:
            job = service.submit_job(file_path=os.path.abspath(file), params=values)
            return _follow(service, job.id, halt)

        line = _ProgressLine() if sys.stderr.isatty() else None
        draw = line.draw if line is not None else None

        def on_log(text: Any) -> None:
            if line is not None:
                line.clear()
            print(text.format(), file=sys.stderr)
            if record is not None:
                record.log(text)

        if record is not None:
            journaling = bool(instance.settings.get("transfer_journal"))
            tracker = instance.jobs.tracker(record.job_id, transfers=journaling, on_progress=draw)
        else:
            from aft.journal import Tracker

            tracker = Tracker(on_progress=draw)
        notified = _run_notifier(instance, record, os.path.basename(file))
        try:
            with record if record is not None else contextlib.nullcontext():
                try:
                    result = instance.executor().run(
                        source,
                        name=os.path.basename(file),
                        params=values,
                        halt=halt,
                        on_log=on_log,
                        job_id=getattr(record, "job_id", ""),
                        progress=tracker,
                    )
                finally:
                    tracker.close()
                    if line is not None:
                        line.clear()
                if record is not None:
                    record.finish(result)
        finally:  # also when the run raised: its job is recorded as failed by then
            if notified is not None:
                notified()
    return 0 if result.clean else 1


def _run_notifier(instance: Any, record: Any, name: str) -> Callable[[], None] | None:
    """When a notification rule watches the recorded run's script: start watching for
    the ``long`` event and return what delivers the end event once the run is recorded;
    else None (one query; a run that no rule watches sends nothing)."""
    if record is None:
        return None
    from aft.notify import Notifier, any_rule_for_script

    if not any_rule_for_script(instance.store, name):
        return None
    notifier = Notifier(instance.notifications)
    stop_long = notifier.follow(record.job_id, name)

    def ended() -> None:
        stop_long()
        notifier.job_ended(record.job_id)

    return ended


class _ProgressLine:
    """One line on a terminal's stderr that a run's progress redraws in place; a log line
    clears it first (the next progress draws it again under the log)."""

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self._shown = False

    def draw(self, progress: Any) -> None:
        try:
            width = max(os.get_terminal_size(sys.stderr.fileno()).columns - 1, 20)
        except OSError:
            width = 79
        with self._lock:
            sys.stderr.write("\r\x1b[K" + progress.line()[:width])
            sys.stderr.flush()
            self._shown = True

    def clear(self) -> None:
        with self._lock:
            if self._shown:
                sys.stderr.write("\r\x1b[K")
                sys.stderr.flush()
                self._shown = False


def _record_run(instance: Any, source: str, name: str, params: dict[str, Any], halt: Any) -> Any:
    """The job that records this run (setting ``record_cli_runs``), or None; a halt asked
    of the job (``aft jobs halt``, the console) sets ``halt``."""
    if not instance.settings.get("record_cli_runs"):
        return None
    from aft.audit import current_actor
    from aft.jobs import LocalRun

    worker = f"{os.uname().nodename}:{os.getpid()}"  # socket.gethostname(), without socket
    job_id = instance.jobs.start_here(
        source, script_name=name, params=params, worker=worker, started_by=current_actor()[0]
    )
    return LocalRun(instance.jobs, job_id, worker, on_halt=halt.set)


def _read_limits(limits: int) -> bytes:
    """The line the child writes to the ``limits`` pipe (b"" if it ended first), read in
    waits a signal handler does not sleep through (see :func:`~aft._waiting.wait_readable`)."""
    line = b""
    try:
        while not line.endswith(b"\n"):
            wait_readable([limits], None)
            piece = os.read(limits, 256)
            if not piece:
                break
            line += piece
    finally:
        os.close(limits)
    return line


def _wait_child(pid: int) -> int:
    """``os.waitpid(pid, 0)``'s status, in waits a signal handler does not sleep through:
    on the child's pidfd, else (no pidfds: not Linux, or before 5.3) polling every 10 ms."""
    try:
        child = os.pidfd_open(pid)
    except (AttributeError, OSError):
        while not (done := os.waitpid(pid, os.WNOHANG))[0]:
            time.sleep(0.01)
        return done[1]
    try:
        wait_readable([child], None)  # readable once the child has ended
    finally:
        os.close(child)
    return os.waitpid(pid, 0)[1]


def _supervise(pid: int, limits: int) -> int:
    """Wait for the child running the script, answering signals for it.

    SIGINT or SIGTERM, and ``max_run_seconds`` passing (0: never), send the script the
    halt signal. A script halted by a signal that then ends without an error exits 0 (a
    clean stop); one that ran past ``max_run_seconds``, or has not ended
    ``halt_grace_seconds`` after the halt (or gets a second signal, and is killed), exits
    1. Writes go to temporary names first, so a killed script leaves nothing half-written
    under a final name. Every wait wakes at least every :data:`~aft._waiting.SIGNAL_CHECK`
    seconds, so a signal that lands just before one is answered within that.
    """
    state: dict[str, Any] = {
        "halted": False,
        "killed": "",
        "timed_out": False,
        "grace": 3.0,
        "max_run": 0.0,
        "job_id": "-",
    }

    def halt_script(why: str) -> None:
        if state["halted"]:
            kill_script(why)
            return
        state["halted"] = True
        os.kill(pid, signal.SIGTERM)
        signal.setitimer(signal.ITIMER_REAL, max(state["grace"], 0.001))

    def kill_script(why: str) -> None:
        if not state["killed"]:
            state["killed"] = why
            os.kill(pid, signal.SIGKILL)

    def on_signal(signum: int, frame: object) -> None:
        halt_script("halt forced by a second signal")

    def on_alarm(signum: int, frame: object) -> None:
        if state["halted"]:
            kill_script(f"the script had not ended {state['grace']:g}s after the halt signal")
        else:
            limit = state["max_run"]
            sys.stderr.write(f"aft: the script ran past its maximum of {limit:g}s: halting it\n")
            state["timed_out"] = True
            halt_script("")

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    previous[signal.SIGALRM] = signal.signal(signal.SIGALRM, on_alarm)
    try:
        told = _read_limits(limits).split()  # nothing: the child ended before it could say
        if told:
            state["grace"], state["max_run"] = float(told[0]), float(told[1])
            state["job_id"] = told[2].decode()
            if state["max_run"] > 0 and not state["halted"]:
                signal.setitimer(signal.ITIMER_REAL, state["max_run"])
        status = _wait_child(pid)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if state["job_id"] != "-" and (state["killed"] or not os.WIFEXITED(status)):
        with _instance() as instance:  # the child could not record its end: do it here
            if state["killed"]:
                instance.jobs.halted_by_force(state["job_id"], f"{state['killed']}: killed")
            else:
                instance.jobs.interrupt(state["job_id"], "the process running the script died")
    if state["killed"]:
        sys.stderr.write(f"aft: {state['killed']}: killed\n")
        return 1
    if state["timed_out"]:
        return 1  # stopped, but not because anyone asked it to
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1


@contextlib.contextmanager
def _halt_on_signals(halt: Any) -> Iterator[Any]:
    """SIGINT/SIGTERM set ``halt``; a second one ends the process at once."""

    def on_signal(signum: int, frame: object) -> None:
        if halt.is_set():  # writes go to temporary names: nothing half-done is left behind
            os.write(2, b"aft: halt forced by a second signal\n")
            os._exit(1)
        halt.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield halt
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        halt.close()


def _local_service(instance: Any) -> Any:
    """A client of the service running for ``instance``, or None."""
    from aft._paths import read_runtime_info

    info = read_runtime_info(instance.home)
    if info is None:
        return None
    from aft.client import AftClient

    pin = info.get("fingerprint")
    return AftClient(str(info["url"]), str(info["token"]), fingerprint=str(pin) if pin else None)


def _follow(client: Any, job_id: str, halt: Any = None) -> int:
    """Stream a job's log to stderr until it ends (halting it when ``halt`` is set); on a
    terminal, with the job's progress on one line."""
    from aft.models import JobState

    offset, asked = 0, False
    bar = _ProgressLine() if sys.stderr.isatty() else None
    while True:
        if halt is not None and halt.is_set() and not asked:
            asked = True
            try:
                client.halt_job(job_id)
            except AftError:
                pass  # it ended meanwhile
        page = client.job_log(job_id, offset)
        if page.lines and bar is not None:
            bar.clear()
        for line in page.lines:
            print(line.format(), file=sys.stderr)
        offset = page.next_offset
        if not page.lines:
            if bar is not None and not page.status.is_final:
                progress = client.request("GET", f"/v1/jobs/{job_id}").get("progress")
                if progress:
                    from aft.journal import Progress

                    bar.draw(Progress.from_json(progress))
            if page.status.is_final:
                if bar is not None:
                    bar.clear()
                job = client.job(job_id)
                clean = job.state is JobState.HALTED and job.exit_code == 0
                return 0 if job.state is JobState.SUCCEEDED or clean else 1
            if halt is not None:
                halt.wait(0.1)
            else:
                time.sleep(0.1)


def _parse_run_args(args: list[str]) -> dict[str, str]:
    names = {"-f": "file", "--file": "file", "-p": "params", "--params": "params"}
    found: dict[str, str] = {}
    i = 0
    while i < len(args):
        token = args[i]
        flag, eq, value = token.partition("=")
        if token in ("-h", "--help"):
            from aft._fire_adapter import help_text

            sys.stdout.write(help_text(["run"], AftCommands().run))
            raise SystemExit(0)
        if not token.startswith("-") and "file" not in found:
            found["file"] = token  # aft run FILE
            i += 1
            continue
        if flag not in names:
            raise UsageError(f"unexpected argument {token!r}; {USAGE_RUN}")
        if not eq:
            i += 1
            if i == len(args):
                raise UsageError(f"{flag} needs a value; {USAGE_RUN}")
            value = args[i]
        found[names[flag]] = value
        i += 1
    if "file" not in found:
        raise UsageError(f"missing -f FILE; {USAGE_RUN}")
    return found


class SettingsCommands:
    """Instance settings: list, get KEY, set KEY VALUE."""

    def list(self, json: str = "False") -> None:
        """Every setting with its value and what it does.

        Args:
            json: print a JSON object of key -> {value, default, help} instead.
        """
        from aft.settings import SETTINGS

        with _instance() as instance:
            values = instance.settings.all()
        if _flag(json, "--json"):
            _print_json(
                {
                    key: {"value": value, "default": SETTINGS[key].default, "help": _help(key)}
                    for key, value in values.items()
                }
            )
            return
        width = max(len(f"{key} = {_show(value)}") for key, value in values.items())
        for key, value in values.items():
            _print(f"{f'{key} = {_show(value)}':<{width}}  # {_help(key)}")

    def get(self, key: str) -> None:
        """Print one setting's value.

        Args:
            key: the setting (aft settings list shows them all).
        """
        with _instance() as instance:
            _print(_show(instance.settings.get(key)))

    def set(self, key: str, value: str) -> None:
        """Change a setting.

        Args:
            key: the setting (aft settings list shows them all).
            value: its new value: true/false, a whole number or text, as the setting takes.
        """
        with _instance() as instance:
            _print(f"{key} = {_show(instance.settings.set(key, value))}")


def _help(key: str) -> str:
    """A setting's line of help, with the values it takes."""
    from aft.settings import SETTINGS

    setting = SETTINGS[key]
    takes = " | ".join(setting.choices) if setting.choices else ""
    if setting.type is bool:
        takes = "true | false"
    return setting.help + (f" ({takes})" if takes else "")


class SecretsCommands:
    """Named secrets, encrypted at rest: set NAME (value from stdin), list, delete NAME."""

    def set(self, name: str) -> None:
        """Create or replace a secret; the value is read from stdin, never from arguments
        (on a terminal it is asked for without echo).

        Args:
            name: the secret's name, as scripts and settings refer to it.
        """
        if sys.stdin is None or sys.stdin.closed:
            raise AftError("aft secrets set reads the value from stdin, which is closed")
        if sys.stdin.isatty():
            import getpass

            value = getpass.getpass(f"value for {name}: ")
        else:
            value = sys.stdin.read()
            value = value[:-1] if value.endswith("\n") else value
            value = value[:-1] if value.endswith("\r") else value
        from aft.secrets_store import short_secret_warning

        with _instance() as instance:
            instance.secrets.set(name, value)
        warning = short_secret_warning(f"secret {name}", value)
        if warning is not None:
            sys.stderr.write(f"aft: warning: {warning}\n")
        _print(f"secret {name} set")

    def list(self, json: str = "False") -> None:
        """The names of all secrets (never their values).

        Args:
            json: print a JSON array of the names instead.
        """
        with _instance() as instance:
            names = list(instance.secrets.names())
        if _flag(json, "--json"):
            _print_json(names)
            return
        for name in names:
            _print(name)

    def delete(self, name: str) -> None:
        """Remove a secret.

        Args:
            name: the secret's name.
        """
        with _instance() as instance:
            instance.secrets.delete(name)
        _print(f"secret {name} deleted")


class ScriptsCommands:
    """Stored scripts: add, list, show, update, group, remove."""

    def add(
        self, name: str, file: str, retries: str = "0", backoff: str = "30", max_run: str = "0"
    ) -> None:
        """Store a script under a name, with a retry policy and a maximum run time.

        Args:
            name: the script's name (unique, matched without regard to case).
            file: the .syncjs file to store.
            retries: how many times a failed job is run again.
            backoff: seconds before the first retry (doubling after each).
            max_run: seconds a job may run before it is halted (0: the instance's
                max_run_seconds).
        """
        from aft.executor import read_script

        with _scripts() as scripts:
            script = scripts.add(
                name,
                read_script(file),
                retries=_int(retries, "--retries"),
                retry_backoff=_float(backoff, "--backoff"),
                max_run_seconds=_int(max_run, "--max-run"),
            )
        _print(f"script {script.name} stored as {script.id}")

    def list(self, json: str = "False") -> None:
        """Every stored script: id, name, retry policy.

        Args:
            json: print a JSON array of the scripts (without their sources) instead.
        """
        from aft._serde import to_json

        with _scripts() as scripts:
            found = scripts.list()
        if _flag(json, "--json"):
            records = [to_json(s) for s in found]
            _print_json([{k: v for k, v in r.items() if k != "source"} for r in records])
            return
        for s in found:
            _print(f"{s.id}  {s.name}  (retries {s.retries}, backoff {s.retry_backoff:g}s)")

    def show(self, name: str, json: str = "False") -> None:
        """A script's source.

        Args:
            name: the script's name or id.
            json: print the whole record (source, retry policy, group...) as JSON instead.
        """
        from aft._serde import to_json

        with _scripts() as scripts:
            script = scripts.get(name)
        if _flag(json, "--json"):
            _print_json(to_json(script))
            return
        sys.stdout.write(script.source)

    def update(
        self,
        name: str,
        file: str | None = None,
        rename: str | None = None,
        retries: str | None = None,
        backoff: str | None = None,
        max_run: str | None = None,
    ) -> None:
        """Change a stored script; what is left out stays as it is.

        Args:
            name: the script's name or id.
            file: a .syncjs file with the new source.
            rename: a new name.
            retries: how many times a failed job is run again.
            backoff: seconds before the first retry.
            max_run: seconds a job may run (0: the instance's max_run_seconds).
        """
        from aft.executor import read_script

        with _scripts() as scripts:
            script = scripts.update(
                name,
                source=None if file is None else read_script(file),
                name=rename,
                retries=None if retries is None else _int(retries, "--retries"),
                retry_backoff=None if backoff is None else _float(backoff, "--backoff"),
                max_run_seconds=None if max_run is None else _int(max_run, "--max-run"),
            )
        _print(f"script {script.name} updated")

    def group(self, name: str, group: str | None = None) -> None:
        """Show, or set, the worker group the script's jobs run in (a cluster only).

        Args:
            name: the script's name or id.
            group: the worker group to set; without it the current one is printed.
        """
        from aft.exceptions import ConfigError

        with _instance() as instance:
            if not instance.config.distributed:  # as the REST API decides it
                raise ConfigError("worker groups need a cluster (database_url and broker_url)")
            script = instance.scripts.get(name)
            if group is None:
                _print(script.group)
                return
            instance.scripts.update(script.id, group=group)
        _print(f"script {script.name} runs in group {group}")

    def remove(self, name: str) -> None:
        """Delete a stored script (its past jobs stay).

        Args:
            name: the script's name or id.
        """
        with _scripts() as scripts:
            scripts.remove(name)
        _print(f"script {name} removed")


class ApiKeysCommands:
    """REST API keys: create, list, revoke."""

    def create(self, name: str, allow: str, scope: str = "run") -> None:
        """Create a key; it is printed once, on the last line; only its hash is kept.

        Args:
            name: what to call the key.
            allow: an address or network (CIDR) the key may be used from; repeat it for more.
            scope: viewer (read everything, change nothing), run (start jobs, read and halt
                its own jobs), operator (read everything, start and halt any job) or admin
                (everything).
        """
        _role(scope, "--scope")
        with _keys() as keys:
            record, key = keys.create(name, [a for a in allow.split(",") if a], scope=scope)
        _print(
            f"api key {record.name} ({record.id}, scope {record.scope}) created; it is shown once:"
        )
        _print(key)

    def list(self, json: str = "False") -> None:
        """Every key (never the key itself): id, name, scope, allowlist, last use.

        Args:
            json: print a JSON array of the keys' records instead.
        """
        with _keys() as keys:
            found = keys.list()

        def line(k: ApiKey) -> str:
            used = _when(k.last_used) if k.last_used else "never used"
            state = "revoked" if k.revoked else k.scope
            return f"{k.id}  {k.name}  {state}  allow {','.join(k.allow)}  {used}"

        _print_list(found, json, line)

    def revoke(self, key: str) -> None:
        """Revoke a key for good.

        Args:
            key: the key's id or name.
        """
        with _keys() as keys:
            keys.revoke(key)
        _print(f"api key {key} revoked")


class AccountsCommands:
    """Web console accounts and their roles: list, add, set-role, remove."""

    def list(self, json: str = "False") -> None:
        """Every account: name, role, last sign-in (never a password).

        Args:
            json: print a JSON array of the accounts instead.
        """
        with _instance() as instance:
            found = instance.accounts.list()

        def line(a: Account) -> str:
            seen = _when(a.last_login) if a.last_login else "never signed in"
            return f"{a.id}  {a.username}  {a.role}  {seen}"

        _print_list(found, json, line)

    def add(self, name: str, role: str) -> None:
        """Add an account; its password is read from stdin (asked for without echo on a
        terminal), never from arguments.

        Args:
            name: the user name to sign in with.
            role: viewer (read everything, change nothing), operator (read everything,
                start and halt jobs) or admin (everything).
        """
        _role(role, "--role", ACCOUNT_ROLES)
        password = _read_secret("aft accounts add", f"password for {name}: ")
        with _instance() as instance:
            account = instance.accounts.create(name, password, role=role)
        _print(f"account {account.username} ({account.id}, role {account.role}) added")

    def set_role(self, name: str, role: str) -> None:
        """Change an account's role; its open sessions have the new role from their next
        request. The last admin keeps the admin role.

        Args:
            name: the account's user name or id.
            role: viewer, operator or admin.
        """
        _role(role, "--role", ACCOUNT_ROLES)
        with _instance() as instance:
            account = instance.accounts.set_role(name, role)
        _print(f"account {account.username} now has the role {account.role}")

    def remove(self, name: str) -> None:
        """Remove an account and end its sessions (never the last admin).

        Args:
            name: the account's user name or id.
        """
        with _instance() as instance:
            instance.accounts.remove(name)
        _print(f"account {name} removed")


def _role(value: object, flag: str, roles: tuple[str, ...] = ROLES) -> None:
    """Refuse a role the command cannot take (exit status 2)."""
    if not isinstance(value, str) or value not in roles:
        raise UsageError(f"{flag} is one of {', '.join(roles)}, not {value!r}")


def _read_secret(command: str, prompt: str) -> str:
    """A line from stdin, or asked for without echo on a terminal."""
    if sys.stdin is None or sys.stdin.closed:
        raise AftError(f"{command} reads the password from stdin, which is closed")
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass(prompt)
    value = sys.stdin.read()
    value = value[:-1] if value.endswith("\n") else value
    return value[:-1] if value.endswith("\r") else value


class JobsCommands:
    """Jobs of this instance: list, show, log, halt."""

    def list(
        self,
        state: str | None = None,
        script: str | None = None,
        limit: str = "20",
        json: str = "False",
    ) -> None:
        """Recent jobs, newest first.

        Args:
            state: only jobs in this state: queued, running, succeeded, failed, halted or
                interrupted.
            script: only jobs of this stored script.
            limit: at most this many jobs.
            json: print a JSON array of the jobs instead.
        """
        from aft.models import JobState

        states = [s.value for s in JobState]
        if state is not None and state not in states:
            raise UsageError(f"--state takes {' | '.join(states)}, not {state!r}")
        with _queue() as queue:
            jobs, _ = queue.list(state=state, script=script, limit=_int(limit, "--limit"))

        def line(job: Job) -> str:
            by = f"{job.trigger} {job.started_by or ''}".strip()
            return f"{job.id}  {job.state.value:<11}  {_when(job.created)}  {job.script_name}  {by}"

        _print_list(jobs, json, line)

    def show(self, job_id: str, json: str = "False") -> None:
        """One job: a field a line.

        Args:
            job_id: the job's id.
            json: print it as JSON instead.
        """
        from aft._serde import to_json

        with _queue() as queue:
            _print_record(to_json(queue.get(job_id)), _flag(json, "--json"))

    def log(self, job_id: str, follow: str = "False") -> None:
        """A job's log.

        Args:
            job_id: the job's id.
            follow: wait for new lines until the job ends; on a terminal, stderr shows the
                job's progress (files, bytes, rate, current file) on one line meanwhile.
        """
        follow_on = _flag(follow, "--follow")
        bar = _ProgressLine() if follow_on and sys.stderr.isatty() else None
        with _queue() as queue:
            offset = 0
            while True:
                lines, offset = queue.log(job_id, offset)
                if lines and bar is not None:
                    bar.clear()
                for line in lines:
                    _print(line.format())
                sys.stdout.flush()  # a follower reads lines as they come, not when we exit
                if not lines:
                    if not follow_on or queue.get(job_id).state.is_final:
                        if bar is not None:
                            bar.clear()
                        return
                    if bar is not None and (progress := queue.progress(job_id)):
                        from aft.journal import Progress

                        bar.draw(Progress.from_json(progress))
                    time.sleep(0.2)

    def halt(self, job_id: str) -> None:
        """Ask a job to stop (a running one is killed if it outlasts the grace period).

        Args:
            job_id: the job's id.
        """
        with _queue() as queue:
            job = queue.request_halt(job_id)
        _print(f"{job.id} {'halted' if job.state.is_final else 'halt requested'}")


class VfsCommands:
    """The VFS Library: add, update, list, show, test, remove, and hostkey to read an SFTP
    pin."""

    def add(self, name: str, type: str, target: str, payload_file: str | None = None) -> None:
        """Add a connection profile to the VFS Library.

        Args:
            name: the profile's name, as scripts open it (VFS.Open / GetVfs).
            type: the backend type (below).
            target: where it points, in the type's target format (below).
            payload_file: a JSON file with the credentials ("-": read stdin).
        """
        payload = _read_payload(payload_file)
        with _instance() as instance:
            profile = instance.vfs.add(name, type, target, payload)
        _warn_short_values(profile.name, payload)
        _print(f"vfs {profile.name} ({profile.type}) added")

    def update(
        self,
        name: str,
        type: str | None = None,
        target: str | None = None,
        payload_file: str | None = None,
    ) -> None:
        """Change a profile in place; what is left out stays as it is (the credentials too).

        Args:
            name: the profile's name.
            type: a new backend type.
            target: a new target.
            payload_file: a JSON file with new credentials ("-": read stdin).
        """
        payload = None if payload_file is None else _read_payload(payload_file)
        with _instance() as instance:
            profile = instance.vfs.update(name, type, target, payload)
        _warn_short_values(profile.name, payload)
        _print(f"vfs {profile.name} ({profile.type}) updated")

    def list(self, json: str = "False") -> None:
        """Every profile: name, type, target (never credentials).

        Args:
            json: print a JSON array of the profiles instead.
        """
        with _instance() as instance:
            profiles = instance.vfs.list()
        _print_list(profiles, json, lambda p: f"{p.name}  {p.type}  {p.target}")

    def show(self, name: str, json: str = "False") -> None:
        """One profile, a field a line (never its credentials).

        Args:
            name: the profile's name.
            json: print it as JSON instead.
        """
        from aft._serde import to_json

        with _instance() as instance:
            _print_record(to_json(instance.vfs.get(name)), _flag(json, "--json"))

    def test(self, name: str) -> None:
        """Connect and list the root.

        Args:
            name: the profile's name.
        """
        with _instance() as instance, instance.vfs.open(name) as vfs:
            entries = vfs.listdir("/")
        _print(f"vfs {name}: connected, {len(entries)} entries at the root")

    def remove(self, name: str) -> None:
        """Delete a profile.

        Args:
            name: the profile's name.
        """
        with _instance() as instance:
            instance.vfs.remove(name)
        _print(f"vfs {name} removed")

    def hostkey(self, url: str) -> None:
        """Print the SHA-256 host key of an SFTP server, to pin; nothing is trusted by this.

        Args:
            url: sftp://HOST[:PORT].
        """
        from urllib.parse import urlsplit

        from aft.vfs import backend_class

        parts = urlsplit(url if "://" in url else f"sftp://{url}")
        if parts.scheme != "sftp" or not parts.hostname:
            raise AftError(f"give an SFTP URL like sftp://host:22, not {url!r}")
        module = sys.modules[backend_class("SFTP").__module__]
        fingerprint = module.host_key_fingerprint(parts.hostname, parts.port or 22)
        _print(fingerprint)


def _vfs_types_help() -> str:
    """The VFS types, their target formats and payload fields, from the backends' schemas."""
    from aft.vfs import BACKENDS, schema_class

    lines = ["types and target formats:"]
    for type_name in BACKENDS:
        schema = schema_class(type_name)
        payload = ", ".join(f.name for f in schema.payload_fields) or "none"
        lines.append(f"  {type_name:<6} {schema.shape}")
        lines.append(f"         {schema.summary}; payload fields: {payload}")
    return "\n".join(lines)


VfsCommands.add.help_epilog = _vfs_types_help  # type: ignore[attr-defined]
VfsCommands.update.help_epilog = _vfs_types_help  # type: ignore[attr-defined]


class SchedulesCommands:
    """Scripts run at set times by aft serve: add, list, show, enable, disable, remove."""

    def add(
        self,
        name: str,
        script: str,
        cron: str,
        timezone: str = "UTC",
        params: str | None = None,
        overlap: str = "skip",
        catch_up: str = "False",
        disabled: str = "False",
    ) -> None:
        """Add a schedule.

        Args:
            name: the schedule's name.
            script: the stored script it runs.
            cron: when, as a cron expression ("0 2 * * *"; 6 fields for seconds).
            timezone: the zone the expression is read in (Europe/Berlin).
            params: the job's parameters, a JSON object.
            overlap: when the previous job still runs: skip, queue or allow.
            catch_up: run once for times missed while aft serve was down.
            disabled: add it switched off.
        """
        from aft.executor import parse_params

        with _schedules() as schedules:
            schedule = schedules.add(
                name,
                script,
                cron,
                timezone=timezone,
                params=parse_params(params) if params else {},
                overlap=overlap,
                catch_up=_flag(catch_up, "--catch-up"),
                enabled=not _flag(disabled, "--disabled"),
            )
        _print(f"schedule {schedule.name} added as {schedule.id}; {_next_run(schedule)}")

    def list(self, json: str = "False") -> None:
        """Every schedule: name, cron and zone, script, state, next and last run.

        Args:
            json: print a JSON array of the schedules instead.
        """
        with _schedules() as schedules:
            found = schedules.list()

        def line(s: Schedule) -> str:
            state = "enabled" if s.enabled else "disabled"
            last = _when(s.last_run) if s.last_run else "never"
            when = f"{s.cron} ({s.timezone})"
            return f"{s.name}  {when}  {s.script}  {state}  {_next_run(s)}  last {last}"

        _print_list(found, json, line)

    def show(self, name: str, json: str = "False") -> None:
        """One schedule, a field a line.

        Args:
            name: the schedule's name or id.
            json: print it as JSON instead.
        """
        from aft._serde import to_json

        with _schedules() as schedules:
            _print_record(to_json(schedules.get(name)), _flag(json, "--json"))

    def enable(self, name: str) -> None:
        """Let a schedule fire again (from its next time after now).

        Args:
            name: the schedule's name or id.
        """
        with _schedules() as schedules:
            schedule = schedules.enable(name)
        _print(f"schedule {schedule.name} enabled; {_next_run(schedule)}")

    def disable(self, name: str) -> None:
        """Stop a schedule firing; its running jobs go on.

        Args:
            name: the schedule's name or id.
        """
        with _schedules() as schedules:
            schedule = schedules.disable(name)
        _print(f"schedule {schedule.name} disabled")

    def remove(self, name: str) -> None:
        """Delete a schedule (the jobs it started stay).

        Args:
            name: the schedule's name or id.
        """
        with _schedules() as schedules:
            schedule = schedules.remove(name)
        _print(f"schedule {schedule.name} removed")


class NotifyCommands:
    """Notifications on a script's or schedule's jobs: add, list, show, test, remove."""

    def add(
        self,
        name: str,
        script: str | None = None,
        schedule: str | None = None,
        on: str = "failure",
        minutes: str | None = None,
        email: str | None = None,
        url_secret: str | None = None,
        headers_secret: str | None = None,
    ) -> None:
        """Add a notification rule: email or a webhook when jobs fail, succeed or run long.

        Args:
            name: the rule's name.
            script: the stored script whose jobs it watches (or give --schedule).
            schedule: the schedule whose jobs it watches (or give --script).
            on: the events, comma-separated: failure, success, long.
            minutes: for long: how many minutes a run may take before it is reported.
            email: send email to these addresses (comma-separated), through the SMTP settings.
            url_secret: call a webhook instead: the secret holding its http(s) URL.
            headers_secret: the secret holding the webhook's headers, a JSON object.
        """
        from aft.exceptions import NotificationError, NotificationExists, NotificationNotFound

        if (email is None) == (url_secret is None):
            raise UsageError("give one of --email and --url-secret")
        with _instance() as instance:
            try:
                rule = instance.notifications.add(
                    name,
                    script=script or "",
                    schedule=schedule or "",
                    events=on,
                    minutes=None if minutes is None else _float(minutes, "--minutes"),
                    channel="email" if email is not None else "webhook",
                    recipients=email or "",
                    url_secret=url_secret or "",
                    headers_secret=headers_secret or "",
                )
            except (NotificationExists, NotificationNotFound):
                raise
            except NotificationError as exc:
                raise UsageError(str(exc)) from None
        _print(f"notification {rule.name} added as {rule.id}")

    def list(
        self, script: str | None = None, schedule: str | None = None, json: str = "False"
    ) -> None:
        """Every notification rule: name, what it watches, events, channel, last result.

        Args:
            script: only the rules of this stored script.
            schedule: only the rules of this schedule.
            json: print a JSON array of the rules instead.
        """
        with _instance() as instance:
            found = instance.notifications.list(script=script, schedule=schedule)

        def line(n: Notification) -> str:
            watched = f"script {n.script}" if n.script else f"schedule {n.schedule}"
            events = ",".join(n.events) + (f" ({n.minutes:g} min)" if n.minutes else "")
            to = n.recipients if n.channel == "email" else f"secret {n.url_secret}"
            last = f"{_when(n.last_sent)} {n.last_result}" if n.last_sent else "never sent"
            return f"{n.name}  {watched}  {events}  {n.channel} {to}  last: {last}"

        _print_list(found, json, line)

    def show(self, name: str, json: str = "False") -> None:
        """One notification rule as JSON.

        Args:
            name: the rule's name or id.
            json: JSON, which is also the form without it (every show takes --json).
        """
        from aft._serde import to_json

        _flag(json, "--json")
        with _instance() as instance:
            _print_json(to_json(instance.notifications.get(name)))

    def test(self, name: str) -> None:
        """Send a test message through a rule now; exit 1 saying why when it fails.

        Args:
            name: the rule's name or id.
        """
        from aft.notify import Notifier

        with _instance() as instance:
            result = Notifier(instance.notifications).test(name)
        if result != "sent":
            raise AftError(f"notification {name}: {result}")
        _print(f"notification {name}: sent")

    def remove(self, name: str) -> None:
        """Delete a notification rule.

        Args:
            name: the rule's name or id.
        """
        with _instance() as instance:
            rule = instance.notifications.remove(name)
        _print(f"notification {rule.name} removed")


def _next_run(schedule: Any) -> str:
    return f"next {_when(schedule.next_run)}" if schedule.next_run else "next never"


def _read_payload(source: str | None) -> dict[str, Any]:
    if source is None:
        return {}
    try:
        text = sys.stdin.read() if source == "-" else open(source, encoding="utf-8").read()
    except OSError as exc:
        raise AftError(f"cannot read the payload file {source}: {exc.strerror}") from None
    try:
        payload = json.loads(text)
    except ValueError:
        raise AftError("the payload is not valid JSON") from None  # no excerpt: it holds secrets
    if not isinstance(payload, dict):
        raise AftError("the payload must be a JSON object")
    return payload


class AuditCommands:
    """The audit trail of administrative actions: list, verify."""

    def list(
        self,
        since: str | None = None,
        until: str | None = None,
        actor: str | None = None,
        json: str = "False",
    ) -> None:
        """The audit trail's entries, oldest first.

        Args:
            since: only entries from this moment: Unix seconds or an ISO date and time
                (local time unless it names a zone).
            until: only entries before this moment, in the same forms.
            actor: one actor (``key:NAME (ID)``, ``account:NAME``, ``cli:USER``), or a
                prefix ending in ':' (``key:``).
            json: print one JSON object a line instead.
        """
        first, last = _moment(since, "--since"), _moment(until, "--until")
        as_json = _flag(json, "--json")
        with _instance() as instance:
            cursor = None
            while True:
                entries, cursor = instance.audit.list(
                    since=first, until=last, actor=actor, limit=1000, cursor=cursor
                )
                for e in entries:
                    if as_json:
                        _print(_json_line(e.to_json()))
                    else:
                        detail = _json_line(e.detail) if e.detail else ""
                        where = f" from {e.address}" if e.address else ""
                        _print(
                            f"{e.seq}  {_when(e.time)}  {e.actor}{where}  {e.action}"
                            f"  {e.target}  {detail}".rstrip()
                        )
                if cursor is None:
                    break

    def verify(self) -> None:
        """Check the audit trail's chain and the transfer journal's; exit 1 naming the first
        entry or record changed, removed or inserted."""
        with _instance() as instance:
            found = instance.audit.verify()
            records = instance.audit.verify_transfers() if found.ok else found
        if not found.ok:
            raise AftError(f"the audit trail is broken: {found.problem}")
        if not records.ok:
            raise AftError(f"the transfer journal is broken: {records.problem}")
        count = f"{found.entries} entr{'y' if found.entries == 1 else 'ies'}"
        _print(f"audit trail intact: {count}, last hash {found.head}")
        count = f"{records.entries} record{'' if records.entries == 1 else 's'}"
        older = (
            f" ({records.unchained} older, written before it was chained, not covered)"
            if records.unchained
            else ""
        )
        _print(f"transfer journal intact: {count}, last hash {records.head}{older}")


class TransfersCommands:
    """The transfer journal: each file jobs uploaded, downloaded, copied, moved or deleted."""

    def list(
        self,
        job: str | None = None,
        since: str | None = None,
        until: str | None = None,
        path: str | None = None,
        failed: str = "False",
        json: str = "False",
        csv: str = "False",
    ) -> None:
        """Transfer records, oldest first.

        Args:
            job: only this job's.
            since: only files started at or after this moment (Unix seconds, or an ISO date
                and time, local unless it names a zone).
            until: only files started before this moment.
            path: only files whose source or destination path matches this glob (* also
                matches /).
            failed: only failed ones.
            json: one JSON object per line instead.
            csv: CSV with a header line instead.
        """
        as_json, as_csv = _flag(json, "--json"), _flag(csv, "--csv")
        if as_json and as_csv:
            raise UsageError("give --json or --csv, not both")
        first, last = _moment(since, "--since"), _moment(until, "--until")
        from aft.journal import TransferLog, csv_lines

        only_failed = _flag(failed, "--failed")
        with _instance() as instance:
            if job is not None:
                instance.jobs.get(job)  # an unknown job is an error, not an empty list
            records = TransferLog(instance.store).every(
                job_id=job, since=first, until=last, path=path, failed=only_failed
            )
            if as_csv:
                for line in csv_lines(records):
                    sys.stdout.write(line)
                return
            for r in records:
                if as_json:
                    _print(_json_line(r.to_json()))
                else:
                    where = f" -> {r.dst}:{r.dst_path}" if r.dst_path else ""
                    why = f"  {r.error}" if r.error else ""
                    _print(
                        f"{r.seq}  {_when(r.started)}  {r.job_id}  {r.op:<8}  {r.outcome:<6}"
                        f"  {r.src}:{r.src_path}{where}  {r.bytes}  {r.sha256 or '-'}{why}"
                    )


def _json_line(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _moment(text: str | None, what: str) -> float | None:
    """Unix seconds from Unix seconds or an ISO 8601 date/time (local unless zoned)."""
    if text is None:
        return None
    import datetime

    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.datetime.fromisoformat(str(text)).timestamp()
    except ValueError:
        why = f"{what} takes Unix seconds or an ISO date and time, not {text!r}"
        raise UsageError(why) from None


class AftCommands:
    """aft: automated, scripted file transfer."""

    def __init__(self) -> None:
        self.settings = SettingsCommands()
        self.secrets = SecretsCommands()
        self.scripts = ScriptsCommands()
        self.apikeys = ApiKeysCommands()
        self.accounts = AccountsCommands()
        self.jobs = JobsCommands()
        self.vfs = VfsCommands()
        self.schedules = SchedulesCommands()
        self.notify = NotifyCommands()
        self.audit = AuditCommands()
        self.transfers = TransfersCommands()

    def purge(self, dry_run: str = "False") -> None:
        """Delete finished jobs (with their logs), transfer records and audit entries older
        than the settings job_retention_days, transfer_retention_days and
        audit_retention_days keep (0 = forever); the audit trail records a checkpoint of
        what went, so aft audit verify still holds. aft serve does this every hour.

        Args:
            dry_run: only count what would go.
        """
        dry = _flag(dry_run, "--dry-run")
        with _instance() as instance:
            report = instance.retention.purge(dry_run=dry)
        _print(report.line())

    def run(self, file: str, params: str | None = None) -> None:
        """Run a .syncjs file in this shell and wait for it; its log goes to stderr.

        Exits 0 when the script succeeded, or stopped cleanly when asked to (Ctrl-C,
        SIGTERM); 1 when it failed, ran past max_run_seconds or had to be killed. Needs the
        setting allow_cli_run; while aft serve runs for this instance the run is handed
        to it. Example: aft run -f job.syncjs -p '{"destination":"/archive"}'

        Args:
            file: the .syncjs file to run.
            params: the script's parameters, a JSON object; Param("name") reads them.
        """
        raise SystemExit(run_file(file, params))

    def start(
        self,
        name: str,
        apikey: str | None = None,
        params: str | None = None,
        host: str | None = None,
        ca_file: str | None = None,
        wait: str = "False",
        idempotency_key: str | None = None,
    ) -> None:
        """Queue a stored script on a running instance; prints the job id and returns at
        once (with --wait, follows the log and exits like aft run).

        A self-signed certificate is trusted on first use and pinned for that host. Give
        the key in AFT_API_KEY rather than -a, so it is not in the process list.

        Args:
            name: the stored script's name, matched without regard to case.
            apikey: the API key; default: the environment variable AFT_API_KEY.
            params: the job's parameters, a JSON object.
            host: HOST:PORT or http(s)://HOST:PORT of the instance; default: the
                environment variable AFT_HOST, else 127.0.0.1:44399.
            ca_file: verify the service's certificate against this CA bundle instead.
            wait: follow the job's log and exit 0 or 1 as it ends.
            idempotency_key: running the same command again within 24 hours prints the
                first job's id instead of queueing another.
        """
        from aft.client import AftClient, pinned_fingerprint, split_host
        from aft.executor import HaltSignal, parse_params

        apikey = apikey or os.environ.get("AFT_API_KEY") or None
        if apikey is None:
            raise UsageError("aft start needs an API key: set AFT_API_KEY (or give -a KEY)")
        follow = _flag(wait, "--wait")
        values = parse_params(params) if params else {}
        host = host or os.environ.get("AFT_HOST") or "127.0.0.1:44399"
        scheme, hostname, port = split_host(host)
        fingerprint = None
        if scheme == "https" and not ca_file:
            fingerprint = pinned_fingerprint(
                hostname,
                port,
                on_new=lambda fp: print(
                    f"aft: trusting the certificate of {hostname}:{port} on first use"
                    f" (SHA-256 {fp})",
                    file=sys.stderr,
                ),
            )
        netloc = f"[{hostname}]" if ":" in hostname else hostname
        with AftClient(
            f"{scheme}://{netloc}:{port}", apikey, fingerprint=fingerprint, ca_file=ca_file
        ) as client:
            job = client.submit_job(
                script_name=name, params=values, idempotency_key=idempotency_key
            )
            _print(job.id)
            if follow:
                with _halt_on_signals(HaltSignal()) as halt:
                    raise SystemExit(_follow(client, job.id, halt))

    def serve(self, bind: str | None = None, port: str | None = None, http: str = "False") -> None:
        """Run the service in the foreground (REST API, console and workers) until SIGTERM
        or Ctrl-C.

        Args:
            bind: the address to listen on; default: the setting bind.
            port: the port to listen on (0: any free one); default: the setting port.
            http: serve plain HTTP instead of HTTPS.
        """
        from aft.executor import HaltSignal
        from aft.server.service import Service

        with _instance() as instance:
            service = Service(
                instance,
                bind=bind,
                port=None if port is None else _int(port, "--port"),
                tls=False if _flag(http, "--http") else None,
            )
            stop = HaltSignal()
            previous = {
                s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)
            }
            try:
                service.start()
                where = f"aft: listening on {service.url}"
                if service.fingerprint:
                    where += f" (certificate SHA-256 {service.fingerprint})"
                print(where, flush=True)
                stop.wait()
                print("aft: stopping", flush=True)
            finally:
                service.stop()
                for signum, handler in previous.items():
                    signal.signal(signum, handler)
                stop.close()

    def worker(self, group: str = "default", concurrency: str = "2") -> None:
        """Run a cluster worker node for one group until SIGTERM or Ctrl-C (needs a cluster).

        Args:
            group: the worker group whose jobs this node runs.
            concurrency: how many jobs it runs at once.
        """
        from aft.cluster.node import run_worker_node

        with _instance() as instance:
            run_worker_node(instance, group=group, concurrency=_int(concurrency, "--concurrency"))

    def reinit(self) -> None:
        """Reset the settings and the web console's administrators; refused while serving.

        Scripts, keys, secrets, VFS profiles and jobs stay.
        """
        with _instance() as instance:
            _refuse_while_serving(instance)
            instance.settings.reset()
            instance.accounts.reset()
        _print("settings reset to their defaults; the web console asks for a new administrator")

    def move_to_postgres(self, url: str) -> None:
        """Copy this instance's SQLite database into an empty PostgreSQL database and use
        that from now on (cluster.conf); aft.db stays as it was. Refused while serving.

        Args:
            url: the database, postgresql://USER@HOST/NAME (a password from PGPASSWORD or
                ~/.pgpass).
        """
        from aft._pgstore import PostgresStore, redacted
        from aft.config import save_database_url
        from aft.exceptions import ConfigError
        from aft.migrate import copy_to_postgres

        if not url.startswith(("postgresql://", "postgres://")):
            raise UsageError("give a postgresql:// URL")
        with _instance() as instance:
            if instance.config.database_url is not None:
                raise ConfigError("this instance uses PostgreSQL already")
            _refuse_while_serving(instance)
            target = PostgresStore(url)
            try:
                copied = copy_to_postgres(instance.store, target)
            finally:
                target.close()
            config = save_database_url(instance.home, url)
        rows = ", ".join(f"{n} {table}" for table, n in copied.items() if n)
        _print(f"copied {rows or 'nothing'} into {redacted(url)}")
        _print(
            f"this instance uses it from now on ({config}); every node needs a copy of"
            f" {instance.master_key.path}"
        )
        _print(
            f"to make it a cluster: add broker_url = redis://HOST:6379/0 to the [cluster]"
            f" section of {config} (or set AFT_BROKER_URL) on this and every other node, then"
            " run `aft serve` and `aft worker --group default` nodes; a node without a broker"
            " refuses a cluster's database (see docs/cluster.md)"
        )


def _refuse_while_serving(instance: Any) -> None:
    from aft._paths import read_runtime_info

    running = read_runtime_info(instance.home)
    if running is not None:
        raise AftError(
            f"aft serve is running for this instance (pid {running['pid']}): stop it first"
        )


@contextlib.contextmanager
def _scripts() -> Iterator[Any]:
    with _instance() as instance:
        yield instance.scripts


@contextlib.contextmanager
def _schedules() -> Iterator[Any]:
    with _instance() as instance:
        yield instance.schedules


@contextlib.contextmanager
def _keys() -> Iterator[Any]:
    with _instance() as instance:
        yield instance.api_keys


@contextlib.contextmanager
def _queue() -> Iterator[Any]:
    with _instance() as instance:
        yield instance.jobs


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"{what} takes a whole number, not {text!r}") from None


def _float(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"{what} takes a number, not {text!r}") from None


def _flag(text: str | bool, what: str) -> bool:
    """A switch's value: ``--wait`` alone is true; ``--wait=false`` is false."""
    value = str(text).lower()
    if value not in ("true", "1", "yes", "false", "0", "no"):
        raise UsageError(f"{what} takes true or false (or nothing), not {text!r}")
    return value in ("true", "1", "yes")


def _warn_short_values(name: str, payload: dict[str, object] | None) -> None:
    """The library logs these on ``aft.secrets``, which the CLI quiets to say them itself."""
    from aft.vfs.library import short_value_warnings

    for warning in short_value_warnings(name, payload or {}):
        sys.stderr.write(f"aft: warning: {warning}\n")


def _print_json(value: object) -> None:
    _print(json.dumps(value, indent=2))


#: Fields of a shown record that hold a Unix time (0 or absent: never).
TIME_FIELDS = {"created", "updated", "started", "finished", "notBefore", "nextRun", "lastRun"}


def _print_list(items: Sequence[T], json: str, line: Callable[[T], str]) -> None:
    """``items`` as a JSON array with ``--json``, else ``line(item)`` for each."""
    if _flag(json, "--json"):
        from aft._serde import to_json

        _print_json([to_json(item) for item in items])
        return
    for item in items:
        _print(line(item))


def _print_record(record: dict[str, object], as_json: bool) -> None:
    """A record as JSON, or as aligned ``field  value`` lines: times local with their zone,
    nested values as compact JSON, absent ones as ``-``."""
    if as_json:
        _print_json(record)
        return
    width = max((len(k) for k in record), default=0)
    for key, value in record.items():
        if value is None or (key in TIME_FIELDS and not value):
            text = "-"
        elif key in TIME_FIELDS and isinstance(value, int | float):
            text = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(value))
        elif isinstance(value, dict | list):
            text = json.dumps(value, separators=(", ", ": "))
        else:
            text = _show(value)
        _print(f"{key.ljust(width)}  {text}")


def _when(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


def _show(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _fire(argv: list[str]) -> None:
    from aft._fire_adapter import run_fire

    command_classes: list[type] = [AftCommands]
    command_classes += [type(group) for group in vars(AftCommands()).values()]
    run_fire(AftCommands(), command_classes, argv)


def _quiet_libraries() -> None:
    """Libraries whose failures aft reports itself in one line (paramiko logs a
    traceback from its transport thread) print nothing of their own; nor does the secret
    store's short-value warning, which ``aft secrets set`` prints in its own words."""
    import logging

    logging.getLogger("paramiko").setLevel(logging.CRITICAL)
    logging.getLogger("aft.secrets").setLevel(logging.ERROR)  # aft secrets set warns itself


#: Errors in the command line's shape (a command, option or value aft cannot take), not in
#: what it asked for: exit status 2.
USAGE_ERRORS = (UsageError, InvalidSetting, UnknownSetting)

#: Commands whose exit status the contract fixes at 0 or 1 (cron and CI read it): a value
#: they refuse is a failure like any other, not a usage error.
ZERO_OR_ONE = ("run", "start")


#: The extra (setup.cfg) that installs each optional top-level package.
EXTRAS = {
    "bottle": "server",
    "cheroot": "server",
    "argon2": "server",
    "watchdog": "watch",
    "pysequoia": "pgp",
    "paramiko": "sftp",
    "botocore": "s3",
    "azure": "azure",
    "google": "gcp",
    "celery": "cluster",
    "kombu": "cluster",
    "redis": "cluster",
    "psycopg": "cluster",
}


def _extra_for(module: str | None) -> str | None:
    """The extra that installs ``module`` (``a.b`` counts as ``a``), or None."""
    return EXTRAS.get((module or "").split(".")[0])


def _exit_status(exc: AftError, command: str) -> int:
    """2 for a command line aft cannot take: its shape, or a value it refuses (a bad cron,
    params that are not a JSON object, an address that is not one); 1 for everything else,
    including a name that is unknown or taken (ValueError-like errors that are also a
    LookupError or FileExistsError)."""
    if isinstance(exc, USAGE_ERRORS):
        return 2
    refused_value = isinstance(exc, ValueError) and not isinstance(
        exc, (LookupError, FileExistsError)
    )
    return 2 if refused_value and command not in ZERO_OR_ONE else 1


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``aft`` console script; returns the exit status: 0 done, 1 failed,
    2 a command line it cannot take, a value it refuses included (one line on stderr, never
    a traceback); ``aft run`` and ``aft start`` exit 0 or 1 as their contract says."""
    argv = sys.argv[1:] if argv is None else argv
    if argv in (["--version"], ["-V"]):
        from aft._version import __version__

        _print(f"aft {__version__}")
        return 0
    try:
        if argv[:1] == ["run"]:  # timed against node: nothing it does not need
            return run_file(**_parse_run_args(argv[1:]))
        _quiet_libraries()
        _fire(argv)
    except AftError as exc:
        line = " ".join(str(exc).split())  # one line, whatever a library put in the message
        sys.stderr.write(f"aft: error: {line}\n")
        return _exit_status(exc, argv[0] if argv else "")
    except ImportError as exc:
        extra = _extra_for(exc.name)
        if extra is None:
            return _internal_error(exc)
        sys.stderr.write(
            f"aft: error: this needs the {exc.name!r} package, which the {extra!r} extra"
            f" installs: pip install 'aft[{extra}]'\n"
        )
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("aft: interrupted\n")
        return 130
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    except Exception as exc:
        return _internal_error(exc)
    return 0


def _internal_error(exc: Exception) -> int:
    """A bug is still one line; AFT_DEBUG=1 shows the traceback."""
    if os.environ.get("AFT_DEBUG"):
        raise exc
    what = " ".join(str(exc).split()) or type(exc).__name__
    sys.stderr.write(f"aft: internal error: {what} (AFT_DEBUG=1 shows where)\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
