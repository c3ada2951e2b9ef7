"""Stock mlflow client reading a run that runstone's own SDK logged (run id as the argument).

Run with MLFLOW_TRACKING_URI set and a work folder as the second argument; prints one JSON line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import mlflow
from mlflow import MlflowClient

run_id, work = sys.argv[1], sys.argv[2]
client = MlflowClient()
run = client.get_run(run_id)
frame = mlflow.search_runs(experiment_ids=[run.info.experiment_id], filter_string="tags.mlflow.runName = 'native'")
downloaded = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="notes/readme.txt", dst_path=work)
print(
    json.dumps(
        {
            "name": run.info.run_name,
            "status": run.info.status,
            "params": run.data.params,
            "metrics": run.data.metrics,
            "tags": run.data.tags,
            "history": [(m.step, m.value) for m in client.get_metric_history(run_id, "loss")],
            "found": list(frame["run_id"]),
            "artifact": Path(downloaded).read_text(),
        }
    )
)
