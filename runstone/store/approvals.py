"""Approval requests for protected stages and aliases, and the approvals given on them."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from runstone.entities import Approval, ApprovalRequest
from runstone.errors import NotFound
from runstone.store.registry import MAX_INTEGER
from runstone.store.tables import ApprovalRequestRow, ApprovalRow, RegisteredModelRow


def insert_request(
    session: Session,
    *,
    model_id: int,
    version: int,
    kind: str,
    target: str,
    archive_existing: bool,
    requested_by: str,
    comment: str,
    evidence: Mapping[str, object],
    now: int,
) -> int:
    row = ApprovalRequestRow(
        model_id=model_id,
        version=version,
        kind=kind,
        target=target,
        archive_existing=archive_existing,
        status="open",
        requested_by=requested_by,
        comment=comment,
        evidence=json.dumps(evidence, sort_keys=True, default=str),
        creation_time=now,
    )
    session.add(row)
    session.flush()
    return row.id


def request_row(session: Session, request_id: int, *, lock: bool = False) -> ApprovalRequestRow:
    row = None
    if 0 < request_id <= MAX_INTEGER:  # SQLite cannot bind larger numbers; none is ever stored
        stmt = select(ApprovalRequestRow).where(ApprovalRequestRow.id == request_id)
        if lock:
            stmt = stmt.with_for_update()
        row = session.scalars(stmt).first()
    if row is None:
        raise NotFound(f"Approval request {request_id} not found.")
    return row


def open_request_for(session: Session, model_id: int, kind: str, target: str, version: int) -> int | None:
    return session.scalar(
        select(ApprovalRequestRow.id).where(
            ApprovalRequestRow.model_id == model_id,
            ApprovalRequestRow.kind == kind,
            ApprovalRequestRow.target == target,
            ApprovalRequestRow.version == version,
            ApprovalRequestRow.status == "open",
        )
    )


def add_decision(session: Session, request_id: int, approver: str, decision: str, comment: str, now: int) -> None:
    session.add(ApprovalRow(request_id=request_id, approver=approver, decision=decision, comment=comment, time=now))
    session.flush()


def set_status(session: Session, request_id: int, status: str, now: int) -> None:
    session.execute(
        update(ApprovalRequestRow).where(ApprovalRequestRow.id == request_id).values(status=status, decided_time=now)
    )


def approvals_of(session: Session, request_id: int) -> list[Approval]:
    return load(session, [request_row(session, request_id)])[0].approvals


def load(session: Session, rows: Sequence[ApprovalRequestRow]) -> list[ApprovalRequest]:
    ids = [r.id for r in rows]
    decisions: dict[int, list[Approval]] = defaultdict(list)
    names: dict[int, str] = {}
    if ids:
        for row in session.scalars(
            select(ApprovalRow).where(ApprovalRow.request_id.in_(ids)).order_by(ApprovalRow.time)
        ):
            decisions[row.request_id].append(Approval(row.approver, row.decision, row.comment, row.time))
        names = dict(
            session.execute(
                select(RegisteredModelRow.id, RegisteredModelRow.name).where(
                    RegisteredModelRow.id.in_({r.model_id for r in rows})
                )
            ).all()
        )
    return [
        ApprovalRequest(
            id=r.id,
            name=names[r.model_id],
            version=str(r.version),
            kind=r.kind,
            target=r.target,
            archive_existing=r.archive_existing,
            status=r.status,
            requested_by=r.requested_by,
            comment=r.comment,
            evidence=json.loads(r.evidence),
            creation_time=r.creation_time,
            decided_time=r.decided_time,
            approvals=decisions[r.id],
        )
        for r in rows
    ]


def search(
    session: Session, *, model_id: int | None = None, status: str | None = None, limit: int = 1000
) -> list[ApprovalRequest]:
    stmt = select(ApprovalRequestRow)
    if model_id is not None:
        stmt = stmt.where(ApprovalRequestRow.model_id == model_id)
    if status:
        stmt = stmt.where(ApprovalRequestRow.status == status)
    rows = list(session.scalars(stmt.order_by(ApprovalRequestRow.id.desc()).limit(limit)))
    return load(session, rows)
