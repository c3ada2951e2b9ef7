"""runstone's own SDK: train, log and register a model, give it an alias and a stage.

Run with RUNSTONE_TRACKING_URI set; prints one JSON line of what it made.
"""

from __future__ import annotations

import json

from sklearn.datasets import load_iris
from sklearn.tree import DecisionTreeClassifier

import runstone
import runstone.sklearn

X, y = load_iris(return_X_y=True, as_frame=True)
runstone.set_experiment("native-models")
with runstone.start_run(run_name="native-train") as run:
    model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
    runstone.log_metric("accuracy", model.score(X, y))
    info = runstone.sklearn.log_model(model, "model", registered_model_name="native-clf", input_example=X.head(2))
client = runstone.RunstoneClient()
version = str(info.registered_model_version)
client.set_registered_model_alias("native-clf", "prod", version)
client.transition_model_version_stage("native-clf", version, "Staging")
print(json.dumps({"run_id": run.info.run_id, "version": version, "expected": model.predict(X.head(5)).tolist()}))
