"""Runs, params, tags, metrics and batches on SQLite and PostgreSQL."""

from __future__ import annotations

import math

import pytest

from runstone.entities import Dataset, Metric
from runstone.errors import InvalidInput, InvalidState, NotFound, PayloadTooLarge
from runstone.tracking import tags as T


def test_create_run_defaults(tracking, clock):
    run = tracking.create_run()
    assert run.info.experiment_id == "0"
    assert len(run.info.run_id) == 32 and int(run.info.run_id, 16) >= 0
    assert run.info.status == "RUNNING"
    assert run.info.start_time == clock.now
    assert run.info.end_time is None
    assert run.info.user_id == "tester"
    assert run.info.lifecycle_stage == "active"
    assert run.info.artifact_uri.endswith(f"/0/{run.info.run_id}/artifacts")
    name = run.info.run_name
    assert name.count("-") == 2, "generated names look like adjective-noun-123"


def test_create_run_with_everything(tracking):
    experiment_id = tracking.create_experiment("e")
    parent = tracking.create_run(experiment_id, run_name="parent")
    child = tracking.create_run(
        experiment_id,
        run_name="child",
        start_time=5,
        tags={"a": "b"},
        user_id="alice",
        parent_run_id=parent.info.run_id,
    )
    assert child.info.run_name == "child"
    assert child.info.start_time == 5
    assert child.info.user_id == "alice"
    assert child.data.tags == {"a": "b", T.PARENT_RUN_ID: parent.info.run_id}
    assert tracking.child_run_ids(parent.info.run_id) == [child.info.run_id]


def test_create_run_checks_its_references(tracking):
    with pytest.raises(NotFound, match="No experiment with id 99"):
        tracking.create_run("99")
    with pytest.raises(NotFound, match="No run with id 'missing'"):
        tracking.create_run("0", parent_run_id="missing")


def test_update_and_terminate(tracking, clock):
    run_id = tracking.create_run().info.run_id
    clock.advance(5000)
    run = tracking.update_run(run_id, status="finished", run_name="renamed")
    assert run.info.status == "FINISHED"
    assert run.info.end_time == clock.now
    assert run.info.run_name == "renamed"
    run = tracking.set_terminated(run_id, "FAILED", end_time=123)
    assert (run.info.status, run.info.end_time) == ("FAILED", 123)
    with pytest.raises(InvalidInput, match="Unknown run status 'DONE'"):
        tracking.update_run(run_id, status="DONE")


@pytest.mark.parametrize("status", ["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"])
def test_every_status(tracking, status):
    run_id = tracking.create_run().info.run_id
    assert tracking.update_run(run_id, status=status).info.status == status


def test_delete_restore_and_writes_to_deleted_runs(tracking):
    run_id = tracking.create_run().info.run_id
    tracking.delete_run(run_id)
    assert tracking.get_run(run_id).info.lifecycle_stage == "deleted"
    with pytest.raises(InvalidState, match="is deleted"):
        tracking.log_param(run_id, "a", "1")
    with pytest.raises(InvalidState, match="already deleted"):
        tracking.delete_run(run_id)
    tracking.restore_run(run_id)
    tracking.log_param(run_id, "a", "1")
    assert tracking.get_run(run_id).data.params == {"a": "1"}


def test_move_run_with_its_data(tracking):
    source = tracking.create_experiment("source")
    target = tracking.create_experiment("target")
    run_id = tracking.create_run(source).info.run_id
    tracking.log_batch(run_id, [Metric("loss", 0.5, 1, 0)], {"p": "1"}, {"t": "x"})
    tracking.log_inputs(run_id, [(Dataset("ds", "d" * 64, "memory", ""), {T.DATASET_CONTEXT: "training"})])
    moved = tracking.move_run(run_id, target)
    assert moved.info.experiment_id == target
    assert moved.data.metrics == {"loss": 0.5} and moved.data.params == {"p": "1"} and moved.data.tags == {"t": "x"}
    assert moved.inputs.dataset_inputs[0].dataset.name == "ds"
    assert [r.info.run_id for r in tracking.search_runs([target])] == [run_id]
    assert list(tracking.search_runs([source])) == []
    found = tracking.search_runs([target], "datasets.context = 'training'")
    assert [r.info.run_id for r in found] == [run_id]
    with pytest.raises(NotFound):
        tracking.move_run(run_id, "999")


def test_params_are_immutable(tracking):
    run_id = tracking.create_run().info.run_id
    tracking.log_param(run_id, "C", "1.0")
    tracking.log_param(run_id, "C", "1.0")  # same value: fine
    with pytest.raises(InvalidInput, match=r"Param 'C' .* is already '1.0'.*cannot become '2.0'") as info:
        tracking.log_param(run_id, "C", "2.0")
    assert info.value.details == {"key": "C", "old_value": "1.0", "new_value": "2.0"}
    with pytest.raises(InvalidInput, match="appears twice in one batch"):
        tracking.log_batch(run_id, params=[("x", "1"), ("x", "2")])


def test_value_length_limits(tracking):
    run_id = tracking.create_run().info.run_id
    tracking.log_param(run_id, "long", "p" * 6000)
    tracking.set_tag(run_id, "long", "t" * 8000)
    run = tracking.get_run(run_id)
    assert len(run.data.params["long"]) == 6000 and len(run.data.tags["long"]) == 8000
    with pytest.raises(InvalidInput, match="6001 characters long; the limit is 6000"):
        tracking.log_param(run_id, "too", "p" * 6001)
    with pytest.raises(InvalidInput, match="8001 characters long; the limit is 8000"):
        tracking.set_tag(run_id, "too", "t" * 8001)


@pytest.mark.parametrize("key", ["", "a" * 251, "bad!key", "../up", "/abs", "a/./b"])
def test_invalid_keys(tracking, key):
    run_id = tracking.create_run().info.run_id
    with pytest.raises(InvalidInput, match="key"):
        tracking.log_metric(run_id, key, 1.0)


def test_tags_overwrite_and_delete(tracking):
    run_id = tracking.create_run().info.run_id
    tracking.set_tag(run_id, "t", "1")
    tracking.set_tag(run_id, "t", "2")
    assert tracking.get_run(run_id).data.tags == {"t": "2"}
    tracking.delete_tag(run_id, "t")
    assert tracking.get_run(run_id).data.tags == {}
    with pytest.raises(NotFound, match="has no tag 't'"):
        tracking.delete_tag(run_id, "t")


def test_metrics_nan_and_infinity_round_trip(tracking):
    run_id = tracking.create_run().info.run_id
    tracking.log_batch(
        run_id,
        [Metric("nan", math.nan, 1, 0), Metric("pinf", math.inf, 1, 0), Metric("ninf", -math.inf, 1, 0)],
    )
    metrics = tracking.get_run(run_id).data.metrics
    assert math.isnan(metrics["nan"])
    assert metrics["pinf"] == math.inf and metrics["ninf"] == -math.inf
    history = tracking.get_metric_history(run_id, "pinf")
    assert history.values == [math.inf]


def test_latest_metric_is_highest_step_then_timestamp(tracking):
    run_id = tracking.create_run().info.run_id
    tracking.log_batch(run_id, [Metric("m", 5.0, 100, 3), Metric("m", 1.0, 200, 1)])
    assert tracking.get_run(run_id).data.metrics["m"] == 5.0
    tracking.log_batch(run_id, [Metric("m", 7.0, 50, 2)])  # an older step logged later does not win
    assert tracking.get_run(run_id).data.metrics["m"] == 5.0
    tracking.log_batch(run_id, [Metric("m", 9.0, 300, 3)])  # same step, newer timestamp wins
    assert tracking.get_run(run_id).data.metrics["m"] == 9.0


def test_of_points_tied_on_step_and_timestamp_in_one_batch_the_largest_value_is_the_latest(tracking):
    run_id = tracking.create_run().info.run_id
    tied = [Metric("a", 2.0, 10, 4), Metric("a", math.nan, 10, 4), Metric("a", 5.0, 10, 4), Metric("a", 3.0, 10, 4)]
    only_nan = [Metric("b", math.nan, 10, 4), Metric("b", 1.0, 9, 4), Metric("b", math.nan, 10, 4)]
    tracking.log_batch(run_id, [Metric("a", 8.0, 10, 3), *tied, *only_nan])  # two keys in one batch
    latest = tracking.get_run(run_id).data.metrics
    assert latest["a"] == 5.0 and math.isnan(latest["b"])
    assert tracking.get_metric_history(run_id, "a").values[0] == 8.0


def test_every_point_of_a_batch_is_stored_whatever_its_length(tracking):
    # Points are written many rows a statement; lengths around the statement size leave nothing out.
    run_id = tracking.create_run().info.run_id
    start = 0
    for length in (1, 127, 128, 129, 1000, 1037):
        tracking.log_batch(run_id, [Metric("m", float(s), 7, s) for s in range(start, start + length)])
        start += length
    history = tracking.get_metric_history(run_id, "m")
    assert history.steps == list(range(start)) and history.values == [float(s) for s in range(start)]


def test_batch_is_all_or_nothing(tracking):
    run_id = tracking.create_run().info.run_id
    tracking.log_param(run_id, "fixed", "1")
    with pytest.raises(InvalidInput, match="Param 'fixed'"):
        tracking.log_batch(run_id, [Metric("m", 1.0, 1, 0)], {"new": "x", "fixed": "2"}, {"t": "v"})
    run = tracking.get_run(run_id)
    assert run.data.metrics == {} and run.data.params == {"fixed": "1"} and run.data.tags == {}
    assert len(tracking.get_metric_history(run_id, "m")) == 0


def test_batch_size_limits(tracking):
    run_id = tracking.create_run().info.run_id
    with pytest.raises(PayloadTooLarge, match="at most 10000 metrics"):
        tracking.log_batch(run_id, [Metric("m", 1.0, 1, i) for i in range(10_001)])


@pytest.mark.parametrize(
    ("metric", "fragment"),
    [
        (Metric("m", "x", 1, 0), "must be a number"),  # type: ignore[arg-type]
        (Metric("m", True, 1, 0), "must be a number"),
        (Metric("m", 1.0, 1, math.nan), "step must be an integer"),  # type: ignore[arg-type]
        (Metric("m", 1.0, 1, 1.5), "step must be an integer"),  # type: ignore[arg-type]
        (Metric("m", 1.0, -1, 0), "timestamp -1 is out of range"),
        (Metric("m", 1.0, 1, 2**63), "out of range"),
    ],
)
def test_bad_metric_points(tracking, metric, fragment):
    run_id = tracking.create_run().info.run_id
    with pytest.raises(InvalidInput, match=fragment):
        tracking.log_batch(run_id, [metric])


def test_idempotency_key_applies_a_batch_once(tracking):
    run_id = tracking.create_run().info.run_id
    batch = [Metric("m", float(i), i, i) for i in range(10)]
    tracking.log_batch(run_id, batch, idempotency_key="key-000001")
    tracking.log_batch(run_id, batch, idempotency_key="key-000001")
    assert len(tracking.get_metric_history(run_id, "m")) == 10
    tracking.log_batch(run_id, batch, idempotency_key="key-000002")
    assert len(tracking.get_metric_history(run_id, "m")) == 20


def test_unknown_run(tracking):
    with pytest.raises(NotFound, match="No run with id 'f00'"):
        tracking.get_run("f00")
    with pytest.raises(NotFound):
        tracking.log_metric("f00", "m", 1.0)


def test_dataset_inputs_are_deduplicated(tracking):
    experiment_id = tracking.create_experiment("e")
    first = tracking.create_run(experiment_id).info.run_id
    second = tracking.create_run(experiment_id).info.run_id
    dataset = Dataset("iris", "a" * 64, "uri", "s3://b/iris.csv", '{"columns": []}', '{"num_rows": 150}')
    for run_id in (first, second, first):
        tracking.log_inputs(run_id, [(dataset, {T.DATASET_CONTEXT: "training"})])
    inputs = tracking.get_run(first).inputs.dataset_inputs
    assert len(inputs) == 1
    assert inputs[0].dataset == dataset and inputs[0].context == "training"
    with pytest.raises(InvalidInput, match="Dataset digest"):
        tracking.log_inputs(first, [(Dataset("x", "", "memory", ""), {})])


def test_resuming_a_finished_run_clears_its_end_time(tracking, clock):
    run_id = tracking.create_run().info.run_id
    tracking.set_terminated(run_id)
    resumed = tracking.update_run(run_id, status="RUNNING")
    assert resumed.info.status == "RUNNING"
    assert resumed.info.end_time is None
