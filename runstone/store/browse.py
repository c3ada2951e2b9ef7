"""Read models of the web UI: key catalogues, experiment activity, nested runs.

Each function answers what one page needs in one or two statements over the indexed tables,
so a page over an experiment of 10,000 runs costs the same as one over ten.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session, aliased

from runstone.store.tables import LatestMetricRow, MetricKeyRow, ParamRow, RunRow, TagRow


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
