"""Background rounds of a server process: a daemon thread that runs a round every few seconds.

The heartbeat sweep, trace retention, webhook delivery, monitoring windows and reference profiles
each subclass ``Periodic`` and say what one round does; starting, stopping and surviving a failed
round (the database may be away for a moment, the next round retries) are written once here.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger("runstone")


class Periodic:
    """Calls ``round()`` every ``interval`` seconds in a daemon thread named ``name``, from
    ``start()`` until ``stop()``. An interval of 0 or less starts nothing, and so does a subclass
    whose ``enabled()`` says no. A round that raises is logged and the next one runs as planned."""

    name = "runstone-background"
    join_seconds = 10.0

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def enabled(self) -> bool:
        return self.interval > 0

    def round(self) -> object:
        raise NotImplementedError

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def start(self) -> None:
        if not self.enabled() or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.round()
            except Exception:
                log.exception("%s: a background round failed; the next one retries", self.name)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.join_seconds)
