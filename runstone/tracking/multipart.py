"""Multipart uploads of one artifact file: open, stage parts, complete or abort.

Parts are staged in the artifact store next to the run's (or logged model's) artifacts, outside
them: ``<run folder>/uploads/<upload id>/``. A part's ETag is the SHA-256 of its bytes.
Completing streams the named parts, in order, through the artifact services, which store the file
like any single upload (size and SHA-256 recorded, one audit event, all or nothing: a part whose
bytes no longer match its ETag aborts the write), then drops the staged parts. Staged parts are
not artifacts: nothing lists or serves them, and opening an upload or storing a part is not an
audit event; the file is, once it exists.

An upload id is 128 random bits that only its creator is told; the part URLs carry it, as a
presigned URL carries its signature.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import orjson

from runstone.artifacts.base import ArtifactStore, clean_path, join_key
from runstone.entities import FileInfo
from runstone.errors import InvalidInput, NotFound, PayloadTooLarge
from runstone.tracking.artifacts import ArtifactService
from runstone.tracking.logged_models import LoggedModelService

MAX_PARTS = 10_000  # as S3, whose protocol MLflow's client speaks
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class UploadOwner:
    """The run or logged model a file is uploaded to, and the storage key of its artifacts."""

    kind: str  # "run" or "model"
    id: str
    key: str


@dataclass(frozen=True)
class Upload:
    id: str
    path: str
    num_parts: int


def _limited(chunks: Iterable[bytes], limit: int) -> Iterator[bytes]:
    """``chunks``, raising 413 inside the consumer (a store's write, which then discards what it
    wrote) once they add up to more than ``limit`` bytes."""
    received = 0
    for chunk in chunks:
        received += len(chunk)
        if received > limit:
            raise PayloadTooLarge(f"Artifact is larger than the limit of {limit} bytes.", {"limit": limit})
        yield chunk


class MultipartUploads:
    def __init__(self, artifacts: ArtifactService, models: LoggedModelService) -> None:
        self.artifacts = artifacts
        self.models = models

    @property
    def store(self) -> ArtifactStore:
        return self.artifacts.store

    def _staging(self, owner: UploadOwner, upload_id: str) -> str:
        if not _UPLOAD_ID.match(upload_id):
            raise NotFound(f"No multipart upload {upload_id!r}.")
        folder = owner.key.rpartition("/")[0]  # the run's (model's) folder, above its artifacts
        return join_key(folder, "uploads", upload_id)

    @staticmethod
    def _part_key(staging: str, number: int) -> str:
        return f"{staging}/part-{number:05d}"

    def _check_writable(self, owner: UploadOwner, path: str) -> None:
        """Refuse a deleted owner, and a path inside a registered version's package."""
        if owner.kind == "run":
            self.artifacts.check_writable(owner.id, path)
        else:
            self.models.check_writable(owner.id)

    def get(self, owner: UploadOwner, upload_id: str) -> Upload:
        staging = self._staging(owner, upload_id)
        try:
            record = orjson.loads(b"".join(self.store.read(f"{staging}/upload.json")))
        except NotFound:
            raise NotFound(f"No multipart upload {upload_id!r} for this path.") from None
        return Upload(upload_id, str(record["path"]), int(record["num_parts"]))

    def create(self, owner: UploadOwner, path: str, num_parts: int) -> Upload:
        """Open an upload of the file at ``path`` inside the owner's artifacts, in ``num_parts`` parts."""
        path = clean_path(path)
        if not 1 <= num_parts <= MAX_PARTS:
            raise InvalidInput(f"num_parts must be between 1 and {MAX_PARTS}; got {num_parts}.")
        self._check_writable(owner, path)
        upload = Upload(secrets.token_hex(16), path, num_parts)
        record = {"path": path, "num_parts": num_parts}
        self.store.write(f"{self._staging(owner, upload.id)}/upload.json", [orjson.dumps(record)])
        return upload

    def part_key(self, owner: UploadOwner, upload_id: str, number: int) -> str:
        """Where part ``number`` of an open upload is staged (checked before its bytes are read)."""
        upload = self.get(owner, upload_id)
        if not 1 <= number <= upload.num_parts:
            raise InvalidInput(f"Part {number} is out of range: this upload has parts 1 to {upload.num_parts}.")
        return self._part_key(self._staging(owner, upload_id), number)

    def store_part(self, part_key: str, chunks: Iterable[bytes]) -> str:
        """Stage a part's bytes; returns its ETag."""
        return self.store.write(part_key, chunks).sha256

    def _verified(self, staging: str, parts: Sequence[tuple[int, str]]) -> Iterator[bytes]:
        """The parts' bytes in order, each checked against its ETag as it streams by."""
        for number, etag in parts:
            digest = hashlib.sha256()
            for chunk in self.store.read(self._part_key(staging, number)):
                digest.update(chunk)
                yield chunk
            if digest.hexdigest() != etag:
                # Raised inside the store's write, which then keeps nothing of the file.
                raise InvalidInput(f"Part {number} does not match its ETag {etag!r}; upload it again.")

    def complete(self, owner: UploadOwner, upload_id: str, parts: Sequence[tuple[int, str]], limit: int) -> FileInfo:
        """Store the file from its parts, listed once each in ascending order with their ETags."""
        upload = self.get(owner, upload_id)
        staging = self._staging(owner, upload_id)
        previous = 0
        for number, _ in parts:
            if not 1 <= number <= upload.num_parts or number <= previous:
                raise InvalidInput(f"Part {number}: parts must be listed once each, in ascending order.")
            if not self.store.exists(self._part_key(staging, number)):
                raise InvalidInput(f"Part {number} of upload {upload_id} was never uploaded.")
            previous = number
        chunks = _limited(self._verified(staging, parts), limit)
        if owner.kind == "run":
            info = self.artifacts.log_artifact(owner.id, upload.path, chunks)
        else:
            info = self.models.log_artifact(owner.id, upload.path, chunks)
        self.store.delete_prefix(staging)
        return info

    def abort(self, owner: UploadOwner, upload_id: str) -> None:
        self.get(owner, upload_id)
        self.store.delete_prefix(self._staging(owner, upload_id))
