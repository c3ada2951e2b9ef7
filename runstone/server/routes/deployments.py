"""/api/v1/deployments: where each model version is served."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from runstone.deps import deployments
from runstone.governance.needs import needs, signed_in
from runstone.governance.permissions import Permission
from runstone.registry.deployments import DeploymentService
from runstone.schemas.deployments import DeploymentAnswer, DeploymentCreate, DeploymentList, deployment_public
from runstone.server.http import JSON, Route

Deployments = Annotated[DeploymentService, Depends(deployments)]

router = APIRouter(prefix="/api/v1", tags=["deployments"], route_class=Route, default_response_class=JSON)


@router.post(
    "/deployments",
    status_code=201,
    summary="Record that a model version is served somewhere",
    response_model=DeploymentAnswer,
)
@needs(Permission.EDIT, "model", "model_name")
def record(body: DeploymentCreate, service: Deployments) -> dict[str, object]:
    deployment = service.record_deployment(
        body.name, body.model_name, body.version, target=body.target, description=body.description
    )
    return {"deployment": deployment_public(deployment)}


@router.get(
    "/deployments",
    summary="Deployment records, newest first (filter by model, version, name, active)",
    response_model=DeploymentList,
)
@signed_in  # the service lists the deployments of the models the caller may read
def list_deployments(
    service: Deployments,
    model_name: str | None = None,
    version: int | None = None,
    name: str | None = None,
    active: bool = False,
) -> dict[str, object]:
    found = service.list_deployments(model_name, version, name, active_only=active)
    return {"deployments": [deployment_public(d) for d in found]}


@router.get("/deployments/{deployment_id}", summary="Get a deployment record", response_model=DeploymentAnswer)
@needs(Permission.READ, "deployment", "deployment_id")
def get(deployment_id: int, service: Deployments) -> dict[str, object]:
    return {"deployment": deployment_public(service.get_deployment(deployment_id))}


@router.post(
    "/deployments/{deployment_id}/end",
    summary="Record that a deployment stopped serving",
    response_model=DeploymentAnswer,
)
@needs(Permission.EDIT, "deployment", "deployment_id")
def end(deployment_id: int, service: Deployments) -> dict[str, object]:
    return {"deployment": deployment_public(service.end_deployment(deployment_id))}
