"""Idempotency keys already applied: what makes a retried write idempotent.

(Kept in the ``requests`` table, whose ``request_id`` column holds the key.)
"""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.orm import Session

from runstone.store import raw
from runstone.store.engine import rowcount
from runstone.store.tables import RequestRow


def claim(session: Session, key: str, now: int) -> bool:
    """Record an idempotency key unless it is taken; False when it was (the request is a repeat).

    Claimed before the work is done: a concurrent repeat waits (PostgreSQL) on this row and
    finds it taken once this transaction commits, or claims it if this one rolled back.
    """
    # Straight to the driver: every batch the SDK logs carries a key, and SQLAlchemy's statement
    # for this insert cost more than half a millisecond of CPU, more than the rest of the batch.
    claimed = raw.first(
        session,
        "INSERT INTO applied_requests (request_id, time) VALUES (?, ?) ON CONFLICT (request_id) DO NOTHING "
        "RETURNING request_id",
        (key, now),
    )
    return claimed is not None


def forget_before(session: Session, cutoff: int) -> int:
    result = session.execute(delete(RequestRow).where(RequestRow.time < cutoff))
    return int(rowcount(result) or 0)
