"""Run heartbeats on SQLite and PostgreSQL: only runs that sent one can be killed, a late run
is killed once however many server processes sweep at the same moment."""

from __future__ import annotations

import threading
from typing import Any

from runstone.tracking import heartbeat


def test_a_silent_run_is_killed_after_the_timeout_and_others_are_left_alone(
    tracking: Any, backend: Any, clock: Any
) -> None:
    ctx = backend.context(clock=clock)
    silent, alive, finished = (tracking.create_run("0") for _ in range(3))
    ids = [r.info.run_id for r in (silent, alive, finished)]
    tracking.set_terminated(finished.info.run_id)
    assert heartbeat.beat(ctx, ids) == sorted([silent.info.run_id, alive.info.run_id])  # RUNNING ones only
    clock.advance(9_000)
    heartbeat.beat(ctx, [alive.info.run_id])
    clock.advance(2_000)

    assert heartbeat.sweep(ctx, 10_000) == [silent.info.run_id]
    killed = tracking.get_run(silent.info.run_id)
    assert (killed.info.status, killed.info.end_time) == ("KILLED", clock.now)
    assert killed.data.tags[heartbeat.KILLED_BY] == "no heartbeat for 10 s"
    assert tracking.get_run(alive.info.run_id).info.status == "RUNNING"
    assert tracking.get_run(finished.info.run_id).info.status == "FINISHED"
    unbeaten = tracking.create_run("0")  # never sent a heartbeat: never killed
    clock.advance(60_000)
    assert unbeaten.info.run_id not in heartbeat.sweep(ctx, 10_000)
    assert tracking.get_run(unbeaten.info.run_id).info.status == "RUNNING"


def test_replicas_sweeping_at_once_kill_each_late_run_once(tracking: Any, backend: Any, clock: Any) -> None:
    runs = [tracking.create_run("0").info.run_id for _ in range(30)]
    heartbeat.beat(backend.context(clock=clock), runs)
    clock.advance(60_000)
    barrier = threading.Barrier(4)
    results: list[list[str]] = []

    def sweep() -> None:
        ctx = backend.context(clock=clock)
        barrier.wait()
        results.append(heartbeat.sweep(ctx, 10_000))

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    killed = [run_id for found in results for run_id in found]
    assert sorted(killed) == sorted(runs)  # every run once, by exactly one sweeper
    assert {tracking.get_run(r).info.status for r in runs} == {"KILLED"}
