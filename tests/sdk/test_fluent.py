"""The fluent API (runstone.start_run, log_metric, ...) with MLflow's semantics.

Each test runs on the embedded store (no server, no configuration) and through the real HTTP
stack to a server on PostgreSQL (the ``target`` fixture).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from pathlib import Path
from typing import Any

import pytest

import runstone
from runstone.entities import RunStatus
from runstone.errors import InvalidInput, InvalidState
from runstone.sdk.client import RunstoneClient
from runstone.tracking import tags as T

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))


def _train(run_name: str, c: float, steps: int) -> str:
    with runstone.start_run(run_name=run_name) as run:
        runstone.log_params({"C": c, "penalty": "l2"})
        for step in range(steps):
            runstone.log_metric("loss", 1 / (step + 1), step=step)
    return run.info.run_id


def test_issue_example_works_as_written(target: RunstoneClient, workdir: Path, tmp_path: Path) -> None:
    Path("confusion.png").write_bytes(PNG)

    runstone.set_experiment("iris")
    with runstone.start_run(run_name="baseline") as run:
        runstone.log_params({"C": 1.0, "penalty": "l2"})
        for step in range(1000):
            runstone.log_metric("loss", 1 / (step + 1), step=step)
        runstone.set_tag("team", "vision")
        runstone.log_artifact("confusion.png")
        runstone.log_dict({"classes": 3}, "meta/config.json")
    # One run excluded by the param filter, one by the metric filter, one ranked before baseline.
    _train("other-c", 0.5, 1000)
    _train("short", 1.0, 10)
    better = _train("longer", 1.0, 2000)
    runs = runstone.search_runs(
        experiment_names=["iris"],
        filter_string="metrics.loss < 0.01 and params.C = '1.0'",
        order_by=["metrics.loss ASC"],
    )

    assert [r.info.run_id for r in runs] == [better, run.info.run_id]
    baseline = runs[1]
    assert baseline.info.run_name == "baseline"
    assert baseline.info.status == "FINISHED"
    assert baseline.info.end_time is not None
    assert baseline.data.params == {"C": "1.0", "penalty": "l2"}
    assert baseline.data.metrics == {"loss": 0.001}
    assert baseline.data.tags["team"] == "vision"
    history = target.get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in history] == list(range(1000))
    assert history[0].value == 1.0
    assert {f.path for f in target.list_artifacts(run.info.run_id)} == {"confusion.png", "meta"}
    png = target.download_artifacts(run.info.run_id, "confusion.png", tmp_path / "png")
    assert Path(png).read_bytes() == PNG
    config = target.download_artifacts(run.info.run_id, "meta/config.json", tmp_path / "meta")
    assert json.loads(Path(config).read_text()) == {"classes": 3}


def test_no_configuration_means_the_embedded_store_under_runstone_home(workdir: Path) -> None:
    home = Path(os.environ["RUNSTONE_HOME"])
    runstone.set_experiment("iris")
    with runstone.start_run() as run:
        runstone.log_text("hello", "notes.txt")

    assert runstone.get_tracking_uri() == str(home)
    assert (home / "runstone.db").is_file()
    assert list(home.glob(f"artifacts/**/{run.info.run_id}/**/notes.txt"))


def test_a_server_uri_from_the_environment_is_used(monkeypatch: pytest.MonkeyPatch, free_port: Any) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("RUNSTONE_TRACKING_URI", url)
    monkeypatch.setenv("RUNSTONE_HTTP_RETRIES", "0")

    assert runstone.get_tracking_uri() == url
    with pytest.warns(RuntimeWarning, match=rf"{url} is unreachable"):
        experiment = runstone.set_experiment("iris")  # offline: runs go to "iris" once it is back
    assert experiment.name == "iris"


def test_nested_runs_record_their_parent(target: RunstoneClient) -> None:
    with runstone.start_run(run_name="parent") as parent:
        with runstone.start_run(run_name="child", nested=True) as child:
            active = runstone.active_run()
            assert active is not None
            assert active.info.run_id == child.info.run_id
        active = runstone.active_run()
        assert active is not None
        assert active.info.run_id == parent.info.run_id
    orphan_child = runstone.start_run(parent_run_id=parent.info.run_id)
    runstone.end_run()

    assert runstone.active_run() is None
    assert target.get_run(child.info.run_id).data.tags[T.PARENT_RUN_ID] == parent.info.run_id
    assert target.get_run(orphan_child.info.run_id).data.tags[T.PARENT_RUN_ID] == parent.info.run_id
    assert T.PARENT_RUN_ID not in target.get_run(parent.info.run_id).data.tags
    assert sorted(target.get_child_run_ids(parent.info.run_id)) == sorted([child.info.run_id, orphan_child.info.run_id])
    assert target.get_run(child.info.run_id).info.status == "FINISHED"


def test_a_second_top_level_run_while_one_is_active_is_an_error(target: RunstoneClient) -> None:
    earlier = runstone.start_run()
    runstone.end_run()
    first = runstone.start_run()

    with pytest.raises(InvalidState, match=rf"{first.info.run_id} is already active.*nested=True"):
        runstone.start_run()
    with pytest.raises(InvalidState, match="already active"):
        runstone.start_run(run_id=earlier.info.run_id)

    active = runstone.active_run()
    assert active is not None
    assert active.info.run_id == first.info.run_id
    assert target.get_run(earlier.info.run_id).info.status == "FINISHED"


@pytest.mark.parametrize(
    ("error", "status"),
    [(None, "FINISHED"), (ValueError, "FAILED"), (KeyboardInterrupt, "KILLED")],
)
def test_the_context_manager_sets_the_final_status(
    target: RunstoneClient, error: type[BaseException] | None, status: str
) -> None:
    run_id = None
    with pytest.raises(error) if error else contextlib.nullcontext(), runstone.start_run() as run:
        run_id = run.info.run_id
        runstone.log_metric("loss", 0.5)
        if error:
            raise error("stop")

    assert run_id is not None
    ended = target.get_run(run_id)
    assert ended.info.status == status
    assert ended.info.end_time is not None
    assert ended.data.metrics == {"loss": 0.5}
    assert runstone.active_run() is None


def test_resuming_a_run_sets_it_running_and_knows_its_params(target: RunstoneClient) -> None:
    with runstone.start_run() as run:
        runstone.log_param("lr", 0.1)
        runstone.log_metric("loss", 1.0, step=0)
    assert target.get_run(run.info.run_id).info.status == "FINISHED"

    resumed = runstone.start_run(run_id=run.info.run_id)
    assert resumed.info.run_id == run.info.run_id
    assert resumed.info.status == "RUNNING"
    assert target.get_run(run.info.run_id).info.status == "RUNNING"
    runstone.log_param("lr", 0.1)  # the same value again is fine
    with pytest.raises(InvalidInput, match=r"Param 'lr' .* is already '0.1'.* cannot become '0.2'"):
        runstone.log_param("lr", 0.2)
    runstone.log_metric("loss", 0.5, step=1)
    runstone.end_run()

    final = target.get_run(run.info.run_id)
    assert final.info.status == "FINISHED"
    assert final.data.params == {"lr": "0.1"}
    assert [(m.step, m.value) for m in target.get_metric_history(run.info.run_id, "loss")] == [(0, 1.0), (1, 0.5)]


def test_a_conflicting_param_fails_at_the_call_and_writes_nothing_of_that_call(target: RunstoneClient) -> None:
    with runstone.start_run() as run:
        runstone.log_param("lr", 0.1)
        with pytest.raises(InvalidInput, match="params are immutable"):
            runstone.log_params({"epochs": 5, "lr": 0.2})
        runstone.log_param("batch", 32)

    assert target.get_run(run.info.run_id).data.params == {"lr": "0.1", "batch": "32"}


@pytest.mark.parametrize(
    ("value", "message"),
    [("0.5", "got the string '0.5'"), (True, "got a boolean"), (None, "got None"), ([1.0], r"got \[1.0\]")],
)
def test_a_bad_metric_value_fails_at_the_call(target: RunstoneClient, value: object, message: str) -> None:
    with runstone.start_run() as run:
        with pytest.raises(InvalidInput, match=f"Metric 'acc' value must be a number, {message}"):
            runstone.log_metric("acc", value)  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="must be a number"):
            runstone.log_metrics({"loss": 1.0, "acc": value})  # type: ignore[dict-item]
        with pytest.raises(InvalidInput, match="step must be an integer"):
            runstone.log_metric("acc", 1.0, step="3")  # type: ignore[arg-type]

    assert target.get_run(run.info.run_id).data.metrics == {}


def test_end_run_flushes_what_was_buffered(target: RunstoneClient) -> None:
    with runstone.start_run() as run:
        for step in range(50):
            runstone.log_metric("loss", float(step), step=step)
        runstone.set_tag("phase", "train")

    stored = target.get_run(run.info.run_id)
    assert stored.data.metrics == {"loss": 49.0}
    assert stored.data.tags["phase"] == "train"
    assert len(target.get_metric_history(run.info.run_id, "loss")) == 50


def test_get_run_and_last_active_run_see_everything_logged(target: RunstoneClient) -> None:
    assert runstone.last_active_run() is None
    with runstone.start_run() as run:
        runstone.log_metric("loss", 0.25)
        runstone.log_param("lr", 0.1)
        runstone.set_tags({"a": 1, "b": "two"})
        seen = runstone.get_run(run.info.run_id)
        assert seen.data.metrics == {"loss": 0.25}
        assert seen.data.params == {"lr": "0.1"}
        assert {"a": "1", "b": "two"}.items() <= seen.data.tags.items()
        current = runstone.last_active_run()
        assert current is not None
        assert current.data.metrics == {"loss": 0.25}

    assert runstone.active_run() is None
    last = runstone.last_active_run()
    assert last is not None
    assert last.info.run_id == run.info.run_id
    assert last.info.status == "FINISHED"


def test_delete_tag_after_set_tag(target: RunstoneClient) -> None:
    with runstone.start_run() as run:
        runstone.set_tag("keep", "yes")
        runstone.set_tag("drop", "soon")
        runstone.delete_tag("drop")

    tags = target.get_run(run.info.run_id).data.tags
    assert tags["keep"] == "yes"
    assert "drop" not in tags


def test_log_metrics_with_a_step(target: RunstoneClient) -> None:
    with runstone.start_run() as run:
        runstone.log_metrics({"loss": 0.5, "acc": 0.8}, step=3)
        runstone.log_metrics({"loss": 0.25, "acc": 0.9}, step=4, timestamp=1_700_000_000_000)

    rid = run.info.run_id
    assert [(m.step, m.value) for m in target.get_metric_history(rid, "loss")] == [(3, 0.5), (4, 0.25)]
    acc = target.get_metric_history(rid, "acc")
    assert [(m.step, m.value) for m in acc] == [(3, 0.8), (4, 0.9)]
    assert acc[1].timestamp == 1_700_000_000_000
    assert target.get_run(rid).data.metrics == {"loss": 0.25, "acc": 0.9}


def test_nan_and_infinities_round_trip(target: RunstoneClient) -> None:
    with runstone.start_run() as run:
        runstone.log_metric("x", float("nan"), step=0)
        runstone.log_metric("x", float("inf"), step=1)
        runstone.log_metric("x", float("-inf"), step=2)
        runstone.log_metric("y", float("nan"), step=0)

    values = [m.value for m in target.get_metric_history(run.info.run_id, "x")]
    assert math.isnan(values[0])
    assert values[1:] == [math.inf, -math.inf]
    latest = target.get_run(run.info.run_id).data.metrics
    assert latest["x"] == -math.inf
    assert math.isnan(latest["y"])


def test_logging_without_a_run_starts_one_in_the_active_experiment(target: RunstoneClient) -> None:
    experiment = runstone.set_experiment("auto")
    runstone.log_metric("loss", 1.0)
    active = runstone.active_run()
    assert active is not None
    runstone.end_run()

    assert target.get_run(active.info.run_id).info.experiment_id == experiment.experiment_id
    assert target.get_run(active.info.run_id).info.status == RunStatus.FINISHED.value


def test_set_experiment_by_id_and_deleted_experiments(target: RunstoneClient) -> None:
    experiment_id = runstone.create_experiment("kept")
    assert runstone.set_experiment(experiment_id=experiment_id).name == "kept"
    with pytest.raises(InvalidInput, match="exactly one"):
        runstone.set_experiment()
    target.delete_experiment(experiment_id)
    with pytest.raises(InvalidState, match="'kept' is deleted"):
        runstone.set_experiment("kept")


def test_resuming_checks_the_experiment_and_takes_a_new_name_tags_and_description(target: RunstoneClient) -> None:
    other = runstone.create_experiment("other")
    with runstone.start_run(run_name="first") as run:
        pass
    rid = run.info.run_id

    with pytest.raises(InvalidInput, match=f"Run {rid} belongs to experiment 0, not {other}"):
        runstone.start_run(run_id=rid, experiment_id=other)
    with pytest.raises(InvalidInput, match="8001 characters long"):
        runstone.start_run(run_id=rid, tags={"big": "x" * 8001})
    assert runstone.active_run() is None
    assert target.get_run(rid).info.status == "FINISHED"  # the refused resumes changed nothing

    resumed = runstone.start_run(run_id=rid, experiment_id="0", run_name="second", tags={"phase": 2},
                                 description="resumed after a crash")  # fmt: skip
    assert resumed.info.run_name == "second" and resumed.info.status == "RUNNING"
    assert resumed.data.tags["phase"] == "2"
    assert resumed.data.tags[T.NOTE] == "resumed after a crash"
    runstone.end_run()
    assert target.get_run(rid).info.run_name == "second"


def test_the_run_named_by_runstone_run_id_is_the_first_start_run_only(
    target: RunstoneClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = target.create_run("0", run_name="started-by-runstone-run").info.run_id
    monkeypatch.setenv("RUNSTONE_RUN_ID", given)
    runstone.set_tracking_uri(target)

    with runstone.start_run() as first:
        runstone.log_metric("loss", 0.5)
    with runstone.start_run() as second:
        pass

    assert first.info.run_id == given
    assert target.get_run(given).data.metrics == {"loss": 0.5}
    assert second.info.run_id != given
