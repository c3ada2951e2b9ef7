"""scikit-learn autologging."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import runstone
import runstone.models
import runstone.sklearn


def test_a_fit_logs_params_metrics_model_and_dataset_in_its_own_run(table, client) -> None:
    X, y = table
    runstone.sklearn.autolog()

    model = LogisticRegression(C=0.5).fit(X, y)

    assert runstone.active_run() is None  # the run autolog started has ended with the fit
    run = runstone.last_active_run()
    assert run is not None and run.info.status == "FINISHED"
    run = client.get_run(run.info.run_id)
    assert run.data.params["C"] == "0.5"
    assert run.data.tags["estimator_class"] == "sklearn.linear_model._logistic.LogisticRegression"
    assert run.data.metrics["training_accuracy_score"] == pytest.approx(model.score(X, y))
    assert {"training_f1_score", "training_log_loss", "training_score"} <= set(run.data.metrics)
    [dataset] = run.inputs.dataset_inputs
    assert dataset.dataset.digest == runstone.data.from_pandas(X).digest
    assert dataset.context == "training"
    loaded = runstone.models.load_model(f"runs:/{run.info.run_id}/model")
    assert loaded.signature is not None and loaded.signature.inputs is not None
    assert loaded.signature.inputs.names() == ["x1", "x2", "n"]
    assert loaded.metadata.saved_input_example_info is not None
    assert (loaded.predict(X) == model.predict(X)).all()


def test_a_pipeline_is_logged_once_with_nested_params(table, client) -> None:
    X, y = table
    runstone.sklearn.autolog()

    with runstone.start_run() as run:
        Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]).fit(X, y)

    logged = client.get_run(run.info.run_id)
    assert logged.data.params["clf__C"] == "1.0"
    assert logged.data.tags["estimator_name"] == "Pipeline"
    assert [f.path for f in client.list_artifacts(run.info.run_id) if f.is_dir] == ["model"]
    assert len(logged.inputs.dataset_inputs) == 1


def test_per_iteration_curves_are_logged_by_step(matrix, client) -> None:
    X, y = matrix
    runstone.sklearn.autolog(log_models=False)

    with runstone.start_run() as run:
        # A large tolerance stops it after a few epochs, converged.
        mlp = MLPRegressor(hidden_layer_sizes=(4,), tol=10.0, n_iter_no_change=2, random_state=0).fit(X, y)
    with runstone.start_run() as gbr_run:
        GradientBoostingRegressor(n_estimators=4).fit(X, y)

    loss = client.get_metric_history(run.info.run_id, "training_loss")
    assert [m.step for m in loss] == list(range(len(mlp.loss_curve_)))
    assert [m.value for m in loss] == pytest.approx(mlp.loss_curve_)
    assert len(client.get_metric_history(gbr_run.info.run_id, "training_loss")) == 4
    assert client.list_artifacts(run.info.run_id) == []


def test_a_failing_fit_fails_its_run_and_raises(client) -> None:
    runstone.sklearn.autolog()

    with pytest.raises(ValueError, match="Found input variables with inconsistent numbers of samples"):
        LogisticRegression().fit(np.zeros((4, 2)), [0, 1])

    run = runstone.last_active_run()
    assert run is not None and run.info.status == "FAILED"


def test_disable_puts_the_original_fit_back(table) -> None:
    X, y = table
    original = LogisticRegression.fit

    runstone.sklearn.autolog()
    assert LogisticRegression.fit is not original
    runstone.sklearn.autolog(disable=True)

    assert LogisticRegression.fit is original
    LogisticRegression().fit(X, y)
    assert runstone.last_active_run() is None


def test_a_logging_failure_never_breaks_training(table, caplog: pytest.LogCaptureFixture) -> None:
    X, y = table
    runstone.sklearn.autolog()

    with runstone.start_run(), caplog.at_level(logging.WARNING, logger="runstone.autolog"):
        runstone.log_param("C", "something else")  # the autologged C=1.0 now conflicts
        model = LogisticRegression().fit(X, y)

    assert model.coef_.shape == (1, 3)
    assert "could not log params" in caplog.text
