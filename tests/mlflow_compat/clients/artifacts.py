"""Stock mlflow client: log_artifact(s) of a 100 MB file and a folder, a 25 MB file in parts,
then download_artifacts.

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
big, parts = work / "big.bin", work / "parts.bin"
for path, megabytes in ((big, 100), (parts, 25)):
    with open(path, "wb") as f:
        for _ in range(megabytes):
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
    # Below the client's multipart threshold (500 MB by default): one streamed PUT.
    mlflow.log_artifact(str(big), "data")
    mlflow.log_artifacts(str(folder), "reports")
    # From 10 MB on, the client asks the server (server-info) whether it takes uploads in parts,
    # and sends this file as three parts of at most 10 MB.
    os.environ["MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE"] = str(10 * 1024 * 1024)
    mlflow.log_artifact(str(parts), "parts")
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
            "parts_sha256": sha256(parts),
            "downloaded_parts_sha256": sha256(downloaded / "parts" / "parts.bin"),
            "files": sorted(str(p.relative_to(downloaded)) for p in downloaded.rglob("*") if p.is_file()),
            "table": (downloaded / "reports" / "nested" / "table.csv").read_text(),
        }
    )
)
