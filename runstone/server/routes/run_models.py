"""/api/v1/runs/{run_id}/logged-models: a model logged into a run, recorded as a logged model too
(what MLflow 3's client lists and loads as ``models:/m-<id>``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool

from runstone import deps
from runstone.schemas.tracking import RunModelPublish
from runstone.server.http import JSON, Route
from runstone.tracking import run_models
from runstone.tracking.artifacts import ArtifactService
from runstone.tracking.logged_models import LoggedModelService

router = APIRouter(prefix="/api/v1/runs", tags=["logged models"], route_class=Route, default_response_class=JSON)


@router.post("/{run_id}/logged-models", status_code=201, summary="Record a model of a run as a logged model")
async def publish_run_model(
    run_id: str,
    body: RunModelPublish,
    models: Annotated[LoggedModelService, Depends(deps.logged_models)],
    artifacts: Annotated[ArtifactService, Depends(deps.artifacts)],
) -> dict[str, Any]:
    model = await run_in_threadpool(run_models.publish, models, artifacts, run_id, body.path)
    return {"logged_model": {"model_id": model.model_id, "name": model.name, "status": model.status}}
