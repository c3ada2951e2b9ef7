"""Exit hooks of the fluent API: at exit the active runs end and what is buffered is sent; an
uncaught exception ends them FAILED; SIGTERM (preemption) unwinds the training code and ends
them KILLED."""

from __future__ import annotations

import atexit
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any


class Terminated(SystemExit):
    """Raised in the main thread on SIGTERM: the training code unwinds (its ``with`` blocks and
    ``finally`` clauses run, locks are released), then the exit hook sends what is buffered and
    ends the active runs KILLED. Exit status 143, as for a shell killed by SIGTERM."""


_lock = threading.Lock()
_installed = False


def install(at_exit: Callable[[], None], *, on_terminate: Callable[[], None], on_failure: Callable[[], None]) -> None:
    """Installed when the first run starts, not at import: an uncaught exception then marks the
    active runs FAILED, and at exit they end and buffered points are sent."""
    global _installed
    with _lock:
        if _installed:
            return
        previous = sys.excepthook

        def excepthook(exc_type: Any, exc: Any, tb: Any) -> None:
            on_failure()
            previous(exc_type, exc, tb)

        def on_sigterm(sig: int, frame: Any) -> None:
            on_terminate()
            signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM kills at once
            raise Terminated(128 + signal.SIGTERM)

        sys.excepthook = excepthook
        atexit.register(at_exit)
        # SIGTERM (preemption by Kubernetes or Slurm) would otherwise kill the process without
        # running the exit hook. Only when nobody else handles it, and only the main thread can.
        if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, on_sigterm)
        _installed = True
