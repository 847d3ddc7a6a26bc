"""The ``aft`` command: a thin Fire shell over the library.

Every argument reaches the library as the text that was typed (Fire would otherwise
evaluate ``{"a":"D:\\x"}`` or ``1e3`` as Python literals). ``aft run`` is parsed here
without Fire: it is timed against ``node``, and importing Fire alone costs more than a
whole ``node`` start.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from aft.exceptions import AftError, CliRunDisabled

USAGE_RUN = "usage: aft run -f FILE [-p JSON]"


def _print(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def _instance() -> Any:
    from aft.instance import Instance

    return Instance()


def run_file(file: str, params: str | None = None) -> int:
    """Run a script file in this process; 0 when it succeeded, else 1.

    Log lines stream to stderr as they happen. SIGINT or SIGTERM sends the halt
    signal; a second one ends the process at once.
    """
    from aft.executor import Executor, HaltSignal, parse_params

    values = parse_params(params) if params else {}
    with _instance() as instance:
        if not instance.settings.get("allow_cli_run"):
            raise CliRunDisabled(
                "aft run is disabled on this instance (setting allow_cli_run is off);"
                " an administrator can turn it on: aft settings set allow_cli_run true"
            )
        executor = Executor(
            secrets=instance.secrets, allow_exec=bool(instance.settings.get("allow_exec"))
        )
        halt = HaltSignal()

        def on_signal(signum: int, frame: object) -> None:
            if halt.is_set():  # the second signal: stop now (writes go to temp names)
                os.write(2, b"aft: halt forced by a second signal\n")
                os._exit(1)
            halt.set()

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            result = executor.run(
                file=file,
                params=values,
                halt=halt,
                on_log=lambda line: print(line.format(), file=sys.stderr),
            )
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            halt.close()
    return 0 if result.ok else 1


def _parse_run_args(args: list[str]) -> dict[str, str]:
    names = {"-f": "file", "--file": "file", "-p": "params", "--params": "params"}
    found: dict[str, str] = {}
    i = 0
    while i < len(args):
        token = args[i]
        flag, eq, value = token.partition("=")
        if token in ("-h", "--help"):
            _print(USAGE_RUN)
            raise SystemExit(0)
        if flag not in names:
            raise AftError(f"unexpected argument {token!r}; {USAGE_RUN}")
        if not eq:
            i += 1
            if i == len(args):
                raise AftError(f"{flag} needs a value; {USAGE_RUN}")
            value = args[i]
        found[names[flag]] = value
        i += 1
    if "file" not in found:
        raise AftError(f"missing -f FILE; {USAGE_RUN}")
    return found


class SettingsCommands:
    """Instance settings: list, get KEY, set KEY VALUE."""

    def list(self) -> None:
        """Every setting with its value."""
        with _instance() as instance:
            for key, value in instance.settings.all().items():
                _print(f"{key} = {_show(value)}")

    def get(self, key: str) -> None:
        """Print one setting's value."""
        with _instance() as instance:
            _print(_show(instance.settings.get(key)))

    def set(self, key: str, value: str) -> None:
        """Change a setting."""
        with _instance() as instance:
            _print(f"{key} = {_show(instance.settings.set(key, value))}")


class SecretsCommands:
    """Named secrets, encrypted at rest: set NAME (value from stdin), list, delete NAME."""

    def set(self, name: str) -> None:
        """Create or replace a secret; the value is read from stdin, never from arguments."""
        if sys.stdin is None or sys.stdin.closed:
            raise AftError("aft secrets set reads the value from stdin, which is closed")
        if sys.stdin.isatty():
            import getpass

            value = getpass.getpass(f"value for {name}: ")
        else:
            value = sys.stdin.read()
            value = value[:-1] if value.endswith("\n") else value
            value = value[:-1] if value.endswith("\r") else value
        with _instance() as instance:
            instance.secrets.set(name, value)
        _print(f"secret {name} set")

    def list(self) -> None:
        """The names of all secrets (never their values)."""
        with _instance() as instance:
            for name in instance.secrets.names():
                _print(name)

    def delete(self, name: str) -> None:
        """Remove a secret."""
        with _instance() as instance:
            instance.secrets.delete(name)
        _print(f"secret {name} deleted")


class AftCommands:
    """aft: automated, scripted file transfer."""

    def __init__(self) -> None:
        self.settings = SettingsCommands()
        self.secrets = SecretsCommands()

    def run(self, file: str, params: str | None = None) -> None:
        """Run a .syncjs file here and now: aft run -f FILE [-p JSON]. Exit 0 on success, else 1."""
        raise SystemExit(run_file(file, params))


def _show(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _fire(argv: list[str]) -> None:
    import fire

    # Every argument arrives as the text typed: no Python-literal evaluation.
    for command_class in (AftCommands, SettingsCommands, SecretsCommands):
        for attr, function in list(vars(command_class).items()):
            if callable(function) and not attr.startswith("_"):
                setattr(command_class, attr, fire.decorators.SetParseFn(str)(function))
    fire.Fire(AftCommands, command=argv, name="aft")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``aft`` console script; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:1] == ["run"]:
            return run_file(**_parse_run_args(argv[1:]))
        _fire(argv)
    except AftError as exc:
        sys.stderr.write(f"aft: error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("aft: interrupted\n")
        return 130
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
