"""Points where the concurrency and crash-safety tests widen a race window or kill the process.

Inert unless the test's environment asks: ``RECOVER_TEST_PAUSE=credits_claimed:1500`` sleeps 1.5 s at
the point named ``credits_claimed``; ``RECOVER_FAULT=sent:0`` ends the process at ``sent:0`` (sent,
not yet recorded).  One module for every service that has such a point.
"""

from __future__ import annotations

import os
import time


def pause_point(name: str) -> None:
    """Concurrency tests widen a race window here (``RECOVER_TEST_PAUSE=name:millis``, default 500 ms)."""
    spec = os.environ.get("RECOVER_TEST_PAUSE", "")
    point, _, millis = spec.partition(":")
    if point == name:
        time.sleep(int(millis or 500) / 1000)


def fault_point(name: str) -> None:
    """Crash-safety tests kill the process here (``RECOVER_FAULT=name``)."""
    if os.environ.get("RECOVER_FAULT") == name:
        os._exit(137)
