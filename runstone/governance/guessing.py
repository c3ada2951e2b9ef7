"""Password guessing is slowed: wrong passwords are counted per (client address, user name).

After ``MAX_FAILURES`` wrong passwords for one name from one address within ``WINDOW`` seconds,
that pair is refused (429) without its password being looked at until the window has passed. One
count per server process serves the UI's sign-in form and HTTP Basic auth on the API alike; it
starts afresh on restart, and a server with N workers allows up to N times as many tries.
"""

from __future__ import annotations

import time

MAX_FAILURES = 10
WINDOW = 300.0
MAX_TRACKED = 10_000


class WrongPasswords:
    def __init__(self) -> None:
        self._times: dict[tuple[str, str], list[float]] = {}

    def __bool__(self) -> bool:
        """False while no wrong password is remembered: the hot path skips the check."""
        return bool(self._times)

    def wait(self, client: str | None, name: str) -> int | None:
        """Seconds until the pair may try again, or None when it may now."""
        times = self._recent((client or "", name))
        if len(times) < MAX_FAILURES:
            return None
        return int(times[0] + WINDOW - time.monotonic()) + 1

    def add(self, client: str | None, name: str) -> None:
        key = (client or "", name)
        self._times[key] = [*self._recent(key), time.monotonic()]

    def _recent(self, key: tuple[str, str]) -> list[float]:
        cutoff = time.monotonic() - WINDOW
        if len(self._times) > MAX_TRACKED:  # forget pairs whose window has passed; never grow without bound
            for stale in [k for k, times in list(self._times.items()) if not times or times[-1] < cutoff]:
                self._times.pop(stale, None)
            if len(self._times) > MAX_TRACKED:
                self._times.clear()
        times = [t for t in self._times.get(key, ()) if t >= cutoff]
        if times:
            self._times[key] = times
        else:
            self._times.pop(key, None)
        return times
