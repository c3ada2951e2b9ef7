"""Multipart uploads through MLflow's artifact proxy (``/api/2.0/mlflow-artifacts/mpu/...``).

The stock client uploads a large file in parts when the server reports
``multipart_uploads_enabled`` (files from ``MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE`` on, 500 MB
by default): it opens an upload (``mpu/create``), PUTs every part, several at once, to the URL it
was handed for that part, then completes the upload with the parts' ETags (``mpu/complete``) or
gives it up (``mpu/abort``).

Here the part URLs point back at this server. Parts are staged in the artifact store next to the
run's (or logged model's) artifacts, outside them: ``<run folder>/uploads/<upload id>/``. A part's
ETag is the SHA-256 of its bytes. Completing streams the named parts, in order, through the
artifact services, which store the file like any single upload (size and SHA-256 recorded, one
audit event, all or nothing: a part whose bytes no longer match its ETag aborts the write), then
drop the staged parts. Staged parts are not artifacts: nothing lists or serves them, and a
creation or a part is not an audit event; the file is, once it exists.

An upload id is 128 random bits that only its creator is told; the part URLs carry it, as a
presigned URL carries its signature.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import urllib.parse
from collections.abc import Iterator
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from runstone.artifacts.base import ArtifactStore, clean_path, join_key
from runstone.errors import InvalidInput, NotFound
from runstone.server import uploads
from runstone.server.mlflow_compat.artifacts import Target, target_of
from runstone.server.mlflow_compat.protocol import Message, MlflowRoute, ProtoJSON, invalid, missing
from runstone.server.mlflow_compat.services import Artifacts, LoggedModels, Msg
from runstone.tracking.artifacts import ArtifactService
from runstone.tracking.logged_models import LoggedModelService

router = APIRouter(route_class=MlflowRoute, default_response_class=ProtoJSON, include_in_schema=False)

MAX_PARTS = 10_000  # as S3, whose protocol the client speaks
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")


def _staging(target: Target, upload_id: str) -> str:
    if not _UPLOAD_ID.match(upload_id):
        raise NotFound(f"No multipart upload {upload_id!r}.")
    folder = target.key.rpartition("/")[0]  # the run's (model's) folder, above its artifacts
    return join_key(folder, "uploads", upload_id)


def _part_key(staging: str, number: int) -> str:
    return f"{staging}/part-{number:05d}"


def _file_path(target: Target, local_file: str) -> str:
    """Where the file lands: the folder named by the URL, and the base name of the client's file."""
    name = re.split(r"[\\/]", local_file)[-1]
    if not name:
        raise invalid("path", local_file, "It must name a file.")
    return clean_path(join_key(target.path, name))


def _check_writable(target: Target, artifacts: ArtifactService, models: LoggedModelService) -> None:
    if target.kind == "run":
        artifacts.artifact_key(target.id, writable=True)
    else:
        models.get(target.id)


def _upload(store: ArtifactStore, staging: str, upload_id: str) -> dict[str, Any]:
    try:
        return orjson.loads(b"".join(store.read(f"{staging}/upload.json")))  # type: ignore[no-any-return]
    except NotFound:
        raise NotFound(f"No multipart upload {upload_id!r} for this path.") from None


def _number(value: Any, name: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise invalid(name, value)


# ------------------------------------------------------------------ create
def create(
    target: Target, msg: Message, artifacts: ArtifactService, models: LoggedModelService, part_url: str
) -> dict[str, Any]:
    path = _file_path(target, msg.required("path"))
    num_parts = msg.integer("num_parts", default=1)
    assert num_parts is not None
    if not 1 <= num_parts <= MAX_PARTS:
        raise invalid("num_parts", num_parts, f"It must be between 1 and {MAX_PARTS}.")
    _check_writable(target, artifacts, models)
    upload_id = secrets.token_hex(16)
    staging = _staging(target, upload_id)
    record = {"path": path, "num_parts": num_parts}
    artifacts.store.write(f"{staging}/upload.json", [orjson.dumps(record)])
    credentials = [
        {"url": f"{part_url}?{urllib.parse.urlencode({'upload_id': upload_id, 'part_number': n})}", "part_number": n}
        for n in range(1, num_parts + 1)
    ]
    return {"upload_id": upload_id, "credentials": credentials}


@router.post("/mpu/create/{path:path}")
def create_upload(path: str, request: Request, msg: Msg, artifacts: Artifacts, models: LoggedModels) -> dict[str, Any]:
    target = target_of(path, artifacts, models)
    # Parts go back to this server, under the prefix and host the client reached it by.
    part_path = urllib.parse.quote(request.url.path.replace("/mpu/create/", "/mpu/part/", 1))
    part_url = str(request.url.replace(path=part_path, query=""))
    return create(target, msg, artifacts, models, part_url)


# ------------------------------------------------------------------ parts
@router.put("/mpu/part/{path:path}")
async def upload_part(path: str, request: Request, artifacts: Artifacts, models: LoggedModels) -> ProtoJSON:
    limit: int = request.app.state.settings.max_artifact_bytes
    uploads.check_declared(request, limit)
    msg = Message({k: request.query_params.getlist(k) for k in request.query_params}, from_query=True)
    upload_id, number = msg.required("upload_id"), msg.integer("part_number", required=True)
    assert number is not None
    target = await run_in_threadpool(target_of, path, artifacts, models)
    staging = _staging(target, upload_id)
    upload = await run_in_threadpool(_upload, artifacts.store, staging, upload_id)
    if not 1 <= number <= upload["num_parts"]:
        raise invalid("part_number", number, f"This upload has parts 1 to {upload['num_parts']}.")
    spool = await uploads.receive(request, limit)
    try:
        stored = await run_in_threadpool(artifacts.store.write, _part_key(staging, number), spool.chunks())
    finally:
        spool.close()
    return ProtoJSON({}, headers={"ETag": f'"{stored.sha256}"'})


# ------------------------------------------------------------------ complete, abort
def _verified(store: ArtifactStore, staging: str, parts: list[tuple[int, str]]) -> Iterator[bytes]:
    """The parts' bytes in order, each checked against its ETag as it streams by."""
    for number, etag in parts:
        digest = hashlib.sha256()
        for chunk in store.read(_part_key(staging, number)):
            digest.update(chunk)
            yield chunk
        if digest.hexdigest() != etag:
            # Raised inside the store's write, which then keeps nothing of the file.
            raise InvalidInput(f"Part {number} does not match its ETag {etag!r}; upload it again.")


def complete(
    target: Target, msg: Message, artifacts: ArtifactService, models: LoggedModelService, limit: int
) -> dict[str, Any]:
    upload_id = msg.required("upload_id")
    staging = _staging(target, upload_id)
    upload = _upload(artifacts.store, staging, upload_id)
    if _file_path(target, msg.required("path")) != upload["path"]:
        raise invalid("path", msg.raw("path"), f"Upload {upload_id} is for {upload['path']!r}.")
    parts: list[tuple[int, str]] = []
    entries = msg.objects("parts")
    if not entries:
        raise missing("parts")
    for i, entry in enumerate(entries):
        number = _number(entry.get("part_number"), f"parts[{i}].part_number")
        etag = entry.get("etag")
        if not isinstance(etag, str) or not etag.strip('"'):
            raise missing(f"parts[{i}].etag")
        if not 1 <= number <= upload["num_parts"] or (parts and number <= parts[-1][0]):
            raise invalid(f"parts[{i}].part_number", number, "Parts must be listed once each, in ascending order.")
        if not artifacts.store.exists(_part_key(staging, number)):
            raise InvalidInput(f"Part {number} of upload {upload_id} was never uploaded.")
        parts.append((number, etag.strip('"')))
    chunks = uploads.at_most(_verified(artifacts.store, staging, parts), limit)
    if target.kind == "run":
        artifacts.log_artifact(target.id, upload["path"], chunks)
    else:
        models.log_artifact(target.id, upload["path"], chunks)
    artifacts.store.delete_prefix(staging)
    return {}


@router.post("/mpu/complete/{path:path}")
def complete_upload(
    path: str, request: Request, msg: Msg, artifacts: Artifacts, models: LoggedModels
) -> dict[str, Any]:
    limit: int = request.app.state.settings.max_artifact_bytes
    return complete(target_of(path, artifacts, models), msg, artifacts, models, limit)


@router.post("/mpu/abort/{path:path}")
def abort_upload(path: str, msg: Msg, artifacts: Artifacts, models: LoggedModels) -> dict[str, Any]:
    upload_id = msg.required("upload_id")
    staging = _staging(target_of(path, artifacts, models), upload_id)
    _upload(artifacts.store, staging, upload_id)
    artifacts.store.delete_prefix(staging)
    return {}
