"""Saved views of experiment pages."""

from __future__ import annotations

import orjson
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from runstone.entities import SavedView
from runstone.errors import AlreadyExists, InvalidInput, NotFound
from runstone.store.view_tables import SavedViewRow


def parse_id(view_id: str) -> int:
    if not view_id.isdigit() or len(view_id) > 18:
        raise InvalidInput(f"A view id is a number, not {view_id[:100]!r}.")
    return int(view_id)


def _entity(row: SavedViewRow) -> SavedView:
    return SavedView(
        str(row.id),
        str(row.experiment_id),
        row.name,
        orjson.loads(row.state),
        row.created_by,
        row.creation_time,
        row.last_update_time,
    )


def list_for(session: Session, experiment_id: int) -> list[SavedView]:
    stmt = select(SavedViewRow).where(SavedViewRow.experiment_id == experiment_id).order_by(SavedViewRow.name)
    return [_entity(r) for r in session.scalars(stmt)]


def _row(session: Session, experiment_id: int, view_id: int) -> SavedViewRow:
    row = session.get(SavedViewRow, view_id)
    if row is None or row.experiment_id != experiment_id:
        raise NotFound(f"No saved view {view_id} in experiment {experiment_id}.", {"view_id": str(view_id)})
    return row


def get(session: Session, experiment_id: int, view_id: int) -> SavedView:
    return _entity(_row(session, experiment_id, view_id))


def _taken(session: Session, experiment_id: int, name: str, other_than: int | None = None) -> None:
    stmt = select(SavedViewRow.id).where(SavedViewRow.experiment_id == experiment_id, SavedViewRow.name == name)
    found = session.scalar(stmt)
    if found is not None and found != other_than:
        raise AlreadyExists(f"Experiment {experiment_id} already has a view named {name!r}.", {"name": name})


def insert(session: Session, experiment_id: int, name: str, state: bytes, user: str, now: int) -> SavedView:
    _taken(session, experiment_id, name)
    row = SavedViewRow(
        experiment_id=experiment_id,
        name=name,
        state=state.decode(),
        created_by=user,
        creation_time=now,
        last_update_time=now,
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError:  # a concurrent save of the same name
        raise AlreadyExists(f"Experiment {experiment_id} already has a view named {name!r}.", {"name": name}) from None
    return _entity(row)


def update(
    session: Session, experiment_id: int, view_id: int, name: str | None, state: bytes | None, now: int
) -> tuple[SavedView, SavedView]:
    """(before, after)"""
    row = _row(session, experiment_id, view_id)
    before = _entity(row)
    if name is not None:
        _taken(session, experiment_id, name, other_than=view_id)
        row.name = name
    if state is not None:
        row.state = state.decode()
    row.last_update_time = now
    session.flush()
    return before, _entity(row)


def remove(session: Session, experiment_id: int, view_id: int) -> SavedView:
    before = _entity(_row(session, experiment_id, view_id))
    session.execute(delete(SavedViewRow).where(SavedViewRow.id == view_id))
    return before
