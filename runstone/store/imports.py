"""What importing another store needs beyond the everyday writes: keeping the source's times,
counting what is already there, and replacing a metric's history wholesale."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from runstone.store.tables import (
    ExperimentRow,
    InputRow,
    LoggedModelRow,
    MetricKeyRow,
    ModelVersionRow,
    ParamRow,
    RegisteredModelRow,
    TagRow,
    logged_model_metrics_table,
    metrics_table,
)


def set_experiment_times(session: Session, experiment_id: int, creation: int, last_update: int) -> None:
    session.execute(
        update(ExperimentRow)
        .where(ExperimentRow.id == experiment_id)
        .values(creation_time=creation, last_update_time=last_update)
    )


def metric_counts(session: Session, run_pk: int) -> dict[str, int]:
    """How many points each metric of a run holds."""
    m = metrics_table.c
    stmt = (
        select(MetricKeyRow.key, func.count())
        .select_from(metrics_table)
        .join(MetricKeyRow, MetricKeyRow.id == m.key_id)
        .where(m.run_id == run_pk)
        .group_by(MetricKeyRow.key)
    )
    return {key: int(count) for key, count in session.execute(stmt)}


def logged_model_metric_count(session: Session, model_pk: int) -> int:
    c = logged_model_metrics_table.c
    return int(
        session.scalar(select(func.count()).select_from(logged_model_metrics_table).where(c.model_pk == model_pk)) or 0
    )


def delete_logged_model_metrics(session: Session, model_pk: int) -> None:
    session.execute(logged_model_metrics_table.delete().where(logged_model_metrics_table.c.model_pk == model_pk))


def set_logged_model_times(session: Session, model_pk: int, creation: int, last_update: int) -> None:
    session.execute(
        update(LoggedModelRow)
        .where(LoggedModelRow.id == model_pk)
        .values(creation_time=creation, last_update_time=last_update)
    )


def set_registered_model_times(session: Session, model_pk: int, creation: int, last_update: int) -> None:
    session.execute(
        update(RegisteredModelRow)
        .where(RegisteredModelRow.id == model_pk)
        .values(creation_time=creation, last_update_time=last_update)
    )


def set_version_fields(session: Session, version_pk: int, **values: object) -> None:
    session.execute(update(ModelVersionRow).where(ModelVersionRow.id == version_pk).values(**values))


def run_key_values(session: Session, run_pk: int) -> tuple[dict[str, str], dict[str, str]]:
    """A run's params and tags."""
    params = dict(session.execute(select(ParamRow.key, ParamRow.value).where(ParamRow.run_id == run_pk)).all())
    tags = dict(session.execute(select(TagRow.key, TagRow.value).where(TagRow.run_id == run_pk)).all())
    return params, tags


def dataset_input_count(session: Session, run_pk: int) -> int:
    return int(session.scalar(select(func.count()).select_from(InputRow).where(InputRow.run_id == run_pk)) or 0)
