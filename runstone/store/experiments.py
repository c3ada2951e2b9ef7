"""Experiments repository."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from runstone.entities import Experiment, LifecycleStage, PagedList, ViewType
from runstone.errors import AlreadyExists, InvalidInput, NotFound
from runstone.store import paging, raw
from runstone.store.engine import rowcount
from runstone.store.search import number_condition, string_condition
from runstone.store.tables import ExperimentRow, ExperimentTagRow, RunRow
from runstone.store.upsert import upsert

if TYPE_CHECKING:
    from runstone.tracking.search import Comparison


def _join(root: str, key: str) -> str:
    return f"{root.rstrip('/')}/{key}"


def parse_id(experiment_id: str | int) -> int:
    try:
        value = int(str(experiment_id))
    except ValueError:
        raise InvalidInput(f"Experiment id must be a decimal number, got {experiment_id!r}.") from None
    if value < 0 or value > 2**31 - 1:
        raise InvalidInput(f"Experiment id {experiment_id!r} is out of range.")
    return value


def _to_entity(row: ExperimentRow, tags: dict[str, str], root: str) -> Experiment:
    return Experiment(
        experiment_id=str(row.id),
        name=row.name,
        artifact_location=_join(root, row.artifact_key),
        lifecycle_stage=row.lifecycle_stage,
        creation_time=row.creation_time,
        last_update_time=row.last_update_time,
        tags=tags,
    )


def _tags_for(session: Session, ids: Sequence[int]) -> dict[int, dict[str, str]]:
    out: dict[int, dict[str, str]] = {i: {} for i in ids}
    if ids:
        rows = session.execute(
            select(ExperimentTagRow.experiment_id, ExperimentTagRow.key, ExperimentTagRow.value).where(
                ExperimentTagRow.experiment_id.in_(ids)
            )
        )
        for exp_id, key, value in rows:
            out[exp_id][key] = value
    return out


def insert(session: Session, name: str, tags: dict[str, str], now: int) -> int:
    if session.scalar(select(ExperimentRow.id).where(ExperimentRow.name == name)) is not None:
        raise AlreadyExists(f"An experiment named {name!r} already exists.")
    row = ExperimentRow(name=name, artifact_key="", lifecycle_stage="active", creation_time=now, last_update_time=now)
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        raise AlreadyExists(f"An experiment named {name!r} already exists.") from None
    row.artifact_key = str(row.id)
    if tags:
        session.add_all(ExperimentTagRow(experiment_id=row.id, key=k, value=v) for k, v in tags.items())
    session.flush()
    return row.id


@dataclass(frozen=True)
class ExperimentRef:
    """What services need to know of an experiment row, without the row."""

    id: int
    name: str
    lifecycle_stage: str


def _row(session: Session, experiment_id: int, *, lock: bool = False) -> ExperimentRow:
    row = session.get(ExperimentRow, experiment_id, with_for_update=lock)
    if row is None:
        raise NotFound(f"No experiment with id {experiment_id}.")
    return row


def get_row(session: Session, experiment_id: int, *, lock: bool = False) -> ExperimentRef:
    sql = "SELECT id, name, lifecycle_stage FROM experiments WHERE id = ?"
    if lock and session.get_bind().dialect.name == "postgresql":
        sql += " FOR UPDATE"
    row = raw.first(session, sql, (experiment_id,))
    if row is None:
        raise NotFound(f"No experiment with id {experiment_id}.")
    return ExperimentRef(*row)


def get(session: Session, experiment_id: int, root: str) -> Experiment:
    row = _row(session, experiment_id)
    return _to_entity(row, _tags_for(session, [row.id])[row.id], root)


def get_by_name(session: Session, name: str, root: str) -> Experiment:
    row = session.scalars(select(ExperimentRow).where(ExperimentRow.name == name)).first()
    if row is None:
        raise NotFound(f"No experiment named {name!r}.")
    return _to_entity(row, _tags_for(session, [row.id])[row.id], root)


def id_by_name(session: Session, name: str) -> int | None:
    return session.scalar(select(ExperimentRow.id).where(ExperimentRow.name == name))


def ids_by_names(session: Session, names: Sequence[str]) -> dict[str, int]:
    rows = session.execute(select(ExperimentRow.name, ExperimentRow.id).where(ExperimentRow.name.in_(names)))
    return dict(rows.all())


def rename(session: Session, experiment_id: int, new_name: str, now: int) -> None:
    if (
        session.scalar(
            select(ExperimentRow.id).where(ExperimentRow.name == new_name, ExperimentRow.id != experiment_id)
        )
        is not None
    ):
        raise AlreadyExists(f"An experiment named {new_name!r} already exists.")
    try:
        with session.begin_nested():
            session.execute(
                update(ExperimentRow)
                .where(ExperimentRow.id == experiment_id)
                .values(name=new_name, last_update_time=now)
            )
    except IntegrityError:  # a concurrent create or rename took the name first
        raise AlreadyExists(f"An experiment named {new_name!r} already exists.") from None


def touch(session: Session, experiment_id: int, now: int) -> None:
    raw.execute(session, "UPDATE experiments SET last_update_time = ? WHERE id = ?", (now, experiment_id))


def set_lifecycle(session: Session, experiment_id: int, stage: LifecycleStage, now: int) -> None:
    """Soft-delete or restore an experiment together with its runs.

    Restoring brings back the runs that the deletion took down (same deletion time), not runs
    that had been deleted on their own before.
    """
    row = _row(session, experiment_id)
    if stage is LifecycleStage.DELETED:
        session.execute(
            update(RunRow)
            .where(RunRow.experiment_id == experiment_id, RunRow.lifecycle_stage == "active")
            .values(lifecycle_stage="deleted", deleted_time=now)
        )
        row.deleted_time = now
    else:
        if row.deleted_time is not None:
            session.execute(
                update(RunRow)
                .where(RunRow.experiment_id == experiment_id, RunRow.deleted_time == row.deleted_time)
                .values(lifecycle_stage="active", deleted_time=None)
            )
        row.deleted_time = None
    row.lifecycle_stage = stage.value
    row.last_update_time = now


def set_tag(session: Session, experiment_id: int, key: str, value: str) -> None:
    upsert(session, ExperimentTagRow.__table__, [{"experiment_id": experiment_id, "key": key, "value": value}],
           keys=["experiment_id", "key"], update=["value"])  # fmt: skip


def delete_tag(session: Session, experiment_id: int, key: str) -> None:
    result = session.execute(
        delete(ExperimentTagRow).where(ExperimentTagRow.experiment_id == experiment_id, ExperimentTagRow.key == key)
    )
    if rowcount(result) == 0:
        raise NotFound(f"Experiment {experiment_id} has no tag {key!r}.")


def hard_delete(session: Session, experiment_id: int) -> None:
    session.execute(delete(ExperimentRow).where(ExperimentRow.id == experiment_id))


def deletion_states(session: Session, ids: Sequence[int]) -> dict[int, tuple[str, int | None]]:
    """(lifecycle stage, deletion time) of the named experiments that exist."""
    if not ids:
        return {}
    stmt = (
        select(ExperimentRow.id, ExperimentRow.lifecycle_stage, ExperimentRow.deleted_time)
        .where(ExperimentRow.id.in_(ids))
        .with_for_update()
    )
    return {exp_id: (stage, deleted_time) for exp_id, stage, deleted_time in session.execute(stmt)}


def deleted_ids(session: Session, older_than: int | None) -> list[int]:
    """Deleted experiments, locked until the transaction ends (what gc removes)."""
    stmt = select(ExperimentRow.id).where(ExperimentRow.lifecycle_stage == "deleted").with_for_update()
    if older_than is not None:
        stmt = stmt.where(ExperimentRow.deleted_time <= older_than)
    return list(session.scalars(stmt))


_ORDER_COLUMNS: dict[str, Any] = {
    "name": ExperimentRow.name,
    "experiment_id": ExperimentRow.id,
    "creation_time": ExperimentRow.creation_time,
    "last_update_time": ExperimentRow.last_update_time,
}


def search(
    session: Session,
    root: str,
    view_type: ViewType,
    comparisons: list[Comparison],
    order_by: list[tuple[str, bool]],
    max_results: int,
    page_token: str | None,
    only: Collection[str] | None = None,
) -> PagedList:
    """Experiments matching a filter, a page at a time (keyset page tokens).

    ``only``: the ids of the experiments the caller may read (None: every one)."""
    stmt = select(ExperimentRow).where(ExperimentRow.lifecycle_stage.in_(view_type.stages()))
    if only is not None:
        stmt = stmt.where(ExperimentRow.id.in_([int(i) for i in only]))
    for c in comparisons:
        if c.entity == "tag":
            tag = select(ExperimentTagRow.experiment_id).where(
                ExperimentTagRow.key == c.key, string_condition(ExperimentTagRow.value, c.op, str(c.value))
            )
            stmt = stmt.where(ExperimentRow.id.in_(tag))
        elif c.key == "name":
            stmt = stmt.where(string_condition(ExperimentRow.name, c.op, str(c.value)))
        else:
            column = _ORDER_COLUMNS[c.key]
            stmt = stmt.where(number_condition(column, c.op, c.number()))
    sort: list[paging.SortKey] = []
    for field, ascending in order_by:
        order_column = _ORDER_COLUMNS.get(field)
        if order_column is None:
            raise InvalidInput(
                f"Cannot order experiments by {field!r}; use name, experiment_id, creation_time or last_update_time."
            )
        sort.append((order_column, ascending))
    sort.append((ExperimentRow.id, False))
    query = paging.fingerprint("experiments", view_type, comparisons, order_by)
    rows, token = paging.page(session, stmt, sort, max_results=max_results, page_token=page_token, query=query)
    tags = _tags_for(session, [r.id for r in rows])
    return PagedList([_to_entity(r, tags[r.id], root) for r in rows], token)


def run_counts(session: Session, ids: Sequence[int]) -> dict[int, int]:
    rows = session.execute(
        select(RunRow.experiment_id, func.count())
        .where(RunRow.experiment_id.in_(ids), RunRow.lifecycle_stage == "active")
        .group_by(RunRow.experiment_id)
    )
    return dict(rows.all())
