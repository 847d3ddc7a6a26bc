"""Debian's headless Chromium for the web console tests and the docs' screenshots.

Never a browser Playwright would download: ``chromium`` from apt (``scripts/test``
installs it). A missing binary is an error that names the fix, never a skip.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def launch_chromium(playwright: Any, extra_args: Sequence[str] = ()) -> Any:
    """A Playwright ``Browser`` on Debian's Chromium.

    Raises:
        RuntimeError: when Chromium is not installed.
    """
    if not os.path.exists(CHROMIUM):
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install -y chromium")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra_args])
