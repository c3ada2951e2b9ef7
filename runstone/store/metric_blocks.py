"""Per-block summaries of metric histories, kept as points are written.

Steps are grouped in fixed blocks at two sizes: 32 steps (``metric_fine_blocks``) and 256 steps
(``metric_blocks``). For every (run, key, block) the store keeps the number of points, the first
and last step, and the point holding the minimum and the one holding the maximum.

A downsampled history splits the points of a step range by rank into buckets of about equal
size and returns each bucket's minimum and maximum, plus the range's first and last points. It
reads the coarsest summaries that give every bucket at least two whole blocks (a few thousand
rows for histories of up to millions of steps), and reads the points themselves only when the
range holds too few blocks for that (for a 1,000-point chart, histories of up to about 32,000
steps).
Every point it returns is a real point and a one-step spike is never averaged away.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import itemgetter

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from runstone.store import raw
from runstone.store.rows import plain_rows
from runstone.store.tables import MetricBlockRow, MetricFineBlockRow, metrics_table

Point = tuple[int, int, float | None]  # (step, timestamp, stored value: None is NaN)


@dataclass(frozen=True)
class Level:
    table: type[MetricBlockRow] | type[MetricFineBlockRow]
    size: int  # steps per block


FINE = Level(MetricFineBlockRow, 32)
COARSE = Level(MetricBlockRow, 256)
LEVELS = (COARSE, FINE)  # coarsest first; each size is a multiple of the next one's


@dataclass
class Summary:
    block: int
    count: int
    first_step: int
    last_step: int
    low: Point
    high: Point


def summarize(points: Iterable[Point], size: int) -> dict[int, Summary]:
    """Summaries of the blocks of ``size`` steps the points fall in (NaN never wins a minimum
    or maximum)."""
    out: dict[int, Summary] = {}
    for point in points:
        step = point[0]
        block = step // size
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


def coarsen(summaries: Iterable[Summary], factor: int) -> dict[int, Summary]:
    """The summaries of blocks ``factor`` times larger, from those of the smaller blocks."""
    out: dict[int, Summary] = {}
    for s in summaries:
        block = s.block // factor
        c = out.get(block)
        if c is None:
            out[block] = Summary(block, s.count, s.first_step, s.last_step, s.low, s.high)
        else:
            _absorb(c, s)
    return out


def _absorb(into: Summary, s: Summary) -> None:
    into.count += s.count
    into.first_step = min(into.first_step, s.first_step)
    into.last_step = max(into.last_step, s.last_step)
    into.low = _lower(into.low, s.low)
    into.high = _higher(into.high, s.high)


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


@functools.lru_cache(maxsize=8)
def _merge_sql(table: str, dialect: str, paramstyle: str) -> str:
    least, greatest = ("MIN", "MAX") if dialect == "sqlite" else ("LEAST", "GREATEST")
    mark = "?" if paramstyle == "qmark" else "%s"
    t, e = table, "excluded"
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
        INSERT INTO {table} (run_id, key_id, block, count, first_step, last_step,
                             min_step, min_ts, min_value, max_step, max_ts, max_value)
        VALUES ({", ".join([mark] * 12)})
        ON CONFLICT (run_id, key_id, block) DO UPDATE SET
            count = {t}.count + {e}.count,
            first_step = {least}({t}.first_step, {e}.first_step),
            last_step = {greatest}({t}.last_step, {e}.last_step),
            {pick(lower, "min_step")}, {pick(lower, "min_ts")}, {pick(lower, "min_value")},
            {pick(higher, "max_step")}, {pick(higher, "max_ts")}, {pick(higher, "max_value")}
    """


def record(session: Session, run_id: int, key_id: int, points: Sequence[Point]) -> None:
    """Fold new points of one metric into its summaries at every level."""
    fine = summarize(points, FINE.size)
    if not fine:
        return
    # Straight to the driver's executemany, as for the points themselves: SQLAlchemy's
    # per-row parameter processing would cost more than the upserts.
    dialect = session.get_bind().dialect.name
    by_level = {FINE: fine, COARSE: coarsen(fine.values(), COARSE.size // FINE.size)}
    for level, summaries in by_level.items():
        raw.execute_many(
            session,
            _merge_sql(level.table.__tablename__, dialect, "qmark"),
            [
                (run_id, key_id, s.block, s.count, s.first_step, s.last_step, *s.low, *s.high)
                for s in summaries.values()
            ],
        )


def downsample(
    session: Session, run_id: int, key_id: int, max_points: int, start: int | None, end: int | None
) -> list[Point] | None:
    """At most ``max_points`` real points of ``[start, end]`` (see the module's docstring), or
    None when the range holds no more than ``max_points`` points (the caller returns them all)."""
    return downsample_many(session, [run_id], key_id, max_points, start, end)[run_id]


def downsample_many(
    session: Session, run_ids: Sequence[int], key_id: int, max_points: int, start: int | None, end: int | None
) -> dict[int, list[Point] | None]:
    """:func:`downsample` for many runs of one key, reading each level's summaries and the end
    points of every run in one query each."""
    buckets = (max_points - 2) // 2  # each gives its minimum and maximum; 2 more for the ends
    out: dict[int, list[Point] | None] = {}
    ready: dict[int, tuple[list[Summary], int]] = {}
    from_points: list[int] = []
    pending = list(dict.fromkeys(run_ids))
    for level, finer in zip(LEVELS, (*LEVELS[1:], None), strict=True):
        if not pending:
            break
        summaries = _summaries(session, level, pending, key_id, start, end)
        still = []
        for run in pending:
            ordered = summaries.get(run, [])
            total = sum(s.count for s in ordered)
            if total <= max_points:
                out[run] = None
            # When no block holds more than half a bucket's worth of points, consecutive blocks'
            # middle ranks are at most half a bucket apart: every bucket gets two blocks or more,
            # so it has two distinct points to give (its minimum and maximum).
            elif 2 * max(s.count for s in ordered) * buckets <= total:
                ready[run] = (ordered, total)
            elif finer is None or len(ordered) * (level.size // finer.size) < 2 * buckets:
                from_points.append(run)  # the finer level cannot have enough blocks either
            else:
                still.append(run)
        pending = still
    ends = _points_at(
        session, key_id, [(run, o[0].first_step) for run, (o, _) in ready.items()], last=False
    ) | _points_at(session, key_id, [(run, o[-1].last_step) for run, (o, _) in ready.items()], last=True)
    for run, (ordered, total) in ready.items():
        first = ends[(run, ordered[0].first_step, False)]
        last = ends[(run, ordered[-1].last_step, True)]
        extremes = _from_blocks(ordered, total, buckets) if buckets else []
        out[run] = _in_step_order([first, last, *extremes])
    if from_points:
        for run, points in _points(session, from_points, key_id, start, end).items():
            out[run] = _from_points(points, buckets)
    return out


def _summaries(
    session: Session, level: Level, run_ids: Sequence[int], key_id: int, start: int | None, end: int | None
) -> dict[int, list[Summary]]:
    """Each run's summaries of the range's non-empty blocks in step order; blocks the range cuts
    are summarized from their points inside the range."""
    b, size = level.table, level.size
    where = [b.run_id.in_(run_ids), b.key_id == key_id]
    if start is not None:
        where.append(b.block >= -(-start // size))  # blocks wholly at or after start
    if end is not None:
        where.append(b.block <= (end + 1) // size - 1)  # blocks wholly at or before end
    rows = plain_rows(
        session,
        select(
            b.run_id, b.block, b.count, b.first_step, b.last_step, b.min_step, b.min_ts, b.min_value, b.max_step,
            b.max_ts, b.max_value,
        ).where(*where),
    )  # fmt: skip
    found: dict[int, dict[int, Summary]] = {run: {} for run in run_ids}
    for r in rows:
        found[r[0]][r[1]] = Summary(r[1], r[2], r[3], r[4], (r[5], r[6], r[7]), (r[8], r[9], r[10]))
    edges = _edges(start, end, size)
    if edges:
        m = metrics_table.c
        inside = or_(*[and_(m.step >= lo, m.step <= hi) for lo, hi in edges])
        cut: dict[int, list[Point]] = {run: [] for run in run_ids}
        stmt = select(m.run_id, m.step, m.timestamp, m.value).where(m.run_id.in_(run_ids), m.key_id == key_id, inside)
        for run, step, ts, value in plain_rows(session, stmt):
            cut[run].append((int(step), int(ts), value))
        for run, points in cut.items():
            found[run].update(summarize(points, size))
    return {run: [blocks[k] for k in sorted(blocks)] for run, blocks in found.items()}


def _from_blocks(ordered: Sequence[Summary], total: int, buckets: int) -> list[Point]:
    """Each bucket's minimum and maximum, a bucket being the run of whole blocks whose middle
    ranks fall in it."""
    out: list[Point] = []
    per = total / buckets
    before = 0
    current: Summary | None = None
    bucket_of_current = -1
    for s in ordered:
        bucket = min(buckets - 1, int((before + s.count / 2) / per))
        before += s.count
        if current is not None and bucket == bucket_of_current:
            _absorb(current, s)
            continue
        if current is not None:
            out += (current.low, current.high)
        current, bucket_of_current = Summary(s.block, s.count, s.first_step, s.last_step, s.low, s.high), bucket
    if current is not None:
        out += (current.low, current.high)
    return out


def _from_points(points: Sequence[Point], buckets: int) -> list[Point]:
    """The first and last point and each of ``buckets`` rank buckets' minimum and maximum."""
    out: list[Point] = [points[0], points[-1]]
    n = len(points)
    for i in range(buckets):
        group = points[i * n // buckets : (i + 1) * n // buckets]
        if group:
            # As in the summaries: NaN (None) loses to any number, and ties go to the earlier
            # step for the minimum and to the later one for the maximum.
            out.append(min(group, key=_low_key))
            out.append(max(reversed(group), key=_high_key))
    return _in_step_order(out)


def _low_key(p: Point) -> tuple[bool, float]:
    return (p[2] is None, 0.0 if p[2] is None else p[2])


def _high_key(p: Point) -> tuple[bool, float]:
    return (p[2] is not None, 0.0 if p[2] is None else p[2])


def _in_step_order(points: Iterable[Point]) -> list[Point]:
    return sorted(dict.fromkeys(points), key=itemgetter(0, 1))


def _points(
    session: Session, run_ids: Sequence[int], key_id: int, start: int | None, end: int | None
) -> dict[int, list[Point]]:
    """Each run's points of the range by (step, timestamp). Ordered by step alone in SQL, which
    the index gives for free, and by timestamp within a step here (a near no-op on sorted input)."""
    m = metrics_table.c
    where = [m.run_id.in_(run_ids), m.key_id == key_id]
    if start is not None:
        where.append(m.step >= start)
    if end is not None:
        where.append(m.step <= end)
    out: dict[int, list[Point]] = {run: [] for run in run_ids}
    for run, step, ts, value in plain_rows(
        session, select(m.run_id, m.step, m.timestamp, m.value).where(*where).order_by(m.run_id, m.step)
    ):
        out[run].append((step, ts, value))
    for points in out.values():
        points.sort(key=itemgetter(0, 1))
    return out


def _points_at(
    session: Session, key_id: int, wanted: Sequence[tuple[int, int]], *, last: bool
) -> dict[tuple[int, int, bool], Point]:
    """The first (or last) point logged at each (run, step), keyed by (run, step, last)."""
    if not wanted:
        return {}
    m = metrics_table.c
    pairs = set(wanted)
    # Two IN lists rather than a row-value IN: SQLite walks the (run, key, step) index with them.
    rows = plain_rows(
        session,
        select(m.run_id, m.step, m.timestamp, m.value).where(
            m.run_id.in_({r for r, _ in pairs}), m.key_id == key_id, m.step.in_({s for _, s in pairs})
        ),
    )
    out: dict[tuple[int, int, bool], Point] = {}
    for run, step, ts, value in rows:
        if (run, step) not in pairs:
            continue
        key = (int(run), int(step), last)
        seen = out.get(key)
        if seen is None or (ts > seen[1] if last else ts < seen[1]):
            out[key] = (int(step), int(ts), value)
    return out


def _edges(start: int | None, end: int | None, size: int) -> list[tuple[int, int]]:
    """The step ranges of the blocks of ``size`` steps that ``[start, end]`` covers only in part."""
    edges = []
    if start is not None and start % size:
        block_end = (start // size + 1) * size - 1
        edges.append((start, block_end if end is None else min(block_end, end)))
    if end is not None and (end + 1) % size:
        block_start = end // size * size
        edges.append((block_start if start is None else max(block_start, start), end))
    edges.sort()
    merged: list[tuple[int, int]] = []
    for lo, hi in edges:
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def downsample_grid(
    session: Session, run_ids: Sequence[int], key_ids: Sequence[int], max_points: int
) -> tuple[dict[tuple[int, int], list[Point] | None], set[tuple[int, int]]]:
    """:func:`downsample` of whole histories for every (run, key) of many runs and keys at once:
    what a batch of workspace panels draws. Reads the coarse summaries of every pair in one query
    and the end points of all of them in another.

    Returns the downsampled pairs (None where the history holds no more than ``max_points``
    points: the caller reads them all) and the pairs the coarse summaries cannot serve (blocks
    too few or too full for the buckets), which the caller downsamples with
    :func:`downsample_many`. Pairs without any point are in neither."""
    buckets = (max_points - 2) // 2
    runs, keys = sorted(set(run_ids)), sorted(set(key_ids))
    out: dict[tuple[int, int], list[Point] | None] = {}
    others: set[tuple[int, int]] = set()
    if not runs or not keys:
        return out, others
    b = COARSE.table
    where = (b.run_id.in_(runs), b.key_id.in_(keys))
    stats = plain_rows(
        session,
        select(b.run_id, b.key_id, func.sum(b.count), func.max(b.count), func.min(b.first_step), func.max(b.last_step))
        .where(*where)
        .group_by(b.run_id, b.key_id),
    )
    ready: dict[tuple[int, int], tuple[int, int, int]] = {}  # pair -> (total, first step, last step)
    for run, key, total, biggest, first, last in stats:
        found = (int(run), int(key))
        total = int(total)
        if total <= max_points:
            out[found] = None
        elif buckets and 2 * int(biggest) * buckets <= total:  # as in downsample_many, at this level
            ready[found] = (total, int(first), int(last))
        else:
            others.add(found)
    if not ready:
        return out, others
    ends = _ends(session, ready)
    rows = plain_rows(
        session,
        select(b.run_id, b.key_id, b.count, b.min_step, b.min_ts, b.min_value, b.max_step, b.max_ts, b.max_value)
        .where(*where)
        .order_by(b.run_id, b.key_id, b.block),
    )
    # _from_blocks over every pair's rows in one pass, with _lower and _higher inline: this loop
    # runs once per block summary of the batch (tens of thousands).
    pair: tuple[int, int] | None = None
    extremes: list[Point] = []
    per = 0.0
    before = 0
    bucket = -1
    low: Point = (0, 0, None)
    high: Point = (0, 0, None)

    def finish() -> None:
        if pair is None:
            return
        if bucket >= 0:
            extremes.append(low)
            extremes.append(high)
        first, last = ends[pair]
        out[pair] = _in_step_order([first, last, *extremes])

    for run, key, count, ls, lt, lv, hs, ht, hv in rows:
        if pair is None or run != pair[0] or key != pair[1]:
            finish()
            pair = (run, key) if (run, key) in ready else None
            if pair is None:
                continue
            extremes = []
            per = ready[pair][0] / buckets
            before, bucket = 0, -1
        at = int((before + count / 2) / per)
        if at >= buckets:
            at = buckets - 1
        before += count
        if at != bucket:
            if bucket >= 0:
                extremes.append(low)
                extremes.append(high)
            low, high, bucket = (ls, lt, lv), (hs, ht, hv), at
            continue
        # Blocks come in step order: on a tie of values the earlier point is the one held for
        # the minimum, the later one (this block's) wins the maximum.
        if lv is not None and (low[2] is None or lv < low[2]):
            low = (ls, lt, lv)
        if (hv is not None and (high[2] is None or hv >= high[2])) or (hv is None and high[2] is None):
            high = (hs, ht, hv)
    finish()
    return out, others


def _ends(
    session: Session, ready: dict[tuple[int, int], tuple[int, int, int]]
) -> dict[tuple[int, int], tuple[Point, Point]]:
    """The first point logged at each pair's first step and the last logged at its last step, in
    one query over every pair."""
    m = metrics_table.c
    steps = {s for _, first, last in ready.values() for s in (first, last)}
    rows = plain_rows(
        session,
        select(m.run_id, m.key_id, m.step, m.timestamp, m.value).where(
            m.run_id.in_({r for r, _ in ready}), m.key_id.in_({k for _, k in ready}), m.step.in_(steps)
        ),
    )
    firsts: dict[tuple[int, int], Point] = {}
    lasts: dict[tuple[int, int], Point] = {}
    for run, key, step, ts, value in rows:
        pair = (int(run), int(key))
        wanted = ready.get(pair)
        if wanted is None:
            continue
        point = (int(step), int(ts), value)
        if step == wanted[1]:
            seen = firsts.get(pair)
            if seen is None or ts < seen[1]:
                firsts[pair] = point
        if step == wanted[2]:
            seen = lasts.get(pair)
            if seen is None or ts > seen[1]:
                lasts[pair] = point
    return {pair: (firsts[pair], lasts[pair]) for pair in ready}


CHEAP_POINTS = 16  # a grid reads the points of a history of at most this many times its budget


def fine_budgets(session: Session, pairs: set[tuple[int, int]], max_points: int) -> dict[tuple[int, int], int]:
    """For the (run, key) pairs the coarse summaries cannot serve with ``max_points``: a smaller
    budget that the 32-step summaries can serve, for those whose history holds more than
    ``CHEAP_POINTS`` times ``max_points`` (reading their points would cost far more than the
    chart gains). Every bucket still gives its real minimum and maximum."""
    if not pairs:
        return {}
    b = FINE.table
    rows = plain_rows(
        session,
        select(b.run_id, b.key_id, func.count(), func.max(b.count), func.sum(b.count))
        .where(b.run_id.in_({r for r, _ in pairs}), b.key_id.in_({k for _, k in pairs}))
        .group_by(b.run_id, b.key_id),
    )
    out: dict[tuple[int, int], int] = {}
    for run, key, blocks, biggest, total in rows:
        pair, total = (int(run), int(key)), int(total)
        if pair not in pairs or total <= CHEAP_POINTS * max_points:
            continue
        # As downsample_many asks: two blocks or more a bucket, no block over half a bucket.
        buckets = min(int(blocks) // 2, total // (2 * int(biggest)))
        if 1 <= buckets < (max_points - 2) // 2:
            out[pair] = 2 * buckets + 2
    return out
