"""Metric points and the latest value of each metric per run."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from sqlalchemy import and_, delete, func, or_, select, text, tuple_
from sqlalchemy.orm import Session

from runstone.entities import Metric, MetricHistory
from runstone.store.tables import LatestMetricRow, MetricKeyRow, metrics_table
from runstone.store.upsert import insert_ignore, upsert

_latest = LatestMetricRow.__table__


def key_ids(session: Session, keys: Iterable[str], *, create: bool) -> dict[str, int]:
    wanted = set(keys)
    if not wanted:
        return {}
    found = dict(session.execute(select(MetricKeyRow.key, MetricKeyRow.id).where(MetricKeyRow.key.in_(wanted))).all())
    missing = wanted - found.keys()
    if missing and create:
        insert_ignore(session, MetricKeyRow.__table__, [{"key": k} for k in sorted(missing)], keys=["key"])
        found.update(
            session.execute(select(MetricKeyRow.key, MetricKeyRow.id).where(MetricKeyRow.key.in_(missing))).all()
        )
    return found


def _stored(value: float) -> float | None:
    return None if math.isnan(value) else value


def insert_points(session: Session, run_id: int, metrics: Sequence[Metric]) -> None:
    if not metrics:
        return
    ids = key_ids(session, (m.key for m in metrics), create=True)
    session.execute(
        metrics_table.insert(),
        [
            {
                "run_id": run_id,
                "key_id": ids[m.key],
                "step": m.step,
                "timestamp": m.timestamp,
                "value": _stored(m.value),
            }
            for m in metrics
        ],
    )
    # Latest per key: the point with the highest (step, timestamp); ties go to the larger value.
    latest: dict[str, Metric] = {}
    for m in metrics:
        best = latest.get(m.key)
        if best is None or _rank(m) > _rank(best):
            latest[m.key] = m
    upsert(
        session,
        _latest,
        [
            {"run_id": run_id, "key_id": ids[k], "step": m.step, "timestamp": m.timestamp, "value": _stored(m.value)}
            for k, m in latest.items()
        ],
        keys=["run_id", "key_id"],
        update=["step", "timestamp", "value"],
        where=lambda t, new: or_(
            tuple_(new.step, new.timestamp) > tuple_(t.c.step, t.c.timestamp),
            and_(new.step == t.c.step, new.timestamp == t.c.timestamp, new.value > t.c.value),
        ),
    )


def _rank(m: Metric) -> tuple[int, int, float]:
    return (m.step, m.timestamp, -math.inf if math.isnan(m.value) else m.value)


def _value(stored: float | None) -> float:
    return math.nan if stored is None else stored


def latest_for_runs(
    session: Session, run_ids: Sequence[int], keys: Sequence[str] | None = None
) -> dict[int, dict[str, float]]:
    out: dict[int, dict[str, float]] = {i: {} for i in run_ids}
    if not run_ids:
        return out
    stmt = (
        select(LatestMetricRow.run_id, MetricKeyRow.key, LatestMetricRow.value)
        .join(MetricKeyRow, MetricKeyRow.id == LatestMetricRow.key_id)
        .where(LatestMetricRow.run_id.in_(run_ids))
    )
    if keys is not None:
        if not keys:
            return out
        stmt = stmt.where(MetricKeyRow.key.in_(keys))
    for run_id, key, value in session.execute(stmt):
        out[run_id][key] = _value(value)
    return out


def keys_for_runs(session: Session, run_ids: Sequence[int]) -> list[str]:
    stmt = (
        select(MetricKeyRow.key)
        .join(LatestMetricRow, MetricKeyRow.id == LatestMetricRow.key_id)
        .where(LatestMetricRow.run_id.in_(run_ids))
        .distinct()
        .order_by(MetricKeyRow.key)
    )
    return list(session.scalars(stmt))


def history(
    session: Session,
    run_id: int,
    key: str,
    *,
    max_points: int | None = None,
    start_step: int | None = None,
    end_step: int | None = None,
) -> MetricHistory:
    """A metric's points in step order; with ``max_points``, downsampled keeping each bucket's
    minimum and maximum, so spikes stay visible however long the history is."""
    key_id = key_ids(session, [key], create=False).get(key)
    empty = MetricHistory(key, [], [], [])
    if key_id is None:
        return empty
    m = metrics_table.c
    where = [m.run_id == run_id, m.key_id == key_id]
    if start_step is not None:
        where.append(m.step >= start_step)
    if end_step is not None:
        where.append(m.step <= end_step)
    if max_points is not None:
        bounds = session.execute(select(func.count(), func.min(m.step), func.max(m.step)).where(*where)).one()
        count, lo, hi = bounds
        if count > max_points and lo is not None:
            return _downsampled(session, key, run_id, key_id, max_points, lo, hi)
    rows = session.execute(select(m.step, m.timestamp, m.value).where(*where).order_by(m.step, m.timestamp)).all()
    return _columns(key, rows, downsampled=False)


def _columns(key: str, rows: Sequence[Sequence[object]], *, downsampled: bool) -> MetricHistory:
    if not rows:
        return MetricHistory(key, [], [], [], downsampled)
    steps, timestamps, values = (list(c) for c in zip(*rows, strict=True))
    if None in values:
        values = [_value(v) for v in values]  # type: ignore[arg-type]
    return MetricHistory(key, steps, timestamps, values, downsampled)  # type: ignore[arg-type]


def _downsampled(
    session: Session, key: str, run_id: int, key_id: int, max_points: int, lo: int, hi: int
) -> MetricHistory:
    buckets = max(1, max_points // 2)
    width = -(-(hi - lo + 1) // buckets)  # ceil: at most `buckets` buckets, integer arithmetic only
    params = {"run_id": run_id, "key_id": key_id, "lo": lo, "hi": hi, "width": width}
    bucket = "(step - :lo) / :width"
    # Ties go to the first step for the minimum and the last for the maximum, so a flat bucket
    # still shows where it begins and ends.
    sql = f"""
        SELECT step, timestamp, value FROM (
            SELECT step, timestamp, value,
                   ROW_NUMBER() OVER (PARTITION BY b ORDER BY value ASC NULLS LAST, step) AS rmin,
                   ROW_NUMBER() OVER (PARTITION BY b ORDER BY value DESC NULLS LAST, step DESC) AS rmax
            FROM (
                SELECT step, timestamp, value, {bucket} AS b FROM metrics
                WHERE run_id = :run_id AND key_id = :key_id AND step >= :lo AND step <= :hi
            ) AS bucketed
        ) AS ranked
        WHERE rmin = 1 OR rmax = 1
        ORDER BY step, timestamp
    """
    rows = session.execute(text(sql), params).all()
    return _columns(key, rows, downsampled=True)


def delete_for_runs(session: Session, run_ids: Sequence[int]) -> None:
    if run_ids:
        session.execute(metrics_table.delete().where(metrics_table.c.run_id.in_(run_ids)))
        session.execute(delete(LatestMetricRow).where(LatestMetricRow.run_id.in_(run_ids)))
