"""XGBoost: boosters and scikit-learn-API models in XGBoost's own format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xgboost as xgb
import yaml

import runstone.models
import runstone.xgboost


def test_a_booster_round_trips_in_ubj(tmp_path: Path, matrix) -> None:
    X, y = matrix
    booster = xgb.train({"max_depth": 2, "nthread": 1}, xgb.DMatrix(X, label=y), num_boost_round=5)

    runstone.xgboost.save_model(booster, tmp_path / "pkg", input_example=X[:3])

    assert (tmp_path / "pkg" / "model.ubj").is_file()
    assert not list((tmp_path / "pkg").glob("*.pkl"))
    native = runstone.xgboost.load_model(tmp_path / "pkg")
    assert isinstance(native, xgb.Booster)
    expected = booster.predict(xgb.DMatrix(X))
    np.testing.assert_array_equal(native.predict(xgb.DMatrix(X)), expected)
    np.testing.assert_array_equal(runstone.models.load_model(tmp_path / "pkg").predict(X), expected)


def test_a_classifier_comes_back_as_a_classifier(tmp_path: Path, table) -> None:
    X, y = table
    model = xgb.XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1).fit(X, y)

    runstone.xgboost.save_model(model, tmp_path / "pkg", input_example=X.head(2), model_format="json")

    manifest = yaml.safe_load((tmp_path / "pkg" / "MLmodel").read_text())
    assert manifest["flavors"]["xgboost"]["model_class"] == "xgboost.sklearn.XGBClassifier"
    assert manifest["flavors"]["xgboost"]["model_format"] == "json"
    assert manifest["flavors"]["python_function"]["loader_module"] == "mlflow.xgboost"
    native = runstone.xgboost.load_model(tmp_path / "pkg")
    assert isinstance(native, xgb.XGBClassifier)
    np.testing.assert_array_equal(native.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(runstone.models.load_model(tmp_path / "pkg").predict(X), model.predict(X))
    requirements = (tmp_path / "pkg" / "requirements.txt").read_text().splitlines()
    assert f"xgboost-cpu=={xgb.__version__}" in requirements


def test_log_model_and_load_through_runs_uri(table) -> None:
    X, y = table
    model = xgb.XGBRegressor(n_estimators=3, n_jobs=1).fit(X, y)

    with runstone.start_run():
        info = runstone.xgboost.log_model(model, "xgb")

    np.testing.assert_array_equal(runstone.xgboost.load_model(info.model_uri).predict(X), model.predict(X))
