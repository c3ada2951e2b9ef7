"""Stock mlflow client: autologging of XGBoost, LightGBM and Keras, each on a small model trained
here, one run each.

Run with MLFLOW_TRACKING_URI set; prints one JSON line of what it saw.
"""

from __future__ import annotations

import json

import keras
import lightgbm as lgb
import mlflow
import numpy as np
import xgboost as xgb
from sklearn.datasets import load_iris

mlflow.set_experiment("stock-autolog")
X, y = load_iris(return_X_y=True)
seen = {}

mlflow.xgboost.autolog()
with mlflow.start_run(run_name="xgboost") as run:
    booster = xgb.train({"objective": "multi:softprob", "num_class": 3, "max_depth": 2}, xgb.DMatrix(X, y), 5,
                        evals=[(xgb.DMatrix(X, y), "train")])  # fmt: skip
seen["xgboost"] = {"run_id": run.info.run_id, "prediction": booster.predict(xgb.DMatrix(X[:3])).tolist()}
mlflow.xgboost.autolog(disable=True)

mlflow.lightgbm.autolog()
with mlflow.start_run(run_name="lightgbm") as run:
    data = lgb.Dataset(X, y)
    gbm = lgb.train({"objective": "multiclass", "num_class": 3, "num_leaves": 4, "verbose": -1}, data, 5,
                    valid_sets=[data], valid_names=["train"])  # fmt: skip
seen["lightgbm"] = {"run_id": run.info.run_id, "prediction": gbm.predict(X[:3]).tolist()}
mlflow.lightgbm.autolog(disable=True)

mlflow.keras.autolog()
keras.utils.set_random_seed(0)
network = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
network.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
with mlflow.start_run(run_name="keras") as run:
    network.fit(X.astype("float32"), y, epochs=3, batch_size=50, verbose=0)
seen["keras"] = {"run_id": run.info.run_id, "prediction": np.asarray(network(X[:3].astype("float32"))).tolist()}
mlflow.keras.autolog(disable=True)

client = mlflow.MlflowClient()
for entry in seen.values():
    models = client.search_logged_models(
        experiment_ids=[run.info.experiment_id], filter_string=f"source_run_id = '{entry['run_id']}'"
    )
    entry["models"] = [m.model_id for m in models]
print(json.dumps(seen))
