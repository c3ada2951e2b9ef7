"""Run heartbeats: a RUNNING run whose client went silent is marked KILLED.

The SDK sends a heartbeat for its active runs every ``heartbeat_interval`` seconds; the server
keeps the time of the last one in the run's ``runstone.heartbeat`` tag (which also marks the run
as one whose client sends heartbeats: runs of clients that never do, such as MLflow's, are left
alone). Every server process sweeps now and then; the sweep's UPDATE re-checks the run's state
and heartbeat in its WHERE clause, so replicas sweeping at once kill a run once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from runstone.entities import RunStatus
from runstone.errors import InvalidInput
from runstone.governance.context import Context
from runstone.periodic import Periodic
from runstone.store import heartbeats
from runstone.store import runs as run_store

log = logging.getLogger("runstone.server")

KILLED_BY = "runstone.killedBy"
MAX_RUNS = 100


def beat(ctx: Context, run_ids: Sequence[str]) -> list[str]:
    """Record a heartbeat for the given runs; returns those that are RUNNING (others are ignored)."""
    if len(run_ids) > MAX_RUNS:
        raise InvalidInput(f"A heartbeat names at most {MAX_RUNS} runs, got {len(run_ids)}.")
    with ctx.transaction(write=True) as s:
        return heartbeats.beat(s, run_ids, ctx.clock())


def sweep(ctx: Context, timeout_ms: int) -> list[str]:
    """Mark KILLED the RUNNING runs whose last heartbeat is older than ``timeout_ms``."""
    now = ctx.clock()
    cutoff = now - timeout_ms
    killed: list[str] = []
    with ctx.transaction(write=True) as s:
        for internal, uuid in heartbeats.stale(s, cutoff):
            if heartbeats.kill_if_stale(s, internal, cutoff, now):
                run_store.write_tags(s, internal, {KILLED_BY: f"no heartbeat for {timeout_ms // 1000} s"})
                ctx.audit.write(
                    s, "run.update", "run", uuid, {"status": RunStatus.RUNNING.value},
                    {"status": RunStatus.KILLED.value, "end_time": now, "reason": "heartbeat timeout"},
                )  # fmt: skip
                killed.append(uuid)
    return killed


class Sweeper(Periodic):
    """A server process's background sweep, every quarter of the timeout (at most a minute)."""

    name = "runstone-heartbeats"

    def __init__(self, context: Callable[[], Context], timeout_seconds: float) -> None:
        super().__init__(min(60.0, max(0.05, timeout_seconds / 4)))
        self._context = context
        self.timeout_ms = int(timeout_seconds * 1000)

    def enabled(self) -> bool:
        return self.timeout_ms > 0

    def round(self) -> list[str]:
        killed = sweep(self._context(), self.timeout_ms)
        for run_id in killed:
            log.info("run %s marked KILLED: no heartbeat for %d s", run_id, self.timeout_ms // 1000)
        return killed
