"""Helpers for tests that run SyncJS scripts and read their logs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aft.models import LogLevel, RunResult


def texts(result: RunResult) -> list[str]:
    """Every log line's text, in order."""
    return [line.text for line in result.log]


def errors(result: RunResult) -> list[str]:
    """The texts of the ERROR log lines."""
    return [line.text for line in result.log if line.level is LogLevel.ERROR]


def js(value: Any) -> str:
    """``value`` as a JavaScript literal (a path as its string)."""
    return json.dumps(str(value) if isinstance(value, Path) else value)


def outcome(
    run: Callable[..., RunResult], instance: Any, body: str, **kwargs: Any
) -> tuple[Any, RunResult]:
    """Run ``body`` (which fills the object ``out``) with ``run``; return ``out`` and the run."""
    r = run(instance, f"var out = {{}};\n{body}\nLog('OUT ' + JSON.stringify(out));", **kwargs)
    assert r.ok, (r.error, texts(r))
    line = next(t for t in reversed(texts(r)) if t.startswith("OUT "))
    return json.loads(line[4:]), r
