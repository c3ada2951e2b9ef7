"""/api/v1/logged-models: models logged on their own (by MLflow 3 clients), and their files."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse, Response, StreamingResponse

from runstone.codec import float_out
from runstone.deps import logged_models
from runstone.governance.needs import needs
from runstone.governance.permissions import Permission
from runstone.schemas.tracking import FileList, LoggedModelAnswer, file_public
from runstone.server.http import JSON, Route, binary
from runstone.server.routes.artifacts import file_response
from runstone.tracking.logged_models import LoggedModelService

LoggedModels = Annotated[LoggedModelService, Depends(logged_models)]
router = APIRouter(
    prefix="/api/v1/logged-models", tags=["logged models"], route_class=Route, default_response_class=JSON
)


@router.get("/{model_id}", summary="Get a logged model", response_model=LoggedModelAnswer)
@needs(Permission.READ, "logged_model", "model_id")
def get_logged_model(model_id: str, service: LoggedModels) -> dict[str, object]:
    model = dataclasses.asdict(service.get(model_id))
    model["metrics"] = [{**m, "value": float_out(m["value"])} for m in model["metrics"]]
    return {"logged_model": model}


@router.get("/{model_id}/artifacts", summary="List a logged model's files", response_model=FileList)
@needs(Permission.READ, "logged_model", "model_id")
def list_files(model_id: str, service: LoggedModels, path: str = "", recursive: bool = False) -> dict[str, object]:
    files = service.files(model_id, path) if recursive else service.list_artifacts(model_id, path)
    return {"files": [file_public(f) for f in files]}


@router.get(
    "/{model_id}/artifacts/{path:path}",
    summary="Download one file of a logged model",
    response_model=None,
    response_class=Response,
    responses=binary(),
)
@needs(Permission.READ, "logged_model", "model_id")
def download_file(model_id: str, path: str, service: LoggedModels) -> FileResponse | StreamingResponse:
    return file_response(service.open(model_id, path), service.read)
