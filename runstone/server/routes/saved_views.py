"""/api/v1/experiments/{experiment_id}/views"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from runstone.deps import saved_views
from runstone.governance.needs import needs
from runstone.governance.permissions import Permission
from runstone.schemas.common import Empty
from runstone.schemas.tracking import (
    SavedViewAnswer,
    SavedViewCreate,
    SavedViewList,
    SavedViewUpdate,
    saved_view_public,
)
from runstone.server.http import JSON, Route
from runstone.tracking.saved_views import SavedViewService

router = APIRouter(
    prefix="/api/v1/experiments/{experiment_id}/views", tags=["views"], route_class=Route, default_response_class=JSON
)
Views = Annotated[SavedViewService, Depends(saved_views)]


@router.get("", summary="List an experiment's saved views", response_model=SavedViewList)
@needs(Permission.READ, "experiment", "experiment_id")
def list_views(experiment_id: str, service: Views) -> dict[str, object]:
    return {"views": [saved_view_public(v) for v in service.list_views(experiment_id)]}


@router.post("", status_code=201, summary="Save a view of an experiment's page", response_model=SavedViewAnswer)
@needs(Permission.EDIT, "experiment", "experiment_id")
def create_view(experiment_id: str, body: SavedViewCreate, service: Views) -> dict[str, object]:
    return {"view": saved_view_public(service.create_view(experiment_id, body.name, body.state))}


@router.get("/{view_id}", summary="Get a saved view", response_model=SavedViewAnswer)
@needs(Permission.READ, "experiment", "experiment_id")
def get_view(experiment_id: str, view_id: str, service: Views) -> dict[str, object]:
    return {"view": saved_view_public(service.get_view(experiment_id, view_id))}


@router.patch("/{view_id}", summary="Rename a saved view or change its state", response_model=SavedViewAnswer)
@needs(Permission.EDIT, "experiment", "experiment_id")
def update_view(experiment_id: str, view_id: str, body: SavedViewUpdate, service: Views) -> dict[str, object]:
    return {"view": saved_view_public(service.update_view(experiment_id, view_id, name=body.name, state=body.state))}


@router.delete("/{view_id}", summary="Delete a saved view", response_model=Empty)
@needs(Permission.EDIT, "experiment", "experiment_id")
def delete_view(experiment_id: str, view_id: str, service: Views) -> dict[str, object]:
    service.delete_view(experiment_id, view_id)
    return {}
