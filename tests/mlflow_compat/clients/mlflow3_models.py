"""Stock mlflow client: models logged as MLflow 3 does by default (``models:/m-<id>``): a
scikit-learn model with every default (skops format, inferred requirements), one with short
pinned requirements, and a Keras 3 model.

Run with MLFLOW_TRACKING_URI set; prints one JSON line of what it saw.
"""

from __future__ import annotations

import json

import keras
import mlflow
import mlflow.keras
import mlflow.sklearn
import numpy as np
import sklearn
import skops
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

mlflow.set_experiment("stock-mlflow3-models")
X, y = load_iris(return_X_y=True, as_frame=True)
X.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
with mlflow.start_run() as run:
    model = LogisticRegression(max_iter=500).fit(X, y)
    # Every default: MLflow 3.17 writes model.skops and infers the requirements.
    defaults = mlflow.sklearn.log_model(model, name="model", input_example=X.head(2))
    # Short pinned requirements, for rebuilding its environment quickly.
    pinned = mlflow.sklearn.log_model(
        model,
        name="pinned",
        input_example=X.head(2),
        pip_requirements=[f"scikit-learn=={sklearn.__version__}", f"skops=={skops.__version__}"],
    )

    keras.utils.set_random_seed(0)
    network = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    network.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    features = X.to_numpy("float32")
    network.fit(features, y.to_numpy(), epochs=2, verbose=0)
    probabilities = network.predict_on_batch(features[:5])
    keras_info = mlflow.keras.log_model(
        network,
        name="network",
        signature=mlflow.models.infer_signature(features[:2], probabilities[:2]),
        pip_requirements=["keras", "tensorflow-cpu"],
    )

print(
    json.dumps(
        {
            "run_id": run.info.run_id,
            "sklearn": defaults.model_uri,
            "sklearn_id": defaults.model_id,
            "pinned": pinned.model_uri,
            "keras": keras_info.model_uri,
            "rows": X.head(5).to_dict(orient="split"),
            "expected": model.predict(X.head(5)).tolist(),
            "probabilities": np.asarray(probabilities).tolist(),
        }
    )
)
