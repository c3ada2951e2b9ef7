"""A registered version's files cannot change (issue "Hardening", item 1): attacks on a running
server through every write route, then on the files in storage behind its back."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from e2e_support import Server, Servers, remote

from runstone.entities import manifest_digest
from runstone.errors import Immutable

pytestmark = pytest.mark.e2e

MPU = "/api/2.0/mlflow-artifacts/mpu"
PROXY = "/api/2.0/mlflow-artifacts/artifacts"
FILES = {"model/MLmodel": b"flavors: {}\n", "model/model.pkl": b"approved bytes", "model/data/weights.bin": b"w" * 100}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    pool = Servers(tmp_path_factory.mktemp("registered"))
    try:
        yield pool.start()
    finally:
        pool.stop_all()


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60, headers={"X-Runstone-User": "attacker"}) as client:
        yield client


def _registered(http: httpx.Client, name: str) -> tuple[str, str]:
    """A run holding a small package, registered as version 1 of ``name``: (run id, its key in
    the MLflow artifact proxy)."""
    run = http.post("/api/v1/runs", json={"experiment_id": "0"}).json()["run"]
    run_id = run["info"]["run_id"]
    for path, content in FILES.items():
        assert http.put(f"/api/v1/runs/{run_id}/artifacts/{path}", content=content).status_code == 200
    assert http.post("/api/v1/registered-models", json={"name": name}).is_success
    created = http.post(f"/api/v1/registered-models/{name}/versions", json={"source": f"runs:/{run_id}/model"})
    assert created.is_success, created.text
    return run_id, f"0/{run_id}/artifacts"


def _assert_refused(answer: httpx.Response, name: str) -> None:
    assert answer.status_code == 409, answer.text
    body = answer.json()
    message = body["error"]["message"] if "error" in body else body["message"]
    assert f"version 1 of registered model {name!r}" in message


def test_registration_records_a_manifest_of_the_package(http):
    _registered(http, "manifested")
    version = http.get("/api/v1/registered-models/manifested/versions/1").json()["model_version"]
    manifest = http.get("/api/v1/registered-models/manifested/versions/1/manifest").json()["manifest"]
    expected = sorted(
        (path.removeprefix("model/"), len(content), hashlib.sha256(content).hexdigest())
        for path, content in FILES.items()
    )
    assert [(f["path"], f["size"], f["sha256"]) for f in manifest["files"]] == expected
    # The digest is sha256sum's listing of the package, hashed: a user can recompute it.
    listing = "".join(f"{sha}  {path}\n" for path, _, sha in expected)
    assert version["manifest_digest"] == manifest["digest"] == hashlib.sha256(listing.encode()).hexdigest()


def test_native_writes_under_a_registered_version_answer_409_naming_it(http, server):
    run_id, _ = _registered(http, "native")
    base = f"/api/v1/runs/{run_id}/artifacts"
    _assert_refused(http.put(f"{base}/model/model.pkl", content=b"evil pickle"), "native")
    _assert_refused(http.put(f"{base}/model/extra.py", content=b"import os"), "native")
    _assert_refused(http.delete(f"{base}/model/model.pkl"), "native")
    _assert_refused(http.delete(f"{base}/model"), "native")
    _assert_refused(http.delete(base + "/"), "native")  # everything the run holds
    assert http.get(f"{base}/model/model.pkl").content == b"approved bytes"
    assert sorted(f["path"] for f in http.get(base, params={"path": "model", "recursive": True}).json()["files"]) == [
        *sorted(FILES)
    ]
    # The rest of the run stays writable.
    assert http.put(f"{base}/notes/after.txt", content=b"fine").status_code == 200
    assert http.put(f"{base}/model-v2/model.pkl", content=b"fine").status_code == 200


def test_mlflow_protocol_writes_and_multipart_uploads_are_refused(http):
    run_id, key = _registered(http, "proxied")
    _assert_refused(http.put(f"{PROXY}/{key}/model/model.pkl", content=b"evil pickle"), "proxied")
    assert http.put(f"{PROXY}/{key}/model/model.pkl", content=b"x").json()["error_code"] == "RESOURCE_CONFLICT"
    _assert_refused(http.delete(f"{PROXY}/{key}/model/model.pkl"), "proxied")
    _assert_refused(http.post(f"{MPU}/create/{key}/model", json={"path": "/tmp/model.pkl", "num_parts": 1}), "proxied")
    assert http.get(f"/api/v1/runs/{run_id}/artifacts/model/model.pkl").content == b"approved bytes"


def test_a_multipart_upload_begun_before_registration_cannot_complete_after_it(http):
    run = http.post("/api/v1/runs", json={"experiment_id": "0"}).json()["run"]
    run_id = run["info"]["run_id"]
    key = f"0/{run_id}/artifacts"
    for path, content in FILES.items():
        assert http.put(f"/api/v1/runs/{run_id}/artifacts/{path}", content=content).status_code == 200
    created = http.post(f"{MPU}/create/{key}/model", json={"path": "/tmp/model.pkl", "num_parts": 1})
    assert created.status_code == 200, (key, created.text)
    created = created.json()
    etag = http.put(created["credentials"][0]["url"], content=b"evil pickle").headers["etag"]
    http.post("/api/v1/registered-models", json={"name": "raced"})
    assert http.post("/api/v1/registered-models/raced/versions", json={"source": f"runs:/{run_id}/model"}).is_success
    done = http.post(
        f"{MPU}/complete/{key}/model",
        json={"path": "/tmp/model.pkl", "upload_id": created["upload_id"], "parts": [{"part_number": 1, "etag": etag}]},
    )
    _assert_refused(done, "raced")
    assert http.get(f"/api/v1/runs/{run_id}/artifacts/model/model.pkl").content == b"approved bytes"


def test_a_registered_logged_model_is_read_only(http):
    experiment = "0"
    model = http.post("/api/2.0/mlflow/logged-models", json={"experiment_id": experiment, "name": "lm"}).json()[
        "model"
    ]["info"]
    model_id, uri = model["model_id"], model["artifact_uri"]
    key = "/".join(uri.split("/artifacts")[0].rsplit("/", 3)[-3:]) + "/artifacts"
    for path in ("MLmodel", "model.pkl"):
        assert http.put(f"{PROXY}/{key}/{path}", content=b"flavors: {}\n").status_code == 200, key
    http.post("/api/v1/registered-models", json={"name": "logged"})
    assert http.post("/api/v1/registered-models/logged/versions", json={"source": f"models:/{model_id}"}).is_success
    _assert_refused(http.put(f"{PROXY}/{key}/model.pkl", content=b"evil pickle"), "logged")
    _assert_refused(http.delete(f"{PROXY}/{key}/model.pkl"), "logged")


def test_the_embedded_sdk_refuses_too(tmp_path):
    from runstone.config import Settings
    from runstone.sdk.client import RunstoneClient

    client = RunstoneClient(settings=Settings(home=tmp_path / "home"))
    run_id = client.create_run("0").info.run_id
    package = tmp_path / "package"
    package.mkdir()
    (package / "MLmodel").write_text("flavors: {}\n")
    (package / "model.pkl").write_bytes(b"approved bytes")
    client.log_artifacts(run_id, package, "model")
    client.create_registered_model("embedded")
    client.create_model_version("embedded", f"runs:/{run_id}/model", run_id)
    (package / "model.pkl").write_bytes(b"evil pickle")
    with pytest.raises(Immutable, match="version 1 of registered model 'embedded'"):
        client.log_artifact(run_id, package / "model.pkl", "model")


# ------------------------------------------------------- files changed in storage
def _store_file(server: Server, run_id: str, path: str) -> Path:
    (found,) = (server.home / "artifacts").glob(f"*/{run_id}/artifacts/{path}")
    return found


@pytest.mark.parametrize("attack", ["changed", "missing", "extra"])
def test_loading_a_version_whose_files_changed_in_storage_is_refused_naming_the_file(http, server, attack, tmp_path):
    name = f"tampered-{attack}"
    run_id, _ = _registered(http, name)
    if attack == "changed":
        _store_file(server, run_id, "model/model.pkl").write_bytes(b"evil pickle")
        named = "'model/model.pkl' does not match its recorded SHA-256"
    elif attack == "missing":
        _store_file(server, run_id, "model/data/weights.bin").unlink()
        named = "weights.bin"  # no longer in storage
    else:
        # An intruder who can write the database and the storage adds a file to the package.
        extra = _store_file(server, run_id, "model/model.pkl").parent / "sitecustomize.py"
        extra.write_bytes(b"import os")
        with sqlite3.connect(server.home / "runstone.db") as db:
            db.execute(
                "INSERT INTO artifacts (run_id, path, size, sha256, updated_time) "
                "SELECT id, 'model/sitecustomize.py', 9, ?, 0 FROM runs WHERE uuid = ?",
                (hashlib.sha256(b"import os").hexdigest(), run_id),
            )
        named = "sitecustomize.py: not in the manifest"
    from runstone.errors import ManifestMismatch
    from runstone.models.uri import local_path

    with remote(server.url) as client:
        for uri in (f"models:/{name}/1", f"runs:/{run_id}/model"):
            with pytest.raises(ManifestMismatch, match=f"version 1 of registered model {name!r}") as refused:
                local_path(uri, tmp_path / uri.replace(":", "").replace("/", "-"), client)
            assert named in refused.value.message


def test_the_digest_function_is_what_the_docs_say():
    from runstone.entities import ManifestFile

    files = [ManifestFile("b", 1, "2" * 64), ManifestFile("a/x", 1, "1" * 64)]
    listing = f"{'1' * 64}  a/x\n{'2' * 64}  b\n"
    assert manifest_digest(files) == hashlib.sha256(listing.encode()).hexdigest()


def test_gc_never_removes_the_files_of_a_registered_version(http, server):
    run_id, _ = _registered(http, "collected")
    with remote(server.url) as client:
        client.delete_run(run_id)
        with pytest.raises(Immutable, match="version 1 of registered model 'collected'"):
            client.gc(run_ids=[run_id])
        report = client.gc()  # everything deleted: the run holding version 1 stays
        assert run_id not in report["run_ids"]
        assert _store_file(server, run_id, "model/model.pkl").read_bytes() == b"approved bytes"
        assert http.get(f"/api/v1/runs/{run_id}/artifacts/model/model.pkl").content == b"approved bytes"
        client.delete_model_version("collected", "1")
        assert run_id in client.gc(run_ids=[run_id])["run_ids"]
    assert not list((server.home / "artifacts").glob(f"*/{run_id}"))
