"""Idempotency keys already applied: what makes a retried write idempotent.

(Kept in the ``requests`` table, whose ``request_id`` column holds the key.)
"""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.orm import Session

from runstone.store.engine import rowcount
from runstone.store.tables import RequestRow
from runstone.store.upsert import insert_new


def claim(session: Session, key: str, now: int) -> bool:
    """Record an idempotency key unless it is taken; False when it was (the request is a repeat).

    Claimed before the work is done: a concurrent repeat waits (PostgreSQL) on this row and
    finds it taken once this transaction commits, or claims it if this one rolled back.
    """
    return bool(
        insert_new(session, RequestRow.__table__, [{"request_id": key, "time": now}], ["request_id"], "request_id")
    )


def forget_before(session: Session, cutoff: int) -> int:
    result = session.execute(delete(RequestRow).where(RequestRow.time < cutoff))
    return int(rowcount(result) or 0)
