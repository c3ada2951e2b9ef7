"""Downsampled histories, property-based over the real stores (SQLite and PostgreSQL).

Whatever the length (a handful of steps to hundreds of thousands), the spacing of the steps
(dense, strided, random gaps, bursts, repeated steps), the values (NaN, infinities) and the
range asked for, a downsampled history:

- returns every point when the range holds no more than ``max_points``;
- otherwise returns at most ``max_points`` real points, and close to that many: two per bucket
  of ``(max_points - 2) // 2`` (one per bucket at worst when NaN takes a bucket's place);
- starts at the first and ends at the last logged point of the range, in step order;
- holds the range's minimum and maximum, so a spike is never lost (given room for four points
  or more: two or three hold the ends only).
"""

from __future__ import annotations

import math
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runstone.entities import Metric

SPACINGS = ("dense", "strided", "random", "bursts", "repeated")


def _steps(length: int, spacing: str, rng: random.Random) -> list[int]:
    if spacing == "dense":
        return list(range(length))
    if spacing == "strided":
        return list(range(0, 10 * length, 10))
    if spacing == "random":
        steps, step = [], 0
        for _ in range(length):
            step += 1 + int(rng.expovariate(1 / 40))
            steps.append(step)
        return steps
    if spacing == "bursts":  # runs of consecutive steps far apart (a resumed run, an eval every epoch)
        steps, step = [], 0
        while len(steps) < length:
            burst = rng.randint(1, 3000)
            steps += range(step, step + burst)
            step += burst + rng.choice([1, 100, 10_000, 1_000_000])
        return steps[:length]
    return [i // 2 for i in range(length)]  # repeated: every step logged twice


def _values(length: int, nan_rate: float, infinities: bool, rng: random.Random) -> list[float]:
    values = [math.exp(-i / max(1, length / 5)) + rng.gauss(0, 0.05) for i in range(length)]
    for _ in range(max(1, length // 2000)):  # spikes a chart must show
        values[rng.randrange(length)] = rng.choice([50.0, -50.0])
    if infinities and length > 2:
        values[rng.randrange(length)] = math.inf
        values[rng.randrange(length)] = -math.inf
    for i in range(length):
        if rng.random() < nan_rate:
            values[i] = math.nan
    return values


series = st.fixed_dictionaries(
    {
        "length": st.integers(1, 40_000) | st.sampled_from([1_001, 2_000, 16_001, 32_001, 40_000]),
        "spacing": st.sampled_from(SPACINGS),
        "nan_rate": st.sampled_from([0.0, 0.0, 0.02, 0.9]),
        "infinities": st.booleans(),
        "seed": st.integers(0, 2**32 - 1),
    }
)
requests = st.fixed_dictionaries(
    {
        "max_points": st.sampled_from([2, 3, 4, 10, 100, 1_000, 5_000]) | st.integers(2, 3_000),
        "start": st.none() | st.floats(0, 1),
        "end": st.none() | st.floats(0, 1),
    }
)


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=series, asks=st.lists(requests, min_size=3, max_size=3))
def test_downsampled_histories_keep_their_promises(tracking, data, asks):
    rng = random.Random(data["seed"])
    steps = _steps(data["length"], data["spacing"], rng)
    values = _values(len(steps), data["nan_rate"], data["infinities"], rng)
    logged = [(s, 1_000 + i, v) for i, (s, v) in enumerate(zip(steps, values, strict=True))]
    order = list(logged)
    rng.shuffle(order)  # points arrive in any order, across batches
    run_id = tracking.create_run().info.run_id
    for i in range(0, len(order), 10_000):
        tracking.log_batch(run_id, [Metric("loss", v, t, s) for s, t, v in order[i : i + 10_000]])

    for ask in asks:
        span = steps[-1] - steps[0]
        start = None if ask["start"] is None else steps[0] + int(ask["start"] * span)
        end = None if ask["end"] is None else steps[0] + int(ask["end"] * span)
        if start is not None and end is not None and start > end:
            start, end = end, start
        max_points = ask["max_points"]
        history = tracking.get_metric_history(run_id, "loss", max_points=max_points, start_step=start, end_step=end)
        inside = [p for p in logged if (start is None or p[0] >= start) and (end is None or p[0] <= end)]
        got = list(zip(history.steps, history.timestamps, history.values, strict=True))

        if len(inside) <= max_points:
            assert not history.downsampled
            assert [(s, t) for s, t, _ in got] == [(s, t) for s, t, _ in inside]
            continue

        assert history.downsampled
        assert len(got) <= max_points
        buckets = (max_points - 2) // 2
        if not any(math.isnan(v) for _, _, v in inside):
            assert len(got) >= 2 * buckets, f"{len(got)} points for max_points={max_points}"
        else:
            assert len(got) >= buckets
        by_time = {t: (s, v) for s, t, v in inside}
        for s, t, v in got:  # only real points of the range
            assert by_time[t][0] == s and _same(by_time[t][1], v)
        assert [(s, t) for s, t, _ in got] == sorted((s, t) for s, t, _ in got)  # in step order
        assert (got[0][0], got[0][1]) == (inside[0][0], inside[0][1])  # the first point
        assert got[-1][0] == inside[-1][0]  # ends at the last logged step
        numbers = [v for _, _, v in inside if not math.isnan(v)]
        shown = [v for _, _, v in got if not math.isnan(v)]
        if numbers and max_points >= 4:  # 2 or 3 points leave room for the ends only
            assert min(numbers) in shown and max(numbers) in shown
