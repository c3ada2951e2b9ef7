"""Logged models repository: models, their tags, params, metrics, artifact manifest and run links."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from runstone.entities import FileInfo, LoggedModel, LoggedModelMetric, Metric, RunModelLinks
from runstone.errors import InvalidInput, NotFound
from runstone.store import metrics as metric_store
from runstone.store import paging, raw
from runstone.store.engine import rowcount
from runstone.store.search import number_condition, string_condition
from runstone.store.tables import (
    LoggedModelArtifactRow,
    LoggedModelParamRow,
    LoggedModelRow,
    LoggedModelTagRow,
    ModelVersionRow,
    RegisteredModelRow,
    RunModelLinkRow,
    logged_model_metrics_table,
    metrics_table,
)
from runstone.store.upsert import insert_new, upsert

if TYPE_CHECKING:
    from runstone.tracking.search import Comparison

_metrics = logged_model_metrics_table.c


@dataclass(frozen=True)
class LoggedModelRef:
    """What services need to know of a logged model row, without the row."""

    pk: int
    model_id: str
    experiment_id: int
    status: str
    lifecycle_stage: str
    artifact_key: str
    source_run: str | None


def _ref(row: LoggedModelRow) -> LoggedModelRef:
    return LoggedModelRef(
        row.id, row.model_id, row.experiment_id, row.status, row.lifecycle_stage, row.artifact_key, row.source_run
    )


def insert(
    session: Session,
    *,
    model_id: str,
    experiment_id: int,
    name: str,
    model_type: str | None,
    source_run: str | None,
    status: str,
    user_id: str,
    artifact_key: str,
    now: int,
    tags: Mapping[str, str],
    params: Mapping[str, str],
) -> LoggedModelRef:
    row = LoggedModelRow(
        model_id=model_id,
        experiment_id=experiment_id,
        name=name,
        model_type=model_type,
        source_run=source_run,
        status=status,
        lifecycle_stage="active",
        artifact_key=artifact_key,
        user_id=user_id,
        creation_time=now,
        last_update_time=now,
    )
    session.add(row)
    session.flush()
    set_tags(session, row.id, tags)
    write_params(session, row.id, model_id, params)
    return _ref(row)


def get_ref(session: Session, model_id: str) -> LoggedModelRef:
    row = session.scalars(select(LoggedModelRow).where(LoggedModelRow.model_id == model_id)).first()
    if row is None:
        raise NotFound(f"Logged model with ID '{model_id}' not found.")
    return _ref(row)


def refs_for_pks(session: Session, pks: Sequence[int]) -> dict[int, str]:
    if not pks:
        return {}
    return dict(session.execute(select(LoggedModelRow.id, LoggedModelRow.model_id).where(LoggedModelRow.id.in_(pks))))


def update_model(session: Session, pk: int, now: int, **values: object) -> None:
    session.execute(update(LoggedModelRow).where(LoggedModelRow.id == pk).values(last_update_time=now, **values))


def set_tags(session: Session, pk: int, tags: Mapping[str, str]) -> None:
    upsert(
        session,
        LoggedModelTagRow.__table__,
        [{"model_pk": pk, "key": k, "value": v} for k, v in tags.items()],
        keys=["model_pk", "key"],
        update=["value"],
    )


def delete_tag(session: Session, pk: int, model_id: str, key: str) -> None:
    result = session.execute(
        delete(LoggedModelTagRow).where(LoggedModelTagRow.model_pk == pk, LoggedModelTagRow.key == key)
    )
    if not rowcount(result):
        raise NotFound(f"Logged model {model_id} has no tag {key!r}.")


def write_params(session: Session, pk: int, model_id: str, params: Mapping[str, str]) -> None:
    """Params are written once, as a run's: the same value again is fine, another is an error.

    Insert first, then read back (see ``runs.write_params``): concurrent writers of one key
    with different values cannot both succeed.
    """
    if not params:
        return
    rows = [{"model_pk": pk, "key": k, "value": v} for k, v in params.items()]
    insert_new(session, LoggedModelParamRow.__table__, rows, keys=["model_pk", "key"], returning="key")
    stored = dict(
        session.execute(
            select(LoggedModelParamRow.key, LoggedModelParamRow.value).where(
                LoggedModelParamRow.model_pk == pk, LoggedModelParamRow.key.in_(list(params))
            )
        ).all()
    )
    for key, value in params.items():
        if stored.get(key, value) != value:
            raise InvalidInput(
                f"Param {key!r} of logged model {model_id} is already {stored[key]!r}; params are immutable, "
                f"so it cannot become {value!r}."
            )


def record_metrics(session: Session, pk: int, metrics: Sequence[LoggedModelMetric]) -> None:
    if metrics:
        session.execute(
            logged_model_metrics_table.insert(),
            [
                {
                    "model_pk": pk,
                    "key": m.key,
                    "value": None if math.isnan(m.value) else m.value,
                    "timestamp": m.timestamp,
                    "step": m.step,
                    "run_uuid": m.run_id,
                    "dataset_name": m.dataset_name,
                    "dataset_digest": m.dataset_digest,
                }
                for m in metrics
            ],
        )


def new_run_points(session: Session, run_pk: int, points: Sequence[Metric]) -> list[Metric]:
    """The points a run does not hold yet (same key, step, timestamp and value)."""
    if not points:
        return []
    ids = metric_store.key_ids(session, {p.key for p in points}, create=False)
    if not ids:
        return list(points)
    m = metrics_table.c
    held = {
        (key_id, step, timestamp, value)
        for key_id, step, timestamp, value in session.execute(
            select(m.key_id, m.step, m.timestamp, m.value).where(
                m.run_id == run_pk,
                m.key_id.in_(list(ids.values())),
                m.step.in_({p.step for p in points}),
            )
        )
    }
    fresh = []
    for p in points:
        stored = None if math.isnan(p.value) else p.value
        if (ids.get(p.key), p.step, p.timestamp, stored) not in held:
            fresh.append(p)
    return fresh


# ------------------------------------------------------------------ run links
def link_run(session: Session, run_pk: int, model_pk: int, direction: str, step: int) -> None:
    upsert(
        session,
        RunModelLinkRow.__table__,
        [{"run_id": run_pk, "model_pk": model_pk, "direction": direction, "step": step}],
        keys=["run_id", "model_pk", "direction"],
        update=["step"],
    )


def links_for_runs(session: Session, run_pks: Sequence[int]) -> dict[int, RunModelLinks]:
    inputs: dict[int, list[str]] = defaultdict(list)
    outputs: dict[int, list[tuple[str, int]]] = defaultdict(list)
    if run_pks:
        # Straight to the driver: every search of runs asks, for a page of them.
        found = raw.rows_in(
            session,
            "SELECT l.run_id, l.direction, l.step, m.model_id FROM run_model_links l "
            "JOIN logged_models m ON m.id = l.model_pk WHERE l.run_id IN ({values}) "
            "ORDER BY l.run_id, l.step, m.creation_time",
            list(run_pks),
        )
        for run_pk, direction, step, model_id in found:
            if direction == "input":
                inputs[run_pk].append(model_id)
            else:
                outputs[run_pk].append((model_id, step))
    return {pk: RunModelLinks(tuple(inputs[pk]), tuple(outputs[pk])) for pk in run_pks}


# ------------------------------------------------------------------ loading
def load(session: Session, refs: Sequence[LoggedModelRef], root: str) -> list[LoggedModel]:
    """Whole logged models for refs, in their order, in a fixed number of queries."""
    pks = [r.pk for r in refs]
    if not pks:
        return []
    rows = {r.id: r for r in session.scalars(select(LoggedModelRow).where(LoggedModelRow.id.in_(pks)))}
    tags: dict[int, dict[str, str]] = defaultdict(dict)
    for pk, key, value in session.execute(
        select(LoggedModelTagRow.model_pk, LoggedModelTagRow.key, LoggedModelTagRow.value).where(
            LoggedModelTagRow.model_pk.in_(pks)
        )
    ):
        tags[pk][key] = value
    params: dict[int, dict[str, str]] = defaultdict(dict)
    for pk, key, value in session.execute(
        select(LoggedModelParamRow.model_pk, LoggedModelParamRow.key, LoggedModelParamRow.value).where(
            LoggedModelParamRow.model_pk.in_(pks)
        )
    ):
        params[pk][key] = value
    metrics: dict[int, list[LoggedModelMetric]] = defaultdict(list)
    for row in session.execute(
        select(logged_model_metrics_table)
        .where(_metrics.model_pk.in_(pks))
        .order_by(_metrics.model_pk, _metrics.key, _metrics.step, _metrics.timestamp)
    ):
        metrics[row.model_pk].append(
            LoggedModelMetric(
                row.key,
                math.nan if row.value is None else row.value,
                row.timestamp,
                row.step,
                row.run_uuid,
                row.dataset_name,
                row.dataset_digest,
            )
        )
    registrations = _registrations(session, [rows[pk].model_id for pk in pks])
    root = root.rstrip("/")
    out = []
    for pk in pks:
        r = rows[pk]
        out.append(
            LoggedModel(
                model_id=r.model_id,
                experiment_id=str(r.experiment_id),
                name=r.name,
                artifact_location=f"{root}/{r.artifact_key}",
                status=r.status,
                lifecycle_stage=r.lifecycle_stage,
                creation_timestamp=r.creation_time,
                last_updated_timestamp=r.last_update_time,
                user_id=r.user_id,
                model_type=r.model_type,
                source_run_id=r.source_run,
                status_message=r.status_message,
                tags=tags[pk],
                params=params[pk],
                metrics=metrics[pk],
                registrations=registrations.get(r.model_id, []),
            )
        )
    return out


def _registrations(session: Session, model_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """Registered versions whose source is ``models:/<model id>``."""
    sources = {f"models:/{m}": m for m in model_ids}
    out: dict[str, list[tuple[str, str]]] = defaultdict(list)
    stmt = (
        select(ModelVersionRow.source, RegisteredModelRow.name, ModelVersionRow.version)
        .join(RegisteredModelRow, RegisteredModelRow.id == ModelVersionRow.model_id)
        .where(ModelVersionRow.source.in_(list(sources)))
        .order_by(RegisteredModelRow.name, ModelVersionRow.version)
    )
    for source, name, version in session.execute(stmt):
        out[sources[source]].append((name, str(version)))
    return out


# ------------------------------------------------------------------ search
_ATTRIBUTES: dict[str, Any] = {
    "name": LoggedModelRow.name,
    "model_id": LoggedModelRow.model_id,
    "model_type": LoggedModelRow.model_type,
    "status": LoggedModelRow.status,
    "source_run_id": LoggedModelRow.source_run,
    "creation_timestamp": LoggedModelRow.creation_time,
    "last_updated_timestamp": LoggedModelRow.last_update_time,
}


def _condition(c: Comparison, datasets: Sequence[tuple[str, str | None]]) -> Any:
    if c.entity == "attribute":
        column = _ATTRIBUTES[c.key]
        if c.key in ("creation_timestamp", "last_updated_timestamp"):
            return number_condition(column, c.op, c.number())
        return string_condition(column, c.op, c.value)
    if c.entity == "tag":
        return exists().where(
            LoggedModelTagRow.model_pk == LoggedModelRow.id,
            LoggedModelTagRow.key == c.key,
            string_condition(LoggedModelTagRow.value, c.op, c.value),
        )
    if c.entity == "param":
        return exists().where(
            LoggedModelParamRow.model_pk == LoggedModelRow.id,
            LoggedModelParamRow.key == c.key,
            string_condition(LoggedModelParamRow.value, c.op, c.value),
        )

    # A metric comparison holds when the model's latest value of the metric (on the given
    # datasets, when any are given) satisfies it.
    def scope(t: Any) -> list[Any]:
        where = [t.model_pk == LoggedModelRow.id, t.key == c.key]
        if datasets:
            where.append(
                or_(
                    *[
                        and_(t.dataset_name == name, t.dataset_digest == digest) if digest else t.dataset_name == name
                        for name, digest in datasets
                    ]
                )
            )
        return where

    inner = logged_model_metrics_table.alias("latest_point").c
    latest = select(func.max(inner.step)).where(*scope(inner)).scalar_subquery()
    value = c.number()
    return exists().where(*scope(_metrics), _metrics.step == latest, number_condition(_metrics.value, c.op, value))


def search(
    session: Session,
    *,
    experiment_ids: Sequence[int],
    comparisons: Sequence[Comparison],
    datasets: Sequence[tuple[str, str | None]],
    order_by: Sequence[tuple[str, bool]],
    max_results: int,
    page_token: str | None,
) -> tuple[list[LoggedModelRef], str | None]:
    stmt = select(LoggedModelRow).where(
        LoggedModelRow.experiment_id.in_(experiment_ids), LoggedModelRow.lifecycle_stage == "active"
    )
    for c in comparisons:
        stmt = stmt.where(_condition(c, datasets))
    sort: list[paging.SortKey] = []
    for field, ascending in order_by:
        if field.startswith("metrics."):
            key = field.removeprefix("metrics.")
            value = (
                select(_metrics.value)
                .where(_metrics.model_pk == LoggedModelRow.id, _metrics.key == key)
                .order_by(_metrics.step.desc(), _metrics.timestamp.desc())
                .limit(1)
                .scalar_subquery()
            )
            sort += paging.nulls_last(value, ascending)
            continue
        column = _ATTRIBUTES.get(field)
        if column is None:
            raise InvalidInput(
                f"Cannot order logged models by {field!r}; use " + ", ".join(sorted(_ATTRIBUTES)) + " or metrics.<key>."
            )
        sort += paging.nulls_last(column, ascending)
    if not order_by:
        sort.append((LoggedModelRow.creation_time, False))
    sort.append((LoggedModelRow.id, True))
    query = paging.fingerprint("logged models", sorted(experiment_ids), comparisons, datasets, order_by)
    rows, token = paging.page(session, stmt, sort, max_results=max_results, page_token=page_token, query=query)
    return [_ref(r) for r in rows], token


def in_experiment(session: Session, experiment_id: int) -> list[LoggedModelRef]:
    rows = session.scalars(
        select(LoggedModelRow).where(LoggedModelRow.experiment_id == experiment_id).order_by(LoggedModelRow.id)
    )
    return [_ref(r) for r in rows]


# ------------------------------------------------------------------ artifact manifest
def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _under(prefix: str) -> Any:
    a = LoggedModelArtifactRow
    return or_(a.path == prefix, a.path.like(_escape_like(prefix) + "/%", escape="\\"))


def record_artifact(session: Session, pk: int, path: str, size: int, sha256: str, now: int) -> None:
    upsert(
        session,
        LoggedModelArtifactRow.__table__,
        [{"model_pk": pk, "path": path, "size": size, "sha256": sha256, "updated_time": now}],
        keys=["model_pk", "path"],
        update=["size", "sha256", "updated_time"],
    )


def artifact_files(session: Session, pk: int, prefix: str) -> list[FileInfo]:
    a = LoggedModelArtifactRow
    stmt = select(a.path, a.size, a.sha256).where(a.model_pk == pk)
    if prefix:
        stmt = stmt.where(_under(prefix))
    return [FileInfo(p, False, size, sha) for p, size, sha in session.execute(stmt.order_by(a.path))]


def artifact_conflict(session: Session, pk: int, path: str) -> str | None:
    """Why ``path`` cannot become a file: it is a folder, or lies inside a file (None: it can)."""
    a = LoggedModelArtifactRow
    below = session.execute(
        select(a.path).where(a.model_pk == pk, a.path.like(_escape_like(path) + "/%", escape="\\")).limit(1)
    ).first()
    if below is not None:
        return f"Artifact path {path!r} is a folder of logged model; choose a file path."
    parents = ["/".join(path.split("/")[:i]) for i in range(1, path.count("/") + 1)]
    if parents:
        clash = session.scalars(select(a.path).where(a.model_pk == pk, a.path.in_(parents))).first()
        if clash is not None:
            return f"Artifact path {path!r} lies inside {clash!r}, which is a file; a file cannot also be a folder."
    return None


def artifact_total(session: Session, pk: int) -> int:
    """The bytes of all the model's recorded files."""
    stmt = select(func.coalesce(func.sum(LoggedModelArtifactRow.size), 0)).where(LoggedModelArtifactRow.model_pk == pk)
    return int(session.scalar(stmt) or 0)


def artifact(session: Session, pk: int, path: str) -> FileInfo | None:
    a = LoggedModelArtifactRow
    row = session.execute(select(a.size, a.sha256).where(a.model_pk == pk, a.path == path)).first()
    return None if row is None else FileInfo(path, False, row[0], row[1])


def delete_artifacts(session: Session, pk: int, prefix: str) -> int:
    stmt = delete(LoggedModelArtifactRow).where(LoggedModelArtifactRow.model_pk == pk)
    if prefix:
        stmt = stmt.where(_under(prefix))
    return int(rowcount(session.execute(stmt)) or 0)
