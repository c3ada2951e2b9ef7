"""Read models of the web UI, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from runstone.entities import Metric
from runstone.errors import InvalidInput, NotFound
from runstone.tracking.browse import BrowseService


@pytest.fixture
def browse(tracking):
    return BrowseService(tracking.ctx, tracking.root)


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


def test_previous_page_tokens_walk_back_over_missing_and_tied_values(tracking, browse):
    """Paging forward then back over an order with ties, NaN and runs without the metric gives the
    same pages, whatever the order."""
    exp = tracking.create_experiment("paged")
    for i in range(23):
        run_id = tracking.create_run(exp, start_time=1_000 + i % 5).info.run_id
        if i % 4:
            value = float("nan") if i % 7 == 0 else float(i % 6)  # ties, NaN, and no value at all
            tracking.log_batch(run_id, metrics=[Metric("loss", value, 1, 0)], params={"p": str(i % 3)})
    for order in ("metrics.loss ASC", "metrics.loss DESC", "params.p DESC", "attributes.start_time ASC"):
        pages, tokens, token = [], [None], None
        while True:
            page = tracking.search_runs([exp], None, None, 5, [order], token)
            pages.append([r.info.run_id for r in page])
            token = page.next_page_token
            if not token:
                break
            tokens.append(token)
        assert len(pages) == 5 and sum(map(len, pages)) == 23
        for k in range(1, len(tokens)):
            assert browse.previous_page_token(exp, None, None, 5, [order], tokens[k]) == tokens[k - 1], (order, k)


def test_count_runs_counts_every_page_of_a_filter(tracking, browse):
    exp = tracking.create_experiment("counted")
    for i in range(7):
        run_id = tracking.create_run(exp).info.run_id
        tracking.log_batch(run_id, metrics=[Metric("loss", i / 10, 1, 0)])
    tracking.delete_run(tracking.create_run(exp).info.run_id)

    assert browse.count_runs(exp, None) == 7
    assert browse.count_runs(exp, None, "all") == 8
    assert browse.count_runs(exp, "metrics.loss < 0.35") == 4
    assert browse.count_runs(exp, "metrics.unknown < 1") == 0
    with pytest.raises(InvalidInput, match="Invalid filter"):
        browse.count_runs(exp, "metrics.loss <")


def test_key_spread_says_which_keys_vary(tracking, browse):
    exp = tracking.create_experiment("spread")
    for i in range(3):
        run_id = tracking.create_run(exp).info.run_id
        tracking.log_batch(
            run_id,
            metrics=[Metric("loss", i / 10, 1, 0), Metric("same", 1.0, 1, 0)],
            params={"lr": str(i), "epochs": "10", **({"fold": "0"} if i else {})},
        )

    spread = browse.key_spread(exp)

    assert spread.sampled == 3
    assert {k.key: (k.runs, k.values, k.varies) for k in spread.metrics} == {
        "loss": (3, 3, True),
        "same": (3, 1, False),
    }
    assert {k.key: (k.runs, k.values) for k in spread.params} == {"lr": (3, 3), "epochs": (3, 1), "fold": (2, 1)}


def test_child_counts_and_single_point_metrics(tracking, browse):
    exp = tracking.create_experiment("family")
    parent = tracking.create_run(exp).info.run_id
    lone = tracking.create_run(exp).info.run_id
    for _ in range(3):
        tracking.create_run(exp, parent_run_id=parent)
    tracking.delete_run(tracking.create_run(exp, parent_run_id=parent).info.run_id)
    tracking.log_batch(
        parent,
        metrics=[
            Metric("final", 0.9, 5, 3),
            Metric("curve", 1.0, 1, 0),
            Metric("curve", 0.5, 2, 1),
            Metric("restarts", 1.0, 1, 0),
            Metric("restarts", 2.0, 2, 0),
        ],
    )

    assert browse.child_counts(exp, [parent, lone]) == {parent: 3}
    assert browse.child_counts(exp, [parent], "all") == {parent: 4}
    assert browse.single_point_metrics(parent) == ["final"]
    with pytest.raises(NotFound):
        browse.single_point_metrics("f" * 32)
