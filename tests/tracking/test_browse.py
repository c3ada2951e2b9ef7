"""Read models of the web UI, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from runstone.entities import Metric
from runstone.errors import InvalidInput, NotFound
from runstone.tracking.browse import BrowseService


@pytest.fixture
def browse(tracking):
    return BrowseService(tracking)


def test_experiment_keys_are_those_of_its_runs_only(tracking, browse):
    mine = tracking.create_experiment("mine")
    other = tracking.create_experiment("other")
    a = tracking.create_run(mine, tags={"team": "x"}).info.run_id
    b = tracking.create_run(mine).info.run_id
    tracking.log_batch(a, metrics=[Metric("loss", 1.0, 1, 0)], params={"lr": "0.1"})
    tracking.log_batch(b, metrics=[Metric("acc", 1.0, 1, 0)], params={"depth": "3"})
    tracking.log_batch(
        tracking.create_run(other).info.run_id, metrics=[Metric("elsewhere", 1.0, 1, 0)], params={"x": "1"}
    )
    gone = tracking.create_run(mine).info.run_id
    tracking.log_batch(gone, metrics=[Metric("deleted_only", 1.0, 1, 0)])
    tracking.delete_run(gone)

    keys = browse.experiment_keys(mine)

    assert keys.metrics == ["acc", "loss"]
    assert keys.params == ["depth", "lr"]
    assert keys.tags == ["team"]
    assert "deleted_only" in browse.experiment_keys(mine, "all").metrics
    with pytest.raises(NotFound):
        browse.experiment_keys("999")


def test_activity_counts_active_runs_and_the_latest_run_time(tracking, browse, clock):
    exp = tracking.create_experiment("e")
    empty = tracking.create_experiment("empty")
    first = tracking.create_run(exp, start_time=1_000).info.run_id
    tracking.create_run(exp, start_time=2_000)
    tracking.set_terminated(first, end_time=5_000)
    tracking.delete_run(tracking.create_run(exp, start_time=9_000).info.run_id)

    found = browse.activity([exp, empty])

    assert found[exp].active_runs == 2
    assert found[exp].last_run_time == 5_000
    assert found[empty].active_runs == 0
    assert found[empty].last_run_time is None


def test_children_of_many_parents_in_one_call(tracking, browse):
    exp = tracking.create_experiment("e")
    p1 = tracking.create_run(exp).info.run_id
    p2 = tracking.create_run(exp).info.run_id
    kids = [tracking.create_run(exp, start_time=100 + i, parent_run_id=p1).info.run_id for i in range(3)]
    kid2 = tracking.create_run(exp, parent_run_id=p2, run_name="only").info.run_id
    tracking.log_batch(kids[0], params={"lr": "0.1", "other": "x"})

    found = browse.children(exp, [p1, p2], params=["lr"], metrics=[], tags=[])

    assert [r.info.run_id for r in found[p1]] == kids
    assert found[p1][0].data.params == {"lr": "0.1"}
    assert [r.info.run_id for r in found[p2]] == [kid2]
    assert [r.info.run_id for r in browse.children(exp, [p1], limit=2)[p1]] == kids[:2]


def test_runs_by_id_keep_the_order_asked(tracking, browse):
    exp = tracking.create_experiment("e")
    ids = [tracking.create_run(exp).info.run_id for _ in range(3)]

    assert [r.info.run_id for r in browse.runs([ids[2], ids[0], ids[2]])] == [ids[2], ids[0]]
    with pytest.raises(NotFound, match="No run with id"):
        browse.runs([ids[0], "0" * 32])
    refs = browse.run_refs([ids[1], "0" * 32])
    assert list(refs) == [ids[1]]
    assert refs[ids[1]].experiment_id == exp


def test_histories_of_several_runs(tracking, browse):
    exp = tracking.create_experiment("e")
    a = tracking.create_run(exp).info.run_id
    b = tracking.create_run(exp).info.run_id
    tracking.log_batch(a, metrics=[Metric("m", float(s), s, s) for s in range(100)])
    tracking.log_batch(b, metrics=[Metric("m", 1.0, 1, 0)])

    found = browse.histories([a, b, "0" * 32], "m", max_points=10)

    assert set(found) == {a, b}
    assert len(found[a]) <= 10 and found[a].downsampled
    assert found[b].values == [1.0]
    assert browse.histories([a], "m", start_step=10, end_step=12)[a].steps == [10, 11, 12]
    with pytest.raises(InvalidInput):
        browse.histories([a] * 101, "m")
