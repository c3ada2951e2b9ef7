"""Runs repository: run rows, params, tags, dataset inputs, and loading whole runs."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from runstone.entities import (
    Dataset,
    DatasetInput,
    LifecycleStage,
    Run,
    RunData,
    RunInfo,
    RunInputs,
)
from runstone.errors import InvalidInput, NotFound
from runstone.store import metrics as metric_store
from runstone.store import raw
from runstone.store.tables import ArtifactRow, DatasetRow, InputRow, ParamRow, RunRow, TagRow
from runstone.store.upsert import insert_ignore, insert_new


def insert(
    session: Session,
    *,
    uuid: str,
    experiment_id: int,
    name: str,
    user_id: str,
    status: str,
    start_time: int,
    artifact_key: str,
    tags: Mapping[str, str],
) -> int:
    # Straight to the driver: sweeps and autologging create runs by the thousand.
    row = raw.first(
        session,
        "INSERT INTO runs (uuid, experiment_id, name, user_id, status, start_time, end_time, lifecycle_stage, "
        "artifact_key, deleted_time) VALUES (?, ?, ?, ?, ?, ?, NULL, 'active', ?, NULL) RETURNING id",
        (uuid, experiment_id, name, user_id, status, start_time, artifact_key),
    )
    assert row is not None  # RETURNING answers the inserted row
    run_id = int(row[0])
    if tags:
        write_tags(session, run_id, tags)
    return run_id


@dataclass(frozen=True)
class RunRef:
    """What services need to know of a run row, without the row."""

    id: int
    uuid: str
    experiment_id: int
    name: str
    status: str
    end_time: int | None
    lifecycle_stage: str
    artifact_key: str


_GET_ROW = (
    "SELECT id, uuid, experiment_id, name, status, end_time, lifecycle_stage, artifact_key FROM runs WHERE uuid = ?"
)
_GET_ROW_FOR_UPDATE = _GET_ROW + " FOR UPDATE"


def get_row(session: Session, run_uuid: str, *, lock: bool = False) -> RunRef:
    """The run's row; ``lock`` holds it (on PostgreSQL) until the transaction ends, so that a
    concurrent gc cannot remove it between this read and the caller's write."""
    sql = _GET_ROW_FOR_UPDATE if lock and session.get_bind().dialect.name == "postgresql" else _GET_ROW
    row = raw.first(session, sql, (run_uuid,))
    if row is None:
        raise NotFound(f"No run with id {run_uuid!r}.")
    return RunRef(*row)


def ids_for_uuids(session: Session, uuids: Sequence[str]) -> dict[str, int]:
    return dict(raw.rows_in(session, "SELECT uuid, id FROM runs WHERE uuid IN ({values})", list(uuids)))


def load(
    session: Session,
    run_ids: Sequence[int],
    root: str,
    *,
    params: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    tags: Sequence[str] | None = None,
) -> list[Run]:
    """Whole runs for the given internal ids, in that order, in a fixed number of queries.

    ``params``/``metrics``/``tags`` name the keys to fetch (all when None, none when empty).
    """
    if not run_ids:
        return []
    # Straight to the driver: every search loads a page of runs, and SQLAlchemy's statements for
    # lists of a hundred ids cost more than the queries themselves.
    run_ids = list(run_ids)
    infos = {
        row[0]: row
        for row in raw.rows_in(
            session,
            "SELECT id, uuid, experiment_id, name, user_id, status, start_time, end_time, lifecycle_stage, "
            "artifact_key FROM runs WHERE id IN ({values})",
            run_ids,
        )
    }
    param_map = _key_values(session, "params", run_ids, params)
    tag_map = _key_values(session, "tags", run_ids, tags)
    metric_map = metric_store.latest_for_runs(session, run_ids, metrics)
    input_map = _inputs(session, run_ids)
    root = root.rstrip("/")
    runs = []
    for run_id in run_ids:
        r = infos.get(run_id)
        if r is None:
            continue
        _, uuid, experiment_id, name, user_id, status, start_time, end_time, stage, artifact_key = r
        info = run_info(
            uuid,
            experiment_id,
            name,
            user_id,
            status,
            start_time,
            artifact_key,
            root,
            end_time=end_time,
            lifecycle_stage=stage,
        )
        data = RunData(metrics=metric_map[run_id], params=param_map[run_id], tags=tag_map[run_id])
        runs.append(Run(info=info, data=data, inputs=RunInputs(input_map[run_id])))
    return runs


def run_info(
    uuid: str,
    experiment_id: int,
    name: str,
    user_id: str,
    status: str,
    start_time: int,
    artifact_key: str,
    root: str,
    *,
    end_time: int | None = None,
    lifecycle_stage: str = LifecycleStage.ACTIVE.value,
) -> RunInfo:
    """The info of a run as stored (by default, one neither ended nor deleted)."""
    return RunInfo(
        run_id=uuid,
        experiment_id=str(experiment_id),
        run_name=name,
        user_id=user_id,
        status=status,
        start_time=start_time,
        end_time=end_time,
        lifecycle_stage=lifecycle_stage,
        artifact_uri=f"{root.rstrip('/')}/{artifact_key}",
    )


def _key_values(
    session: Session, table: str, run_ids: Sequence[int], keys: Sequence[str] | None
) -> dict[int, dict[str, str]]:
    """Params or tags (``table``) of the runs, only ``keys`` when given."""
    out: dict[int, dict[str, str]] = {i: {} for i in run_ids}
    if keys is not None and not keys:
        return out
    sql = f"SELECT run_id, key, value FROM {table} WHERE run_id IN ({{values}})"
    if keys is not None:
        sql += f" AND key IN ({', '.join('?' * len(keys))})"
    for run_id, key, value in raw.rows_in(session, sql, run_ids, list(keys or ())):
        out[run_id][key] = value
    return out


def _inputs(session: Session, run_ids: Sequence[int]) -> dict[int, list[DatasetInput]]:
    out: dict[int, list[DatasetInput]] = {i: [] for i in run_ids}
    found = raw.rows_in(
        session,
        "SELECT i.run_id, i.tags, d.name, d.digest, d.source_type, d.source, d.schema, d.profile "
        "FROM inputs i JOIN datasets d ON d.id = i.dataset_id WHERE i.run_id IN ({values}) ORDER BY i.run_id, d.name",
        run_ids,
    )
    for run_id, tags, name, digest, source_type, source, schema, profile in found:
        out[run_id].append(DatasetInput(Dataset(name, digest, source_type, source, schema, profile), json.loads(tags)))
    return out


_RUN_COLUMNS = frozenset(RunRow.__table__.columns.keys())
# Params of one INSERT statement: three bound values each, well under the databases' limits.
_PARAM_ROWS = 1_000


def write_params(session: Session, run_id: int, run_uuid: str, params: Mapping[str, str]) -> int:
    """Insert params; a key already holding a different value is an error. Returns new count.

    The primary key (run, key) decides between concurrent writers: each inserts what is not
    there yet, waiting on PostgreSQL for a concurrent insert of the same key to commit or roll
    back, then reads back what is stored. A writer whose value lost the race sees the other's
    value and fails, so a param never changes, whatever the isolation level.
    """
    if not params:
        return 0
    # Straight to the driver (SQLite and PostgreSQL spell it alike): a sweep's or autolog's runs
    # each log their params, and SQLAlchemy's statement for this insert alone cost more than half
    # a millisecond of CPU.
    items = list(params.items())
    inserted = 0
    for start in range(0, len(items), _PARAM_ROWS):
        chunk = items[start : start + _PARAM_ROWS]
        inserted += len(
            raw.rows(
                session,
                f"INSERT INTO params (run_id, key, value) VALUES {', '.join(['(?, ?, ?)'] * len(chunk))} "
                "ON CONFLICT (run_id, key) DO NOTHING RETURNING key",
                [value for key, text in chunk for value in (run_id, key, text)],
            )
        )
    stored = dict(
        raw.rows_in(
            session, "SELECT key, value FROM params WHERE key IN ({values}) AND run_id = ?", list(params), (run_id,)
        )
    )
    for key, value in params.items():
        if stored.get(key, value) != value:
            raise InvalidInput(
                f"Param {key!r} of run {run_uuid} is already {stored[key]!r}; params are immutable, "
                f"so it cannot become {value!r}. Log the new value under another key or in a new run.",
                {"key": key, "old_value": stored[key], "new_value": value},
            )
    return inserted


def write_tags(session: Session, run_id: int, tags: Mapping[str, str]) -> None:
    # Straight to the driver (SQLite and PostgreSQL spell the upsert alike): every run creation
    # of the stock client carries tags.
    raw.execute_many(
        session,
        "INSERT INTO tags (run_id, key, value) VALUES (?, ?, ?) "
        "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value",
        [(run_id, k, v) for k, v in tags.items()],
    )


def get_tag(session: Session, run_id: int, key: str) -> str | None:
    return session.scalar(select(TagRow.value).where(TagRow.run_id == run_id, TagRow.key == key))


def delete_tag(session: Session, run_id: int, run_uuid: str, key: str) -> str:
    old = get_tag(session, run_id, key)
    if old is None:
        raise NotFound(f"Run {run_uuid} has no tag {key!r}.")
    session.execute(delete(TagRow).where(TagRow.run_id == run_id, TagRow.key == key))
    return old


def update_info(session: Session, run_id: int, values: Mapping[str, object]) -> None:
    """Set columns of a run's row (``values`` by column name)."""
    if not values:
        return
    unknown = set(values) - _RUN_COLUMNS
    if unknown:
        raise ValueError(f"runs has no column {sorted(unknown)}")  # a caller's mistake, never a request's
    # Straight to the driver: every terminated run comes here, and SQLAlchemy's UPDATE cost half
    # a millisecond of CPU.
    assignments = ", ".join(f"{column} = ?" for column in values)
    raw.execute(session, f"UPDATE runs SET {assignments} WHERE id = ?", (*values.values(), run_id))


def set_lifecycle(session: Session, run_id: int, stage: LifecycleStage, now: int) -> None:
    deleted_time = now if stage is LifecycleStage.DELETED else None
    update_info(session, run_id, {"lifecycle_stage": stage.value, "deleted_time": deleted_time})


def children(session: Session, parent_uuid: str, parent_tag: str) -> list[str]:
    rows = session.scalars(
        select(RunRow.uuid)
        .join(TagRow, TagRow.run_id == RunRow.id)
        .where(TagRow.key == parent_tag, TagRow.value == parent_uuid)
        .order_by(RunRow.start_time)
    )
    return list(rows)


def link_dataset(
    session: Session,
    run_id: int,
    experiment_id: int,
    dataset: Dataset,
    tags: Mapping[str, str],
    context: str | None,
) -> bool:
    """Record a dataset input; the same (name, digest) in an experiment is one dataset.

    Returns whether the run gained a new input.
    """
    insert_ignore(
        session,
        DatasetRow.__table__,
        [
            {
                "experiment_id": experiment_id,
                "name": dataset.name,
                "digest": dataset.digest,
                "source_type": dataset.source_type,
                "source": dataset.source,
                "schema": dataset.schema,
                "profile": dataset.profile,
            }
        ],
        keys=["experiment_id", "name", "digest"],
    )
    dataset_id = session.scalar(
        select(DatasetRow.id).where(
            DatasetRow.experiment_id == experiment_id,
            DatasetRow.name == dataset.name,
            DatasetRow.digest == dataset.digest,
        )
    )
    encoded = json.dumps(dict(tags), sort_keys=True)
    link = {"run_id": run_id, "dataset_id": dataset_id, "context": context, "tags": encoded}
    if insert_new(session, InputRow.__table__, [link], keys=["run_id", "dataset_id"], returning="run_id"):
        return True
    session.execute(
        update(InputRow)
        .where(InputRow.run_id == run_id, InputRow.dataset_id == dataset_id)
        .values(context=context, tags=encoded)
    )
    return False


def move(session: Session, run_id: int, target_experiment: int) -> None:
    """Re-home a run; its dataset inputs follow it into the target experiment's datasets."""
    linked = session.execute(
        select(InputRow.dataset_id, InputRow.context, InputRow.tags, DatasetRow)
        .join(DatasetRow, DatasetRow.id == InputRow.dataset_id)
        .where(InputRow.run_id == run_id)
    ).all()
    session.execute(delete(InputRow).where(InputRow.run_id == run_id))
    update_info(session, run_id, {"experiment_id": target_experiment})
    for _old_id, context, tags, ds in linked:
        dataset = Dataset(ds.name, ds.digest, ds.source_type, ds.source, ds.schema, ds.profile)
        link_dataset(session, run_id, target_experiment, dataset, json.loads(tags), context)


def deleted(session: Session, older_than: int | None) -> list[tuple[int, str, str]]:
    """Deleted runs, locked until the transaction ends (what gc removes): on PostgreSQL a run
    restored meanwhile is re-checked when its lock is granted, and left out."""
    stmt = (
        select(RunRow.id, RunRow.uuid, RunRow.artifact_key).where(RunRow.lifecycle_stage == "deleted").with_for_update()
    )
    if older_than is not None:
        stmt = stmt.where(RunRow.deleted_time <= older_than)
    return [tuple(r) for r in session.execute(stmt)]  # type: ignore[misc]


def deletion_states(session: Session, uuids: Sequence[str]) -> dict[str, tuple[int, str, str, int | None]]:
    """(internal id, artifact key, lifecycle stage, deletion time) of the named runs that exist."""
    if not uuids:
        return {}
    stmt = (
        select(RunRow.uuid, RunRow.id, RunRow.artifact_key, RunRow.lifecycle_stage, RunRow.deleted_time)
        .where(RunRow.uuid.in_(uuids))
        .with_for_update()
    )
    return {uuid: (internal, key, stage, deleted) for uuid, internal, key, stage, deleted in session.execute(stmt)}


def in_experiments(session: Session, experiment_ids: Sequence[int]) -> list[tuple[int, str, str]]:
    stmt = (
        select(RunRow.id, RunRow.uuid, RunRow.artifact_key)
        .where(RunRow.experiment_id.in_(experiment_ids))
        .with_for_update()
    )
    return [tuple(r) for r in session.execute(stmt)]  # type: ignore[misc]


def hard_delete(session: Session, run_ids: Sequence[int]) -> None:
    if not run_ids:
        return
    metric_store.delete_for_runs(session, run_ids)
    for table in (ParamRow, TagRow, InputRow, ArtifactRow):
        session.execute(delete(table).where(table.run_id.in_(run_ids)))
    session.execute(delete(ArtifactRow).where(ArtifactRow.run_id.in_(run_ids)))
    session.execute(delete(RunRow).where(RunRow.id.in_(run_ids)))
