"""scikit-learn: estimators and pipelines saved, logged, loaded natively and as pyfunc."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

import runstone
import runstone.models
import runstone.sklearn
from runstone.errors import AlreadyExists, InvalidInput


def test_a_pipeline_round_trips_natively_and_as_pyfunc(tmp_path: Path, table) -> None:
    X, y = table
    # A lambda inside the pipeline: plain pickle cannot store it, cloudpickle (the default) can.
    pipeline = make_pipeline(FunctionTransformer(lambda v: v * 2.0), StandardScaler(), LogisticRegression()).fit(X, y)

    runstone.sklearn.save_model(pipeline, tmp_path / "pkg", input_example=X.head(3))

    native = runstone.sklearn.load_model(tmp_path / "pkg")
    assert (native.predict(X) == pipeline.predict(X)).all()
    loaded = runstone.models.load_model(tmp_path / "pkg")
    assert (loaded.predict(X) == pipeline.predict(X)).all()


def test_the_package_holds_mlflow_files_and_keys(tmp_path: Path, table) -> None:
    X, y = table
    model = LogisticRegression().fit(X, y)

    runstone.sklearn.save_model(model, tmp_path / "pkg", input_example=X.head(2), metadata={"team": "fraud"})

    files = sorted(p.name for p in (tmp_path / "pkg").iterdir())
    assert files == [
        "MLmodel",
        "input_example.json",
        "model.pkl",
        "output_example.json",
        "python_env.yaml",
        "requirements.txt",
        "serving_input_example.json",
    ]
    manifest = yaml.safe_load((tmp_path / "pkg" / "MLmodel").read_text())
    assert manifest["flavors"]["sklearn"]["serialization_format"] == "cloudpickle"
    assert manifest["flavors"]["python_function"]["loader_module"] == "mlflow.sklearn"
    assert manifest["flavors"]["python_function"]["env"] == {"virtualenv": "python_env.yaml"}
    assert manifest["runstone_version"] == runstone.__version__
    assert len(manifest["model_uuid"]) == 32
    created = dt.datetime.fromisoformat(manifest["utc_time_created"])
    assert abs(dt.datetime.now(dt.UTC).replace(tzinfo=None) - created) < dt.timedelta(minutes=5)
    assert manifest["metadata"] == {"team": "fraud"}
    assert manifest["model_size_bytes"] > 0
    assert json.loads(manifest["signature"]["inputs"]) == [
        {"type": "double", "name": "x1", "required": True},
        {"type": "double", "name": "x2", "required": True},
        {"type": "long", "name": "n", "required": True},
    ]
    assert json.loads(manifest["signature"]["outputs"]) == [
        {"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}
    ]
    assert json.loads((tmp_path / "pkg" / "input_example.json").read_text()) == {
        "columns": ["x1", "x2", "n"],
        "data": X.head(2).to_numpy(dtype=object).tolist(),
    }
    serving = json.loads((tmp_path / "pkg" / "serving_input_example.json").read_text())
    assert serving["dataframe_split"]["columns"] == ["x1", "x2", "n"]
    recorded = json.loads((tmp_path / "pkg" / "output_example.json").read_text())
    assert recorded == {"type": "ndarray", "dtype": "int64", "data": model.predict(X.head(2)).tolist()}


def test_pyfunc_enforces_the_signature(tmp_path: Path, table) -> None:
    X, y = table
    runstone.sklearn.save_model(LogisticRegression().fit(X, y), tmp_path / "pkg", input_example=X.head(2))
    loaded = runstone.models.load_model(tmp_path / "pkg")

    with pytest.raises(InvalidInput, match="missing column"):
        loaded.predict(X.drop(columns=["x2"]))
    with pytest.raises(InvalidInput, match="Column 'n' has type float64"):
        loaded.predict(X.assign(n=X.n + 0.5))
    assert len(loaded.predict(X.assign(n=X.n.astype("int32"))[["n", "x2", "x1"]])) == len(X)


def test_predict_fn_and_pickle_and_skops_formats(tmp_path: Path, table) -> None:
    X, y = table
    model = LogisticRegression().fit(X, y)

    runstone.sklearn.save_model(
        model, tmp_path / "proba", serialization_format="pickle", pyfunc_predict_fn="predict_proba"
    )
    runstone.sklearn.save_model(model, tmp_path / "skops", serialization_format="skops")

    np.testing.assert_array_equal(runstone.models.load_model(tmp_path / "proba").predict(X), model.predict_proba(X))
    np.testing.assert_array_equal(runstone.models.load_model(tmp_path / "skops").predict(X), model.predict(X))


def test_saving_into_a_non_empty_folder_is_refused(tmp_path: Path, table) -> None:
    X, y = table
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "notes.txt").write_text("keep me")

    with pytest.raises(AlreadyExists, match="not empty"):
        runstone.sklearn.save_model(LinearRegression().fit(X, y), tmp_path / "pkg")


def test_an_example_that_contradicts_the_given_signature_is_refused(tmp_path: Path, table) -> None:
    X, y = table
    signature = runstone.models.infer_signature(X)

    with pytest.raises(InvalidInput, match="does not fit the model's signature"):
        runstone.sklearn.save_model(
            LinearRegression().fit(X, y), tmp_path / "pkg", signature=signature, input_example=X.assign(n=X.n + 0.5)
        )


def test_log_model_uploads_into_the_run_and_returns_its_uri(table, client) -> None:
    X, y = table
    model = LogisticRegression().fit(X, y)

    with runstone.start_run() as run:
        info = runstone.sklearn.log_model(model, "classifier", input_example=X.head(2))

    assert info.model_uri == f"runs:/{run.info.run_id}/classifier"
    assert info.run_id == run.info.run_id
    assert info.artifact_path == "classifier"
    assert set(info.flavors) == {"sklearn", "python_function"}
    assert info.signature is not None and info.signature.inputs is not None
    listed = {f.path for f in client.list_artifacts(run.info.run_id, "classifier")}
    assert "classifier/MLmodel" in listed
    history = json.loads(client.get_run(run.info.run_id).data.tags["mlflow.log-model.history"])
    assert history[0]["artifact_path"] == "classifier"
    loaded = runstone.models.load_model(info.model_uri)
    assert loaded.metadata.run_id == run.info.run_id
    assert (loaded.predict(X) == model.predict(X)).all()


def test_log_model_without_a_run_starts_one(table) -> None:
    X, y = table

    info = runstone.sklearn.log_model(LinearRegression().fit(X, y), "model")

    active = runstone.active_run()
    assert active is not None and info.run_id == active.info.run_id
    runstone.end_run()


def test_frames_with_pandas_text_columns_round_trip(tmp_path: Path) -> None:
    X = pd.DataFrame({"city": ["a", "b", "a", "c"], "v": [1.0, 2.0, 3.0, 4.0]})
    pipeline = make_pipeline(
        FunctionTransformer(lambda f: f.assign(city=f.city.map({"a": 0, "b": 1, "c": 2}).fillna(-1))),
        LinearRegression(),
    ).fit(X, [1.0, 2.0, 3.0, 4.0])

    runstone.sklearn.save_model(pipeline, tmp_path / "pkg", input_example=X.head(2))

    manifest = runstone.models.load_model(tmp_path / "pkg")
    assert manifest.signature is not None and manifest.signature.inputs is not None
    assert manifest.signature.inputs.to_list()[0] == {"type": "string", "name": "city", "required": True}
    with pytest.raises(InvalidInput, match="Column 'city' has type int"):
        manifest.predict(pd.DataFrame({"city": [1], "v": [1.0]}))


def test_skops_trusts_the_operators_types_never_the_packages(tmp_path: Path, table, monkeypatch) -> None:
    import collections

    X, y = table
    model = LogisticRegression().fit(X, y)
    model.notes_ = collections.Counter(a=1)  # a type skops does not trust by default
    runstone.sklearn.save_model(model, tmp_path / "pkg", serialization_format="skops")
    # The package vouches for its own types, as MLflow's MLmodel may: that counts for nothing.
    manifest = yaml.safe_load((tmp_path / "pkg" / "MLmodel").read_text())
    manifest["flavors"]["sklearn"]["skops_trusted_types"] = ["collections.Counter"]
    (tmp_path / "pkg" / "MLmodel").write_text(yaml.safe_dump(manifest))

    with pytest.raises(InvalidInput, match=r"not trusted here: collections\.Counter.*RUNSTONE_SKOPS_TRUSTED_TYPES"):
        runstone.models.load_model(tmp_path / "pkg")

    monkeypatch.setenv("RUNSTONE_SKOPS_TRUSTED_TYPES", "collections.Counter")
    np.testing.assert_array_equal(runstone.models.load_model(tmp_path / "pkg").predict(X), model.predict(X))
