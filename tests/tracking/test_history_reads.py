"""The histories of many runs are read in a fixed number of queries, and read the same as one
run's history (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from runstone.entities import Metric
from runstone.errors import NotFound
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
