"""Dataset inputs (log_input), figures, dicts and the pandas output of search_runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from sqlalchemy import text

import runstone
from runstone.backend import Backend
from runstone.errors import InvalidInput
from runstone.sdk.client import RunstoneClient
from runstone.tracking import tags as T


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"x": [1.0, 2.0, 3.0, None], "y": ["a", "b", "c", "d"], "label": [0, 1, 0, 1]})


def test_log_input_records_name_digest_schema_profile_and_context(target: RunstoneClient) -> None:
    dataset = runstone.data.from_pandas(_frame(), name="iris", source="s3://bucket/iris.csv", targets="label")
    with runstone.start_run() as run:
        runstone.log_input(dataset, context="training")
        runstone.log_input(dataset, context="training")  # the same dataset again: still one input

    inputs = target.get_run(run.info.run_id).inputs.dataset_inputs
    assert len(inputs) == 1
    stored = inputs[0].dataset
    assert inputs[0].context == "training"
    assert inputs[0].tags[T.DATASET_CONTEXT] == "training"
    assert stored.name == "iris"
    assert stored.digest == runstone.data.from_pandas(_frame().copy()).digest
    assert len(stored.digest) == 64
    assert stored.source == "s3://bucket/iris.csv"
    assert stored.schema is not None
    assert stored.profile is not None
    schema = json.loads(stored.schema)
    assert schema["columns"] == [
        {"name": "x", "type": "float64"},
        {"name": "y", "type": str(_frame().dtypes["y"])},  # "object", or "str" in pandas 3
        {"name": "label", "type": "int64"},
    ]
    assert schema["targets"] == "label"
    profile = json.loads(stored.profile)
    assert profile["num_rows"] == 4
    assert profile["num_columns"] == 3
    assert profile["columns"]["x"] == {"dtype": "float64", "nulls": 1, "mean": 2.0, "std": 1.0, "min": 1.0, "max": 3.0}
    assert profile["columns"]["y"] == {"dtype": str(_frame().dtypes["y"]), "nulls": 0}


@pytest.mark.parametrize(
    "change",
    [
        lambda df: df.assign(x=[1.0, 2.0, 3.5, None]),
        lambda df: df.rename(columns={"y": "z"}),
        lambda df: df.astype({"label": "float64"}),
        lambda df: df.iloc[::-1],
        lambda df: df.iloc[:3],
    ],
    ids=["value", "column-name", "dtype", "row-order", "rows"],
)
def test_changed_data_gets_a_different_digest(change: Any) -> None:
    assert runstone.data.from_pandas(change(_frame())).digest != runstone.data.from_pandas(_frame()).digest


def test_the_same_data_in_two_runs_of_an_experiment_is_one_dataset(make_client: Any, backend: Backend) -> None:
    runstone.set_tracking_uri(make_client())

    def datasets() -> int:
        with backend.db.transaction() as s:
            return int(s.execute(text("SELECT count(*) FROM datasets")).scalar_one())

    runstone.set_experiment("data")
    with runstone.start_run():
        runstone.log_input(runstone.data.from_pandas(_frame(), name="iris"), context="training")
    with runstone.start_run():
        runstone.log_input(runstone.data.from_pandas(_frame().copy(), name="iris"), context="validation")
    assert datasets() == 1

    with runstone.start_run():
        runstone.log_input(runstone.data.from_pandas(_frame().assign(label=1), name="iris"), context="training")
    assert datasets() == 2


def test_search_by_dataset(target: RunstoneClient) -> None:
    runstone.set_experiment("data")
    iris = runstone.data.from_pandas(_frame(), name="iris")
    with runstone.start_run() as trained:
        runstone.log_input(iris, context="training")
    with runstone.start_run() as evaluated:
        runstone.log_input(iris, context="evaluation")
    with runstone.start_run():
        runstone.log_metric("unrelated", 1.0)

    def ids(filter_string: str) -> set[str]:
        return {r.info.run_id for r in runstone.search_runs(filter_string=filter_string)}

    assert ids("datasets.context = 'training'") == {trained.info.run_id}
    assert ids("datasets.name = 'iris'") == {trained.info.run_id, evaluated.info.run_id}
    assert ids(f"datasets.digest = '{iris.digest}'") == {trained.info.run_id, evaluated.info.run_id}
    assert ids("datasets.context IN ('evaluation', 'testing')") == {evaluated.info.run_id}


def test_log_input_takes_frames_arrays_and_files(target: RunstoneClient, tmp_path: Path) -> None:
    csv = tmp_path / "train.csv"
    _frame().to_csv(csv, index=False)
    with runstone.start_run() as run:
        runstone.log_input(_frame(), context="training")
        runstone.log_input(np.arange(12.0).reshape(4, 3), context="features")
        runstone.log_input(runstone.data.from_file(csv), context="raw")
        with pytest.raises(InvalidInput, match="Cannot log a dict as a dataset"):
            runstone.log_input({"x": 1})

    by_context = {i.context: i.dataset for i in target.get_run(run.info.run_id).inputs.dataset_inputs}
    assert set(by_context) == {"training", "features", "raw"}
    assert by_context["training"].name.startswith("dataset-")
    assert json.loads(by_context["features"].schema or "")["features"] == {"dtype": "float64", "shape": [4, 3]}
    assert json.loads(by_context["features"].profile or "")["features"]["max"] == 11.0
    assert by_context["raw"].name == "train"
    assert by_context["raw"].source == str(csv.resolve())
    assert json.loads(by_context["raw"].profile or "")["num_rows"] == 4


def test_log_figure_saves_a_matplotlib_figure(target: RunstoneClient, tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots()
    axes.plot([0, 1, 2], [2, 1, 0])
    try:
        with runstone.start_run() as run:
            runstone.log_figure(figure, "plots/curve.png")
            runstone.log_figure(figure, "curve.svg")
            with pytest.raises(InvalidInput, match="Cannot save a str"):
                runstone.log_figure("not a figure", "x.png")
    finally:
        plt.close(figure)

    rid = run.info.run_id
    assert [f.path for f in target.list_artifacts(rid, "plots")] == ["plots/curve.png"]
    png = Path(target.download_artifacts(rid, "plots/curve.png", tmp_path / "png")).read_bytes()
    assert png.startswith(b"\x89PNG")
    svg = Path(target.download_artifacts(rid, "curve.svg", tmp_path / "svg")).read_text()
    assert "<svg" in svg


def test_log_dict_as_json_and_yaml_and_log_text(target: RunstoneClient, tmp_path: Path) -> None:
    config = {"model": {"layers": [64, 32], "dropout": 0.1}, "name": "mlp"}
    with runstone.start_run() as run:
        runstone.log_dict(config, "config.json")
        runstone.log_dict(config, "config/model.yaml")
        runstone.log_text("ünïcode ✓\n", "notes/readme.md")

    rid = run.info.run_id
    as_json = Path(target.download_artifacts(rid, "config.json", tmp_path / "json")).read_text()
    assert json.loads(as_json) == config
    as_yaml = Path(target.download_artifacts(rid, "config/model.yaml", tmp_path / "yaml")).read_text()
    assert yaml.safe_load(as_yaml) == config
    notes = Path(target.download_artifacts(rid, "notes/readme.md", tmp_path / "notes"))
    assert notes.read_text(encoding="utf-8") == "ünïcode ✓\n"


def test_log_artifacts_uploads_a_folder(target: RunstoneClient, tmp_path: Path) -> None:
    folder = tmp_path / "out"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.txt").write_text("bb")
    with runstone.start_run() as run:
        runstone.log_artifacts(folder, "results")

    downloaded = Path(target.download_artifacts(run.info.run_id, "results", tmp_path / "down"))
    assert (downloaded / "a.txt").read_text() == "a"
    assert (downloaded / "sub" / "b.txt").read_text() == "bb"


def test_search_runs_as_a_pandas_frame(target: RunstoneClient) -> None:
    runstone.set_experiment("frame")
    with runstone.start_run(run_name="one") as one:
        runstone.log_metric("loss", 0.5)
        runstone.log_param("C", 1.0)
        runstone.set_tag("team", "vision")
    running = runstone.start_run(run_name="two")
    runstone.log_metric("loss", 0.25)

    frame = runstone.search_runs(order_by=["metrics.loss ASC"], output_format="pandas")

    assert isinstance(frame, pd.DataFrame)
    assert {"run_id", "experiment_id", "run_name", "status", "artifact_uri", "start_time", "end_time"} <= set(
        frame.columns
    )
    assert {"metrics.loss", "params.C", "tags.team"} <= set(frame.columns)
    assert list(frame["run_id"]) == [running.info.run_id, one.info.run_id]
    assert list(frame["metrics.loss"]) == [0.25, 0.5]
    assert list(frame["status"]) == ["RUNNING", "FINISHED"]
    assert frame["params.C"].iloc[1] == "1.0"
    assert pd.isna(frame["params.C"].iloc[0])
    assert pd.isna(frame["end_time"].iloc[0])
    assert frame["start_time"].iloc[1] == pd.Timestamp(one.info.start_time, unit="ms", tz="UTC")
    runstone.end_run()


def test_search_runs_with_no_match_gives_an_empty_frame_with_the_run_columns(target: RunstoneClient) -> None:
    runstone.set_experiment("empty")
    frame = runstone.search_runs(output_format="pandas")

    assert len(frame) == 0
    assert {"run_id", "experiment_id", "status", "start_time", "end_time"} <= set(frame.columns)
    with pytest.raises(InvalidInput, match="output_format"):
        runstone.search_runs(output_format="arrow")


def test_text_columns_digest_the_same_whatever_their_dtype():
    """pandas 3 reads text as ``str``, pandas 2 as ``object``: the same data, one digest."""
    import pandas as pd

    from runstone.data import from_pandas

    as_object = pd.DataFrame({"a": pd.Series(["x", "y"], dtype=object), "b": [1, 2]})
    as_string = pd.DataFrame({"a": pd.Series(["x", "y"], dtype="string"), "b": [1, 2]})
    assert from_pandas(as_object).digest == from_pandas(as_string).digest
