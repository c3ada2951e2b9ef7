"""MLflow 3's logged models and the mlflow-artifacts proxy through the real HTTP stack."""

from __future__ import annotations

import hashlib

from mlflow_api import API, ARTIFACTS, Mlflow

from runstone.backend import Backend


def _key(artifact_uri: str) -> str:
    assert artifact_uri.startswith("mlflow-artifacts:/")
    return artifact_uri.removeprefix("mlflow-artifacts:/")


def test_proxy_stores_run_artifacts_with_checksums(mlflow_api: Mlflow, http, backend: Backend):
    run = mlflow_api.create_run()
    run_id, key = run["info"]["run_id"], _key(run["info"]["artifact_uri"])
    mlflow_api.upload(key, "a.txt", b"hello")
    mlflow_api.upload(key, "dir/b.bin", b"\x00" * 10)
    # What the stock client uploaded is the run's artifact for runstone, SHA-256 recorded.
    file = backend.artifacts().open(run_id, "a.txt")
    assert file.info.sha256 == hashlib.sha256(b"hello").hexdigest() and file.info.file_size == 5

    listed = http.get(ARTIFACTS, params={"path": key}).json()
    assert listed == {"files": [{"path": "a.txt", "is_dir": False, "file_size": 5}, {"path": "dir", "is_dir": True}]}
    assert http.get(ARTIFACTS, params={"path": f"{key}/dir"}).json() == {
        "files": [{"path": "b.bin", "is_dir": False, "file_size": 10}]
    }
    assert http.get(ARTIFACTS, params={"path": f"{key}/a.txt"}).json() == {}
    download = http.get(f"{ARTIFACTS}/{key}/a.txt")
    assert download.status_code == 200 and download.content == b"hello"
    assert download.headers["x-content-type-options"] == "nosniff"
    # artifacts/list answers paths from the run's root, as MLflow's tracking endpoint does.
    assert mlflow_api.get("artifacts/list", run_id=run_id, path="dir") == {
        "root_uri": run["info"]["artifact_uri"],
        "files": [{"path": "dir/b.bin", "is_dir": False, "file_size": 10}],
    }
    assert http.delete(f"{ARTIFACTS}/{key}/dir").json() == {}
    assert [f.path for f in backend.artifacts().files(run_id)] == ["a.txt"]
    assert http.get(f"{ARTIFACTS}/{key}/dir/b.bin").json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_proxy_paths_stay_inside_a_run_or_model(mlflow_api: Mlflow, http):
    run = mlflow_api.create_run()
    key = _key(run["info"]["artifact_uri"])
    escape = http.put(f"{ARTIFACTS}/{key}/..%2F..%2Fescape.txt", content=b"x")
    assert escape.status_code == 400 and escape.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    other_experiment = key.replace("0/", "7/", 1)
    assert http.put(f"{ARTIFACTS}/{other_experiment}/x.txt", content=b"x").status_code == 404
    assert http.put(f"{ARTIFACTS}/0/{'f' * 32}/artifacts/x.txt", content=b"x").status_code == 404
    assert http.put(f"{ARTIFACTS}/somewhere/else.txt", content=b"x").status_code == 404
    assert http.get(ARTIFACTS, params={"path": "0"}).json() == {}


def test_multipart_upload_answers_not_implemented_so_the_client_puts_whole_files(http):
    response = http.post("/api/2.0/mlflow-artifacts/mpu/create/0/x/artifacts/big", json={"path": "big", "num_parts": 3})
    assert response.status_code == 501
    assert response.json()["error_code"] == "NOT_IMPLEMENTED"
    # The stock client falls back to one PUT when the message starts like this.
    assert response.json()["message"].startswith(
        "Multipart upload is not supported for the current artifact repository"
    )


def test_logged_model_lifecycle(mlflow_api: Mlflow, http, backend: Backend):
    run_id = mlflow_api.create_run()["info"]["run_id"]
    created = mlflow_api.post(
        "logged-models",
        experiment_id="0",
        name="clf",
        source_run_id=run_id,
        model_type="classifier",
        tags=[{"key": "mlflow.user", "value": "alice"}],
        params=[{"key": "C", "value": "1.0"}],
    )["model"]
    info = created["info"]
    model_id = info["model_id"]
    assert model_id.startswith("m-") and len(model_id) == 34
    assert info["status"] == "LOGGED_MODEL_PENDING"
    assert info["artifact_uri"] == f"mlflow-artifacts:/0/models/{model_id}/artifacts"
    assert info["source_run_id"] == run_id and info["model_type"] == "classifier"
    assert created["data"] == {"params": [{"key": "C", "value": "1.0"}]}

    key = _key(info["artifact_uri"])
    mlflow_api.upload(key, "MLmodel", b"flavors: {}\n")
    mlflow_api.upload(key, "data/model.pkl", b"12345")
    listing = mlflow_api.get(f"logged-models/{model_id}/artifacts/directories")
    assert listing == {
        "root_uri": info["artifact_uri"],
        "files": [{"path": "MLmodel", "is_dir": False, "file_size": 12}, {"path": "data", "is_dir": True}],
    }
    file = http.get(f"{API}/logged-models/{model_id}/artifacts/files", params={"artifact_file_path": "data/model.pkl"})
    assert file.content == b"12345"

    finalized = mlflow_api.call("PATCH", f"logged-models/{model_id}", model_id=model_id, status="LOGGED_MODEL_READY")
    assert finalized["model"]["info"]["status"] == "LOGGED_MODEL_READY"
    assert mlflow_api.call("PATCH", f"logged-models/{model_id}/tags", tags=[{"key": "stage", "value": "dev"}]) == {}
    assert mlflow_api.call("DELETE", f"logged-models/{model_id}/tags/mlflow.user") == {}
    assert mlflow_api.post(f"logged-models/{model_id}/params", params=[{"key": "penalty", "value": "l2"}]) == {}
    # Metrics logged with the model id belong to the model, and to the run once.
    metric = {"key": "acc", "value": 0.9, "timestamp": 5, "step": 1, "model_id": model_id, "dataset_name": "test"}
    mlflow_api.post("runs/log-batch", run_id=run_id, metrics=[metric])
    mlflow_api.post("runs/log-batch", run_id=run_id, metrics=[metric])
    assert len(backend.tracking().get_metric_history(run_id, "acc")) == 1

    model = mlflow_api.get(f"logged-models/{model_id}")["model"]
    assert model["info"]["tags"] == [{"key": "stage", "value": "dev"}]
    assert sorted(p["key"] for p in model["data"]["params"]) == ["C", "penalty"]
    assert model["data"]["metrics"][0] == {**metric, "value": 0.9, "run_id": run_id}

    found = mlflow_api.post("logged-models/search", experiment_ids=["0"], filter="name = 'clf' AND params.C = '1.0'")
    assert [m["info"]["model_id"] for m in found["models"]] == [model_id]
    assert mlflow_api.post("logged-models/search", experiment_ids=["0"], filter="metrics.acc > 0.95") == {}
    ready = mlflow_api.post(
        "logged-models/search",
        experiment_ids=["0"],
        filter="status = 'READY'",
        order_by=[{"field_name": "creation_timestamp", "ascending": False}],
    )
    assert [m["info"]["model_id"] for m in ready["models"]] == [model_id]

    assert mlflow_api.call("DELETE", f"logged-models/{model_id}") == {}
    assert mlflow_api.error("GET", f"logged-models/{model_id}", 404)["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert mlflow_api.get(f"logged-models/{model_id}", allow_deleted="true")["model"]["info"]["model_id"] == model_id
    assert (
        mlflow_api.error("POST", "logged-models", 404, experiment_id="999")["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    )
