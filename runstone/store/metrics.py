"""Metric points and the latest value of each metric per run."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, delete, func, or_, select, tuple_
from sqlalchemy.orm import Session

from runstone.entities import Metric, MetricHistory
from runstone.store import metric_blocks, raw
from runstone.store.rows import plain_rows
from runstone.store.tables import LatestMetricRow, MetricKeyRow, metrics_table

_latest = LatestMetricRow.__table__


def key_ids(session: Session, keys: Iterable[str], *, create: bool) -> dict[str, int]:
    wanted = set(keys)
    if not wanted:
        return {}
    found = _key_ids(session, wanted)
    missing = wanted - found.keys()
    if missing and create:
        raw.execute_many(
            session,
            'INSERT INTO metric_keys ("key") VALUES (?) ON CONFLICT ("key") DO NOTHING',
            [(k,) for k in sorted(missing)],
        )
        found.update(_key_ids(session, missing))
    return found


def _key_ids(session: Session, keys: set[str]) -> dict[str, int]:
    ordered = sorted(keys)
    if len(ordered) == 1:
        return dict(raw.rows(session, 'SELECT "key", id FROM metric_keys WHERE "key" = ?', ordered))
    marks = ", ".join("?" * len(ordered))
    return dict(raw.rows(session, f'SELECT "key", id FROM metric_keys WHERE "key" IN ({marks})', ordered))


_step_and_time = itemgetter(0, 1)

_INSERT_POINTS = "INSERT INTO metrics (run_id, key_id, step, timestamp, value) VALUES {values}"
# The latest point per key: the incoming one replaces the stored one when it ranks above it (see
# insert_points).
_UPSERT_LATEST = """
    INSERT INTO latest_metrics (run_id, key_id, step, timestamp, value) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (run_id, key_id) DO UPDATE SET
        step = excluded.step, timestamp = excluded.timestamp, value = excluded.value
    WHERE (excluded.step, excluded.timestamp) > (latest_metrics.step, latest_metrics.timestamp)
       OR (excluded.step = latest_metrics.step AND excluded.timestamp = latest_metrics.timestamp
           AND excluded.value > latest_metrics.value)
"""


def insert_points(session: Session, run_id: int, metrics: Sequence[Metric]) -> None:
    if not metrics:
        return
    ids = key_ids(session, {m.key for m in metrics}, create=True)
    # Straight to the driver, many rows a statement: at a thousand points per batch, SQLAlchemy's
    # per-row parameter processing costs more than the insert itself. (v == v is False for NaN,
    # stored as NULL; written inline, this loop runs once per point.)
    rows = [(run_id, ids[m.key], m.step, m.timestamp, m.value if m.value == m.value else None) for m in metrics]
    raw.insert_rows(session, _INSERT_POINTS, rows)
    by_key: dict[int, list[metric_blocks.Point]]
    if len(ids) == 1:
        by_key = {next(iter(ids.values())): [r[2:] for r in rows]}
    else:
        by_key = {}
        for _, key_id, step, timestamp, value in rows:
            by_key.setdefault(key_id, []).append((step, timestamp, value))
    for key_id, points in by_key.items():
        metric_blocks.record(session, run_id, key_id, points)
    raw.execute_many(session, _UPSERT_LATEST, [(run_id, key_id, *_newest(points)) for key_id, points in by_key.items()])


def _newest(points: Sequence[metric_blocks.Point]) -> metric_blocks.Point:
    """The point with the highest (step, timestamp); of points tied on both, the one with the
    largest value (NaN, stored as None, the smallest; the first of equals)."""
    top = max(points, key=_step_and_time)
    step, timestamp = top[0], top[1]
    tied = [p for p in points if p[1] == timestamp and p[0] == step]
    if len(tied) == 1:
        return top
    return max(tied, key=lambda p: -math.inf if p[2] is None else p[2])


def _newer(t: Table, new: Any) -> ColumnElement[bool]:
    """The incoming point ranks above the stored latest one (see insert_points)."""
    return or_(
        tuple_(new.step, new.timestamp) > tuple_(t.c.step, t.c.timestamp),
        and_(new.step == t.c.step, new.timestamp == t.c.timestamp, new.value > t.c.value),
    )


def _value(stored: float | None) -> float:
    return math.nan if stored is None else stored


def latest_for_runs(
    session: Session, run_ids: Sequence[int], keys: Sequence[str] | None = None
) -> dict[int, dict[str, float]]:
    out: dict[int, dict[str, float]] = {i: {} for i in run_ids}
    if not run_ids:
        return out
    if keys is not None and not keys:
        return out
    # Straight to the driver: every search loads the latest values of a page of runs.
    sql = (
        "SELECT l.run_id, k.key, l.value FROM latest_metrics l JOIN metric_keys k ON k.id = l.key_id "
        "WHERE l.run_id IN ({values})"
    )
    if keys is not None:
        sql += f" AND k.key IN ({', '.join('?' * len(keys))})"
    for run_id, key, value in raw.rows_in(session, sql, list(run_ids), list(keys or ())):
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
    limit: int | None = None,
) -> MetricHistory:
    """A metric's points in step order; with ``max_points``, downsampled keeping each bucket's
    minimum and maximum, so spikes stay visible however long the history is. ``limit`` keeps
    only the first points of a full history (a page of it)."""
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
        points = metric_blocks.downsample(session, run_id, key_id, max_points, start_step, end_step)
        if points is not None:
            return _columns(key, points, downsampled=True)
    stmt = select(m.step, m.timestamp, m.value).where(*where)
    if limit is None:
        rows = plain_rows(session, stmt.order_by(m.step))  # ties are ordered by _columns
    else:  # a page ends at the right point of a step logged twice only if the database orders ties
        rows = plain_rows(session, stmt.order_by(m.step, m.timestamp).limit(limit))
    return _columns(key, rows, downsampled=False)


def histories(
    session: Session,
    run_ids: Sequence[int],
    key: str,
    *,
    max_points: int | None = None,
    start_step: int | None = None,
    end_step: int | None = None,
) -> dict[int, MetricHistory]:
    """One metric's history for each of many runs, as :func:`history` gives it for one.

    The runs whose range holds at most ``max_points`` points (by the coarse block counts, an
    upper bound) are read together in one query; only the longer ones are downsampled one by one.
    """
    runs = list(dict.fromkeys(run_ids))
    key_id = key_ids(session, [key], create=False).get(key) if runs else None
    if key_id is None:
        return {r: MetricHistory(key, [], [], []) for r in runs}
    long: set[int] = set()
    if max_points is not None:
        b, size = metric_blocks.COARSE.table, metric_blocks.COARSE.size
        where = [b.run_id.in_(runs), b.key_id == key_id]
        if start_step is not None:
            where.append(b.block >= start_step // size)
        if end_step is not None:
            where.append(b.block <= end_step // size)
        counts = plain_rows(session, select(b.run_id, func.sum(b.count)).where(*where).group_by(b.run_id))
        long = {run for run, count in counts if count > max_points}
    out: dict[int, MetricHistory] = {}
    short = [r for r in runs if r not in long]
    if short:
        m = metrics_table.c
        conditions = [m.run_id.in_(short), m.key_id == key_id]
        if start_step is not None:
            conditions.append(m.step >= start_step)
        if end_step is not None:
            conditions.append(m.step <= end_step)
        stmt = select(m.run_id, m.step, m.timestamp, m.value).where(*conditions)
        grouped: dict[int, list[Sequence[object]]] = {r: [] for r in short}
        for row in plain_rows(session, stmt.order_by(m.run_id, m.step)):  # ties: see _columns
            grouped[row[0]].append(row[1:])
        out.update({r: _columns(key, rows, downsampled=False) for r, rows in grouped.items()})
    if long and max_points is not None:
        sampled = metric_blocks.downsample_many(session, sorted(long), key_id, max_points, start_step, end_step)
        for run, points in sampled.items():
            if points is None:  # the block counts overstated the range: every point fits
                out[run] = history(session, run, key, start_step=start_step, end_step=end_step)
            else:
                out[run] = _columns(key, points, downsampled=True)
    return {r: out[r] for r in runs}


def histories_grid(
    session: Session, run_ids: Sequence[int], keys: Sequence[str], *, max_points: int
) -> dict[str, dict[int, MetricHistory]]:
    """Many metrics' whole histories for many runs, each as :func:`histories` gives it with
    ``max_points``: a batch of workspace panels. The block summaries of every (run, key) are read
    in one query, and the histories short enough to give whole in another. A history too long to
    read point by point cheaply (see :func:`metric_blocks.fine_budgets`) gets as many points as its
    32-step summaries can give, when that is fewer than ``max_points``."""
    runs = list(dict.fromkeys(run_ids))
    wanted = list(dict.fromkeys(keys))
    ids = key_ids(session, wanted, create=False) if runs else {}
    sampled, others = metric_blocks.downsample_grid(session, runs, list(ids.values()), max_points)
    whole = {pair for pair, points in sampled.items() if points is None}
    read: dict[tuple[int, int], list[Sequence[object]]] = {pair: [] for pair in whole}
    if whole:
        m = metrics_table.c
        stmt = select(m.run_id, m.key_id, m.step, m.timestamp, m.value).where(
            m.run_id.in_({r for r, _ in whole}), m.key_id.in_({k for _, k in whole})
        )
        for row in plain_rows(session, stmt.order_by(m.run_id, m.key_id, m.step)):  # ties: see _columns
            into = read.get((row[0], row[1]))
            if into is not None:
                into.append(row[2:])
    by_key: dict[tuple[int, int], list[int]] = {}
    budgets = metric_blocks.fine_budgets(session, others, max_points)
    for run, key_id in sorted(others):
        by_key.setdefault((key_id, budgets.get((run, key_id), max_points)), []).append(run)
    for (key_id, budget), long in by_key.items():
        for run, points in metric_blocks.downsample_many(session, long, key_id, budget, None, None).items():
            sampled[(run, key_id)] = points
            if points is None:  # not reached for whole histories: their block counts are exact
                read[(run, key_id)] = list(_whole(session, run, key_id))
    out: dict[str, dict[int, MetricHistory]] = {}
    for key in wanted:
        kid = ids.get(key, -1)  # -1: no such key, so no points
        of_key: dict[int, MetricHistory] = {}
        for run in runs:
            points = sampled.get((run, kid))
            if points is not None:
                of_key[run] = _columns(key, points, downsampled=True)
            elif (run, kid) in read:
                of_key[run] = _columns(key, read[(run, kid)], downsampled=False)
            else:
                of_key[run] = MetricHistory(key, [], [], [])
        out[key] = of_key
    return out


def _whole(session: Session, run_id: int, key_id: int) -> Sequence[Sequence[object]]:
    m = metrics_table.c
    stmt = select(m.step, m.timestamp, m.value).where(m.run_id == run_id, m.key_id == key_id)
    return plain_rows(session, stmt.order_by(m.step))  # ties: see _columns


def _columns(key: str, rows: Sequence[Sequence[object]], *, downsampled: bool) -> MetricHistory:
    """Points as columns. ``rows`` come in step order; points of one step are put in timestamp
    order here. (Ordering them in SQL, ``ORDER BY step, timestamp``, makes the database sort the
    whole history again though its index already gives it in step order: 40% of the read of a
    100,000-step history. Steps logged twice are rare, and a stable sort puts them right.)"""
    if not rows:
        return MetricHistory(key, [], [], [], downsampled)
    # One pass per column; zip(*rows) over 100,000 rows is several times slower.
    steps = [r[0] for r in rows]
    if len(set(steps)) != len(steps):
        rows = sorted(rows, key=_step_and_time)
        steps = [r[0] for r in rows]
    timestamps = [r[1] for r in rows]
    values = [r[2] for r in rows]
    if None in values:
        values = [_value(v) for v in values]  # type: ignore[arg-type]
    return MetricHistory(key, steps, timestamps, values, downsampled)  # type: ignore[arg-type]


def delete_for_runs(session: Session, run_ids: Sequence[int]) -> None:
    if run_ids:
        session.execute(metrics_table.delete().where(metrics_table.c.run_id.in_(run_ids)))
        session.execute(delete(LatestMetricRow).where(LatestMetricRow.run_id.in_(run_ids)))
        for level in metric_blocks.LEVELS:
            session.execute(delete(level.table).where(level.table.run_id.in_(run_ids)))


def delete_key_for_run(session: Session, run_id: int, key: str) -> None:
    """Every point of one metric of a run, its latest value and its block summaries."""
    key_id = key_ids(session, [key], create=False).get(key)
    if key_id is None:
        return
    session.execute(metrics_table.delete().where(metrics_table.c.run_id == run_id, metrics_table.c.key_id == key_id))
    session.execute(delete(LatestMetricRow).where(LatestMetricRow.run_id == run_id, LatestMetricRow.key_id == key_id))
    for level in metric_blocks.LEVELS:
        session.execute(delete(level.table).where(level.table.run_id == run_id, level.table.key_id == key_id))
