"""Cross-compatibility with the stock mlflow package, in both directions."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest
import xgboost as xgb
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import runstone.lightgbm
import runstone.models
import runstone.pyfunc
import runstone.sklearn
import runstone.xgboost

# Given, so that mlflow does not infer them in a subprocess (slow).
REQUIREMENTS = ["scikit-learn", "cloudpickle", "skops"]


@pytest.fixture
def mlflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    import mlflow

    return mlflow


def test_mlflow_loads_and_predicts_a_runstone_sklearn_model(tmp_path: Path, table, mlflow) -> None:
    X, y = table
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    runstone.sklearn.save_model(model, tmp_path / "pkg", input_example=X.head(2))

    loaded = mlflow.pyfunc.load_model(str(tmp_path / "pkg"))

    assert (loaded.predict(X) == model.predict(X)).all()
    assert loaded.metadata.get_input_schema().input_names() == ["x1", "x2", "n"]
    assert (mlflow.sklearn.load_model(str(tmp_path / "pkg")).predict(X) == model.predict(X)).all()


def test_mlflow_loads_a_runstone_xgboost_model(tmp_path: Path, table, mlflow) -> None:
    X, y = table
    model = xgb.XGBClassifier(n_estimators=3, n_jobs=1).fit(X, y)
    runstone.xgboost.save_model(model, tmp_path / "pkg")

    np.testing.assert_array_equal(mlflow.pyfunc.load_model(str(tmp_path / "pkg")).predict(X), model.predict(X))


@pytest.mark.parametrize("serialization_format", ["cloudpickle", "skops"])
def test_runstone_loads_and_predicts_an_mlflow_sklearn_model(
    tmp_path: Path, table, mlflow, serialization_format
) -> None:
    X, y = table
    X = X.astype("float64")  # mlflow warns about integer columns when it infers a signature
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    signature = mlflow.models.infer_signature(X, model.predict(X))
    mlflow.sklearn.save_model(
        model,
        str(tmp_path / "pkg"),
        signature=signature,
        serialization_format=serialization_format,
        pip_requirements=REQUIREMENTS,
    )

    loaded = runstone.models.load_model(tmp_path / "pkg")

    assert (loaded.predict(X) == model.predict(X)).all()
    assert loaded.signature is not None and loaded.signature.inputs is not None
    assert loaded.signature.inputs.names() == ["x1", "x2", "n"]
    assert (runstone.sklearn.load_model(tmp_path / "pkg").predict(X) == model.predict(X)).all()


def test_runstone_loads_a_model_logged_by_mlflow_to_a_file_store(table, mlflow) -> None:
    X, y = table
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model, name="model", serialization_format="cloudpickle", pip_requirements=REQUIREMENTS
        )
    local = mlflow.artifacts.download_artifacts(info.model_uri)

    assert (runstone.models.load_model(local).predict(X) == model.predict(X)).all()


class Doubler(runstone.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input * 2


def test_mlflow_loads_runstone_only_formats_through_runstones_loader(tmp_path: Path, table, mlflow) -> None:
    """A custom model and a LightGBM wrapper name runstone's loader modules; MLflow calls their
    ``_load_pyfunc`` where runstone is installed."""
    X, y = table
    runstone.pyfunc.save_model(tmp_path / "custom", python_model=Doubler())
    classifier = lgb.LGBMClassifier(n_estimators=3, verbose=-1, n_jobs=1).fit(X, y)
    runstone.lightgbm.save_model(classifier, tmp_path / "lgbm")

    assert mlflow.pyfunc.load_model(str(tmp_path / "custom")).predict(X[["x1"]])["x1"].tolist() == (X.x1 * 2).tolist()
    assert (mlflow.pyfunc.load_model(str(tmp_path / "lgbm")).predict(X) == classifier.predict(X)).all()


def test_mlflow_loads_runstone_keras_and_tensorflow_packages(tmp_path: Path, trained, mlflow) -> None:
    import keras
    import tensorflow as tf

    import runstone.keras
    import runstone.tensorflow

    X = np.random.RandomState(7).rand(5, 4).astype("float32")
    expected = trained.predict_on_batch(X)
    runstone.keras.save_model(trained, tmp_path / "keras", input_example=X[:2])
    runstone.tensorflow.save_model(trained, tmp_path / "tf-keras")

    class Scale(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
        def __call__(self, x):
            return x * 3.0

    runstone.tensorflow.save_model(Scale(), tmp_path / "module")

    import mlflow.keras
    import mlflow.tensorflow

    np.testing.assert_allclose(mlflow.pyfunc.load_model(str(tmp_path / "keras")).predict(X), expected, rtol=1e-6)
    assert isinstance(mlflow.keras.load_model(str(tmp_path / "keras")), keras.Model)
    np.testing.assert_allclose(mlflow.pyfunc.load_model(str(tmp_path / "tf-keras")).predict(X), expected, rtol=1e-6)
    native = mlflow.tensorflow.load_model(str(tmp_path / "tf-keras"))
    np.testing.assert_allclose(native.predict_on_batch(X), expected, rtol=1e-6)
    np.testing.assert_allclose(mlflow.pyfunc.load_model(str(tmp_path / "module")).predict(X), X * 3.0)


def test_runstone_loads_mlflow_keras_and_tensorflow_packages(tmp_path: Path, trained, mlflow) -> None:
    import keras
    import tensorflow as tf

    import runstone.keras
    import runstone.tensorflow

    X = np.random.RandomState(8).rand(5, 4).astype("float32")
    expected = trained.predict_on_batch(X)
    signature = mlflow.models.infer_signature(X, expected)
    import mlflow.keras
    import mlflow.tensorflow

    mlflow.keras.save_model(trained, str(tmp_path / "keras"), signature=signature, pip_requirements=["keras"])
    mlflow.keras.save_model(
        trained, str(tmp_path / "exported"), signature=signature, save_exported_model=True, pip_requirements=["keras"]
    )
    mlflow.tensorflow.save_model(trained, str(tmp_path / "tf-keras"), signature=signature, pip_requirements=["keras"])

    class Scale(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
        def __call__(self, x):
            return x * 3.0

    mlflow.tensorflow.save_model(Scale(), str(tmp_path / "module"), pip_requirements=["tensorflow"])

    for name in ("keras", "exported", "tf-keras"):
        loaded = runstone.models.load_model(tmp_path / name)
        np.testing.assert_allclose(loaded.predict(X), expected, rtol=1e-5, err_msg=name)
        assert loaded.signature is not None and loaded.signature.inputs is not None
    assert isinstance(runstone.keras.load_model(tmp_path / "keras"), keras.Model)
    assert isinstance(runstone.tensorflow.load_model(tmp_path / "tf-keras"), keras.Model)
    np.testing.assert_allclose(runstone.models.load_model(tmp_path / "module").predict(X), X * 3.0)
