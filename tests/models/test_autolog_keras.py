"""Keras autologging: ``fit`` logs its arguments and the optimizer as params, each epoch's
metrics at step = epoch, the training data and, at the end, the model."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import yaml

import runstone
import runstone.keras
import runstone.models
import runstone.tensorflow


def network() -> Any:
    # Keras numbers same-named objects per process ("adam_1"); start from a clean slate so the
    # logged names do not depend on which tests ran before in this process.
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="mse", metrics=["mae"])
    return model


def test_fit_logs_params_epoch_metrics_the_dataset_and_the_model(matrix, client) -> None:
    X, y = matrix
    runstone.keras.autolog()
    model = network()
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=50)
    callbacks = [stop]

    with runstone.start_run() as run:
        history = model.fit(X, y, epochs=4, batch_size=16, validation_split=0.25, callbacks=callbacks, verbose=0)

    logged = client.get_run(run.info.run_id)
    params = logged.data.params
    assert (params["epochs"], params["batch_size"], params["validation_split"]) == ("4", "16", "0.25")
    assert params["optimizer_name"] == "adam"
    assert float(params["optimizer_learning_rate"]) == np.float32(0.02)
    assert params["early_stopping_patience"] == "50" and params["early_stopping_monitor"] == "val_loss"
    for name in ("loss", "mae", "val_loss", "val_mae"):
        points = client.get_metric_history(run.info.run_id, name)
        assert [p.step for p in points] == [0, 1, 2, 3]
        np.testing.assert_allclose([p.value for p in points], history.history[name], rtol=1e-6)
    assert logged.inputs.dataset_inputs[0].dataset.digest == runstone.data.from_numpy(X, targets=y).digest
    assert callbacks == [stop]  # the caller's list is not changed

    uri = f"runs:/{run.info.run_id}/model"
    loaded = runstone.models.load_model(uri)
    assert "keras" in loaded.metadata.flavors
    np.testing.assert_allclose(loaded.predict(X[:5]), model.predict_on_batch(X[:5]), rtol=1e-6)
    assert loaded.signature is not None and loaded.metadata.saved_input_example_info is not None


def test_without_an_active_run_fit_gets_a_run_of_its_own_and_the_tensorflow_flavor(matrix, client, tmp_path) -> None:
    X, y = matrix
    runstone.tensorflow.autolog()

    network().fit(X, y, epochs=2, verbose=0)

    run = runstone.last_active_run()
    assert run is not None and run.info.status == "FINISHED"
    assert len(client.get_metric_history(run.info.run_id, "loss")) == 2
    folder = runstone.models.download_model(f"runs:/{run.info.run_id}/model", tmp_path / "down")
    flavor = yaml.safe_load((folder / "MLmodel").read_text())["flavors"]["tensorflow"]
    assert flavor["model_type"] == "keras"


def test_nothing_is_logged_once_disabled_and_fit_is_keras_own_again() -> None:
    before = keras.Model.fit

    assert "keras" in runstone.autolog()
    assert keras.Model.fit is not before
    runstone.autolog(disable=True)

    assert keras.Model.fit is before
    network().fit(np.ones((4, 4), "float32"), np.ones(4, "float32"), epochs=1, verbose=0)
    assert runstone.last_active_run() is None
