"""Stock mlflow client loading and searching a model that runstone's own SDK registered.

Run with MLFLOW_TRACKING_URI set; prints one JSON line of what it saw.
"""

from __future__ import annotations

import json
import warnings

import mlflow
from mlflow import MlflowClient
from sklearn.datasets import load_iris

warnings.filterwarnings("ignore", category=FutureWarning)  # stages are deprecated but still served
client = MlflowClient()
X, _ = load_iris(return_X_y=True, as_frame=True)
by_alias = mlflow.pyfunc.load_model("models:/native-clf@prod")
by_stage = mlflow.sklearn.load_model("models:/native-clf/Staging")
version = client.get_model_version_by_alias("native-clf", "prod")
registered = client.search_registered_models(filter_string="name = 'native-clf'")
print(
    json.dumps(
        {
            "predictions": by_alias.predict(X.head(5)).tolist(),
            "by_stage": by_stage.predict(X.head(5)).tolist(),
            "version": version.version,
            "run_id": version.run_id,
            "stage": version.current_stage,
            "aliases": registered[0].aliases,
            "versions": [v.version for v in client.search_model_versions("name = 'native-clf'")],
        }
    )
)
