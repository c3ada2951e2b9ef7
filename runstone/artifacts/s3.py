"""Artifacts in an S3-compatible object store (AWS S3, SeaweedFS, MinIO, ...), through boto3.

A PUT is atomic in S3, so readers never see a partial object. Large files go up as a multipart
upload, one part at a time, so at most one part is held in memory whatever the file's size; a
failed upload is aborted and leaves the old object in place.
"""

from __future__ import annotations

import hashlib
import urllib.parse
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from runstone.artifacts.base import CHUNK, Stored
from runstone.errors import InvalidInput, NotFound, Unavailable

PART = 8 * CHUNK
# S3 allows 10,000 parts per upload: parts grow every 1,000 so that objects of hundreds of GiB fit.
_PARTS_PER_SIZE = 1000
MAX_KEY_BYTES = 1024


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3ArtifactStore:
    def __init__(self, uri: str, *, endpoint_url: str | None = None, client: Any = None) -> None:
        parsed = urllib.parse.urlparse(uri)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise InvalidInput(f"Expected s3://bucket[/prefix], got {uri!r}.")
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        self.root_uri = f"s3://{self.bucket}" + (f"/{self.prefix}" if self.prefix else "")
        # A session of its own: boto3's default session resolves credentials once per process and
        # keeps them, so a store opened later with other credentials in the environment would use
        # the first ones.
        self.client = client or boto3.session.Session().client("s3", endpoint_url=endpoint_url)

    def _key(self, key: str) -> str:
        full = f"{self.prefix}/{key}" if self.prefix else key
        if len(full.encode("utf-8")) > MAX_KEY_BYTES:
            raise InvalidInput(
                f"Artifact key {key!r} is too long for S3 (at most {MAX_KEY_BYTES} bytes with its prefix)."
            )
        return full

    def write(self, key: str, chunks: Iterable[bytes]) -> Stored:
        target = self._key(key)
        digest = hashlib.sha256()
        size = 0
        buffer = bytearray()
        parts: list[dict[str, Any]] = []
        upload_id: str | None = None

        def send_part(length: int) -> None:
            nonlocal upload_id
            if upload_id is None:
                upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=target)["UploadId"]
            body = memoryview(buffer)[:length].tobytes()
            del buffer[:length]
            number = len(parts) + 1
            answer = self.client.upload_part(
                Bucket=self.bucket, Key=target, UploadId=upload_id, PartNumber=number, Body=body
            )
            parts.append({"ETag": answer["ETag"], "PartNumber": number})

        try:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                buffer += chunk
                while len(buffer) >= (part_size := PART * (1 + len(parts) // _PARTS_PER_SIZE)):
                    send_part(part_size)
            if upload_id is None:
                self.client.put_object(Bucket=self.bucket, Key=target, Body=bytes(buffer))
            else:
                if buffer:
                    send_part(len(buffer))
                self.client.complete_multipart_upload(
                    Bucket=self.bucket, Key=target, UploadId=upload_id, MultipartUpload={"Parts": parts}
                )
        except BaseException:
            if upload_id is not None:
                try:
                    self.client.abort_multipart_upload(Bucket=self.bucket, Key=target, UploadId=upload_id)
                except ClientError:
                    pass  # the original error matters more; a lifecycle rule sweeps leftovers
            raise
        return Stored(size, digest.hexdigest())

    def write_file(self, key: str, path: Path) -> Stored:
        with open(path, "rb") as src:
            return self.write(key, iter(lambda: src.read(CHUNK), b""))

    def read(self, key: str) -> Iterator[bytes]:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        except ClientError as exc:
            if _error_code(exc) in ("NoSuchKey", "404"):
                raise NotFound(f"No artifact at {key!r}.") from None
            raise
        return _stream(body)

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except ClientError as exc:
            # Only "not found" means absent; a denied or failing request must not look like it.
            if _error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def delete_prefix(self, prefix: str) -> None:
        if not prefix.strip("/"):
            raise InvalidInput("Refusing to delete the whole artifact root.")
        base = self._key(prefix.strip("/"))
        self.client.delete_object(Bucket=self.bucket, Key=base)
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=base + "/"):
            objects = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if objects:
                answer = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True})
                if failed := answer.get("Errors"):
                    first = failed[0]
                    raise Unavailable(
                        f"S3 refused to delete {len(failed)} artifact object(s), e.g. {first.get('Key')!r}: "
                        f"{first.get('Code')} {first.get('Message')}"
                    )

    def local_path(self, key: str) -> Path | None:
        return None

    def check_writable(self) -> None:
        probe = self._key(f".runstone-ready/{uuid.uuid4().hex}")
        try:
            self.client.put_object(Bucket=self.bucket, Key=probe, Body=b"ok")
            self.client.delete_object(Bucket=self.bucket, Key=probe)
        except (ClientError, BotoCoreError) as exc:
            reason = _error_code(exc) if isinstance(exc, ClientError) else type(exc).__name__
            raise Unavailable(f"The artifact store cannot be written: {reason}.", {"reason": reason}) from None


def _stream(body: Any) -> Iterator[bytes]:
    try:
        while chunk := body.read(CHUNK):
            yield chunk
    finally:
        body.close()
