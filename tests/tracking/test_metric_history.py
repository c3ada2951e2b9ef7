"""Metric history: full, ranged, and downsampled keeping each bucket's minimum and maximum."""

from __future__ import annotations

import math

import pytest

from runstone.entities import Metric
from runstone.errors import InvalidInput


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
