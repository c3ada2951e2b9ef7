"""How S3ArtifactStore cuts a stream into multipart parts (fast, on moto's in-memory S3)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from runstone.artifacts import s3
from runstone.artifacts.s3 import S3ArtifactStore

MiB = 1024 * 1024


class Recording:
    """An S3 client that notes the size of every part and whole object it sends."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.sent: list[tuple[str, int]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def upload_part(self, **kwargs: Any) -> Any:
        self.sent.append(("part", len(kwargs["Body"])))
        return self.inner.upload_part(**kwargs)

    def put_object(self, **kwargs: Any) -> Any:
        self.sent.append(("object", len(kwargs["Body"])))
        return self.inner.put_object(**kwargs)


@pytest.fixture
def recording() -> Iterator[Recording]:
    with mock_aws():
        client = boto3.client(
            "s3", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        client.create_bucket(Bucket="parts")
        yield Recording(client)
        client.close()


def blocks(total: int, size: int) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        yield bytes([sent % 256]) * n
        sent += n


@pytest.mark.parametrize(
    ("total", "chunk", "expected"),
    [
        (0, MiB, [("object", 0)]),
        (s3.PART - 1, MiB, [("object", s3.PART - 1)]),
        (s3.PART, MiB, [("part", s3.PART)]),
        (s3.PART + 1, MiB, [("part", s3.PART), ("part", 1)]),
        # One chunk bigger than several parts is cut, not sent whole.
        (2 * s3.PART + 5, 2 * s3.PART + 5, [("part", s3.PART), ("part", s3.PART), ("part", 5)]),
    ],
)
def test_parts_and_content(recording, total, chunk, expected):
    store = S3ArtifactStore("s3://parts/p", client=recording)
    data = b"".join(blocks(total, chunk))
    result = store.write("f.bin", blocks(total, chunk))
    assert recording.sent == expected
    assert (result.size, result.sha256) == (total, hashlib.sha256(data).hexdigest())
    assert b"".join(store.read("f.bin")) == data


def test_parts_grow_so_that_huge_files_fit_in_10000_parts(recording, monkeypatch):
    # Scaled down: every 2 parts the part size grows by one PART (S3 only needs 5 MiB minimum).
    monkeypatch.setattr(s3, "_PARTS_PER_SIZE", 2)
    store = S3ArtifactStore("s3://parts/p", client=recording)
    total = 2 * s3.PART + 2 * (2 * s3.PART) + 7
    store.write("f.bin", blocks(total, MiB))
    sizes = [size for _, size in recording.sent]
    assert sizes == [s3.PART, s3.PART, 2 * s3.PART, 2 * s3.PART, 7]
