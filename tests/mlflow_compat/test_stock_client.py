"""The stock mlflow client, unchanged, against a real ``runstone server``; and what it wrote,
seen through runstone's SDK, CLI and UI (and the reverse)."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from e2e_support import Server, Servers, remote, run_cli, run_python
from stock_client import CLIENTS, mlflow_env, run_client

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One runstone server for the module: each scenario writes its own experiment."""
    pool = Servers(tmp_path_factory.mktemp("servers"))
    try:
        yield pool.start()
    finally:
        pool.stop_all()


def test_tracking_scenarios(server: Server, tmp_path: Path):
    seen = run_client("tracking", server.url, cwd=tmp_path)
    # search_runs answers a pandas DataFrame, filtered and ordered by the server.
    assert seen["type"] == "DataFrame"
    assert seen["names"] == ["C=10.0", "C=1.0", "C=0.1"]
    assert seen["C"] == ["10.0", "1.0", "0.1"]
    assert seen["loss"] == pytest.approx([10 / 20, 1 / 20, 0.1 / 20])
    assert {"params.solver", "metrics.loss", "tags.team", "tags.mlflow.parentRunId"} <= set(seen["columns"])
    assert seen["history"] == [[step, pytest.approx(10 / (step + 1))] for step in range(20)]
    # Autologging of a real training run: parameters, training metrics and the dataset.
    assert seen["auto_params"]["C"] == "0.5" and seen["auto_params"]["max_iter"] == "500"
    assert {"training_accuracy_score", "training_log_loss"} <= set(seen["auto_metrics"])
    assert seen["auto_inputs"] == ["dataset"]
    # ... and the fitted model, logged as an MLflow 3 logged model of the run, loads and predicts.
    assert len(seen["auto_models"]) == 1 and seen["auto_predictions"] == seen["auto_expected"]

    # The same runs through runstone's own SDK ...
    with remote(server.url) as client:
        experiment = client.get_experiment_by_name("stock-tracking")
        children = client.search_runs([experiment.experiment_id], "tags.team = 'vision'", order_by=["params.C ASC"])
        assert [r.info.run_name for r in children] == ["C=0.1", "C=1.0", "C=10.0"]
        assert {r.data.tags["runstone.parentRunId"] for r in children} == {seen["parent"]}
        assert children[0].data.tags["team"] == "vision" and children[0].data.params["C"] == "0.1"
        assert len(client.get_metric_history(seen["children"][0], "loss")) == 20
        parent = client.get_run(seen["parent"])
        assert len(parent.data.params) == 50 and parent.data.tags["source"] == "log_batch"
        assert len(client.get_metric_history(seen["parent"], "batched")) == 500
        assert sorted(client.get_run(seen["auto"]).data.metrics) == sorted(seen["auto_metrics"])
        # The model autologging logged is runstone's to load as well.
        from sklearn.datasets import load_iris

        import runstone.models

        folder = client.download_logged_model_artifacts(seen["auto_models"][0], "", tmp_path / "autologged")
        features, _ = load_iris(return_X_y=True, as_frame=True)
        predicted = runstone.models.load_model(folder).predict(features.head(5))
        assert predicted.tolist() == seen["auto_expected"]
    # ... its CLI ...
    listed = run_cli("runs", "list", "--experiment", "stock-tracking", "--tracking-uri", server.url)
    assert listed.returncode == 0, listed.stderr
    assert all(name in listed.stdout for name in ("C=0.1", "C=1.0", "C=10.0", "parent", "autologged"))
    # ... and its web UI.
    page = httpx.get(f"{server.url}/ui/runs/{seen['children'][0]}", timeout=30)
    assert page.status_code == 200 and "C=10.0" in page.text
    # The autologged model lives outside the run's artifacts; the run page lists it with its files.
    page = httpx.get(f"{server.url}/ui/runs/{seen['auto']}", timeout=30).text
    models = page[page.index('id="logged-models"') :]
    assert "Logged models (1)" in models and seen["auto_models"][0] in models
    assert f"/api/v1/logged-models/{seen['auto_models'][0]}/artifacts/MLmodel" in models


def _requests(server: Server, fragment: str) -> list[tuple[str, int]]:
    """(method, status) of the requests the server logged whose path holds ``fragment``."""
    seen = []
    for line in server.log().splitlines():
        if line.startswith("{") and fragment in line:
            entry = json.loads(line)
            seen.append((entry["method"], entry["status"]))
    return seen


def test_artifacts_of_100_mb_round_trip(server: Server, tmp_path: Path):
    seen = run_client("artifacts", server.url, str(tmp_path), cwd=tmp_path)
    assert seen["artifact_uri"] == f"mlflow-artifacts:/{seen['artifact_uri'].split(':/', 1)[1]}"
    assert seen["listed"] == [["data/big.bin", False, 100 * 1024 * 1024]]
    assert seen["downloaded_sha256"] == seen["sha256"]
    assert seen["files"] == ["data/big.bin", "parts/parts.bin", "reports/nested/table.csv", "reports/summary.txt"]
    assert seen["table"] == "a,b\n1,2\n"
    # The 100 MB file went up in one PUT; the 25 MB one in three parts, joined by the server.
    run_key = f"{seen['run_id']}/artifacts"
    assert _requests(server, f"{run_key}/data/big.bin") == [("PUT", 200), ("GET", 200)]
    assert _requests(server, "/mlflow-artifacts/mpu/create/") == [("POST", 200)]
    assert _requests(server, "/mlflow-artifacts/mpu/part/") == [("PUT", 200)] * 3
    assert _requests(server, "/mlflow-artifacts/mpu/complete/") == [("POST", 200)]
    assert seen["downloaded_parts_sha256"] == seen["parts_sha256"]
    # runstone recorded what arrived: size and SHA-256 of the bytes the client sent.
    with remote(server.url) as client:
        files = {f.path: f for f in client.list_artifacts(seen["run_id"], "data")}
        assert files["data/big.bin"].file_size == 100 * 1024 * 1024
        (joined,) = client.list_artifacts(seen["run_id"], "parts")
        assert (joined.path, joined.file_size, joined.sha256) == (
            "parts/parts.bin",
            25 * 1024 * 1024,
            seen["parts_sha256"],
        )
        local = Path(client.download_artifacts(seen["run_id"], "reports/summary.txt", tmp_path / "native"))
        assert local.read_text() == "accuracy 0.97\n"
    stored = server.home / "artifacts"
    on_disk = next(stored.rglob("big.bin"))
    assert hashlib.sha256(on_disk.read_bytes()).hexdigest() == seen["sha256"]
    assert not list(stored.rglob("part-*"))  # no staged part is left behind
    # ... and runstone's CLI and web UI list them.
    listed = run_cli("artifacts", "list", seen["run_id"], "parts", "--tracking-uri", server.url)
    assert listed.returncode == 0 and "parts.bin" in listed.stdout, listed.stderr
    page = httpx.get(f"{server.url}/ui/runs/{seen['run_id']}/artifacts", params={"path": "data"}, timeout=30)
    assert page.status_code == 200 and "big.bin" in page.text


def test_model_registry_scenarios(server: Server, tmp_path: Path):
    seen = run_client("models", server.url, cwd=tmp_path)
    assert seen["versions"] == ["1", "2"]
    # The model loaded by alias predicts what the trained model predicts.
    assert seen["predictions"] == seen["expected"]
    assert seen["stages"] == {"1": "Production", "2": "Archived"}
    assert seen["by_stage_C"] == 0.1
    assert seen["registered"] == ["iris-clf"] and seen["aliases"] == {"champion": "2"}
    assert all(s.startswith("models:/m-") for s in seen["sources"])

    with remote(server.url) as client:
        champion = client.get_model_version_by_alias("iris-clf", "champion")
        assert champion.version == "2" and champion.run_id in seen["run_ids"]
        history = client.get_model_history("iris-clf", kind="stage", target="Production")
        assert [h.version for h in history] == ["2", "1"]
        versions = client.search_model_versions("name = 'iris-clf'")
        assert {v.version: v.current_stage for v in versions} == seen["stages"]
        # runstone's own loader takes what the stock client registered (its source is models:/m-...).
        from sklearn.datasets import load_iris

        import runstone.models

        features, _ = load_iris(return_X_y=True, as_frame=True)
        loaded = runstone.models.load_model("models:/iris-clf@champion", tmp_path / "loaded", client=client)
        assert loaded.predict(features.head(5)).tolist() == seen["expected"]
    shown = run_cli("registry", "show", "iris-clf", "--tracking-uri", server.url)
    assert shown.returncode == 0, shown.stderr
    assert "champion" in shown.stdout and "Production" in shown.stdout
    page = httpx.get(f"{server.url}/ui/models/iris-clf", timeout=30)
    assert page.status_code == 200 and "champion" in page.text and "Production" in page.text


def test_models_registered_by_runstone_are_loaded_by_the_stock_client(server: Server, tmp_path: Path):
    made = run_python(CLIENTS / "native_model.py", env=server.env(), timeout=300)
    assert made.returncode == 0, made.stderr[-5000:]
    native = json.loads(made.stdout.strip().splitlines()[-1])
    seen = run_client("loads_runstone_model", server.url, cwd=tmp_path)
    assert seen["predictions"] == seen["by_stage"] == native["expected"]
    assert (seen["version"], seen["run_id"], seen["stage"]) == (native["version"], native["run_id"], "Staging")
    assert seen["aliases"] == {"prod": native["version"]} and seen["versions"] == [native["version"]]


def test_runs_logged_by_runstone_are_read_by_the_stock_client(server: Server, tmp_path: Path):
    with remote(server.url) as client:
        experiment_id = client.create_experiment("native-sdk")
        parent = client.create_run(experiment_id, run_name="outer")
        run = client.create_run(experiment_id, run_name="native", tags={"runstone.parentRunId": parent.info.run_id})
        run_id = run.info.run_id
        client.log_batch(run_id, metrics=[], params={"lr": "0.01"}, tags={"team": "nlp"})
        for step in range(5):
            client.log_metric(run_id, "loss", 1.0 / (step + 1), step=step)
        notes = tmp_path / "readme.txt"
        notes.write_text("logged by runstone\n")
        client.log_artifact(run_id, notes, "notes")
        client.set_terminated(run_id)
    seen = run_client("reads_runstone", server.url, run_id, str(tmp_path / "down"), cwd=tmp_path)
    assert seen["name"] == "native" and seen["status"] == "FINISHED"
    assert seen["params"] == {"lr": "0.01"}
    assert seen["metrics"] == {"loss": pytest.approx(0.2)}
    assert seen["tags"]["mlflow.parentRunId"] == parent.info.run_id
    assert seen["tags"]["team"] == "nlp" and seen["tags"]["mlflow.runName"] == "native"
    assert seen["history"] == [[step, pytest.approx(1.0 / (step + 1))] for step in range(5)]
    assert seen["found"] == [run_id]
    assert seen["artifact"] == "logged by runstone\n"


def test_migration_guide_code_logs_to_runstone_once_pointed_at_it(server: Server, tmp_path: Path):
    """Step 1 of docs/migrating-from-mlflow.md: the page's MLflow code, unchanged, with only
    MLFLOW_TRACKING_URI set (test_migration_guide.py runs the same code without it, then step 2)."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "migrating-from-mlflow.md").read_text()
    code = re.search(r"```python\n(.*?)```", page, re.S)
    assert code is not None
    done = subprocess.run(
        [sys.executable, "-c", code.group(1)],
        env=mlflow_env(server.url),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-5000:]
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()
    with remote(server.url) as client:
        experiment = client.get_experiment_by_name("churn")
        assert experiment is not None
        runs = client.search_runs([experiment.experiment_id], order_by=["params.C ASC"])
        assert [r.info.run_name for r in runs] == ["C=0.1", "C=1.0"]
        assert len(client.get_metric_history(runs[0].info.run_id, "loss")) == 50
        assert [f.path for f in client.list_artifacts(runs[0].info.run_id, "config")] == ["config/features.json"]
