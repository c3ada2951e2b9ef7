"""Request ids already applied: what makes a retried write idempotent."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from runstone.store.tables import RequestRow


def seen(session: Session, request_id: str) -> bool:
    return session.scalar(select(RequestRow.request_id).where(RequestRow.request_id == request_id)) is not None


def record(session: Session, request_id: str, now: int) -> None:
    session.add(RequestRow(request_id=request_id, time=now))


def forget_before(session: Session, cutoff: int) -> int:
    result = session.execute(delete(RequestRow).where(RequestRow.time < cutoff))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
