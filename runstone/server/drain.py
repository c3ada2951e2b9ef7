"""Graceful SIGTERM: a bounded drain before the server stops accepting connections.

uvicorn, on SIGTERM, closes its listening sockets at once and then waits for the requests in
flight. Behind a load balancer that has not yet noticed, new requests then fail. With a drain,
the first SIGTERM only marks the app as draining (``/health/ready`` answers 503, so the balancer
takes the server out) while every request is still accepted and answered; ``drain_seconds``
later uvicorn's own shutdown starts, and requests in flight (a long upload) finish. A second
SIGTERM, or SIGINT, stops at once as before.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

from fastapi import FastAPI

log = logging.getLogger("runstone.server")

Handler = Callable[[int, FrameType | None], object]


def install(app: FastAPI, seconds: float) -> Callable[[], None]:
    """Put the drain in front of the SIGTERM handler the server installed; returns the undo."""
    app.state.draining = False
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        return lambda: None  # no drain wanted, or not the server's main thread (tests in-process)
    previous = signal.getsignal(signal.SIGTERM)
    if not callable(previous):
        return lambda: None  # no server shutdown handler to defer to
    loop = asyncio.get_running_loop()
    shutdown: Handler = previous

    def on_sigterm(sig: int, frame: FrameType | None) -> None:
        if app.state.draining:
            shutdown(sig, frame)
            return
        app.state.draining = True
        log.info("SIGTERM: draining for %.1f s (readiness fails, requests are still answered)", seconds)
        loop.call_soon_threadsafe(loop.call_later, seconds, _stop, sig)

    def _stop(sig: int) -> None:
        log.info("Drain over: no new connections; finishing the requests in flight")
        shutdown(sig, None)

    signal.signal(signal.SIGTERM, on_sigterm)

    def undo() -> None:
        if signal.getsignal(signal.SIGTERM) is on_sigterm:
            signal.signal(signal.SIGTERM, previous)

    return undo
