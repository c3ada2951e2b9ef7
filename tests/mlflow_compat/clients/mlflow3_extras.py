"""Stock mlflow client: mlflow.evaluate on a classifier, and system metrics logging.

Run with MLFLOW_TRACKING_URI set; prints one JSON line of what it saw.
"""

from __future__ import annotations

import json
import time

import mlflow
import mlflow.sklearn
from mlflow import MlflowClient
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

client = MlflowClient()
mlflow.set_experiment("stock-extras")
X, y = load_iris(return_X_y=True, as_frame=True)
data = X.assign(target=y)
with mlflow.start_run(run_name="evaluated") as evaluated:
    model = LogisticRegression(max_iter=500).fit(X, y)
    info = mlflow.sklearn.log_model(model, name="model", input_example=X.head(2))
    result = mlflow.models.evaluate(info.model_uri, data, targets="target", model_type="classifier")
    with open("notes.txt", "w") as f:
        f.write("evaluated on iris\n")
    mlflow.log_artifact("notes.txt")

with mlflow.start_run(run_name="system-metrics", log_system_metrics=True) as watched:
    deadline = time.time() + 4
    while time.time() < deadline:
        sum(i * i for i in range(10_000))

stored = client.get_run(evaluated.info.run_id).data.metrics
print(
    json.dumps(
        {
            "evaluated": evaluated.info.run_id,
            "experiment_id": evaluated.info.experiment_id,
            "evaluate_metrics": {k: v for k, v in result.metrics.items() if isinstance(v, (int, float))},
            "stored_metrics": stored,
            "evaluate_artifacts": sorted(result.artifacts),
            "system_metrics": sorted(client.get_run(watched.info.run_id).data.metrics),
        }
    )
)
