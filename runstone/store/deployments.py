"""Deployment records: where a model version is served, since when, by whom."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from runstone.entities import Deployment
from runstone.errors import NotFound
from runstone.store.tables import DeploymentRow, RegisteredModelRow


def insert(
    session: Session,
    *,
    name: str,
    target: str,
    model_id: int,
    version: int,
    description: str,
    user: str,
    now: int,
    manifest_digest: str | None = None,
) -> int:
    row = DeploymentRow(
        manifest_digest=manifest_digest,
        name=name,
        target=target,
        model_id=model_id,
        version=version,
        description=description,
        created_by=user,
        start_time=now,
    )
    session.add(row)
    session.flush()
    return row.id


def active_ids(session: Session, name: str) -> list[int]:
    """The records of ``name`` that have not ended (at most one, unless written concurrently)."""
    return list(
        session.scalars(
            select(DeploymentRow.id)
            .where(DeploymentRow.name == name, DeploymentRow.end_time.is_(None))
            .with_for_update()
        )
    )


def end(session: Session, deployment_id: int, user: str, now: int) -> None:
    session.execute(
        update(DeploymentRow)
        .where(DeploymentRow.id == deployment_id, DeploymentRow.end_time.is_(None))
        .values(end_time=now, ended_by=user)
    )


def get(session: Session, deployment_id: int) -> Deployment:
    row = session.get(DeploymentRow, deployment_id)
    if row is None:
        raise NotFound(f"Deployment {deployment_id} not found.")
    return load(session, [row])[0]


def search(
    session: Session,
    *,
    model_id: int | None = None,
    version: int | None = None,
    name: str | None = None,
    active_only: bool = False,
    limit: int = 1000,
) -> list[Deployment]:
    stmt = select(DeploymentRow)
    if model_id is not None:
        stmt = stmt.where(DeploymentRow.model_id == model_id)
    if version is not None:
        stmt = stmt.where(DeploymentRow.version == version)
    if name is not None:
        stmt = stmt.where(DeploymentRow.name == name)
    if active_only:
        stmt = stmt.where(DeploymentRow.end_time.is_(None))
    rows = list(session.scalars(stmt.order_by(DeploymentRow.id.desc()).limit(limit)))
    return load(session, rows)


def load(session: Session, rows: Sequence[DeploymentRow]) -> list[Deployment]:
    names: dict[int, str] = {}
    if rows:
        names = dict(
            session.execute(
                select(RegisteredModelRow.id, RegisteredModelRow.name).where(
                    RegisteredModelRow.id.in_({r.model_id for r in rows})
                )
            ).all()
        )
    return [
        Deployment(
            id=r.id,
            name=r.name,
            target=r.target,
            model_name=names[r.model_id],
            version=str(r.version),
            description=r.description,
            created_by=r.created_by,
            start_time=r.start_time,
            end_time=r.end_time,
            ended_by=r.ended_by,
            manifest_digest=r.manifest_digest,
        )
        for r in rows
    ]
