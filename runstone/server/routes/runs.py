"""/api/v1/runs"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from runstone.deps import browse, tracking
from runstone.entities import Dataset, Metric
from runstone.governance.needs import needs
from runstone.governance.permissions import Permission
from runstone.schemas.common import Empty
from runstone.schemas.tracking import (
    HistoryGrid,
    HistoryGridSearch,
    LogBatch,
    LogInputs,
    MetricHistoryPublic,
    RunAnswer,
    RunCreate,
    RunHeartbeat,
    RunIdList,
    RunMove,
    RunningRuns,
    RunPage,
    RunSearch,
    RunUpdate,
    history_public,
    run_public,
)
from runstone.server.http import JSON, Route
from runstone.tracking import heartbeat as beats
from runstone.tracking.browse import BrowseService
from runstone.tracking.service import TrackingService

router = APIRouter(prefix="/api/v1/runs", tags=["runs"], route_class=Route, default_response_class=JSON)
Tracking = Annotated[TrackingService, Depends(tracking)]
Browse = Annotated[BrowseService, Depends(browse)]


@router.post("", status_code=201, summary="Create a run", response_model=RunAnswer)
@needs(Permission.EDIT, "experiment", "experiment_id", "default:0")
def create_run(body: RunCreate, service: Tracking) -> dict[str, object]:
    run = service.create_run(
        body.experiment_id,
        run_name=body.run_name,
        start_time=body.start_time,
        tags=body.tags,
        user_id=body.user_id,
        parent_run_id=body.parent_run_id,
        run_id=body.run_id,
    )
    return {"run": run_public(run)}


@router.post("/heartbeat", summary="Tell the server the client of these runs is alive", response_model=RunningRuns)
@needs(Permission.EDIT, "run", "run_ids")
def heartbeat(body: RunHeartbeat, service: Tracking) -> dict[str, object]:
    return {"running": beats.beat(service.ctx, body.run_ids)}


# The two routes below answer with a ready JSON response: their answers are large, and
# re-validating them against the declared response model costs more than the query.
@router.post("/search", summary="Search runs with the filter grammar", response_model=RunPage)
@needs(Permission.READ, "experiment", "experiment_ids", optional=True)
@needs(Permission.READ, "experiment_name", "experiment_names", optional=True)
def search_runs(body: RunSearch, service: Tracking) -> JSON:
    page = service.search_runs(
        body.experiment_ids,
        body.filter,
        body.run_view_type,
        body.max_results,
        body.order_by,
        body.page_token,
        experiment_names=body.experiment_names,
        params=body.params,
        metrics=body.metrics,
        tags=body.tags,
    )
    return JSON({"runs": [run_public(r) for r in page], "next_page_token": page.next_page_token})


@router.post(
    "/metric-histories/search",
    summary="Downsampled histories of many metrics of many runs in one read",
    response_model=HistoryGrid,
)
@needs(Permission.READ, "run", "run_ids")
def search_metric_histories(body: HistoryGridSearch, service: Browse) -> JSON:
    found = service.history_grid(
        body.run_ids, body.keys, max_points=body.max_points, start_step=body.start_step, end_step=body.end_step
    )
    return JSON({"histories": {key: {r: history_public(h) for r, h in runs.items()} for key, runs in found.items()}})


@router.get("/{run_id}", summary="Get a run", response_model=RunAnswer)
@needs(Permission.READ, "run", "run_id")
def get_run(run_id: str, service: Tracking) -> dict[str, object]:
    return {"run": run_public(service.get_run(run_id))}


@router.get("/{run_id}/children", summary="Ids of a run's nested runs", response_model=RunIdList)
@needs(Permission.READ, "run", "run_id")
def get_children(run_id: str, service: Tracking) -> dict[str, object]:
    return {"run_ids": service.child_run_ids(run_id)}


@router.patch("/{run_id}", summary="Update a run's status, end time or name", response_model=RunAnswer)
@needs(Permission.EDIT, "run", "run_id")
def update_run(run_id: str, body: RunUpdate, service: Tracking) -> dict[str, object]:
    run = service.update_run(run_id, status=body.status, end_time=body.end_time, run_name=body.run_name)
    return {"run": run_public(run)}


@router.post("/{run_id}/delete", summary="Delete a run (restorable)", response_model=Empty)
@needs(Permission.EDIT, "run", "run_id")
def delete_run(run_id: str, service: Tracking) -> dict[str, object]:
    service.delete_run(run_id)
    return {}


@router.post("/{run_id}/restore", summary="Restore a deleted run", response_model=Empty)
@needs(Permission.EDIT, "run", "run_id")
def restore_run(run_id: str, service: Tracking) -> dict[str, object]:
    service.restore_run(run_id)
    return {}


@router.post("/{run_id}/move", summary="Move a run to another experiment", response_model=RunAnswer)
@needs(Permission.EDIT, "run", "run_id")
@needs(Permission.EDIT, "experiment", "experiment_id")
def move_run(run_id: str, body: RunMove, service: Tracking) -> dict[str, object]:
    return {"run": run_public(service.move_run(run_id, body.experiment_id))}


@router.post(
    "/{run_id}/batch",
    summary="Log metrics, params and tags in one all-or-nothing write",
    response_model=Empty,
)
@needs(Permission.EDIT, "run", "run_id", in_transaction=True)
def log_batch(run_id: str, body: LogBatch, service: Tracking) -> JSON:
    service.log_batch(
        run_id,
        metrics=[Metric(m["key"], m["value"], m["timestamp"], m.get("step", 0)) for m in body.metrics],
        params=[(p.key, p.value) for p in body.params],
        tags=[(t.key, t.value) for t in body.tags],
    )
    # A ready response: validating it as the response model would take one more trip through
    # the thread pool, on the path of every logged batch.
    return JSON({})


@router.delete("/{run_id}/tags/{key:path}", summary="Delete a run tag", response_model=Empty)
@needs(Permission.EDIT, "run", "run_id")
def delete_tag(run_id: str, key: str, service: Tracking) -> dict[str, object]:
    service.delete_tag(run_id, key)
    return {}


@router.get(
    "/{run_id}/metric-history",
    summary="A metric's history, column-wise, optionally downsampled",
    response_model=MetricHistoryPublic,
)
@needs(Permission.READ, "run", "run_id")
def metric_history(
    run_id: str,
    key: str,
    service: Tracking,
    max_points: int | None = None,
    start_step: int | None = None,
    end_step: int | None = None,
    limit: int | None = None,
) -> JSON:
    history = service.get_metric_history(
        run_id, key, max_points=max_points, start_step=start_step, end_step=end_step, limit=limit
    )
    return JSON(history_public(history))


@router.post("/{run_id}/inputs", summary="Link dataset inputs to a run", response_model=Empty)
@needs(Permission.EDIT, "run", "run_id")
def log_inputs(run_id: str, body: LogInputs, service: Tracking) -> dict[str, object]:
    service.log_inputs(
        run_id,
        [
            (
                Dataset(
                    d.dataset.name,
                    d.dataset.digest,
                    d.dataset.source_type,
                    d.dataset.source,
                    d.dataset.schema_,
                    d.dataset.profile,
                ),
                d.tags,
            )
            for d in body.datasets
        ],
    )
    return {}
