"""The audit chain: append-only events, each hash covering its content and its predecessor."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from runstone.entities import AuditEvent
from runstone.store import raw
from runstone.store.tables import AuditEventRow

GENESIS = "0" * 64
_INSERT_SQL = (
    'INSERT INTO audit_events (seq, time, actor, action, target_type, target_id, "before", "after", request_id, '
    "token_id, client, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _dump(value: Mapping[str, object] | None) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def event_hash(
    prev_hash: str,
    seq: int,
    time: int,
    actor: str,
    action: str,
    target_type: str,
    target_id: str,
    before: str | None,
    after: str | None,
    request_id: str | None,
    token_id: str | None = None,
    client: str | None = None,
) -> str:
    fields: list[object] = [prev_hash, seq, time, actor, action, target_type, target_id, before, after, request_id]
    if token_id is not None or client is not None:  # events written before these existed hash as they did
        fields += [token_id, client]
    content = json.dumps(fields, separators=(",", ":"))
    return hashlib.sha256(content.encode()).hexdigest()


def append(
    session: Session,
    *,
    time: int,
    actor: str,
    action: str,
    target_type: str,
    target_id: str,
    before: Mapping[str, object] | None,
    after: Mapping[str, object] | None,
    request_id: str | None,
    token_id: str | None = None,
    client: str | None = None,
) -> None:
    """Append one event. The caller holds the chain lock (see Database.lock_audit_chain)."""
    tail = raw.first(session, "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
    seq, prev = (tail[0] + 1, tail[1]) if tail else (1, GENESIS)
    before_s, after_s = _dump(before), _dump(after)
    digest = event_hash(
        prev, seq, time, actor, action, target_type, target_id, before_s, after_s, request_id, token_id, client
    )
    # Straight to the driver: every mutating request writes one event.
    raw.execute(
        session,
        _INSERT_SQL,
        (
            seq,
            time,
            actor,
            action,
            target_type,
            target_id,
            before_s,
            after_s,
            request_id,
            token_id,
            client,
            prev,
            digest,
        ),
    )


def _entity(row: AuditEventRow) -> AuditEvent:
    return AuditEvent(
        seq=row.seq,
        time=row.time,
        actor=row.actor,
        action=row.action,
        target_type=row.target_type,
        target_id=row.target_id,
        before=None if row.before is None else json.loads(row.before),
        after=None if row.after is None else json.loads(row.after),
        prev_hash=row.prev_hash,
        hash=row.hash,
        request_id=row.request_id,
        token_id=row.token_id,
        client=row.client,
    )


def events(
    session: Session,
    *,
    target_type: str | None = None,
    target_id: str | None = None,
    after_seq: int = 0,
    limit: int = 1000,
    actor: str | None = None,
    action: str | None = None,
    since: int | None = None,
    until: int | None = None,
) -> list[AuditEvent]:
    """Events after ``after_seq``, oldest first; ``action`` ending in ``.`` matches a prefix (``token.``)."""
    stmt = select(AuditEventRow).where(AuditEventRow.seq > after_seq)
    if actor:
        stmt = stmt.where(AuditEventRow.actor == actor)
    if action:
        stmt = stmt.where(
            AuditEventRow.action.startswith(action, autoescape=True)
            if action.endswith(".")
            else AuditEventRow.action == action
        )
    if since is not None:
        stmt = stmt.where(AuditEventRow.time >= since)
    if until is not None:
        stmt = stmt.where(AuditEventRow.time < until)
    if target_type:
        stmt = stmt.where(AuditEventRow.target_type == target_type)
    if target_id:
        stmt = stmt.where(AuditEventRow.target_id == target_id)
    return [_entity(r) for r in session.scalars(stmt.order_by(AuditEventRow.seq).limit(limit))]


def raw_chain(session: Session, batch: int = 5000) -> Iterator[AuditEventRow]:
    """Every event row in order, fetched in batches."""
    last = 0
    while True:
        rows = list(
            session.scalars(
                select(AuditEventRow).where(AuditEventRow.seq > last).order_by(AuditEventRow.seq).limit(batch)
            )
        )
        if not rows:
            return
        yield from rows
        last = rows[-1].seq
