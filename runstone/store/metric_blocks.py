"""Per-block summaries of metric histories, kept as points are written.

Steps are grouped in fixed blocks of ``BLOCK`` steps. For every (run, key, block) the store
keeps the number of points, the first and last step, and the point holding the minimum and the
one holding the maximum. A downsampled history then reads a few thousand summaries instead of
millions of points, and stays exact: every point it returns is a real point, and a group of
whole blocks shows its true minimum and maximum, so a one-step spike is never averaged away.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import and_, or_, select, text
from sqlalchemy.orm import Session

from runstone.store.tables import MetricBlockRow, metrics_table

BLOCK = 256

Point = tuple[int, int, float | None]  # (step, timestamp, stored value: None is NaN)


@dataclass
class Summary:
    block: int
    count: int
    first_step: int
    last_step: int
    low: Point
    high: Point


def summarize(points: Iterable[Point]) -> dict[int, Summary]:
    """Summaries of the blocks the points fall in (NaN never wins a minimum or maximum)."""
    out: dict[int, Summary] = {}
    for point in points:
        step = point[0]
        block = step // BLOCK
        s = out.get(block)
        if s is None:
            out[block] = Summary(block, 1, step, step, point, point)
            continue
        s.count += 1
        if step < s.first_step:
            s.first_step = step
        elif step > s.last_step:
            s.last_step = step
        value, low, high = point[2], s.low, s.high
        if value is None or low[2] is None or high[2] is None:
            s.low = _lower(low, point)
            s.high = _higher(high, point)
            continue
        # The same rules as _lower and _higher, inline: this loop runs once per logged point.
        if value < low[2] or (value == low[2] and step < low[0]):
            s.low = point
        if value > high[2] or (value == high[2] and step > high[0]):
            s.high = point
    return out


def _lower(a: Point, b: Point) -> Point:
    """The point holding the smaller value; ties go to the earlier step, NaN only to NaN."""
    if a[2] is None or b[2] is None:
        if a[2] is None and b[2] is None:
            return a if a[0] <= b[0] else b
        return b if a[2] is None else a
    return b if b[2] < a[2] or (b[2] == a[2] and b[0] < a[0]) else a


def _higher(a: Point, b: Point) -> Point:
    """The point holding the larger value; ties go to the later step, NaN only to NaN."""
    if a[2] is None or b[2] is None:
        if a[2] is None and b[2] is None:
            return a if a[0] >= b[0] else b
        return b if a[2] is None else a
    return b if b[2] > a[2] or (b[2] == a[2] and b[0] > a[0]) else a


def _merge_sql(dialect: str) -> str:
    least, greatest = ("MIN", "MAX") if dialect == "sqlite" else ("LEAST", "GREATEST")
    t, e = "metric_blocks", "excluded"
    lower = (
        f"({e}.min_value IS NOT NULL AND ({t}.min_value IS NULL OR {e}.min_value < {t}.min_value "
        f"OR ({e}.min_value = {t}.min_value AND {e}.min_step < {t}.min_step)))"
    )
    higher = (
        f"({e}.max_value IS NOT NULL AND ({t}.max_value IS NULL OR {e}.max_value > {t}.max_value "
        f"OR ({e}.max_value = {t}.max_value AND {e}.max_step > {t}.max_step)))"
    )

    def pick(condition: str, column: str) -> str:
        return f"{column} = CASE WHEN {condition} THEN {e}.{column} ELSE {t}.{column} END"

    # Every SET expression reads the row as it was before the update, on SQLite and PostgreSQL.
    return f"""
        INSERT INTO metric_blocks (run_id, key_id, block, count, first_step, last_step,
                                   min_step, min_ts, min_value, max_step, max_ts, max_value)
        VALUES (:run_id, :key_id, :block, :count, :first_step, :last_step,
                :min_step, :min_ts, :min_value, :max_step, :max_ts, :max_value)
        ON CONFLICT (run_id, key_id, block) DO UPDATE SET
            count = {t}.count + {e}.count,
            first_step = {least}({t}.first_step, {e}.first_step),
            last_step = {greatest}({t}.last_step, {e}.last_step),
            {pick(lower, "min_step")}, {pick(lower, "min_ts")}, {pick(lower, "min_value")},
            {pick(higher, "max_step")}, {pick(higher, "max_ts")}, {pick(higher, "max_value")}
    """


def record(session: Session, run_id: int, key_id: int, points: Sequence[Point]) -> None:
    summaries = summarize(points)
    if not summaries:
        return
    dialect = session.get_bind().dialect.name
    session.execute(
        text(_merge_sql(dialect)),
        [
            {
                "run_id": run_id,
                "key_id": key_id,
                "block": s.block,
                "count": s.count,
                "first_step": s.first_step,
                "last_step": s.last_step,
                "min_step": s.low[0],
                "min_ts": s.low[1],
                "min_value": s.low[2],
                "max_step": s.high[0],
                "max_ts": s.high[1],
                "max_value": s.high[2],
            }
            for s in summaries.values()
        ],
    )


def downsample(
    session: Session, run_id: int, key_id: int, max_points: int, start: int | None, end: int | None
) -> list[Point] | None:
    """At most ``max_points`` real points keeping each group's minimum and maximum, or None when
    the range holds no more than ``max_points`` points (the caller then returns them all)."""
    b = MetricBlockRow
    where = [b.run_id == run_id, b.key_id == key_id]
    if start is not None:
        where.append(b.block >= -(-start // BLOCK))  # blocks wholly at or after start
    if end is not None:
        where.append(b.block <= (end + 1) // BLOCK - 1)  # blocks wholly at or before end
    rows = session.execute(
        select(
            b.block, b.count, b.first_step, b.last_step, b.min_step, b.min_ts, b.min_value, b.max_step, b.max_ts,
            b.max_value,
        ).where(*where).order_by(b.block)
    ).all()  # fmt: skip
    summaries = {r[0]: Summary(r[0], r[1], r[2], r[3], (r[4], r[5], r[6]), (r[7], r[8], r[9])) for r in rows}
    edges = _edges(start, end)
    if edges:
        # Blocks the range cuts are summarized from their points inside the range.
        m = metrics_table.c
        inside = or_(*[and_(m.step >= lo, m.step <= hi) for lo, hi in edges])
        cut = session.execute(
            select(m.step, m.timestamp, m.value).where(m.run_id == run_id, m.key_id == key_id, inside)
        )
        summaries.update(summarize((int(s), int(t), v) for s, t, v in cut))
    ordered = [summaries[k] for k in sorted(summaries)]
    if sum(s.count for s in ordered) <= max_points:
        return None
    buckets = max(1, max_points // 2)
    per_bucket = -(-len(ordered) // buckets)
    points: list[Point] = []
    for i in range(0, len(ordered), per_bucket):
        group = ordered[i : i + per_bucket]
        low, high = group[0].low, group[0].high
        for s in group[1:]:
            low, high = _lower(low, s.low), _higher(high, s.high)
        points.extend(sorted({low, high}, key=lambda p: p[0]))
    return points


def _edges(start: int | None, end: int | None) -> list[tuple[int, int]]:
    """The step ranges of the blocks that ``[start, end]`` covers only in part."""
    edges = []
    if start is not None and start % BLOCK:
        block_end = (start // BLOCK + 1) * BLOCK - 1
        edges.append((start, block_end if end is None else min(block_end, end)))
    if end is not None and (end + 1) % BLOCK:
        block_start = end // BLOCK * BLOCK
        edges.append((block_start if start is None else max(block_start, start), end))
    edges.sort()
    merged: list[tuple[int, int]] = []
    for lo, hi in edges:
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def as_value(stored: float | None) -> float:
    return math.nan if stored is None else stored
