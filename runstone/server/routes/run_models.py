"""/api/v1/runs/{run_id}/logged-models: a model logged into a run, recorded as a logged model too
(what MLflow 3's client lists and loads as ``models:/m-<id>``); and /api/v1/logged-models/search,
so that runstone's clients find the logged models MLflow's client made."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool

from runstone import deps
from runstone.codec import float_out
from runstone.governance.needs import needs
from runstone.governance.permissions import Permission
from runstone.schemas.tracking import LoggedModelPage, LoggedModelRefAnswer, LoggedModelSearch, RunModelPublish
from runstone.server.http import JSON, Route
from runstone.tracking import run_models
from runstone.tracking.artifacts import ArtifactService
from runstone.tracking.logged_models import LoggedModelService

router = APIRouter(prefix="/api/v1/runs", tags=["logged models"], route_class=Route, default_response_class=JSON)
search_router = APIRouter(
    prefix="/api/v1/logged-models", tags=["logged models"], route_class=Route, default_response_class=JSON
)
LoggedModels = Annotated[LoggedModelService, Depends(deps.logged_models)]


@router.post(
    "/{run_id}/logged-models",
    status_code=201,
    summary="Record a model of a run as a logged model",
    response_model=LoggedModelRefAnswer,
)
@needs(Permission.EDIT, "run", "run_id")
async def publish_run_model(
    run_id: str,
    body: RunModelPublish,
    models: Annotated[LoggedModelService, Depends(deps.logged_models)],
    artifacts: Annotated[ArtifactService, Depends(deps.artifacts)],
) -> dict[str, object]:
    model = await run_in_threadpool(run_models.publish, models, artifacts, run_id, body.path)
    return {"logged_model": {"model_id": model.model_id, "name": model.name, "status": model.status}}


@search_router.post("/search", summary="Search logged models with the filter grammar", response_model=LoggedModelPage)
@needs(Permission.READ, "experiment", "experiment_ids")
def search_logged_models(body: LoggedModelSearch, models: LoggedModels) -> dict[str, object]:
    page = models.search(body.experiment_ids, body.filter, max_results=body.max_results, page_token=body.page_token)
    found = []
    for model in page:
        out = dataclasses.asdict(model)
        out["metrics"] = [{**m, "value": float_out(m["value"])} for m in out["metrics"]]
        found.append(out)
    return {"logged_models": found, "next_page_token": page.next_page_token}
