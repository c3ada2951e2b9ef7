"""/api/v1/experiments"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from runstone.deps import tracking
from runstone.entities import PagedList
from runstone.governance.needs import needs, signed_in
from runstone.governance.permissions import Permission
from runstone.schemas.common import Empty
from runstone.schemas.tracking import (
    ExperimentAnswer,
    ExperimentCreate,
    ExperimentPage,
    ExperimentSearch,
    ExperimentUpdate,
    TagValue,
    experiment_public,
)
from runstone.server.http import JSON, Route
from runstone.tracking.service import TrackingService

router = APIRouter(prefix="/api/v1/experiments", tags=["experiments"], route_class=Route, default_response_class=JSON)
Tracking = Annotated[TrackingService, Depends(tracking)]


def _page(service: TrackingService, page: PagedList, with_counts: bool) -> dict[str, object]:
    counts = service.experiment_run_counts([e.experiment_id for e in page]) if with_counts else {}
    return {
        "experiments": [experiment_public(e, counts.get(e.experiment_id)) for e in page],
        "next_page_token": page.next_page_token,
    }


@router.post("", status_code=201, summary="Create an experiment", response_model=ExperimentAnswer)
@signed_in
def create_experiment(body: ExperimentCreate, service: Tracking) -> dict[str, object]:
    experiment_id = service.create_experiment(body.name, body.tags)
    return {"experiment": experiment_public(service.get_experiment(experiment_id))}


@router.get("", summary="List experiments", response_model=ExperimentPage)
@signed_in
def list_experiments(
    service: Tracking,
    filter: str | None = None,
    view_type: str | None = None,
    max_results: int | None = None,
    order_by: Annotated[list[str] | None, Query()] = None,
    page_token: str | None = None,
    with_counts: bool = False,
) -> dict[str, object]:
    page = service.search_experiments(
        view_type=view_type, filter_string=filter, max_results=max_results, order_by=order_by, page_token=page_token
    )
    return _page(service, page, with_counts)


@router.post("/search", summary="Search experiments", response_model=ExperimentPage)
@signed_in
def search_experiments(body: ExperimentSearch, service: Tracking) -> dict[str, object]:
    page = service.search_experiments(
        view_type=body.view_type,
        filter_string=body.filter,
        max_results=body.max_results,
        order_by=body.order_by,
        page_token=body.page_token,
    )
    return _page(service, page, False)


@router.get("/by-name", summary="Get an experiment by name", response_model=ExperimentAnswer)
@needs(Permission.READ, "experiment_name", "name")
def get_experiment_by_name(name: str, service: Tracking) -> dict[str, object]:
    return {"experiment": experiment_public(service.get_experiment_by_name(name))}


@router.get("/{experiment_id}", summary="Get an experiment", response_model=ExperimentAnswer)
@needs(Permission.READ, "experiment", "experiment_id")
def get_experiment(experiment_id: str, service: Tracking) -> dict[str, object]:
    return {"experiment": experiment_public(service.get_experiment(experiment_id))}


@router.patch("/{experiment_id}", summary="Rename an experiment", response_model=ExperimentAnswer)
@needs(Permission.EDIT, "experiment", "experiment_id")
def update_experiment(experiment_id: str, body: ExperimentUpdate, service: Tracking) -> dict[str, object]:
    service.rename_experiment(experiment_id, body.name)
    return {"experiment": experiment_public(service.get_experiment(experiment_id))}


@router.post("/{experiment_id}/delete", summary="Delete an experiment and its runs (restorable)", response_model=Empty)
@needs(Permission.MANAGE, "experiment", "experiment_id")
def delete_experiment(experiment_id: str, service: Tracking) -> dict[str, object]:
    service.delete_experiment(experiment_id)
    return {}


@router.post("/{experiment_id}/restore", summary="Restore a deleted experiment and its runs", response_model=Empty)
@needs(Permission.MANAGE, "experiment", "experiment_id")
def restore_experiment(experiment_id: str, service: Tracking) -> dict[str, object]:
    service.restore_experiment(experiment_id)
    return {}


@router.put("/{experiment_id}/tags/{key:path}", summary="Set an experiment tag", response_model=Empty)
@needs(Permission.EDIT, "experiment", "experiment_id")
def set_experiment_tag(experiment_id: str, key: str, body: TagValue, service: Tracking) -> dict[str, object]:
    service.set_experiment_tag(experiment_id, key, body.value)
    return {}


@router.delete("/{experiment_id}/tags/{key:path}", summary="Delete an experiment tag", response_model=Empty)
@needs(Permission.EDIT, "experiment", "experiment_id")
def delete_experiment_tag(experiment_id: str, key: str, service: Tracking) -> dict[str, object]:
    service.delete_experiment_tag(experiment_id, key)
    return {}
