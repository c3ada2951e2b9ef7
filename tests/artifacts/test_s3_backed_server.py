"""The whole server with its artifacts in S3 (a real SeaweedFS), on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import io
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from s3server import S3Server

from runstone.backend import open_backend
from runstone.config import Settings
from runstone.entities import FileInfo
from runstone.sdk.client import RunstoneClient

MiB = 1024 * 1024

pytestmark = pytest.mark.s3


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def s3_settings(settings: Settings, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    # The server builds its own boto3 client from the standard AWS variables; nothing from the
    # machine's ~/.aws may leak in.
    for name, value in s3_server.environment().items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    return settings.model_copy(
        update={
            "artifacts_destination": f"s3://{s3_server.bucket}/server-{uuid.uuid4().hex}",
            "s3_endpoint_url": s3_server.endpoint_url,
        }
    )


@pytest.fixture
def s3_http(s3_settings: Settings) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from runstone.server.app import create_app

    backend = open_backend(s3_settings)
    try:
        with TestClient(create_app(s3_settings, backend=backend), headers={"X-Runstone-User": "tester"}) as http:
            yield http
    finally:
        backend.close()
        backend.store.client.close()


@pytest.fixture
def client(s3_http: Any, s3_settings: Settings) -> RunstoneClient:
    return RunstoneClient(
        "http://testserver", http_client=s3_http, settings=s3_settings.model_copy(update={"http_retries": 0})
    )


def bucket_keys(s3_server: S3Server, prefix: str) -> list[str]:
    with closing(s3_server.client()) as client:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=s3_server.bucket, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def test_upload_list_download_through_the_api(client, s3_settings, s3_server, tmp_path):
    source = tmp_path / "outputs"
    (source / "model" / "data").mkdir(parents=True)
    (source / "model" / "MLmodel").write_text("flavors: {}\n")
    (source / "model" / "data" / "weights.bin").write_bytes(b"\x00\x01" * 300_000)
    (source / "metrics.json").write_text('{"loss": 0.1}')

    run = client.create_run("0")
    run_id = run.info.run_id
    prefix = s3_settings.artifacts_destination.removeprefix(f"s3://{s3_server.bucket}/")
    assert run.info.artifact_uri == f"{s3_settings.artifacts_destination}/0/{run_id}/artifacts"

    client.log_artifact(run_id, source / "metrics.json")
    client.log_artifacts(run_id, source / "model", "model")
    assert client.list_artifacts(run_id) == [
        FileInfo("metrics.json", False, 13, sha(b'{"loss": 0.1}')),
        FileInfo("model", True, 600_000 + 12),
    ]
    assert bucket_keys(s3_server, prefix) == [
        f"{prefix}/0/{run_id}/artifacts/metrics.json",
        f"{prefix}/0/{run_id}/artifacts/model/MLmodel",
        f"{prefix}/0/{run_id}/artifacts/model/data/weights.bin",
    ]
    assert not (tmp_path / "artifacts").exists(), "nothing went to the local artifact folder"

    folder = Path(client.download_artifacts(run_id, "model", tmp_path / "dl"))
    assert (folder / "MLmodel").read_text() == "flavors: {}\n"
    assert (folder / "data" / "weights.bin").read_bytes() == b"\x00\x01" * 300_000
    single = Path(client.download_artifacts(run_id, "metrics.json", tmp_path / "one"))
    assert single.read_text() == '{"loss": 0.1}'


def test_download_headers_zip_and_delete(s3_http, s3_settings, s3_server):
    run_id = s3_http.post("/api/v1/runs", json={"experiment_id": "0"}).json()["run"]["info"]["run_id"]
    name = "图 “quoted” résumé.txt"
    data = b"multi\nline\n" * 1000
    assert s3_http.put(f"/api/v1/runs/{run_id}/artifacts/docs/{name}", content=data).status_code == 200
    assert s3_http.put(f"/api/v1/runs/{run_id}/artifacts/docs/b.txt", content=b"b").status_code == 200

    response = s3_http.get(f"/api/v1/runs/{run_id}/artifacts/docs/{name}")
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["x-checksum-sha256"] == sha(data)
    assert response.headers["content-length"] == str(len(data))
    assert "filename*=utf-8''" in response.headers["content-disposition"]

    zipped = s3_http.get(f"/api/v1/runs/{run_id}/artifacts-zip", params={"path": "docs"})
    with zipfile.ZipFile(io.BytesIO(zipped.content)) as archive:
        assert {n: archive.read(n) for n in archive.namelist()} == {name: data, "b.txt": b"b"}

    prefix = s3_settings.artifacts_destination.removeprefix(f"s3://{s3_server.bucket}/")
    assert len(bucket_keys(s3_server, f"{prefix}/0/{run_id}/")) == 2
    assert s3_http.delete(f"/api/v1/runs/{run_id}/artifacts/docs").json() == {"deleted": 2}
    assert bucket_keys(s3_server, f"{prefix}/0/{run_id}/") == []
    assert s3_http.get(f"/api/v1/runs/{run_id}/artifacts/docs/b.txt").status_code == 404


def test_multipart_upload_through_the_api(s3_http, s3_settings, s3_server):
    run_id = s3_http.post("/api/v1/runs", json={"experiment_id": "0"}).json()["run"]["info"]["run_id"]
    data = b"".join(bytes([i]) * MiB for i in range(20))  # more than two multipart parts
    response = s3_http.put(
        f"/api/v1/runs/{run_id}/artifacts/big.bin", content=iter([data[i : i + MiB] for i in range(0, len(data), MiB)])
    )
    assert response.json()["file"] == {"path": "big.bin", "is_dir": False, "file_size": len(data), "sha256": sha(data)}
    downloaded = s3_http.get(f"/api/v1/runs/{run_id}/artifacts/big.bin")
    assert downloaded.headers["x-checksum-sha256"] == sha(data)
    assert downloaded.content == data


def test_traversal_writes_nothing_to_the_bucket(s3_http, s3_settings, s3_server):
    run_id = s3_http.post("/api/v1/runs", json={"experiment_id": "0"}).json()["run"]["info"]["run_id"]
    before = bucket_keys(s3_server, "")
    for raw in ("%2e%2e/%2e%2e/x.txt", "..%2f..%2f..%2fescape.txt", "%2fabsolute.txt"):
        url = type(s3_http.base_url)(f"http://testserver/api/v1/runs/{run_id}/artifacts/{raw}")
        response = s3_http.request("PUT", url, content=b"evil")
        assert response.status_code == 400, response.text
    assert bucket_keys(s3_server, "") == before
