"""Stock mlflow client: autolog on a real training run, manual logging, log_batch, search, history.

Run with MLFLOW_TRACKING_URI set; prints one JSON line of what it saw.
"""

from __future__ import annotations

import json
import time

import mlflow
import mlflow.sklearn
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

mlflow.set_experiment("stock-tracking")
client = MlflowClient()

X, y = load_iris(return_X_y=True, as_frame=True)
# Autologging as teams turn it on: with its defaults, so the fitted model is logged as well.
mlflow.sklearn.autolog()
with mlflow.start_run(run_name="autologged") as auto:
    estimator = LogisticRegression(max_iter=500, C=0.5).fit(X, y)
mlflow.sklearn.autolog(disable=True)

with mlflow.start_run(run_name="parent") as parent:
    for c in (0.1, 1.0, 10.0):
        with mlflow.start_run(run_name=f"C={c}", nested=True) as child:
            mlflow.log_params({"C": c, "solver": "lbfgs"})
            for step in range(20):
                mlflow.log_metric("loss", c / (step + 1), step=step)
            mlflow.set_tags({"team": "vision", "C_tag": str(c)})
    now = int(time.time() * 1000)
    client.log_batch(
        parent.info.run_id,
        metrics=[Metric("batched", float(i), now + i, i) for i in range(500)],
        params=[Param(f"p{i}", str(i)) for i in range(50)],
        tags=[RunTag("source", "log_batch")],
    )

frame = mlflow.search_runs(
    experiment_names=["stock-tracking"],
    filter_string=f"params.solver = 'lbfgs' and metrics.loss < 1 and tags.mlflow.parentRunId = '{parent.info.run_id}'",
    order_by=["params.C DESC"],
)
history = client.get_metric_history(frame["run_id"].iloc[0], "loss")
auto_run = client.get_run(auto.info.run_id)
auto_models = [o.model_id for o in auto_run.outputs.model_outputs]
autologged = mlflow.pyfunc.load_model(f"models:/{auto_models[0]}")
print(
    json.dumps(
        {
            "type": type(frame).__name__,
            "columns": sorted(frame.columns),
            "names": list(frame["tags.mlflow.runName"]),
            "C": list(frame["params.C"]),
            "loss": list(frame["metrics.loss"]),
            "history": [(m.step, m.value) for m in history],
            "parent": parent.info.run_id,
            "children": list(frame["run_id"]),
            "auto": auto.info.run_id,
            "auto_params": auto_run.data.params,
            "auto_metrics": sorted(auto_run.data.metrics),
            "auto_inputs": [d.dataset.name for d in auto_run.inputs.dataset_inputs],
            "auto_models": auto_models,
            "auto_predictions": autologged.predict(X.head(5)).tolist(),
            "auto_expected": estimator.predict(X.head(5)).tolist(),
        }
    )
)
