"""MLflow's artifact proxy, ``/api/2.0/mlflow-artifacts/...``, over runstone's artifact services.

The stock client turns a run's ``mlflow-artifacts:/<key>/<path>`` into
``/api/2.0/mlflow-artifacts/artifacts/<key>/<path>``. The key segments name the run
(``<experiment id>/<run id>/artifacts``) or the logged model
(``<experiment id>/models/<model id>/artifacts``); the rest is a path inside it, decoded once
and checked by the artifact services, so nothing outside that root can be read or written, and
every stored file gets its size and SHA-256 recorded.

Multipart uploads (``mpu/...``) are in :mod:`runstone.server.mlflow_compat.multipart`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, StreamingResponse

from runstone.entities import FileInfo
from runstone.errors import InvalidInput, NotFound
from runstone.governance.needs import needs
from runstone.governance.permissions import Permission
from runstone.server import uploads
from runstone.server.http import JSON
from runstone.server.lean import on_thread
from runstone.server.mlflow_compat.protocol import MlflowRoute, error_response
from runstone.server.mlflow_compat.services import Artifacts, LoggedModels, Msg
from runstone.server.routes.artifacts import file_response
from runstone.tracking.artifacts import ArtifactService
from runstone.tracking.logged_models import LoggedModelService

router = APIRouter(route_class=MlflowRoute, default_response_class=JSON, include_in_schema=False)

_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
_MODEL_ID = re.compile(r"^m-[0-9a-f]{32}$")


@dataclass(frozen=True)
class Target:
    """Where a proxy path points: a run or a logged model, and the path inside its artifacts."""

    kind: str  # "run" or "model"
    id: str
    path: str
    key: str  # the artifact key of the run or model: ``.../artifacts``


def resolve(path: str, artifacts: ArtifactService, models: LoggedModelService) -> Target | None:
    """The run or logged model whose artifact key starts ``path``; None when none does."""
    parts = path.strip("/").split("/")
    if len(parts) >= 3 and _RUN_ID.match(parts[1]) and parts[2] == "artifacts":
        if artifacts.artifact_key(parts[1]) == "/".join(parts[:3]):
            return Target("run", parts[1], "/".join(parts[3:]), "/".join(parts[:3]))
    elif (
        len(parts) >= 4
        and parts[1] == "models"
        and _MODEL_ID.match(parts[2])
        and parts[3] == "artifacts"
        and models.artifact_key(parts[2]) == "/".join(parts[:4])
    ):
        return Target("model", parts[2], "/".join(parts[4:]), "/".join(parts[:4]))
    return None


def target_of(path: str, artifacts: ArtifactService, models: LoggedModelService) -> Target:
    target = resolve(path, artifacts, models)
    if target is None:
        raise NotFound(f"No run or logged model stores artifacts at {path!r}.")
    return target


def file_entries(entries: list[FileInfo], prefix: str, *, basenames: bool) -> list[dict[str, Any]]:
    """Listed entries as MLflow's FileInfo: folders without a size; a listed file lists nothing."""
    if len(entries) == 1 and not entries[0].is_dir and entries[0].path == prefix:
        return []
    out = []
    for f in entries:
        entry: dict[str, object] = {"path": f.path.rsplit("/", 1)[-1] if basenames else f.path, "is_dir": f.is_dir}
        if not f.is_dir and f.file_size is not None:
            entry["file_size"] = f.file_size
        out.append(entry)
    return out


@router.get("/artifacts/{path:path}", response_model=None)
@needs(Permission.READ, "artifact_path", "path")
def download(path: str, artifacts: Artifacts, models: LoggedModels) -> FileResponse | StreamingResponse:
    target = target_of(path, artifacts, models)
    if target.kind == "run":
        artifact = artifacts.open(target.id, target.path)
        return file_response(artifact, artifacts.read)
    artifact = models.open(target.id, target.path)
    return file_response(artifact, models.read)


@router.put("/artifacts/{path:path}")
@needs(Permission.EDIT, "artifact_path", "path")
async def upload(path: str, request: Request, artifacts: Artifacts, models: LoggedModels) -> dict[str, object]:
    limit: int = request.app.state.settings.max_artifact_bytes
    uploads.check_declared(request, limit)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) <= uploads.SMALL_BODY:
        # A small body is read first, so that finding the run and storing the file take one
        # trip to the thread pool.
        spool = await uploads.receive(request, limit)
        try:
            await on_thread(_store, path, spool, artifacts, models)
        finally:
            spool.close()
        return {}
    target = await on_thread(_target_of_file, path, artifacts, models)
    if target.kind == "run":
        # A large file is received into the store's own temporary folder and put in place.
        spool = await uploads.receive(request, limit, getattr(artifacts.store, "stage", None))
        call = functools.partial(artifacts.log_artifact, target.id, target.path, spool.chunks(), staged=spool.staged)
    else:
        spool = await uploads.receive(request, limit)
        call = functools.partial(models.log_artifact, target.id, target.path, spool.chunks())
    try:
        await on_thread(call)
    finally:
        spool.close()
    return {}


def _target_of_file(path: str, artifacts: ArtifactService, models: LoggedModelService) -> Target:
    target = target_of(path, artifacts, models)
    if not target.path:
        raise InvalidInput("Name a file inside the run's or model's artifacts to upload.")
    return target


def _store(path: str, spool: uploads.Spool, artifacts: ArtifactService, models: LoggedModelService) -> None:
    parts = path.strip("/").split("/")
    if len(parts) >= 4 and _RUN_ID.match(parts[1]) and parts[2] == "artifacts":
        # A run's file: the run's lookup and its key's check are the upload's own (one read).
        artifacts.log_artifact(parts[1], "/".join(parts[3:]), spool.chunks(), under="/".join(parts[:3]))
        return
    target = _target_of_file(path, artifacts, models)
    log = artifacts.log_artifact if target.kind == "run" else models.log_artifact
    log(target.id, target.path, spool.chunks())


@router.get("/artifacts")
@needs(Permission.READ, "artifact_path", "path")
def list_artifacts(msg: Msg, artifacts: Artifacts, models: LoggedModels) -> dict[str, object]:
    target = resolve(msg.string("path") or "", artifacts, models)
    if target is None:
        return {}
    if target.kind == "run":
        entries = artifacts.list_artifacts(target.id, target.path)
    else:
        entries = models.list_artifacts(target.id, target.path)
    files = file_entries(entries, target.path, basenames=True)
    return {"files": files} if files else {}


@router.delete("/artifacts/{path:path}")
@needs(Permission.EDIT, "artifact_path", "path")
def delete(path: str, artifacts: Artifacts, models: LoggedModels) -> dict[str, object]:
    target = target_of(path, artifacts, models)
    if target.kind == "run":
        artifacts.delete_artifacts(target.id, target.path)
    else:
        models.delete_artifacts(target.id, target.path)
    return {}


@router.get("/presigned/{path:path}")
@needs(Permission.READ, "artifact_path", "path")
def presigned(path: str) -> JSON:
    return error_response(
        "NOT_IMPLEMENTED", "Presigned downloads are not supported; download through the proxy instead.", 501
    )
