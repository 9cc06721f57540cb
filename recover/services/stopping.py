"""SIGTERM and Ctrl-C as a request to stop: the long-running commands (``worker``, ``scan --follow``)
finish what they are doing (a job, a chunk of blocks), record it, and stop."""

from __future__ import annotations

import signal
import threading


def on_signals(stop: threading.Event):
    """Make SIGTERM and SIGINT set ``stop``; the handlers they had (for :func:`restore`), or None off
    the main thread (where Python cannot install handlers: the caller's ``stop`` is the only way)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    handler = lambda signum, frame: stop.set()  # noqa: E731 - finish the current step, then stop
    return {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}


def restore(previous) -> None:
    for sig, old in (previous or {}).items():
        signal.signal(sig, old)
