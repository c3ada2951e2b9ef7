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


MPU = "/api/2.0/mlflow-artifacts/mpu"


def _mpu_create(http, key: str, local_file: str, num_parts: int) -> dict:
    response = http.post(f"{MPU}/create/{key}", json={"path": local_file, "num_parts": num_parts})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_multipart_upload_joins_parts_into_one_artifact(mlflow_api: Mlflow, http, backend: Backend):
    assert http.get("/api/3.0/mlflow/server-info").json()["multipart_uploads_enabled"] is True
    run = mlflow_api.create_run()
    run_id, key = run["info"]["run_id"], _key(run["info"]["artifact_uri"])
    parts = [b"a" * 1000, b"b" * 1000, b"tail"]
    # The client sends its local file path; the file is named after its base name, in the URL's folder.
    created = _mpu_create(http, f"{key}/data", "C:\\Users\\ann\\big.bin", 3)
    upload_id = created["upload_id"]
    assert [c["part_number"] for c in created["credentials"]] == [1, 2, 3]
    url = created["credentials"][0]["url"]
    assert url.startswith(f"http://127.0.0.1:5000{MPU}/part/{key}/data?") and f"upload_id={upload_id}" in url

    etags = {}
    for credential in reversed(created["credentials"]):  # parts arrive in any order
        put = http.put(credential["url"], content=parts[credential["part_number"] - 1])
        assert put.status_code == 200, put.text
        etags[credential["part_number"]] = put.headers["etag"]
    assert etags[3] == f'"{hashlib.sha256(b"tail").hexdigest()}"'
    # Nothing is an artifact before the upload completes.
    assert [f.path for f in backend.artifacts().files(run_id)] == []

    listed = [{"part_number": n, "etag": etags[n], "url": "ignored"} for n in (1, 2, 3)]
    done = http.post(
        f"{MPU}/complete/{key}/data", json={"path": "C:\\Users\\ann\\big.bin", "upload_id": upload_id, "parts": listed}
    )
    assert done.status_code == 200 and done.json() == {}
    whole = b"".join(parts)
    file = backend.artifacts().open(run_id, "data/big.bin")
    assert file.info.file_size == len(whole) and file.info.sha256 == hashlib.sha256(whole).hexdigest()
    assert http.get(f"{ARTIFACTS}/{key}/data/big.bin").content == whole
    # The staged parts are gone with the upload.
    again = http.put(created["credentials"][0]["url"], content=b"late")
    assert again.status_code == 404 and again.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert not list(backend.store.root.rglob("part-*"))


def test_multipart_upload_refuses_what_does_not_add_up(mlflow_api: Mlflow, http, backend: Backend):
    run = mlflow_api.create_run()
    run_id, key = run["info"]["run_id"], _key(run["info"]["artifact_uri"])
    created = _mpu_create(http, key, "/tmp/model.bin", 2)
    upload_id, (first, second) = created["upload_id"], created["credentials"]
    etag = http.put(first["url"], content=b"one").headers["etag"]

    def complete(parts: list[dict], path: str = "/tmp/model.bin") -> dict:
        body = http.post(f"{MPU}/complete/{key}", json={"path": path, "upload_id": upload_id, "parts": parts})
        assert body.status_code in (400, 404), body.text
        return body.json()  # type: ignore[no-any-return]

    never = complete([{"part_number": 1, "etag": etag}, {"part_number": 2, "etag": etag}])
    assert never["error_code"] == "INVALID_PARAMETER_VALUE" and "Part 2" in never["message"]
    http.put(second["url"], content=b"two")
    wrong = complete([{"part_number": 1, "etag": etag}, {"part_number": 2, "etag": '"0000"'}])
    assert "does not match its ETag" in wrong["message"]
    assert "ascending" in complete([{"part_number": 2, "etag": etag}, {"part_number": 1, "etag": etag}])["message"]
    assert "is for 'model.bin'" in complete([{"part_number": 1, "etag": etag}], path="/tmp/other.bin")["message"]
    out_of_range = http.put(first["url"].replace("part_number=1", "part_number=3"), content=b"x")
    assert out_of_range.status_code == 400 and "parts 1 to 2" in out_of_range.json()["message"]
    # Nothing of a refused upload became an artifact.
    assert backend.artifacts().files(run_id) == []

    assert http.post(f"{MPU}/abort/{key}", json={"path": "/tmp/model.bin", "upload_id": upload_id}).json() == {}
    gone = http.post(f"{MPU}/abort/{key}", json={"path": "/tmp/model.bin", "upload_id": upload_id})
    assert gone.status_code == 404 and gone.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert http.put(second["url"], content=b"two").status_code == 404

    too_many = http.post(f"{MPU}/create/{key}", json={"path": "x.bin", "num_parts": 10_001})
    assert too_many.status_code == 400 and "between 1 and 10000" in too_many.json()["message"]
    forged = http.put(f"{MPU}/part/{key}?upload_id=..%2F..&part_number=1", content=b"x")
    assert forged.status_code == 404
    escape = http.post(f"{MPU}/create/{key}/..%2F..", json={"path": "x.bin", "num_parts": 1})
    assert escape.status_code == 400 and escape.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert http.post(f"{MPU}/create/0/{'f' * 32}/artifacts", json={"path": "x.bin"}).status_code == 404
    mlflow_api.post("runs/delete", run_id=run_id)
    deleted = http.post(f"{MPU}/create/{key}", json={"path": "x.bin", "num_parts": 1})
    assert deleted.status_code == 400 and "deleted" in deleted.json()["message"]


def test_multipart_upload_into_a_logged_model(mlflow_api: Mlflow, http, backend: Backend):
    info = mlflow_api.post("logged-models", experiment_id="0", name="big")["model"]["info"]
    key = _key(info["artifact_uri"])
    created = _mpu_create(http, f"{key}/data%20v1", "/work/weights.pt", 2)
    assert created["credentials"][0]["url"].startswith(f"http://127.0.0.1:5000{MPU}/part/{key}/data%20v1?")
    etags = [http.put(c["url"], content=bytes([n]) * 10).headers["etag"] for n, c in enumerate(created["credentials"])]
    parts = [{"part_number": n + 1, "etag": e} for n, e in enumerate(etags)]
    body = {"path": "/work/weights.pt", "upload_id": created["upload_id"], "parts": parts}
    assert http.post(f"{MPU}/complete/{key}/data%20v1", json=body).json() == {}
    folder = "data v1"
    listed = mlflow_api.get(f"logged-models/{info['model_id']}/artifacts/directories", artifact_directory_path=folder)
    assert listed["files"] == [{"path": "data v1/weights.pt", "is_dir": False, "file_size": 20}]


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
