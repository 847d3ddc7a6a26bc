"""Fire, the CLI library, as aft's command line needs it: everything aft does beyond
Fire's public ``fire.Fire`` is here, with a test each in tests/test_adapters.py and
tests/test_cli.py.

- ``fire.decorators.SetParseFn(str)`` (public) on every command, so each argument
  arrives as the text typed: no Python-literal evaluation (``--name 007`` stays "007").
- ``fire.decorators.FIRE_METADATA`` (an undocumented module constant): the attribute
  name under which SetParseFn keeps its metadata on a function. Fire's help lists a
  function's attributes as sub-commands, so the name is set to a dunder, which help
  hides. It is a module global of Fire's, set in the ``aft`` process only, whose sole
  user of Fire is this module.
- :func:`prepare_argv`: ``--flag -`` (stdin) becomes ``--flag=-``, which Fire would
  read as a boolean flag; repeated ``--allow A --allow B`` become ``--allow A,B`` (Fire
  keeps only the last of a repeated flag).
- Help and argument checks happen here, before Fire sees the command line: Fire's help
  opens a pager, prints a noise line and spells names in snake_case, and its usage
  errors are many lines. :func:`resolve` finds the command (kebab-case, with a
  suggestion for a typo), :func:`check_arguments` refuses unknown options and missing
  arguments in one line, and :func:`help_text` writes the help from the docstrings: a
  command's ``Args:`` section gives each option its line.
- ``aft --completion [bash|fish]`` prints Fire's completion script (Fire's
  ``-- --completion``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aft.exceptions import AftError

if TYPE_CHECKING:
    import inspect

#: Fire's names this module relies on (checked by tests/test_adapters.py).
PRIVATE_NAMES = ("fire.decorators.FIRE_METADATA",)
HIDDEN_METADATA = "__fire_metadata__"
HELP_FLAGS = ("-h", "--help")


class UsageError(AftError):
    """A command line aft cannot take (an unknown command or option, a missing argument,
    a value of the wrong shape): reported in one line, exit status 2."""


def run_fire(component: Any, command_classes: list[type], argv: list[str]) -> None:
    """Run ``component``'s command named by ``argv`` through Fire, every argument as text.

    Help is printed here and the command line is checked first (see the module's notes).
    """
    if argv[:1] == ["--completion"]:  # Fire's own script: aft --completion [bash|fish]
        import fire

        fire.Fire(component, command=["--", *argv], name="aft")
        return
    path, target, rest = resolve(component, argv)
    if any(token in HELP_FLAGS for token in rest):
        print(help_text(path, target), end="")
        return
    if "--" in rest:  # Fire's own flags (--trace, --interactive...) are not aft's
        raise UsageError(f"{_name(path)} takes no flags after --; see {_name(path)} --help")
    if not callable(target):
        names = ", ".join(commands_of(target))
        raise UsageError(f"{_name(path)} needs a command: {names} (see {_name(path)} --help)")
    check_arguments(path, target, prepare_argv(rest))
    import fire

    fire.decorators.FIRE_METADATA = HIDDEN_METADATA
    for command_class in command_classes:
        for attr, function in list(vars(command_class).items()):
            if callable(function) and not attr.startswith("_"):
                setattr(command_class, attr, fire.decorators.SetParseFn(str)(function))
    fire.Fire(component, command=prepare_argv(argv), name="aft")


def commands_of(component: Any) -> dict[str, Any]:
    """A group's sub-groups and commands by their command-line (kebab-case) names."""
    found: dict[str, Any] = {}
    for attr in sorted(set(vars(type(component))) | set(vars(component))):
        if attr.startswith("_"):
            continue
        value = getattr(component, attr)
        if callable(value) or hasattr(value, "__dict__"):
            found[attr.replace("_", "-")] = value
    return found


def resolve(component: Any, argv: list[str]) -> tuple[list[str], Any, list[str]]:
    """The command ``argv`` names: its path, the group or bound method, the rest of argv.

    Raises:
        UsageError: for a name that is no command, with the nearest one as a suggestion.
    """
    path: list[str] = []
    target, rest = component, list(argv)
    while not callable(target) and rest and not rest[0].startswith("-"):
        word = rest.pop(0)
        names = commands_of(target)
        key = word.replace("_", "-")
        if key not in names:
            import difflib

            near = difflib.get_close_matches(key, names, n=1)
            hint = f"; did you mean {_name([*path, near[0]])}?" if near else ""
            raise UsageError(
                f"{_name(path)} has no command {word!r}{hint} (see {_name(path)} --help)"
            )
        path.append(key)
        target = names[key]
    return path, target, rest


def check_arguments(path: list[str], function: Callable[..., Any], argv: list[str]) -> None:
    """Refuse, in one line, what Fire would answer with a page of usage: an option the
    command does not have, a missing argument, an argument too many."""
    params = _parameters(function)
    given: set[str] = set()
    positional: list[str] = []
    tokens = _before_separator(argv)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.startswith("-") and len(token) > 1 and not _is_number(token):
            flag = token.split("=", 1)[0]
            name = _option(path, params, flag)
            given.add(name)
            if "=" not in token and not _is_switch(params[name]):
                if i + 1 >= len(tokens):
                    raise UsageError(f"{flag} needs a value; usage: {usage(path, function)}")
                i += 1
        else:
            positional.append(token)
        i += 1
    free = [name for name in params if name not in given]
    if len(positional) > len(free):
        extra = positional[len(free)]
        raise UsageError(f"unexpected argument {extra!r}; usage: {usage(path, function)}")
    given.update(free[: len(positional)])
    missing = [n for n, p in params.items() if p.default is p.empty and n not in given]
    if missing:
        raise UsageError(f"missing {_metavar(missing[0])}; usage: {usage(path, function)}")


def usage(path: list[str], function: Callable[..., Any]) -> str:
    """``aft GROUP COMMAND NAME --flag VALUE [options]``: the required arguments, in the
    README's spelling (the first positionally)."""
    words = [_name(path)]
    params = _parameters(function)
    for index, (name, param) in enumerate(params.items()):
        if param.default is param.empty:
            words.append(_metavar(name) if index == 0 else f"{_flag(name)} {_metavar(name)}")
    if any(p.default is not p.empty for p in params.values()):
        words.append("[options]")
    return " ".join(words)


def help_text(path: list[str], target: Any) -> str:
    """The help of a group (its commands, a line each) or a command (its usage, its
    description, and its options, a line each)."""
    import inspect

    summary, described = parse_docstring(inspect.getdoc(target) or "")
    if not callable(target):
        lines = [f"usage: {_name(path)} COMMAND [options]", "", summary, "", "commands:"]
        names = commands_of(target)
        width = max(map(len, names))
        for word, value in names.items():
            first = _first_sentence(parse_docstring(inspect.getdoc(value) or "")[0])
            lines.append(f"  {word:<{width}}  {first}")
        lines += ["", f"{_name(path)} COMMAND --help shows a command's options."]
        return "\n".join(lines) + "\n"
    lines = [f"usage: {usage(path, target)}", "", summary]
    params = _parameters(target)
    if params:
        lines += ["", "options:"]
        shown = {n: _option_form(n, p, params) for n, p in params.items()}
        width = max(map(len, shown.values()))
        for name, param in params.items():
            text = described.get(name, "")
            if param.default is param.empty:
                text += " (required)"
            elif param.default not in (None, "False"):
                text += f" (default: {param.default})"
            lines.append(f"  {shown[name]:<{width}}  {text.strip()}")
    epilog = getattr(target, "help_epilog", None)
    if epilog is not None:
        lines += ["", epilog()]
    return "\n".join(lines) + "\n"


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """A docstring's text before ``Args:``, and the ``name: text`` lines of that section
    (continuation lines joined)."""
    head, _, args = doc.partition("\nArgs:\n")
    described: dict[str, str] = {}
    current = ""
    for line in args.splitlines():
        if not line.strip():
            current = ""
        elif line.startswith("    ") and not line.startswith("     ") and ":" in line:
            current, _, text = line.strip().partition(":")
            described[current] = text.strip()
        elif current:
            described[current] += " " + line.strip()
    return head.strip(), described


def prepare_argv(argv: list[str]) -> list[str]:
    """Adapt argv to Fire: ``--flag -`` (stdin) becomes ``--flag=-``, which Fire would read
    as a boolean flag; repeated ``--allow A --allow B`` become ``--allow A,B`` (Fire keeps
    only the last of a repeated flag)."""
    allowed, rest, i = [], [], 0
    while i < len(argv):
        token = argv[i]
        value = argv[i + 1] if i + 1 < len(argv) else None
        if token == "--allow" and value is not None:
            allowed.append(value)
            i += 2
            continue
        if token.startswith("--allow="):
            allowed.append(token.split("=", 1)[1])
        elif token.startswith("--") and "=" not in token and value == "-":
            rest.append(f"{token}=-")
            i += 1
        else:
            rest.append(token)
        i += 1
    return rest + ["--allow", ",".join(allowed)] if allowed else rest


def _first_sentence(text: str) -> str:
    paragraph = " ".join(text.split("\n\n")[0].split())
    return paragraph.split(". ")[0].split("; ")[0].rstrip(".")


def _option_form(name: str, param: inspect.Parameter, params: dict[str, Any]) -> str:
    """``-f, --file FILE``: the short form when its letter is the option's alone."""
    alone = [n[0] for n in params].count(name[0]) == 1 and name[0] != "h"  # -h: help
    short = f"-{name[0]}, " if alone else "    "
    return short + _flag(name) + ("" if _is_switch(param) else f" {_metavar(name)}")


def _parameters(function: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    import inspect

    return dict(inspect.signature(function).parameters)


def _option(path: list[str], params: dict[str, inspect.Parameter], flag: str) -> str:
    """The parameter ``--kebab-name``, ``--snake_name`` or ``-x`` (a unique first letter,
    as Fire takes it) names."""
    word = flag.lstrip("-").replace("-", "_")
    if flag.startswith("--") and word in params:
        return word
    if not flag.startswith("--") and len(word) == 1 and word != "h":
        matches = [name for name in params if name.startswith(word)]
        if len(matches) == 1:
            return matches[0]
    import difflib

    near = difflib.get_close_matches(word, params, n=1)
    hint = f"; did you mean {_flag(near[0])}?" if near else ""
    raise UsageError(f"{_name(path)} has no option {flag}{hint} (see {_name(path)} --help)")


def _is_switch(param: inspect.Parameter) -> bool:
    return param.default == "False"


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _before_separator(argv: list[str]) -> list[str]:
    return argv[: argv.index("--")] if "--" in argv else argv


def _name(path: list[str]) -> str:
    return " ".join(["aft", *path])


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _metavar(name: str) -> str:
    return name.upper().replace("-", "_")
