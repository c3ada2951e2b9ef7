"""The monitoring round run by every server process (and by ``runstone monitor run``): compute
the completed windows that no process has claimed, evaluate the rules on them, and drop raw logs
past their retention. The claim row of each window makes replicas share the work: exactly one
process evaluates a window."""

from __future__ import annotations

import logging
import os
import socket
from typing import TYPE_CHECKING

from runstone.monitoring.windows import parse_duration
from runstone.periodic import Periodic

if TYPE_CHECKING:
    from runstone.backend import Backend
    from runstone.config import Settings
    from runstone.monitoring.service import MonitoringService

log = logging.getLogger("runstone.monitoring")
_DAY_MS = 86_400_000


def owner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_round(service: MonitoringService, *, window_ms: int, retention_ms: int | None) -> int:
    done = service.evaluate_due(window_ms, owner=owner_name())
    if retention_ms:
        service.purge(service.clock() - retention_ms)
    return done


class ProfileScheduler(Periodic):
    """Profiles newly registered versions every ``interval`` seconds in a daemon thread, after
    their registration committed (so registering never waits for, nor fails because of, it)."""

    name = "runstone-profiles"
    # Versions whose id is this far below the highest seen are looked at again: a registration
    # that committed late (after a higher id) is still found.
    SLACK = 1000

    def __init__(self, service: MonitoringService | None, *, interval: float) -> None:
        super().__init__(interval)
        self.service = service
        self.seen = 0

    def enabled(self) -> bool:
        return self.service is not None and self.interval > 0

    def round(self) -> int:
        assert self.service is not None
        total = 0
        while True:
            done, highest = self.service.profile_registered(owner=owner_name(), after_id=max(0, self.seen - self.SLACK))
            self.seen = max(self.seen, highest)
            total += done
            if not done or self.stopping:
                return total


class MonitoringScheduler(Periodic):
    """Runs a monitoring round every ``interval`` seconds in a daemon thread."""

    name = "runstone-monitoring"

    def __init__(
        self, service: MonitoringService | None, *, interval: float, window_ms: int, retention_ms: int,
        profiles: ProfileScheduler | None = None,
    ) -> None:  # fmt: skip
        super().__init__(interval)
        self.service = service
        self.profiles = profiles or ProfileScheduler(None, interval=0)
        self.window_ms = window_ms
        self.retention_ms = retention_ms

    @classmethod
    def for_server(cls, backend: Backend, settings: Settings) -> MonitoringScheduler:
        interval, every = settings.monitoring_interval, settings.monitoring_profile_interval
        local = hasattr(backend, "db")
        return cls(
            backend.monitoring() if interval > 0 and local else None,
            interval=interval,
            window_ms=parse_duration(settings.monitoring_window),
            retention_ms=int(settings.monitoring_retention_days * _DAY_MS),
            profiles=ProfileScheduler(backend.monitoring() if every > 0 and local else None, interval=every),
        )

    def enabled(self) -> bool:
        return self.service is not None and self.interval > 0

    def round(self) -> int:
        assert self.service is not None
        return run_round(self.service, window_ms=self.window_ms, retention_ms=self.retention_ms)

    def start(self) -> None:
        self.profiles.start()
        super().start()

    def stop(self) -> None:
        self.profiles.stop()
        super().stop()
