"""Artifacts in an S3-compatible object store (AWS S3, SeaweedFS, MinIO, ...), through boto3.

A PUT is atomic in S3, so readers never see a partial object; large files go up as a
multipart upload streamed from the source without holding them in memory.
"""

from __future__ import annotations

import hashlib
import io
import urllib.parse
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from runstone.artifacts.base import CHUNK, Stored
from runstone.errors import InvalidInput, NotFound

_TRANSFER = TransferConfig(multipart_threshold=16 * CHUNK, multipart_chunksize=16 * CHUNK, max_concurrency=4)


class _HashingReader(io.RawIOBase):
    """A read-once file over an iterable of chunks that hashes and counts what it hands out."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = b""
        self.digest = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self.digest.update(self._pending[:n])
        self.size += n
        self._pending = self._pending[n:]
        return n


class S3ArtifactStore:
    def __init__(self, uri: str, *, endpoint_url: str | None = None, client: Any = None) -> None:
        parsed = urllib.parse.urlparse(uri)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise InvalidInput(f"Expected s3://bucket[/prefix], got {uri!r}.")
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        self.root_uri = f"s3://{self.bucket}" + (f"/{self.prefix}" if self.prefix else "")
        self.client = client or boto3.client("s3", endpoint_url=endpoint_url)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def write(self, key: str, chunks: Iterable[bytes]) -> Stored:
        reader = _HashingReader(chunks)
        self.client.upload_fileobj(io.BufferedReader(reader, CHUNK), self.bucket, self._key(key), Config=_TRANSFER)
        return Stored(reader.size, reader.digest.hexdigest())

    def write_file(self, key: str, path: Path) -> Stored:
        with open(path, "rb") as src:
            return self.write(key, iter(lambda: src.read(CHUNK), b""))

    def read(self, key: str) -> Iterator[bytes]:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise NotFound(f"No artifact at {key!r}.") from None
            raise
        return _stream(body)

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except ClientError:
            return False

    def delete_prefix(self, prefix: str) -> None:
        if not prefix.strip("/"):
            raise InvalidInput("Refusing to delete the whole artifact root.")
        base = self._key(prefix.strip("/"))
        self.client.delete_object(Bucket=self.bucket, Key=base)
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=base + "/"):
            objects = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if objects:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True})

    def local_path(self, key: str) -> Path | None:
        return None


def _stream(body: Any) -> Iterator[bytes]:
    try:
        while chunk := body.read(CHUNK):
            yield chunk
    finally:
        body.close()
