"""Multipart uploads through MLflow's artifact proxy (``/api/2.0/mlflow-artifacts/mpu/...``).

The stock client uploads a large file in parts when the server reports
``multipart_uploads_enabled`` (files from ``MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE`` on, 500 MB
by default): it opens an upload (``mpu/create``), PUTs every part, several at once, to the URL it
was handed for that part, then completes the upload with the parts' ETags (``mpu/complete``) or
gives it up (``mpu/abort``). Here the part URLs point back at this server; these routes translate
MLflow's messages onto :class:`runstone.tracking.multipart.MultipartUploads`, which holds the rules.
"""

from __future__ import annotations

import re
import urllib.parse

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from runstone.artifacts.base import clean_path, join_key
from runstone.governance.needs import needs
from runstone.governance.permissions import Permission
from runstone.server import uploads
from runstone.server.http import JSON
from runstone.server.mlflow_compat.artifacts import Target, target_of
from runstone.server.mlflow_compat.protocol import Message, MlflowRoute, invalid, missing
from runstone.server.mlflow_compat.services import Artifacts, LoggedModels, Msg
from runstone.tracking.artifacts import ArtifactService
from runstone.tracking.logged_models import LoggedModelService
from runstone.tracking.multipart import MAX_PARTS, MultipartUploads, UploadOwner

router = APIRouter(route_class=MlflowRoute, default_response_class=JSON, include_in_schema=False)


def _owner(target: Target) -> UploadOwner:
    return UploadOwner(target.kind, target.id, target.key)


def _file_path(target: Target, local_file: str) -> str:
    """Where the file lands: the folder named by the URL, and the base name of the client's file."""
    name = re.split(r"[\\/]", local_file)[-1]
    if not name:
        raise invalid("path", local_file, "It must name a file.")
    return clean_path(join_key(target.path, name))


def _number(value: object, name: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise invalid(name, value)


# ------------------------------------------------------------------ create
def create(
    target: Target, msg: Message, artifacts: ArtifactService, models: LoggedModelService, part_url: str
) -> dict[str, object]:
    path = _file_path(target, msg.required("path"))
    num_parts = msg.integer("num_parts", default=1)
    assert num_parts is not None
    if not 1 <= num_parts <= MAX_PARTS:
        raise invalid("num_parts", num_parts, f"It must be between 1 and {MAX_PARTS}.")
    upload = MultipartUploads(artifacts, models).create(_owner(target), path, num_parts)
    credentials = [
        {"url": f"{part_url}?{urllib.parse.urlencode({'upload_id': upload.id, 'part_number': n})}", "part_number": n}
        for n in range(1, num_parts + 1)
    ]
    return {"upload_id": upload.id, "credentials": credentials}


@router.post("/mpu/create/{path:path}")
@needs(Permission.EDIT, "artifact_path", "path")
def create_upload(
    path: str, request: Request, msg: Msg, artifacts: Artifacts, models: LoggedModels
) -> dict[str, object]:
    target = target_of(path, artifacts, models)
    # Parts go back to this server, at the URL the operator configured (or the address it listens
    # on): never one taken from the request's Host header, which the client chose.
    part_path = urllib.parse.quote(request.url.path.replace("/mpu/create/", "/mpu/part/", 1))
    part_url = request.app.state.settings.public_url + part_path
    return create(target, msg, artifacts, models, part_url)


# ------------------------------------------------------------------ parts
@router.put("/mpu/part/{path:path}")
@needs(Permission.EDIT, "artifact_path", "path")
async def upload_part(path: str, request: Request, artifacts: Artifacts, models: LoggedModels) -> JSON:
    limit: int = request.app.state.settings.max_artifact_bytes
    uploads.check_declared(request, limit)
    msg = Message({k: request.query_params.getlist(k) for k in request.query_params}, from_query=True)
    upload_id, number = msg.required("upload_id"), msg.integer("part_number", required=True)
    assert number is not None
    service = MultipartUploads(artifacts, models)
    target = await run_in_threadpool(target_of, path, artifacts, models)
    part_key = await run_in_threadpool(service.part_key, _owner(target), upload_id, number)
    spool = await uploads.receive(request, limit)
    try:
        etag = await run_in_threadpool(service.store_part, part_key, spool.chunks())
    finally:
        spool.close()
    return JSON({}, headers={"ETag": f'"{etag}"'})


# ------------------------------------------------------------------ complete, abort
def complete(
    target: Target, msg: Message, artifacts: ArtifactService, models: LoggedModelService, limit: int
) -> dict[str, object]:
    service = MultipartUploads(artifacts, models)
    upload_id = msg.required("upload_id")
    upload = service.get(_owner(target), upload_id)
    if _file_path(target, msg.required("path")) != upload.path:
        raise invalid("path", msg.raw("path"), f"Upload {upload_id} is for {upload.path!r}.")
    parts: list[tuple[int, str]] = []
    entries = msg.objects("parts")
    if not entries:
        raise missing("parts")
    for i, entry in enumerate(entries):
        number = _number(entry.get("part_number"), f"parts[{i}].part_number")
        etag = entry.get("etag")
        if not isinstance(etag, str) or not etag.strip('"'):
            raise missing(f"parts[{i}].etag")
        if not 1 <= number <= upload.num_parts or (parts and number <= parts[-1][0]):
            raise invalid(f"parts[{i}].part_number", number, "Parts must be listed once each, in ascending order.")
        parts.append((number, etag.strip('"')))
    service.complete(_owner(target), upload_id, parts, limit)
    return {}


@router.post("/mpu/complete/{path:path}")
@needs(Permission.EDIT, "artifact_path", "path")
def complete_upload(
    path: str, request: Request, msg: Msg, artifacts: Artifacts, models: LoggedModels
) -> dict[str, object]:
    limit: int = request.app.state.settings.max_artifact_bytes
    return complete(target_of(path, artifacts, models), msg, artifacts, models, limit)


@router.post("/mpu/abort/{path:path}")
@needs(Permission.EDIT, "artifact_path", "path")
def abort_upload(path: str, msg: Msg, artifacts: Artifacts, models: LoggedModels) -> dict[str, object]:
    MultipartUploads(artifacts, models).abort(_owner(target_of(path, artifacts, models)), msg.required("upload_id"))
    return {}
