"""Webhooks and their delivery outbox."""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from runstone.entities import Webhook
from runstone.errors import NotFound
from runstone.store.engine import rowcount
from runstone.store.tables import WebhookDeliveryRow, WebhookRow


def _entity(row: WebhookRow) -> Webhook:
    return Webhook(row.id, row.name, row.url, json.loads(row.events), row.model_name, row.active, row.creation_time)


def insert(
    session: Session,
    *,
    name: str,
    url: str,
    events: Sequence[str],
    secret: str,
    model_name: str | None,
    user: str,
    now: int,
) -> Webhook:
    row = WebhookRow(
        name=name,
        url=url,
        events=json.dumps(sorted(events)),
        secret=secret,
        model_name=model_name,
        active=True,
        created_by=user,
        creation_time=now,
    )
    session.add(row)
    session.flush()
    return _entity(row)


def all_webhooks(session: Session) -> list[Webhook]:
    return [_entity(r) for r in session.scalars(select(WebhookRow).order_by(WebhookRow.id))]


def remove(session: Session, webhook_id: int) -> None:
    result = session.execute(delete(WebhookRow).where(WebhookRow.id == webhook_id))
    if not rowcount(result):
        raise NotFound(f"Webhook {webhook_id} not found.")


def enqueue(session: Session, event: str, model_name: str, payload: dict[str, object], now: int) -> int:
    """Write one pending delivery per active webhook subscribed to the event; returns how many."""
    hooks = session.scalars(
        select(WebhookRow).where(
            WebhookRow.active.is_(True), or_(WebhookRow.model_name.is_(None), WebhookRow.model_name == model_name)
        )
    ).all()
    count = 0
    for hook in hooks:
        events = json.loads(hook.events)
        if "*" in events or event in events:
            session.add(
                WebhookDeliveryRow(
                    webhook_id=hook.id,
                    event=event,
                    payload=json.dumps({**payload, "webhook_id": hook.id}, sort_keys=True, default=str),
                    status="pending",
                    attempts=0,
                    next_attempt_time=now,
                    creation_time=now,
                )
            )
            count += 1
    return count


def due(session: Session, now: int, limit: int = 50) -> list[tuple[WebhookDeliveryRow, WebhookRow]]:
    rows = session.execute(
        select(WebhookDeliveryRow, WebhookRow)
        .join(WebhookRow, WebhookRow.id == WebhookDeliveryRow.webhook_id)
        .where(WebhookDeliveryRow.status == "pending", WebhookDeliveryRow.next_attempt_time <= now)
        .order_by(WebhookDeliveryRow.id)
        .limit(limit)
    ).all()
    return [(d, h) for d, h in rows]


def record_attempt(
    session: Session,
    delivery_id: int,
    *,
    status: str,
    attempts: int,
    next_attempt_time: int,
    error: str | None,
    response_status: int | None,
) -> None:
    session.execute(
        update(WebhookDeliveryRow)
        .where(WebhookDeliveryRow.id == delivery_id)
        .values(
            status=status,
            attempts=attempts,
            next_attempt_time=next_attempt_time,
            last_error=error,
            response_status=response_status,
        )
    )


def deliveries(session: Session, webhook_id: int | None = None, limit: int = 100) -> list[dict[str, object]]:
    stmt = select(WebhookDeliveryRow)
    if webhook_id is not None:
        stmt = stmt.where(WebhookDeliveryRow.webhook_id == webhook_id)
    return [
        {
            "id": r.id,
            "webhook_id": r.webhook_id,
            "event": r.event,
            "status": r.status,
            "attempts": r.attempts,
            "last_error": r.last_error,
            "response_status": r.response_status,
            "payload": json.loads(r.payload),
        }
        for r in session.scalars(stmt.order_by(WebhookDeliveryRow.id.desc()).limit(limit))
    ]


def claim(session: Session, delivery_id: int, now: int, lease_until: int) -> bool:
    """Take a due delivery for this process; False when another replica took it first."""
    result = session.execute(
        update(WebhookDeliveryRow)
        .where(
            WebhookDeliveryRow.id == delivery_id,
            WebhookDeliveryRow.status == "pending",
            WebhookDeliveryRow.next_attempt_time <= now,
        )
        .values(next_attempt_time=lease_until)
    )
    return bool(rowcount(result))
