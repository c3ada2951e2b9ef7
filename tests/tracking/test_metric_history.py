"""Metric history: full, ranged, and downsampled keeping each bucket's minimum and maximum."""

from __future__ import annotations

import math

import pytest

from runstone.entities import Metric
from runstone.errors import InvalidInput
from runstone.tracking.browse import BrowseService


def log_series(tracking, run_id, key, values, *, start_step=0):
    points = [Metric(key, float(v), 1000 + i, start_step + i) for i, v in enumerate(values)]
    for i in range(0, len(points), 10_000):
        tracking.log_batch(run_id, points[i : i + 10_000])


def test_full_history_in_step_order(tracking):
    run_id = tracking.create_run().info.run_id
    tracking.log_batch(run_id, [Metric("m", 3.0, 30, 3), Metric("m", 1.0, 10, 1), Metric("m", 2.0, 20, 2)])
    history = tracking.get_metric_history(run_id, "m")
    assert (history.steps, history.timestamps, history.values) == ([1, 2, 3], [10, 20, 30], [1.0, 2.0, 3.0])
    assert not history.downsampled
    assert len(tracking.get_metric_history(run_id, "unknown")) == 0


def test_points_of_a_step_logged_more_than_once_come_in_timestamp_order(tracking):
    # Logged newest first, in two batches: the order they were written in is not the answer.
    runs = [tracking.create_run().info.run_id for _ in range(2)]
    for run_id in runs:
        tracking.log_batch(run_id, [Metric("m", 9.0, 90, 1), Metric("m", 0.5, 5, 0), Metric("m", 7.0, 70, 1)])
        tracking.log_batch(run_id, [Metric("m", 3.0, 30, 1), Metric("m", 2.0, 20, 2)])
    expected = ([0, 1, 1, 1, 2], [5, 30, 70, 90, 20], [0.5, 3.0, 7.0, 9.0, 2.0])
    history = tracking.get_metric_history(runs[0], "m")
    assert (history.steps, history.timestamps, history.values) == expected
    for found in tracking.get_metric_histories(runs, "m").values():  # several runs read at once
        assert (found.steps, found.timestamps, found.values) == expected
    grid = BrowseService(tracking.ctx, tracking.root).history_grid(runs, ["m"], max_points=100)  # workspace panels
    for found in grid["m"].values():
        assert (found.steps, found.timestamps, found.values) == expected
    page = tracking.get_metric_history(runs[0], "m", limit=3)  # a page ends inside step 1
    assert (page.steps, page.timestamps) == ([0, 1, 1], [5, 30, 70])


def test_downsampling_keeps_spikes(tracking):
    run_id = tracking.create_run().info.run_id
    values = [1.0] * 20_000
    values[12_345] = 1000.0  # a single-step spike
    values[777] = -50.0  # and a dip
    log_series(tracking, run_id, "loss", values)
    history = tracking.get_metric_history(run_id, "loss", max_points=200)
    assert history.downsampled
    assert len(history) <= 200
    assert 1000.0 in history.values and -50.0 in history.values
    assert history.steps[history.values.index(1000.0)] == 12_345
    assert history.steps == sorted(history.steps)
    assert history.steps[0] == 0 and history.steps[-1] == 19_999


def test_no_downsampling_when_small(tracking):
    run_id = tracking.create_run().info.run_id
    log_series(tracking, run_id, "m", range(50))
    history = tracking.get_metric_history(run_id, "m", max_points=100)
    assert not history.downsampled and len(history) == 50


def test_step_range_zoom(tracking):
    run_id = tracking.create_run().info.run_id
    log_series(tracking, run_id, "m", range(1000))
    history = tracking.get_metric_history(run_id, "m", start_step=100, end_step=199)
    assert history.steps == list(range(100, 200))
    zoomed = tracking.get_metric_history(run_id, "m", max_points=10, start_step=500, end_step=599)
    assert len(zoomed) <= 10 and min(zoomed.steps) >= 500 and max(zoomed.steps) <= 599
    assert 500.0 in zoomed.values and 599.0 in zoomed.values  # the zoomed range's own extremes
    with pytest.raises(InvalidInput, match="start_step 10 is after end_step 5"):
        tracking.get_metric_history(run_id, "m", start_step=10, end_step=5)
    with pytest.raises(InvalidInput, match="max_points must be at least 2"):
        tracking.get_metric_history(run_id, "m", max_points=1)


def test_huge_step_values_do_not_overflow(tracking):
    run_id = tracking.create_run().info.run_id
    big = 2**62
    tracking.log_batch(run_id, [Metric("m", float(i), 1, big + i * 10**15) for i in range(100)])
    history = tracking.get_metric_history(run_id, "m", max_points=10)
    assert len(history) <= 10 and 0.0 in history.values and 99.0 in history.values


def test_nan_points_survive(tracking):
    run_id = tracking.create_run().info.run_id
    tracking.log_batch(run_id, [Metric("m", math.nan, 1, 0), Metric("m", 1.0, 2, 1)])
    history = tracking.get_metric_history(run_id, "m")
    assert math.isnan(history.values[0]) and history.values[1] == 1.0


def test_downsampling_properties_on_random_ranges(tracking):
    """Whatever the range: only real points, at most max_points, sorted and inside the range,
    and the range's own minimum and maximum are always there."""
    import random

    rng = random.Random(7)
    run_id = tracking.create_run().info.run_id
    steps = sorted(rng.sample(range(0, 60_000), 8_000))
    values = [rng.gauss(0, 1) for _ in steps]
    for i in rng.sample(range(len(values)), 40):
        values[i] = math.nan
    points = [Metric("m", v, 1000 + s, s) for s, v in zip(steps, values, strict=True)]
    for i in range(0, len(points), 1000):
        tracking.log_batch(run_id, points[i : i + 1000])
    logged = {(s, v) for s, v in zip(steps, values, strict=True) if not math.isnan(v)}
    for _ in range(25):
        start = rng.choice([None, rng.randrange(0, 60_000)])
        end = rng.choice([None, rng.randrange(start or 0, 60_000)])
        max_points = rng.choice([10, 64, 300, 2000])
        history = tracking.get_metric_history(run_id, "m", max_points=max_points, start_step=start, end_step=end)
        inside = [
            (s, v)
            for s, v in zip(steps, values, strict=True)
            if (start is None or s >= start) and (end is None or s <= end)
        ]
        if len(inside) <= max_points:
            assert not history.downsampled
            assert len(history) == len(inside)
            continue
        assert history.downsampled
        assert len(history) <= max_points
        assert history.steps == sorted(history.steps)
        assert all((start is None or s >= start) and (end is None or s <= end) for s in history.steps)
        shown = {(s, v) for s, v in zip(history.steps, history.values, strict=True) if not math.isnan(v)}
        assert shown <= logged
        finite = [(s, v) for s, v in inside if not math.isnan(v)]
        assert min(finite, key=lambda p: (p[1], p[0])) in shown
        assert max(finite, key=lambda p: (p[1], -p[0])) in shown


def test_blocks_merge_across_batches(tracking):
    """Points of one block arriving in several batches (in any order) keep its true extremes."""
    run_id = tracking.create_run().info.run_id
    tracking.log_batch(run_id, [Metric("m", 5.0, 1, s) for s in range(0, 1000, 2)])
    tracking.log_batch(run_id, [Metric("m", -3.0 if s == 501 else 1.0, 2, s) for s in range(1, 1000, 2)])
    tracking.log_batch(run_id, [Metric("m", 99.0, 3, 77)])
    history = tracking.get_metric_history(run_id, "m", max_points=8)
    assert (77, 99.0) in zip(history.steps, history.values, strict=True)
    assert (501, -3.0) in zip(history.steps, history.values, strict=True)


def test_a_page_is_the_first_points_from_a_step_on(tracking):
    run_id = tracking.create_run().info.run_id
    log_series(tracking, run_id, "m", range(100))
    page = tracking.get_metric_history(run_id, "m", start_step=40, limit=5)
    assert page.steps == [40, 41, 42, 43, 44] and page.values == [40.0, 41.0, 42.0, 43.0, 44.0]
    assert tracking.get_metric_history(run_id, "m", start_step=98, limit=5).steps == [98, 99]
    for bad in ({"limit": 0}, {"limit": 5, "max_points": 10}):
        with pytest.raises(InvalidInput, match="limit"):
            tracking.get_metric_history(run_id, "m", **bad)


@pytest.mark.parametrize("length", [1_001, 2_000, 50_000, 300_000])
def test_a_chart_gets_close_to_the_points_it_asks_for(tracking, length):
    """The defect this guards against: a 2,000-step history came back as 16 points, a 50,000-step
    one as 392, for a 1,000-point chart."""
    run_id = tracking.create_run().info.run_id
    values = [1 / (i + 1) for i in range(length)]
    values[length // 3] = 7.0
    log_series(tracking, run_id, "loss", values)
    history = tracking.get_metric_history(run_id, "loss", max_points=1000)
    assert history.downsampled
    assert 998 <= len(history) <= 1000
    assert history.steps[0] == 0 and history.steps[-1] == length - 1
    assert 7.0 in history.values and min(history.values) == values[-1]
    # The curve's shape: every point drawn is the logged value at its step.
    assert all(v == values[s] for s, v in zip(history.steps, history.values, strict=True))
