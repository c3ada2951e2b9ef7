"""open_store: the artifact destination's URI scheme picks the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from runstone.artifacts.local import LocalArtifactStore
from runstone.artifacts.s3 import S3ArtifactStore
from runstone.artifacts.schemes import open_store
from runstone.errors import InvalidInput


def test_a_folder_or_file_uri_is_a_local_store(tmp_path):
    plain = open_store(str(tmp_path / "plain"))
    assert isinstance(plain, LocalArtifactStore)
    assert plain.root == tmp_path / "plain"
    assert (tmp_path / "plain").is_dir(), "the folder is created"
    uri = open_store((tmp_path / "with space").as_uri())
    assert isinstance(uri, LocalArtifactStore)
    assert uri.root == tmp_path / "with space"
    assert uri.root_uri == (tmp_path / "with space").as_uri()


def test_a_relative_folder_is_resolved(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = open_store("artifacts")
    assert isinstance(store, LocalArtifactStore)
    assert store.root == Path(tmp_path / "artifacts").resolve()


def test_s3_uri_with_endpoint(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    store = open_store("s3://team-bucket/runstone/artifacts", s3_endpoint_url="http://127.0.0.1:9")
    assert isinstance(store, S3ArtifactStore)
    assert (store.bucket, store.prefix) == ("team-bucket", "runstone/artifacts")
    assert store.root_uri == "s3://team-bucket/runstone/artifacts"
    assert store.client.meta.endpoint_url == "http://127.0.0.1:9"
    store.client.close()


@pytest.mark.parametrize("uri", ["gs://bucket/x", "hdfs://namenode/x", "ftp://host/x"])
def test_unknown_schemes_are_refused(uri):
    with pytest.raises(InvalidInput, match="Unsupported artifact destination"):
        open_store(uri)
