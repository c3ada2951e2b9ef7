"""/api/v1 trace housekeeping: deleting old traces. (The traces themselves are read and written
through MLflow's trace endpoints and OTLP, in server/mlflow_compat and routes/otlp.py.)"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from runstone.deps import traces
from runstone.governance.needs import admin_only, needs
from runstone.governance.permissions import Permission
from runstone.schemas.tracking import TracePrune, TracePruneAnswer
from runstone.server.http import JSON, Route
from runstone.tracking.traces import TraceService

router = APIRouter(prefix="/api/v1", tags=["traces"], route_class=Route, default_response_class=JSON)
Traces = Annotated[TraceService, Depends(traces)]


@router.post(
    "/traces/prune",
    summary="Delete old traces of every experiment (by age, or past each experiment's retention)",
    response_model=TracePruneAnswer,
)
@admin_only
def prune_traces(body: TracePrune, service: Traces) -> dict[str, Any]:
    deleted = service.prune(older_than_ms=body.older_than_ms, dry_run=body.dry_run)
    return {"deleted": deleted, "dry_run": body.dry_run}


@router.post(
    "/experiments/{experiment_id}/traces/prune",
    summary="Delete old traces of an experiment (by age, or past its retention)",
    response_model=TracePruneAnswer,
)
@needs(Permission.EDIT, "experiment", "experiment_id")
def prune_experiment_traces(experiment_id: str, body: TracePrune, service: Traces) -> dict[str, Any]:
    deleted = service.prune(older_than_ms=body.older_than_ms, experiment_ids=[experiment_id], dry_run=body.dry_run)
    return {"deleted": deleted, "dry_run": body.dry_run}
