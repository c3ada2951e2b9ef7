"""Stock mlflow client: log_model with registration, aliases, load by alias, stages, searches.

Run with MLFLOW_TRACKING_URI set; prints one JSON line of what it saw.
"""

from __future__ import annotations

import json
import warnings

import mlflow
import mlflow.sklearn
from mlflow import MlflowClient
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

# Stages are deprecated in MLflow but still served; the client warns on every call.
warnings.filterwarnings("ignore", category=FutureWarning)

mlflow.set_experiment("stock-models")
client = MlflowClient()
X, y = load_iris(return_X_y=True, as_frame=True)
versions = []
for c in (0.1, 1.0):
    with mlflow.start_run(run_name=f"train C={c}") as run:
        model = LogisticRegression(max_iter=500, C=c).fit(X, y)
        mlflow.log_metric("accuracy", model.score(X, y))
        # Given requirements spare the client its slow inference of them (a subprocess per model).
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            registered_model_name="iris-clf",
            input_example=X.head(2),
            pip_requirements=["scikit-learn"],
        )
        versions.append(info.registered_model_version)

client.set_registered_model_alias("iris-clf", "champion", versions[1])
loaded = mlflow.pyfunc.load_model("models:/iris-clf@champion")
predictions = loaded.predict(X.head(5)).tolist()
client.transition_model_version_stage("iris-clf", versions[0], "Staging")
client.transition_model_version_stage("iris-clf", versions[1], "Production", archive_existing_versions=True)
client.transition_model_version_stage("iris-clf", versions[0], "Production", archive_existing_versions=True)
stages = {v.version: v.current_stage for v in client.search_model_versions("name = 'iris-clf'")}
by_stage = mlflow.sklearn.load_model("models:/iris-clf/Production")
registered = client.search_registered_models(filter_string="name LIKE 'iris%'")
print(
    json.dumps(
        {
            "versions": versions,
            "predictions": predictions,
            "expected": model.predict(X.head(5)).tolist(),
            "stages": stages,
            "by_stage_C": by_stage.C,
            "registered": [m.name for m in registered],
            "aliases": registered[0].aliases,
            "sources": sorted(v.source for v in client.search_model_versions("name = 'iris-clf'")),
            "run_ids": sorted(v.run_id for v in client.search_model_versions("name = 'iris-clf'")),
        }
    )
)
