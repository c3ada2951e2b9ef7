"""LightGBM: boosters and scikit-learn-API models with the trees in LightGBM's text format."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import yaml

import runstone.lightgbm
import runstone.models


def test_a_booster_round_trips_as_native_text(tmp_path: Path, matrix) -> None:
    X, y = matrix
    booster = lgb.train({"objective": "regression", "verbose": -1, "num_threads": 1}, lgb.Dataset(X, y), 5)

    runstone.lightgbm.save_model(booster, tmp_path / "pkg", input_example=X[:3])

    text = (tmp_path / "pkg" / "model.lgb").read_text()
    assert text.startswith("tree\n")
    manifest = yaml.safe_load((tmp_path / "pkg" / "MLmodel").read_text())
    assert manifest["flavors"]["lightgbm"]["model_class"] == "lightgbm.basic.Booster"
    assert manifest["flavors"]["python_function"]["loader_module"] == "mlflow.lightgbm"
    np.testing.assert_array_equal(runstone.lightgbm.load_model(tmp_path / "pkg").predict(X), booster.predict(X))
    np.testing.assert_array_equal(runstone.models.load_model(tmp_path / "pkg").predict(X), booster.predict(X))


def test_a_classifier_with_string_labels_comes_back_fitted(tmp_path: Path, table) -> None:
    X, y = table
    labels = np.where(y == 1, "fraud", "ok")
    model = lgb.LGBMClassifier(n_estimators=5, verbose=-1, n_jobs=1).fit(X, labels)

    runstone.lightgbm.save_model(model, tmp_path / "pkg", input_example=X.head(2))

    native = runstone.lightgbm.load_model(tmp_path / "pkg")
    assert isinstance(native, lgb.LGBMClassifier)
    assert list(native.classes_) == ["fraud", "ok"]
    np.testing.assert_array_equal(native.predict_proba(X), model.predict_proba(X))
    loaded = runstone.models.load_model(tmp_path / "pkg")
    assert loaded.loader_module == "runstone.lightgbm"
    assert list(loaded.predict(X)) == list(model.predict(X))
    # The trees are the native text model; the wrapper file holds no booster.
    assert (tmp_path / "pkg" / "model.lgb").read_text().startswith("tree\n")
    assert (tmp_path / "pkg" / "sklearn_wrapper.pkl").stat().st_size < (tmp_path / "pkg" / "model.lgb").stat().st_size
