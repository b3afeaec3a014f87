"""Stopping a long command politely: SIGTERM (what a batch scheduler or ``kill`` sends) is turned into
the ``KeyboardInterrupt`` of Ctrl-C, so the same ``except``/``finally`` blocks save a command's finished
work whichever of the two stopped it."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["sigterm_as_interrupt"]


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt while active (main thread only), so
    ``finally`` blocks run when a batch job is stopped politely."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
