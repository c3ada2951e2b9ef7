"""Stock mlflow client: log_artifact(s) of a 100 MB file and a folder, then download_artifacts.

Run with MLFLOW_TRACKING_URI set and a work folder as the first argument; prints one JSON line.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import mlflow
from mlflow import MlflowClient

work = Path(sys.argv[1])
big = work / "big.bin"
with open(big, "wb") as f:
    for _ in range(100):
        f.write(os.urandom(1024 * 1024))
folder = work / "reports"
(folder / "nested").mkdir(parents=True)
(folder / "summary.txt").write_text("accuracy 0.97\n")
(folder / "nested" / "table.csv").write_text("a,b\n1,2\n")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


mlflow.set_experiment("stock-artifacts")
with mlflow.start_run(run_name="artifacts") as run:
    mlflow.log_artifact(str(big), "data")
    mlflow.log_artifacts(str(folder), "reports")
client = MlflowClient()
listed = [(f.path, f.is_dir, f.file_size) for f in client.list_artifacts(run.info.run_id, "data")]
downloaded = Path(mlflow.artifacts.download_artifacts(run_id=run.info.run_id, dst_path=str(work / "down")))
print(
    json.dumps(
        {
            "run_id": run.info.run_id,
            "artifact_uri": run.info.artifact_uri,
            "sha256": sha256(big),
            "listed": listed,
            "downloaded_sha256": sha256(downloaded / "data" / "big.bin"),
            "files": sorted(str(p.relative_to(downloaded)) for p in downloaded.rglob("*") if p.is_file()),
            "table": (downloaded / "reports" / "nested" / "table.csv").read_text(),
        }
    )
)
