"""Run search with the MLflow grammar, on SQLite and PostgreSQL."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import event

from runstone.entities import Dataset, Metric
from runstone.errors import InvalidInput, NotFound
from runstone.tracking import tags as T


@pytest.fixture
def populated(tracking, clock):
    """Five runs with distinct params, metrics and tags, started a second apart."""
    experiment_id = tracking.create_experiment("search")
    runs = {}
    specs = [
        ("r0", {"C": "0.1", "penalty": "l1"}, {"loss": 0.9, "acc": 0.5}, {"team": "vision"}),
        ("r1", {"C": "1.0", "penalty": "l2"}, {"loss": 0.005, "acc": 0.97}, {"team": "vision"}),
        ("r2", {"C": "1.0", "penalty": "l1"}, {"loss": 0.3, "acc": 0.8}, {"team": "NLP"}),
        ("r3", {"C": "10"}, {"loss": math.nan}, {}),
        ("r4", {}, {}, {"team": "zoo"}),
    ]
    for name, params, metrics, tags in specs:
        clock.advance(1000)
        run_id = tracking.create_run(experiment_id, run_name=name, tags=tags).info.run_id
        tracking.log_batch(run_id, [Metric(k, v, clock.now, 0) for k, v in metrics.items()], params)
        runs[name] = run_id
    return experiment_id, runs


def names(found):
    return [r.info.run_name for r in found]


def test_default_order_is_newest_first(tracking, populated):
    experiment_id, _ = populated
    assert names(tracking.search_runs([experiment_id])) == ["r4", "r3", "r2", "r1", "r0"]


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("metrics.loss < 0.01 and params.C = '1.0'", {"r1"}),
        ("metrics.loss <= 0.3", {"r1", "r2"}),
        ("metrics.loss > 0.3", {"r0"}),
        ("metrics.acc >= 0.8 and metrics.loss != 0.005", {"r2"}),
        ("params.C = '1.0'", {"r1", "r2"}),
        ("params.C != '1.0'", {"r0", "r3"}),  # runs without the param never match
        ("params.penalty LIKE 'l%'", {"r0", "r1", "r2"}),
        ("tags.team LIKE 'nlp'", set()),  # LIKE is case-sensitive
        ("tags.team ILIKE 'nlp'", {"r2"}),
        ("tags.team = 'vision'", {"r0", "r1"}),
        ("tags.team IS NULL", {"r3"}),
        ("params.C IS NOT NULL and tags.team IS NOT NULL", {"r0", "r1", "r2"}),
        ("metrics.acc IS NULL", {"r3", "r4"}),
        ("metrics.nothing IS NULL", {"r0", "r1", "r2", "r3", "r4"}),
        ("metrics.nothing > 1", set()),
        ("attributes.run_name = 'r3'", {"r3"}),
        ("run_name LIKE 'r%' and status = 'RUNNING'", {"r0", "r1", "r2", "r3", "r4"}),
        ("attributes.status != 'RUNNING'", set()),
        ("user_id = 'tester'", {"r0", "r1", "r2", "r3", "r4"}),
        ("metrics.`loss` < 0.01", {"r1"}),
        ("params.C IN ('1.0', '10')", {"r1", "r2", "r3"}),
        ("params.C NOT IN ('1.0')", {"r0", "r3"}),  # as with !=, runs without the param never match
        ("tags.team IN ('vision', 'zoo')", {"r0", "r1", "r4"}),
        ("tags.team NOT IN ('vision') and params.penalty IN ('l1')", {"r2"}),
    ],
)
def test_filters(tracking, populated, filter_string, expected):
    experiment_id, _ = populated
    assert set(names(tracking.search_runs([experiment_id], filter_string))) == expected


def test_run_id_in_and_time_filters(tracking, populated, clock):
    experiment_id, runs = populated
    found = tracking.search_runs([experiment_id], f"run_id IN ('{runs['r1']}', '{runs['r3']}')")
    assert set(names(found)) == {"r1", "r3"}
    found = tracking.search_runs([experiment_id], f"attributes.run_id NOT IN ('{runs['r1']}')")
    assert set(names(found)) == {"r0", "r2", "r3", "r4"}
    r2_start = tracking.get_run(runs["r2"]).info.start_time
    assert set(names(tracking.search_runs([experiment_id], f"start_time >= {r2_start}"))) == {"r2", "r3", "r4"}
    clock.advance(500)
    tracking.set_terminated(runs["r0"])
    assert names(tracking.search_runs([experiment_id], "end_time > 0")) == ["r0"]
    assert names(tracking.search_runs([experiment_id], "duration > 1000")) == ["r0"]


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        (["metrics.loss ASC"], ["r1", "r2", "r0", "r3", "r4"]),  # NaN after numbers, missing last
        (["metrics.loss DESC"], ["r0", "r2", "r1", "r3", "r4"]),
        # "0.1" < "1.0" = "1.0" (the tie goes to the newer run) < "10"; r4 has no C.
        (["params.C ASC"], ["r0", "r2", "r1", "r3", "r4"]),
        (["tags.team DESC", "run_name ASC"], ["r4", "r0", "r1", "r2", "r3"]),
        (["attributes.run_name ASC"], ["r0", "r1", "r2", "r3", "r4"]),
        (["start_time ASC"], ["r0", "r1", "r2", "r3", "r4"]),
    ],
)
def test_order_by(tracking, populated, order_by, expected):
    experiment_id, _ = populated
    assert names(tracking.search_runs([experiment_id], order_by=order_by)) == expected


@pytest.mark.parametrize("order_by", [[], ["metrics.loss ASC"], ["params.C DESC"], ["tags.team ASC", "end_time"]])
def test_keyset_paging_visits_every_run_once(tracking, populated, order_by):
    experiment_id, _ = populated
    everything = names(tracking.search_runs([experiment_id], order_by=order_by))
    seen = []
    token = None
    pages = 0
    while True:
        page = tracking.search_runs([experiment_id], order_by=order_by, max_results=2, page_token=token)
        seen += names(page)
        pages += 1
        token = page.next_page_token
        if token is None:
            break
    assert seen == everything
    assert pages == 3


def test_page_token_from_another_search_is_rejected(tracking, populated):
    experiment_id, _ = populated
    token = tracking.search_runs([experiment_id], max_results=1).next_page_token
    with pytest.raises(InvalidInput, match="different search"):
        tracking.search_runs([experiment_id], "params.C = '1.0'", max_results=1, page_token=token)
    with pytest.raises(InvalidInput, match="Invalid page token"):
        tracking.search_runs([experiment_id], page_token="nonsense")


def test_view_types_and_several_experiments(tracking, populated):
    experiment_id, runs = populated
    other = tracking.create_experiment("other")
    tracking.create_run(other, run_name="o1")
    tracking.delete_run(runs["r0"])
    assert "r0" not in names(tracking.search_runs([experiment_id]))
    assert names(tracking.search_runs([experiment_id], run_view_type="deleted_only")) == ["r0"]
    assert len(tracking.search_runs([experiment_id], run_view_type="all")) == 5
    both = tracking.search_runs([experiment_id, other], "run_name LIKE '%1'")
    assert set(names(both)) == {"r1", "o1"}
    by_name = tracking.search_runs(experiment_names=["search", "other"], filter_string="run_name = 'o1'")
    assert names(by_name) == ["o1"]
    with pytest.raises(NotFound, match="No experiment named 'nope'"):
        tracking.search_runs(experiment_names=["nope"])
    with pytest.raises(InvalidInput, match="at least one experiment"):
        tracking.search_runs([])


def test_dataset_filters(tracking, populated):
    experiment_id, runs = populated
    tracking.log_inputs(runs["r1"], [(Dataset("iris", "b" * 64, "memory", ""), {T.DATASET_CONTEXT: "training"})])
    assert names(tracking.search_runs([experiment_id], "datasets.name = 'iris'")) == ["r1"]
    assert names(tracking.search_runs([experiment_id], "datasets.context = 'training'")) == ["r1"]
    assert names(tracking.search_runs([experiment_id], f"datasets.digest LIKE '{'b' * 8}%'")) == ["r1"]


def test_projection_returns_only_requested_keys(tracking, populated):
    experiment_id, _ = populated
    run = tracking.search_runs([experiment_id], "run_name = 'r1'", metrics=["loss"], params=[], tags=["team"])[0]
    assert run.data.metrics == {"loss": 0.005}
    assert run.data.params == {}
    assert run.data.tags == {"team": "vision"}


def test_one_page_costs_a_fixed_number_of_queries(tracking, clock):
    """No N+1: the statement count does not grow with the page size."""
    experiment_id = tracking.create_experiment("many")
    for i in range(30):
        run_id = tracking.create_run(experiment_id, run_name=f"run{i}", tags={"t": str(i)}).info.run_id
        tracking.log_batch(run_id, [Metric("loss", i / 10, 1, 0), Metric("acc", 1 - i / 10, 1, 0)], {"p": str(i)})
    counts = {}
    for size in (3, 30):
        statements: list[str] = []

        def listener(*args, statements=statements):
            statements.append(args[2])

        event.listen(tracking.ctx.db.engine, "before_cursor_execute", listener)
        try:
            found = tracking.search_runs(
                [experiment_id],
                "metrics.loss >= 0 and params.p != 'x'",
                order_by=["metrics.acc DESC"],
                max_results=size,
            )
        finally:
            event.remove(tracking.ctx.db.engine, "before_cursor_execute", listener)
        assert len(found) == size
        counts[size] = len(statements)
    assert counts[3] == counts[30]
    assert counts[30] <= 10
