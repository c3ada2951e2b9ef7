"""More of what teams do with the stock mlflow 3 client, against a real ``runstone server``:
``mlflow.evaluate`` on a classifier, system metrics, and MLflow's own command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from e2e_support import Server, remote
from stock_client import mlflow_env, run_client

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def seen(server: Server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    # Sample system metrics every second, logging each sample, so a short run records some.
    fast = {"MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL": "1", "MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING": "1"}
    return run_client("mlflow3_extras", server.url, cwd=tmp_path_factory.mktemp("client"), env=fast, timeout=600)


def mlflow_cli(server: Server, *args: str, cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "mlflow", *args],
        capture_output=True,
        text=True,
        env=mlflow_env(server.url),
        cwd=cwd,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"mlflow {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_evaluate_logs_its_metrics_and_artifacts_to_the_run(server, seen):
    metrics = seen["evaluate_metrics"]
    assert metrics["accuracy_score"] > 0.9 and metrics["example_count"] == 150
    # What evaluate computed is what runstone stored on the run ...
    for key in ("accuracy_score", "f1_score", "log_loss", "roc_auc"):
        assert seen["stored_metrics"][key] == pytest.approx(metrics[key])
    assert {"confusion_matrix", "roc_curve_plot"} <= set(seen["evaluate_artifacts"])
    # ... and its plots are artifacts of the run, readable through runstone's SDK.
    with remote(server.url) as client:
        files = {f.path for f in client.list_artifacts(seen["evaluated"])}
    assert any("confusion_matrix" in f for f in files), files


def test_system_metrics_are_logged_as_metrics(seen):
    metrics = set(seen["system_metrics"])
    assert {"system/cpu_utilization_percentage", "system/system_memory_usage_megabytes"} <= metrics


def test_mlflows_command_line_reads_and_downloads_from_runstone(server, seen, tmp_path):
    listed = mlflow_cli(server, "runs", "list", "--experiment-id", seen["experiment_id"], cwd=tmp_path)
    assert seen["evaluated"] in listed and "evaluated" in listed
    searched = mlflow_cli(server, "experiments", "search", cwd=tmp_path)
    assert "stock-extras" in searched
    mlflow_cli(
        server, "artifacts", "download", "--run-id", seen["evaluated"], "--artifact-path", "notes.txt",
        "--dst-path", str(tmp_path / "got"), cwd=tmp_path,
    )  # fmt: skip
    assert (tmp_path / "got" / "notes.txt").read_text() == "evaluated on iris\n"
