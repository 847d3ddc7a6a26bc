"""Waits that a signal handler never sleeps through: :func:`wait_readable`."""

from __future__ import annotations

import select
import time
from collections.abc import Sequence

#: Seconds a wait of :func:`wait_readable` lasts at most before Python looks at its signals.
SIGNAL_CHECK = 0.25


def wait_readable(fds: Sequence[int], timeout: float | None) -> list[int]:
    """Those of ``fds`` that are readable, waiting up to ``timeout`` seconds for one (None:
    as long as it takes).

    A signal that lands after Python last looked for one and before ``select`` starts
    interrupts nothing: its handler (Ctrl-C, ``aft run``'s halt) would wait for the next
    readable descriptor, which a script busy in JS never makes. The wait therefore wakes
    every :data:`SIGNAL_CHECK` seconds, and the main thread runs the handler then.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = SIGNAL_CHECK if deadline is None else min(SIGNAL_CHECK, deadline - time.monotonic())
        ready: list[int] = select.select(fds, [], [], max(left, 0.0))[0]
        if ready or (deadline is not None and time.monotonic() >= deadline):
            return ready
