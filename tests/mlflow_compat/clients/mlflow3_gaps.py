"""Stock mlflow client: nested runs, a dev -> prod copy of a registered version (also of one
runstone's SDK registered, named by argv[1] as models:/<name>/<version>), and the prompt registry.

Run with MLFLOW_TRACKING_URI set; prints one JSON line of what it saw.
"""

from __future__ import annotations

import json
import sys

import mlflow
import mlflow.sklearn
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

client = MlflowClient()
mlflow.set_experiment("stock-gaps")
X, y = load_iris(return_X_y=True, as_frame=True)
with mlflow.start_run(run_name="gaps-parent") as parent, mlflow.start_run(run_name="gaps-child", nested=True) as child:
    model = LogisticRegression(max_iter=500).fit(X, y)
    info = mlflow.sklearn.log_model(model, name="model", registered_model_name="dev-model")

copy = client.copy_model_version(f"models:/dev-model/{info.registered_model_version}", "prod-model")
copied_native = client.copy_model_version(sys.argv[1], "prod-native")
loaded = mlflow.pyfunc.load_model("models:/prod-model/1").predict(X.head(5))

# The model runstone's SDK logged (clients/native_model.py) is a logged model to MLflow too.
native_experiment = mlflow.get_experiment_by_name("native-models").experiment_id
native_models = mlflow.search_logged_models(experiment_ids=[native_experiment], output_format="list")
native_loaded = [mlflow.pyfunc.load_model(f"models:/{m.model_id}").predict(X.head(5)).tolist() for m in native_models]

try:
    mlflow.genai.register_prompt(name="greeting", template="Hello {{name}}")
    prompt_error = None
except MlflowException as exc:
    prompt_error = str(exc)
try:
    client.get_registered_model("greeting")
    prompt_model_left = True
except MlflowException:
    prompt_model_left = False

print(
    json.dumps(
        {
            "experiment_id": parent.info.experiment_id,
            "parent": parent.info.run_id,
            "child": child.info.run_id,
            "user": child.info.user_id,
            "model_id": info.model_id,
            "copy": {"name": copy.name, "version": copy.version, "source": copy.source, "tags": copy.tags},
            "copied_native": {"name": copied_native.name, "source": copied_native.source, "tags": copied_native.tags},
            "loaded": loaded.tolist(),
            "expected": model.predict(X.head(5)).tolist(),
            "native_models": [
                {"model_id": m.model_id, "name": m.name, "source_run_id": m.source_run_id, "status": str(m.status)}
                for m in native_models
            ],
            "native_loaded": native_loaded,
            "prompt_error": prompt_error,
            "prompt_model_left": prompt_model_left,
        }
    )
)
