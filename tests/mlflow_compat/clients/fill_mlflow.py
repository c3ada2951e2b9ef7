"""Stock mlflow client filling a store with one of everything the import copies.

Run with MLFLOW_TRACKING_URI set; prints one JSON line naming what it made.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
import warnings
from pathlib import Path

import mlflow
import mlflow.data
import mlflow.sklearn
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Metric
from sklearn.linear_model import LinearRegression

warnings.filterwarnings("ignore", category=FutureWarning)  # stages are deprecated but still served
client = MlflowClient()
frame = pd.DataFrame({"x": [float(i) for i in range(20)], "y": [2.0 * i + 1 for i in range(20)]})

experiment_id = mlflow.set_experiment("churn").experiment_id
client.set_experiment_tag(experiment_id, "mlflow.note.content", "Churn models")
client.set_experiment_tag(experiment_id, "team", "growth")
with mlflow.start_run(run_name="sweep") as parent:
    mlflow.log_param("kind", "sweep")
    with mlflow.start_run(run_name="trial-1", nested=True) as trial:
        mlflow.log_params({"lr": 0.1, "depth": 3})
        now = int(time.time() * 1000)
        client.log_batch(trial.info.run_id, metrics=[Metric("loss", 1.0 / (s + 1), now + s, s) for s in range(300)])
        mlflow.log_metric("odd", math.nan, step=1)
        mlflow.set_tag("note", "first")
        mlflow.log_input(mlflow.data.from_pandas(frame, name="train"), context="training")
        mlflow.log_text("hello", "notes/hello.txt")
        mlflow.log_dict({"a": 1}, "config/params.json")
with mlflow.start_run(run_name="removed") as removed:
    mlflow.log_metric("m", 1.0)
client.delete_run(removed.info.run_id)

versions = []
for slope in (1.0, 2.0):
    with mlflow.start_run(run_name=f"fit-{slope}") as run:
        model = LinearRegression().fit(frame[["x"]], frame["y"] * slope)
        mlflow.log_metric("r2", model.score(frame[["x"]], frame["y"] * slope))
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            registered_model_name="churn-model",
            pip_requirements=["scikit-learn"],
            serialization_format="cloudpickle",
        )
        versions.append(info.registered_model_version)
client.set_registered_model_tag("churn-model", "owner", "growth")
client.update_registered_model("churn-model", description="Predicts churn")
client.set_model_version_tag("churn-model", versions[0], "validated", "yes")
client.set_registered_model_alias("churn-model", "champion", versions[1])
client.transition_model_version_stage("churn-model", versions[0], "Staging")
client.transition_model_version_stage("churn-model", versions[1], "Production")

deleted = mlflow.create_experiment("abandoned")
with mlflow.start_run(experiment_id=deleted, run_name="old"):
    mlflow.log_param("p", "1")
client.delete_experiment(deleted)

work = Path(tempfile.mkdtemp())
(work / "data.bin").write_bytes(bytes(range(256)) * 4096)
with mlflow.start_run(experiment_id=experiment_id, run_name="files") as files:
    mlflow.log_artifact(str(work / "data.bin"), "blobs")
print(
    json.dumps(
        {
            "experiment_id": experiment_id,
            "parent": parent.info.run_id,
            "trial": trial.info.run_id,
            "removed": removed.info.run_id,
            "files": files.info.run_id,
            "versions": versions,
        }
    )
)
