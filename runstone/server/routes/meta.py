"""/health, /version, /metrics, and the audit trail and gc under /api/v1."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse, Response

from runstone.backend import Backend
from runstone.deps import backend, context
from runstone.errors import RunstoneError, Unavailable
from runstone.governance.audit import AuditService
from runstone.governance.needs import admin_only, signed_in
from runstone.prometheus import CONTENT_TYPE
from runstone.schemas.common import Model
from runstone.schemas.meta import AuditEventList, AuditVerification, GcReportPublic, Health, Readiness, VersionAnswer
from runstone.server.http import JSON, Route
from runstone.server.mlflow_compat.protocol import MLFLOW_CLIENT_HEADER, MLFLOW_PROTOCOL_VERSION
from runstone.tracking.gc import collect
from runstone.version import VERSION

log = logging.getLogger("runstone.server")
router = APIRouter(route_class=Route, default_response_class=JSON, tags=["server"])


@router.get("/health", summary="Liveness: the server process answers", response_model=Health)
@signed_in
async def health() -> dict[str, object]:
    return {"status": "ok"}


@router.get(
    "/health/ready", summary="Readiness: the database and the artifact store take writes", response_model=Readiness
)
@signed_in
def ready(request: Request) -> dict[str, object]:
    b: Backend = request.app.state.backend
    checks: dict[str, str] = {}
    failed: list[RunstoneError] = []
    for name, probe in (("database", b.db.check_writable), ("artifacts", b.store.check_writable)):
        try:
            probe()
            checks[name] = "ok"
        except RunstoneError as exc:
            checks[name] = exc.message
            failed.append(exc)
        except Exception:
            log.exception("readiness probe of the %s failed", name)
            failed.append(Unavailable(f"The {name} check failed (see the server log)."))
            checks[name] = failed[-1].message
    if request.app.state.draining:
        checks["server"] = "shutting down"
        failed.append(Unavailable("The server is shutting down."))
    if failed:
        raise Unavailable("Not ready: " + " ".join(e.message for e in failed), {"checks": checks})
    return {"status": "ready", "checks": checks}


@router.get(
    "/version",
    summary="Server version (to MLflow's clients, which send X-MLflow-Client-Version: the MLflow version whose "
    "protocol runstone serves, as plain text, as MLflow's server answers)",
    response_model=VersionAnswer,
)
@signed_in
def version(request: Request) -> dict[str, object] | Response:
    if MLFLOW_CLIENT_HEADER in request.headers:
        return PlainTextResponse(MLFLOW_PROTOCOL_VERSION)
    return {"version": VERSION}


@router.get(
    "/metrics", summary="Prometheus metrics of this server (all its worker processes)", response_class=PlainTextResponse
)
@signed_in
def metrics(request: Request) -> Response:
    return Response(request.app.state.stats.render(), media_type=CONTENT_TYPE)


@router.get(
    "/api/v1/audit",
    summary="Audit events, oldest first (filter by target, actor, action, time)",
    response_model=AuditEventList,
)
@admin_only
def audit_events(
    b: Annotated[Backend, Depends(backend)],
    target_type: str | None = None,
    target_id: str | None = None,
    after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    limit: int = 1000,
    actor: str | None = None,
    action: Annotated[str | None, Query(description="An action, or a prefix ending in '.' (token.)")] = None,
    since: Annotated[int | None, Query(ge=0, le=2**63 - 1, description="From this time (ms since the epoch)")] = None,
    until: Annotated[int | None, Query(ge=0, le=2**63 - 1, description="Before this time (ms since the epoch)")] = None,
) -> dict[str, object]:
    events = AuditService(b.db).events(
        target_type=target_type,
        target_id=target_id,
        after_seq=after,
        limit=limit,
        actor=actor,
        action=action,
        since=since,
        until=until,
    )
    return {"events": [e.__dict__ for e in events]}


@router.get("/api/v1/audit/verify", summary="Check the audit chain for tampering", response_model=AuditVerification)
@admin_only
def audit_verify(b: Annotated[Backend, Depends(backend)]) -> dict[str, object]:
    return AuditService(b.db).verify().__dict__


class GcRequest(Model):
    older_than_ms: int | None = None
    dry_run: bool = False
    # Only these deleted runs, and these deleted experiments with their runs (all when both are absent).
    run_ids: list[str] | None = None
    experiment_ids: list[str] | None = None


@router.post("/api/v1/gc", summary="Permanently remove deleted runs and experiments", response_model=GcReportPublic)
@admin_only
def gc(body: GcRequest, request: Request, b: Annotated[Backend, Depends(backend)]) -> dict[str, object]:
    report = collect(
        context(request),
        b.store,
        older_than_ms=body.older_than_ms,
        dry_run=body.dry_run,
        run_ids=body.run_ids,
        experiment_ids=body.experiment_ids,
    )
    return report.__dict__
