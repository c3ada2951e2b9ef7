"""XGBoost and LightGBM autologging: native training and the scikit-learn APIs."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest
import xgboost as xgb

import runstone
import runstone.lightgbm
import runstone.models
import runstone.xgboost


def test_xgboost_train_logs_params_per_round_metrics_model_and_dataset(matrix, client) -> None:
    X, y = matrix
    runstone.xgboost.autolog()
    dtrain = xgb.DMatrix(X, label=y)

    with runstone.start_run() as run:
        booster = xgb.train(
            {"max_depth": 2, "eta": 0.3, "nthread": 1},
            dtrain,
            num_boost_round=6,
            evals=[(dtrain, "train")],
            verbose_eval=False,
        )

    logged = client.get_run(run.info.run_id)
    assert logged.data.params["max_depth"] == "2"
    assert logged.data.params["num_boost_round"] == "6"
    history = client.get_metric_history(run.info.run_id, "train-rmse")
    assert [m.step for m in history] == list(range(6))
    assert history[-1].value < history[0].value
    assert logged.inputs.dataset_inputs[0].dataset.digest == runstone.data.from_numpy(X, targets=y).digest
    loaded = runstone.models.load_model(f"runs:/{run.info.run_id}/model")
    np.testing.assert_array_equal(loaded.predict(X), booster.predict(xgb.DMatrix(X)))
    assert loaded.signature is not None


def test_xgboost_sklearn_api_logs_eval_history_and_the_classifier(table, client) -> None:
    X, y = table
    runstone.autolog()

    with runstone.start_run() as run:
        model = xgb.XGBClassifier(n_estimators=4, max_depth=2, n_jobs=1).fit(X, y, eval_set=[(X, y)], verbose=False)

    logged = client.get_run(run.info.run_id)
    assert logged.data.params["n_estimators"] == "4"
    assert len(client.get_metric_history(run.info.run_id, "validation_0-logloss")) == 4
    native = runstone.xgboost.load_model(f"runs:/{run.info.run_id}/model")
    assert isinstance(native, xgb.XGBClassifier)
    np.testing.assert_array_equal(native.predict(X), model.predict(X))


def test_lightgbm_train_logs_valid_set_metrics_best_iteration_and_model(matrix, client) -> None:
    X, y = matrix
    runstone.lightgbm.autolog()
    train = lgb.Dataset(X, y)
    valid = lgb.Dataset(X, y, reference=train)

    with runstone.start_run() as run:
        booster = lgb.train(
            {"objective": "regression", "verbose": -1, "num_threads": 1, "learning_rate": 0.2},
            train,
            num_boost_round=8,
            valid_sets=[valid],
            valid_names=["holdout"],
            callbacks=[lgb.early_stopping(2, verbose=False)],
        )

    logged = client.get_run(run.info.run_id)
    assert logged.data.params["learning_rate"] == "0.2"
    assert len(client.get_metric_history(run.info.run_id, "holdout-l2")) >= 2
    assert logged.data.metrics["best_iteration"] == booster.best_iteration
    assert logged.inputs.dataset_inputs[0].dataset.digest == runstone.data.from_numpy(X, targets=y).digest
    loaded = runstone.models.load_model(f"runs:/{run.info.run_id}/model")
    np.testing.assert_allclose(loaded.predict(X), booster.predict(X))


def test_lightgbm_sklearn_api_logs_without_an_active_run(table, client) -> None:
    X, y = table
    runstone.lightgbm.autolog()

    model = lgb.LGBMClassifier(n_estimators=3, verbose=-1, n_jobs=1).fit(X, y, eval_X=(X,), eval_y=(y,))

    run = runstone.last_active_run()
    assert run is not None and run.info.status == "FINISHED"
    assert len(client.get_metric_history(run.info.run_id, "valid_0-binary_logloss")) == 3
    native = runstone.lightgbm.load_model(f"runs:/{run.info.run_id}/model")
    np.testing.assert_array_equal(native.predict(X), model.predict(X))


@pytest.mark.parametrize("flavor", ["xgboost", "lightgbm"])
def test_disable_restores_the_training_functions(flavor: str) -> None:
    library = {"xgboost": xgb, "lightgbm": lgb}[flavor]
    before = (library.train, library.sklearn.__dict__[{"xgboost": "XGBModel", "lightgbm": "LGBMModel"}[flavor]].fit)

    runstone.autolog()
    runstone.autolog(disable=True)

    assert (
        library.train,
        library.sklearn.__dict__[{"xgboost": "XGBModel", "lightgbm": "LGBMModel"}[flavor]].fit,
    ) == before
