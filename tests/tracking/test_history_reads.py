"""The histories of many runs are read in a fixed number of queries, and read the same as one
run's history (SQLite and PostgreSQL)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from runstone.entities import Metric
from runstone.errors import NotFound
from runstone.store.metric_blocks import CHEAP_POINTS
from runstone.tracking.browse import BrowseService


@contextmanager
def counted(engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def listener(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def _runs(tracking, count: int, points: Callable[[int], int]) -> list[str]:
    experiment_id = tracking.create_experiment(f"h{count}")
    run_ids = []
    for i in range(count):
        run_id = tracking.create_run(experiment_id).info.run_id
        tracking.log_batch(run_id, [Metric("loss", (i * 7 + s) % 11 / 10, 1000 + s, s) for s in range(points(i))])
        run_ids.append(run_id)
    return run_ids


def test_the_ui_history_read_of_50_runs_is_not_a_query_per_run(tracking):
    browse = BrowseService(tracking.ctx, tracking.root)
    run_ids = _runs(tracking, 50, lambda i: 5 + i)
    counts = {}
    for n in (5, 50):
        with counted(tracking.ctx.db.engine) as statements:
            found = browse.histories(run_ids[:n], "loss", max_points=1000)
        assert list(found) == run_ids[:n]
        counts[n] = len(statements)
    assert counts[50] == counts[5] <= 5, counts
    for run_id in run_ids:
        assert found[run_id] == tracking.get_metric_history(run_id, "loss", max_points=1000)


def test_long_histories_among_many_are_still_downsampled_like_one(tracking):
    run_ids = _runs(tracking, 6, lambda i: 3000 if i % 3 == 0 else 40)
    for start, end in ((None, None), (100, 2500), (0, 30)):
        found = tracking.get_metric_histories(run_ids, "loss", max_points=100, start_step=start, end_step=end)
        for run_id in run_ids:
            one = tracking.get_metric_history(run_id, "loss", max_points=100, start_step=start, end_step=end)
            assert found[run_id] == one
        assert found[run_ids[0]].downsampled == (start != 0)


def test_an_unknown_run_or_key(tracking):
    run_ids = _runs(tracking, 2, lambda i: 3)
    assert tracking.get_metric_histories(run_ids, "nope")[run_ids[0]].values == []
    with pytest.raises(NotFound, match=r"f{32}"):
        tracking.get_metric_histories([run_ids[0], "f" * 32], "loss")


def _shaped(tracking, keys: list[str]) -> list[str]:
    """Runs whose histories take every road of a read: a few points, a few hundred, thousands;
    NaN, ties, gaps in the steps, and several points at a step (the first and last ones too)."""
    experiment_id = tracking.create_experiment("grid")
    run_ids = []
    for i, length in enumerate((3, 40, 700, 3000, 6000)):
        run_id = tracking.create_run(experiment_id).info.run_id
        for k, key in enumerate(keys[: 1 + (i + 2) % len(keys)]):  # not every run has every key
            steps = list(range(0, length * (1 + k % 2), 1 + k % 2))  # every other step for some keys
            points = [
                Metric(key, float("nan") if s % 17 == 5 else (i * 7 + k + s) % 11 / 10, 1000 + s, s) for s in steps
            ]
            points += [Metric(key, -1.0 + k, 999, steps[0]), Metric(key, 2.0, 5000 + steps[-1], steps[-1])]
            points += [Metric(key, 0.55, 2000 + s, s) for s in steps[3::97]]
            for at in range(0, len(points), 1000):
                tracking.log_batch(run_id, points[at : at + 1000])
        run_ids.append(run_id)
    return run_ids


def test_a_batch_of_panels_reads_every_key_as_one_run_and_key_does(tracking):
    browse = BrowseService(tracking.ctx, tracking.root)
    keys = ["train/loss", "train/acc", "val/loss"]
    run_ids = _shaped(tracking, keys)
    for max_points in (2, 6, 12, 40, 100, 5000):
        grid = browse.history_grid(run_ids, [*keys, "nope"], max_points=max_points)
        assert list(grid) == [*keys, "nope"]
        for key in keys:
            assert list(grid[key]) == run_ids
            for run_id in run_ids:
                one = tracking.get_metric_history(run_id, key, max_points=max_points)
                got = grid[key][run_id]
                if got != one:  # a history too long to read point by point: fewer points
                    _is_a_cheaper_read(tracking, run_id, key, max_points, got)
        assert all(h.steps == [] for h in grid["nope"].values())
    assert any(h.downsampled for h in browse.history_grid(run_ids, keys, max_points=6)["train/loss"].values())


def _is_a_cheaper_read(tracking, run_id, key, max_points, got):
    """What a batch of panels gives for a history of more than CHEAP_POINTS times its budget
    that the coarse summaries cannot serve: one run's read at a smaller budget, spikes kept."""
    whole = tracking.get_metric_history(run_id, key)
    assert len(whole.steps) > CHEAP_POINTS * max_points, (key, max_points)
    assert got.downsampled and len(got.steps) < max_points
    assert any(got == tracking.get_metric_history(run_id, key, max_points=m) for m in range(4, max_points, 2))
    numbers = [v for v in whole.values if not math.isnan(v)]
    kept = [v for v in got.values if not math.isnan(v)]
    assert (min(kept), max(kept)) == (min(numbers), max(numbers))
    assert (got.steps[0], got.steps[-1]) == (whole.steps[0], whole.steps[-1])


def test_a_history_too_long_to_read_point_by_point_gets_what_its_summaries_can_give(tracking):
    browse = BrowseService(tracking.ctx, tracking.root)
    experiment_id = tracking.create_experiment("grid-long")
    run_id = tracking.create_run(experiment_id).info.run_id
    points = [Metric("loss", float("nan") if s % 29 == 3 else (s * 7) % 13 / 10, 1000 + s, s) for s in range(3000)]
    points[1234] = Metric("loss", 99.0, 1000 + 1234, 1234)  # a one-step spike
    for at in range(0, len(points), 1000):
        tracking.log_batch(run_id, points[at : at + 1000])
    got = browse.history_grid([run_id], ["loss"], max_points=100)["loss"][run_id]
    _is_a_cheaper_read(tracking, run_id, "loss", 100, got)
    assert 80 <= len(got.steps) < 100 and 99.0 in got.values
    # Within CHEAP_POINTS times the budget, the points are read: exactly what one run's read gives.
    assert browse.history_grid([run_id], ["loss"], max_points=400)["loss"][run_id] == tracking.get_metric_history(
        run_id, "loss", max_points=400
    )


def test_a_batch_of_panels_is_a_fixed_number_of_queries(tracking):
    browse = BrowseService(tracking.ctx, tracking.root)
    keys = [f"k{k}" for k in range(6)]
    experiment_id = tracking.create_experiment("grid-queries")
    run_ids = []
    for i in range(8):
        run_id = tracking.create_run(experiment_id).info.run_id
        for key in keys:
            tracking.log_batch(run_id, [Metric(key, (i + s) % 13 / 10, 1000 + s, s) for s in range(1100)])
        run_ids.append(run_id)
    counts = {}
    for runs, wanted in ((2, 1), (8, 6)):
        with counted(tracking.ctx.db.engine) as statements:
            found = browse.history_grid(run_ids[:runs], keys[:wanted], max_points=6)
        assert all(h.downsampled and len(h.steps) <= 6 for k in found for h in found[k].values())
        counts[(runs, wanted)] = len(statements)
    assert counts[(8, 6)] == counts[(2, 1)] <= 6, counts
