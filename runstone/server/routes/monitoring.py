"""/api/v1/monitoring: reference profiles, prediction logs, labels, windows, rules and alerts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from runstone.deps import backend, context
from runstone.errors import InvalidInput
from runstone.governance.needs import admin_only, needs
from runstone.governance.permissions import Permission
from runstone.monitoring.scheduler import owner_name
from runstone.monitoring.service import MonitoringService
from runstone.monitoring.windows import parse_duration
from runstone.schemas.common import Empty
from runstone.schemas.monitoring import (
    AlertAnswer,
    AlertList,
    EvaluateRequest,
    IngestCounts,
    LabelCount,
    LabelsCreate,
    ProfileAnswer,
    ProfileUpdate,
    RetrainingClaim,
    RetrainingUpdate,
    RuleAnswer,
    RuleList,
    TrainingDataset,
    WindowAnalysis,
    WindowCount,
    WindowList,
    alert_public,
    profile_public,
    rule_public,
    window_public,
)
from runstone.server.http import JSON, Route, binary


def monitoring(request: Request) -> MonitoringService:
    return backend(request).monitoring(context(request))


Monitoring = Annotated[MonitoringService, Depends(monitoring)]

router = APIRouter(prefix="/api/v1/monitoring", tags=["monitoring"], route_class=Route, default_response_class=JSON)
_VERSION = "/models/{name}/versions/{version}"
# The route whose body is a Parquet file rather than JSON.
RAW_BODIES = r"^/api/v1/monitoring/models/[^/]+/versions/[^/]+/logs$"


@router.get(
    _VERSION + "/profile",
    summary="The reference profile of a model version (number or alias)",
    response_model=ProfileAnswer,
)
@needs(Permission.READ, "model", "name")
def get_profile(name: str, version: str, service: Monitoring) -> dict[str, object]:
    return {"profile": profile_public(service.get_profile(name, version))}


@router.put(
    _VERSION + "/profile", summary="Store the reference profile of a model version", response_model=ProfileAnswer
)
@needs(Permission.EDIT, "model", "name")
def set_profile(name: str, version: str, body: ProfileUpdate, service: Monitoring) -> dict[str, object]:
    stored = service.set_profile(name, version, body.profile, source=body.source, dataset_digest=body.dataset_digest)
    return {"profile": profile_public(stored)}


@router.get(
    _VERSION + "/dataset",
    summary="The dataset recorded on the run that produced a version",
    response_model=TrainingDataset,
)
@needs(Permission.READ, "model", "name")
def training_dataset(name: str, version: str, service: Monitoring) -> dict[str, object]:
    return service.training_dataset(name, version)


@router.post(
    _VERSION + "/logs",
    summary="Add a Parquet file of logged predictions (raw request body)",
    response_model=IngestCounts,
)
@needs(Permission.EDIT, "model", "name")
async def ingest(name: str, version: str, request: Request, service: Monitoring) -> dict[str, object]:
    from starlette.concurrency import run_in_threadpool

    data = await request.body()
    if not data:
        raise InvalidInput("Send the prediction log as a Parquet file in the request body.")
    return dict(await run_in_threadpool(service.ingest, name, version, data))


@router.get(
    _VERSION + "/logs",
    summary="Logged rows of a window with their labels, as Parquet",
    response_model=None,
    response_class=Response,
    responses=binary("application/vnd.apache.parquet"),
)
@needs(Permission.READ, "model", "name")
def export(name: str, version: str, start: int, end: int, service: Monitoring) -> Response:
    return Response(service.export(name, version, start, end), media_type="application/vnd.apache.parquet")


@router.get(
    _VERSION + "/compute", summary="Analyze one window now: drift, traffic and quality", response_model=WindowAnalysis
)
@needs(Permission.READ, "model", "name")
def compute(name: str, version: str, start: int, end: int, service: Monitoring) -> dict[str, object]:
    return {"window": service.compute(name, version, start, end)}


@router.get("/models/{name}/windows", summary="Evaluated windows of a model, newest first", response_model=WindowList)
@needs(Permission.READ, "model", "name")
def list_windows(name: str, service: Monitoring, version: str | None = None, limit: int = 500) -> dict[str, object]:
    return {"windows": [window_public(w) for w in service.windows(name, version, max(1, min(limit, 5000)))]}


@router.post(
    "/labels", summary="Join true labels to logged rows by row key (<request id>:<row>)", response_model=LabelCount
)
@needs(Permission.EDIT, "model", "model")
def log_labels(body: LabelsCreate, service: Monitoring) -> dict[str, int]:
    return service.log_labels(body.request_ids, body.labels, model=body.model)


@router.get("/models/{name}/rules", summary="Alert rules of a model", response_model=RuleList)
@needs(Permission.READ, "model", "name")
def list_rules(name: str, service: Monitoring) -> dict[str, object]:
    return {"rules": [rule_public(r) for r in service.list_rules(name)]}


@router.post("/models/{name}/rules", status_code=201, summary="Add an alert rule to a model", response_model=RuleAnswer)
@needs(Permission.MANAGE, "model", "name")
def create_rule(name: str, body: dict[str, Any], service: Monitoring) -> dict[str, object]:
    return {"rule": rule_public(service.create_rule(name, body))}


@router.delete("/models/{name}/rules/{rule}", summary="Remove an alert rule", response_model=Empty)
@needs(Permission.MANAGE, "model", "name")
def delete_rule(name: str, rule: str, service: Monitoring) -> dict[str, object]:
    service.delete_rule(name, rule)
    return {}


@router.get("/alerts", summary="Alerts, newest first (of one model with ?model=)", response_model=AlertList)
@needs(Permission.READ, "model", "model")
def list_alerts(service: Monitoring, model: str | None = None, limit: int = 200) -> dict[str, object]:
    return {"alerts": [alert_public(a) for a in service.alerts(model, max(1, min(limit, 5000)))]}


@router.get("/alerts/{alert_id}", summary="One alert and the links of its retraining", response_model=AlertAnswer)
@admin_only
def get_alert(alert_id: int, service: Monitoring) -> dict[str, object]:
    return {"alert": alert_public(service.get_alert(alert_id))}


@router.post(
    "/evaluate",
    summary="Compute the completed windows no process has claimed, and evaluate the rules",
    response_model=WindowCount,
)
@admin_only
def evaluate(body: EvaluateRequest, service: Monitoring) -> dict[str, object]:
    return {"windows": service.evaluate_due(parse_duration(body.window), owner=owner_name())}


@router.post(
    "/retraining/claim",
    summary="Take one alert whose retraining action waits for a worker",
    response_model=RetrainingClaim,
)
@admin_only
def claim_retraining(service: Monitoring) -> dict[str, object]:
    claimed = service.claim_retraining()
    if claimed is None:
        return {"alert": None, "action": None}
    alert, action = claimed
    return {"alert": alert_public(alert), "action": action}


@router.post(
    "/alerts/{alert_id}/retraining", summary="Record a retraining's progress and links", response_model=AlertAnswer
)
@admin_only
def record_retraining(alert_id: int, body: RetrainingUpdate, service: Monitoring) -> dict[str, object]:
    links = body.model_dump(exclude={"status"})
    return {"alert": alert_public(service.record_retraining(alert_id, status=body.status, **links))}
