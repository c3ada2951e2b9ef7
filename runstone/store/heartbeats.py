"""Run heartbeats in the database: the time of a run's last heartbeat is its
``runstone.heartbeat`` tag, a fixed-width number of milliseconds (compared as text)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from runstone.entities import RunStatus
from runstone.store import runs as run_store
from runstone.store.engine import rowcount
from runstone.store.tables import RunRow, TagRow

HEARTBEAT = "runstone.heartbeat"


def stamp(ms: int) -> str:
    return f"{ms:015d}"


def beat(session: Session, run_uuids: Sequence[str], now: int) -> list[str]:
    """Record a heartbeat for those of the runs that are RUNNING; returns their ids."""
    ids = run_store.ids_for_uuids(session, list(run_uuids))
    running = session.execute(
        select(RunRow.uuid, RunRow.id).where(RunRow.id.in_(ids.values()), RunRow.status == RunStatus.RUNNING.value)
    ).all()
    for _, internal in running:
        run_store.write_tags(session, internal, {HEARTBEAT: stamp(now)})
    return sorted(uuid for uuid, _ in running)


def stale(session: Session, cutoff: int) -> list[tuple[int, str]]:
    """RUNNING runs whose last heartbeat is older than ``cutoff`` (internal id, run id)."""
    old = select(TagRow.run_id).where(TagRow.key == HEARTBEAT, TagRow.value < stamp(cutoff))
    rows = session.execute(
        select(RunRow.id, RunRow.uuid).where(RunRow.status == RunStatus.RUNNING.value, RunRow.id.in_(old))
    )
    return [(internal, uuid) for internal, uuid in rows.all()]


def kill_if_stale(session: Session, run_id: int, cutoff: int, now: int) -> bool:
    """Mark the run KILLED if it is still RUNNING with a heartbeat older than ``cutoff``: one
    conditional UPDATE, so of several replicas sweeping at once exactly one kills it."""
    old = select(TagRow.run_id).where(TagRow.run_id == run_id, TagRow.key == HEARTBEAT, TagRow.value < stamp(cutoff))
    done = session.execute(
        update(RunRow)
        .where(RunRow.id == run_id, RunRow.status == RunStatus.RUNNING.value, RunRow.id.in_(old))
        .values(status=RunStatus.KILLED.value, end_time=now)
        .execution_options(synchronize_session=False)
    )
    return bool(rowcount(done) == 1)
