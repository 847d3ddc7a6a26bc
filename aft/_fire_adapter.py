"""Fire, the CLI library, as aft's command line needs it: everything aft does beyond
Fire's public ``fire.Fire`` is here, with a test each in tests/test_adapters.py.

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
"""

from __future__ import annotations

from typing import Any

#: Fire's names this module relies on (checked by tests/test_adapters.py).
PRIVATE_NAMES = ("fire.decorators.FIRE_METADATA",)
HIDDEN_METADATA = "__fire_metadata__"


def run_fire(component: Any, command_classes: list[type], argv: list[str]) -> None:
    """Run ``component``'s command named by ``argv`` through Fire, every argument as text."""
    import fire

    fire.decorators.FIRE_METADATA = HIDDEN_METADATA
    for command_class in command_classes:
        for attr, function in list(vars(command_class).items()):
            if callable(function) and not attr.startswith("_"):
                setattr(command_class, attr, fire.decorators.SetParseFn(str)(function))
    fire.Fire(component, command=prepare_argv(argv), name="aft")


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
