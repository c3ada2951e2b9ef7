"""Read models of the web UI: key catalogues, experiment activity, nested runs.

Each function answers what one page needs in one or two statements over the indexed tables,
so a page over an experiment of 10,000 runs costs the same as one over ten.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import distinct, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from runstone.store.tables import LatestMetricRow, MetricKeyRow, ParamRow, RunRow, TagRow, metrics_table


def activity(session: Session, experiment_ids: Sequence[int]) -> dict[int, tuple[int, int | None]]:
    """(active run count, latest run start or end time) of each experiment that has runs."""
    if not experiment_ids:
        return {}
    rows = session.execute(
        select(
            RunRow.experiment_id,
            func.count(),
            func.max(RunRow.start_time),
            func.max(RunRow.end_time),
        )
        .where(RunRow.experiment_id.in_(experiment_ids), RunRow.lifecycle_stage == "active")
        .group_by(RunRow.experiment_id)
    )
    out: dict[int, tuple[int, int | None]] = {}
    for exp_id, count, started, ended in rows:
        latest = max(t for t in (started, ended) if t is not None) if started is not None else None
        out[exp_id] = (count, latest)
    return out


def metric_keys(session: Session, experiment_id: int, stages: Sequence[str]) -> list[str]:
    """Distinct metric keys of an experiment's runs.

    Probed key by key over the (small) catalogue of metric keys: each probe stops at the first
    run of the experiment that has the key, instead of reading every run's every metric.
    """
    lm = aliased(LatestMetricRow)
    run = aliased(RunRow)
    used = (
        exists()
        .where(lm.key_id == MetricKeyRow.id, run.id == lm.run_id)
        .where(run.experiment_id == experiment_id, run.lifecycle_stage.in_(stages))
    )
    return list(session.scalars(select(MetricKeyRow.key).where(used).order_by(MetricKeyRow.key)))


def _distinct_keys(
    session: Session, table: type[ParamRow] | type[TagRow], experiment_id: int, stages: Sequence[str]
) -> list[str]:
    stmt = (
        select(table.key)
        .join(RunRow, RunRow.id == table.run_id)
        .where(RunRow.experiment_id == experiment_id, RunRow.lifecycle_stage.in_(stages))
        .distinct()
        .order_by(table.key)
    )
    return list(session.scalars(stmt))


def param_keys(session: Session, experiment_id: int, stages: Sequence[str]) -> list[str]:
    return _distinct_keys(session, ParamRow, experiment_id, stages)


def tag_keys(session: Session, experiment_id: int, stages: Sequence[str]) -> list[str]:
    return _distinct_keys(session, TagRow, experiment_id, stages)


def children(
    session: Session, experiment_id: int, parent_uuids: Sequence[str], parent_tag: str, stages: Sequence[str]
) -> list[tuple[str, int]]:
    """(parent uuid, child internal id) of the experiment's runs nested under the given parents,
    oldest child first."""
    if not parent_uuids:
        return []
    stmt = (
        select(TagRow.value, RunRow.id)
        .join(TagRow, TagRow.run_id == RunRow.id)
        .where(
            RunRow.experiment_id == experiment_id,
            RunRow.lifecycle_stage.in_(stages),
            TagRow.key == parent_tag,
            TagRow.value.in_(parent_uuids),
        )
        .order_by(RunRow.start_time, RunRow.id)
    )
    return [(parent, child) for parent, child in session.execute(stmt)]


def names(session: Session, run_uuids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """Run uuid -> (run name, experiment id) of the runs that exist."""
    if not run_uuids:
        return {}
    rows = session.execute(select(RunRow.uuid, RunRow.name, RunRow.experiment_id).where(RunRow.uuid.in_(run_uuids)))
    return {uuid: (name, str(exp)) for uuid, name, exp in rows}


def _recent_runs(experiment_id: int, stages: Sequence[str], sample: int) -> Any:
    return (
        select(RunRow.id)
        .where(RunRow.experiment_id == experiment_id, RunRow.lifecycle_stage.in_(stages))
        .order_by(RunRow.start_time.desc(), RunRow.id.desc())
        .limit(sample)
        .scalar_subquery()
    )


def key_spread(
    session: Session, experiment_id: int, stages: Sequence[str], sample: int
) -> tuple[int, list[tuple[str, int, int]], list[tuple[str, int, int]]]:
    """Over the experiment's ``sample`` most recent runs: how many there are, and for each metric
    and param key (key, runs that have it, distinct values among them)."""
    sampled = session.scalar(
        select(func.count()).select_from(
            select(RunRow.id)
            .where(RunRow.experiment_id == experiment_id, RunRow.lifecycle_stage.in_(stages))
            .limit(sample)
            .subquery()
        )
    )
    lm = LatestMetricRow
    metric_rows = session.execute(
        select(MetricKeyRow.key, func.count(), func.count(distinct(lm.value)))
        .join(lm, lm.key_id == MetricKeyRow.id)
        .where(lm.run_id.in_(_recent_runs(experiment_id, stages, sample)))
        .group_by(MetricKeyRow.key)
    )
    param_rows = session.execute(
        select(ParamRow.key, func.count(), func.count(distinct(ParamRow.value)))
        .where(ParamRow.run_id.in_(_recent_runs(experiment_id, stages, sample)))
        .group_by(ParamRow.key)
    )
    return (
        int(sampled or 0),
        [(k, int(n), int(d)) for k, n, d in metric_rows],
        [(k, int(n), int(d)) for k, n, d in param_rows],
    )


def child_counts(
    session: Session, experiment_id: int, parent_uuids: Sequence[str], parent_tag: str, stages: Sequence[str]
) -> dict[str, int]:
    """How many of the experiment's runs are nested directly under each of the given parents."""
    if not parent_uuids:
        return {}
    rows = session.execute(
        select(TagRow.value, func.count())
        .join(RunRow, RunRow.id == TagRow.run_id)
        .where(
            RunRow.experiment_id == experiment_id,
            RunRow.lifecycle_stage.in_(stages),
            TagRow.key == parent_tag,
            TagRow.value.in_(parent_uuids),
        )
        .group_by(TagRow.value)
    )
    return {parent: int(count) for parent, count in rows}


def single_point_metrics(session: Session, run_id: int) -> list[str]:
    """The run's metric keys logged at a single point (one step and time): a value, not a curve.

    Each key costs one probe of the (run, key, step) index that stops at the first other point.
    """
    lm = LatestMetricRow
    m = metrics_table.c
    other = exists().where(
        m.run_id == lm.run_id, m.key_id == lm.key_id, or_(m.step != lm.step, m.timestamp != lm.timestamp)
    )
    stmt = (
        select(MetricKeyRow.key)
        .join(lm, lm.key_id == MetricKeyRow.id)
        .where(lm.run_id == run_id, ~other)
        .order_by(MetricKeyRow.key)
    )
    return list(session.scalars(stmt))
