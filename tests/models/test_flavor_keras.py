"""Keras 3 and TensorFlow: .keras files, exported SavedModels and tf.Modules, loaded natively,
as generic models, served over HTTP and scored in batch.

TensorFlow is heavy: one tiny model is trained once for the session and shared.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
import yaml

import runstone.keras
import runstone.models
import runstone.tensorflow
from runstone.errors import InvalidInput


def features(rows: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.RandomState(seed).rand(rows, 4).astype("float32")


# ``trained`` (tests/models/conftest.py): a small Keras network trained once for the session.


class Doubler(tf.Module):
    def __init__(self) -> None:
        super().__init__()
        self.factor = tf.Variable(2.0)

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32)])
    def __call__(self, x: Any) -> Any:
        return x * self.factor


def manifest(path: Path) -> dict[str, Any]:
    return yaml.safe_load((path / "MLmodel").read_text())  # type: ignore[no-any-return]


def test_a_keras_model_round_trips_natively_and_as_pyfunc_with_the_signature_it_declares(tmp_path, trained):
    X = features(5, seed=1)
    expected = trained.predict_on_batch(X)

    runstone.keras.save_model(trained, tmp_path / "pkg")

    meta = manifest(tmp_path / "pkg")
    assert meta["flavors"]["keras"]["keras_version"] == keras.__version__
    assert meta["flavors"]["keras"]["save_exported_model"] is False
    assert meta["flavors"]["python_function"]["loader_module"] == "mlflow.keras"
    assert (tmp_path / "pkg" / "data" / "model.keras").is_file()
    assert (tmp_path / "pkg" / "data" / "keras_module.txt").read_text() == "keras"
    # No example given: the signature is the model's own input and output.
    signature = runstone.models.load_model(tmp_path / "pkg").signature
    assert signature is not None and signature.inputs is not None and signature.outputs is not None
    assert signature.inputs.to_list() == [{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}]
    assert signature.outputs.to_list() == [{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 1]}}]
    native = runstone.keras.load_model(tmp_path / "pkg")
    assert isinstance(native, keras.Model)
    np.testing.assert_allclose(native.predict_on_batch(X), expected, rtol=1e-6)
    loaded = runstone.models.load_model(tmp_path / "pkg")
    np.testing.assert_allclose(loaded.predict(X), expected, rtol=1e-6)
    with pytest.raises(InvalidInput, match=r"shape \(5, 3\) but the model's signature expects \(-1, 4\)"):
        loaded.predict(X[:, :3])


def test_the_requirements_pin_keras_and_the_backend_it_runs_on(tmp_path, trained):
    runstone.keras.save_model(trained, tmp_path / "pkg")

    pins = dict(line.split("==") for line in (tmp_path / "pkg" / "requirements.txt").read_text().splitlines())

    assert pins["keras"] == keras.__version__
    backend = next(name for name in pins if name.replace("_", "-").startswith("tensorflow"))
    assert pins[backend] == tf.__version__
    assert pins["numpy"] == np.__version__


def test_a_dataframe_example_gives_named_columns_and_the_frame_is_fed_as_the_models_dtype(tmp_path, trained):
    frame = pd.DataFrame(features(6, seed=2).astype("float64"), columns=["a", "b", "c", "d"])

    runstone.keras.save_model(trained, tmp_path / "pkg", input_example=frame.head(3))

    loaded = runstone.models.load_model(tmp_path / "pkg")
    assert loaded.signature is not None and loaded.signature.inputs is not None
    assert loaded.signature.inputs.names() == ["a", "b", "c", "d"]
    expected = trained.predict_on_batch(frame.to_numpy("float32"))
    np.testing.assert_allclose(loaded.predict(frame[["d", "c", "b", "a"]]), expected, rtol=1e-6)
    # The output on the example was recorded at save time, from the package as written.
    assert (tmp_path / "pkg" / "output_example.json").is_file()


def test_an_exported_savedmodel_predicts_what_the_keras_model_does(tmp_path, trained):
    X = features(4, seed=3)

    runstone.keras.save_model(trained, tmp_path / "pkg", save_exported_model=True, input_example=X[:2])

    assert (tmp_path / "pkg" / "data" / "model" / "saved_model.pb").is_file()
    assert manifest(tmp_path / "pkg")["flavors"]["keras"]["save_exported_model"] is True
    loaded = runstone.models.load_model(tmp_path / "pkg")
    np.testing.assert_allclose(loaded.predict(X), trained.predict_on_batch(X), rtol=1e-5)


def test_the_tensorflow_flavor_takes_keras_models_and_tf_modules(tmp_path, trained):
    X = features(3, seed=4)
    runstone.tensorflow.save_model(trained, tmp_path / "keras")
    runstone.tensorflow.save_model(Doubler(), tmp_path / "module")

    keras_meta = manifest(tmp_path / "keras")["flavors"]
    assert keras_meta["tensorflow"]["model_type"] == "keras"
    assert keras_meta["python_function"] == {**keras_meta["python_function"], "loader_module": "mlflow.tensorflow"}
    np.testing.assert_allclose(
        runstone.models.load_model(tmp_path / "keras").predict(X), trained.predict_on_batch(X), rtol=1e-6
    )
    assert isinstance(runstone.tensorflow.load_model(tmp_path / "keras"), keras.Model)

    module_meta = manifest(tmp_path / "module")
    assert module_meta["flavors"]["tensorflow"] == {
        **module_meta["flavors"]["tensorflow"],
        "model_type": "tf2-module",
        "saved_model_dir": "tf2model",
    }
    # The signature is the input signature of the module's __call__.
    assert yaml.safe_load(module_meta["signature"]["inputs"]) == [
        {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 3]}}
    ]
    loaded = runstone.models.load_model(tmp_path / "module")
    np.testing.assert_array_equal(loaded.predict(np.ones((2, 3), "float32")), np.full((2, 3), 2.0))
    native = runstone.tensorflow.load_model(tmp_path / "module")
    np.testing.assert_array_equal(native(tf.ones((1, 3))).numpy(), [[2.0, 2.0, 2.0]])


def test_saving_something_else_is_refused(tmp_path):
    with pytest.raises(InvalidInput, match=r"keras\.Model"):
        runstone.keras.save_model(object(), tmp_path / "a")
    with pytest.raises(InvalidInput, match=r"keras\.Model or a tf\.Module"):
        runstone.tensorflow.save_model(object(), tmp_path / "b")


def test_a_keras_model_is_served_from_json_and_scored_from_a_file(tmp_path, trained):
    from fastapi.testclient import TestClient

    from runstone.models.pyfunc_model import load_package
    from runstone.serving.app import ServingOptions, create_app
    from runstone.serving.batch import predict_file
    from runstone.serving.traffic import TrafficPolicy

    X = features(3, seed=5)
    runstone.keras.save_model(trained, tmp_path / "pkg", input_example=X[:2])
    expected = trained.predict_on_batch(X)

    app = create_app(ServingOptions(traffic=TrafficPolicy.single(str(tmp_path / "pkg"))))
    with TestClient(app) as client:
        # JSON has no float32: decimals are rounded to the nearest float32, as the signature asks.
        answer = client.post("/invocations", json={"inputs": X.astype("float64").round(6).tolist()})
        assert answer.status_code == 200, answer.text
        np.testing.assert_allclose(np.asarray(answer.json()["predictions"]), expected, rtol=1e-4)
        too_big = client.post("/invocations", json={"inputs": [[1e300, 0.0, 0.0, 0.0]]})
        assert too_big.status_code == 400 and "float32" in too_big.json()["message"]
        wrong = client.post("/invocations", json={"inputs": [[1.0, 2.0]]})
        assert wrong.status_code == 400 and "shape" in wrong.json()["message"]

    # A file of float32 columns, scored in chunks.
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    frame.to_parquet(tmp_path / "in.parquet")
    result = predict_file(
        load_package(tmp_path / "pkg"), tmp_path / "in.parquet", tmp_path / "out.parquet", chunk_size=2
    )
    assert (result.rows, result.chunks) == (3, 2)
    scored = pd.read_parquet(tmp_path / "out.parquet")
    # One value per row: the network's (rows, 1) answer is a plain column.
    np.testing.assert_allclose(scored["prediction"].to_numpy(), expected[:, 0], rtol=1e-6)


def test_a_package_pointing_outside_itself_is_refused(tmp_path, trained):
    runstone.keras.save_model(trained, tmp_path / "pkg")
    (tmp_path / "elsewhere").mkdir()
    meta = manifest(tmp_path / "pkg")
    meta["flavors"]["keras"]["data"] = "../elsewhere"
    (tmp_path / "pkg" / "MLmodel").write_text(yaml.safe_dump(meta))

    with pytest.raises(InvalidInput, match="outside the package"):
        runstone.models.load_model(tmp_path / "pkg")
    with pytest.raises(InvalidInput, match="outside the package"):
        runstone.keras.load_model(tmp_path / "pkg")
