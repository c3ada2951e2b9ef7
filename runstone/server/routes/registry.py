"""/api/v1/registered-models, /api/v1/model-versions, /api/v1/approval-requests, /api/v1/webhooks"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from runstone import deps
from runstone.governance.needs import admin_only, needs, signed_in
from runstone.governance.permissions import Permission
from runstone.registry.approvals import GovernedRegistry
from runstone.registry.webhooks import WebhookService
from runstone.schemas.common import Empty
from runstone.schemas.registry import (
    AliasAssignment,
    ApprovalRequestAnswer,
    ApprovalRequestList,
    AssignmentList,
    Decision,
    DeliveryList,
    HolderList,
    ManifestAnswer,
    ModelVersionAnswer,
    ModelVersionCreate,
    ModelVersionList,
    ModelVersionPage,
    ModelVersionUpdate,
    PolicyAnswer,
    PolicyIn,
    RegisteredModelAnswer,
    RegisteredModelCreate,
    RegisteredModelPage,
    RegisteredModelUpdate,
    RequestCreate,
    Rollback,
    Search,
    StageTransition,
    TagValueIn,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
    assignment_public,
    model_public,
    policy_public,
    request_public,
    version_public,
    webhook_public,
)
from runstone.server.http import JSON, Route

Registry = Annotated[GovernedRegistry, Depends(deps.registry)]
Webhooks = Annotated[WebhookService, Depends(deps.webhooks)]

router = APIRouter(prefix="/api/v1", tags=["registry"], route_class=Route, default_response_class=JSON)


# ------------------------------------------------------------------ registered models
@router.post(
    "/registered-models", status_code=201, summary="Create a registered model", response_model=RegisteredModelAnswer
)
@signed_in
def create_model(body: RegisteredModelCreate, service: Registry) -> dict[str, object]:
    return {"registered_model": model_public(service.create_registered_model(body.name, body.description, body.tags))}


@router.get(
    "/registered-models", summary="Search registered models (name LIKE, tags)", response_model=RegisteredModelPage
)
@signed_in
def search_models(
    service: Registry,
    filter: str | None = None,
    max_results: int | None = None,
    order_by: Annotated[list[str] | None, Query()] = None,
    page_token: str | None = None,
) -> dict[str, object]:
    page = service.search_registered_models(filter, max_results, order_by, page_token)
    return {"registered_models": [model_public(m) for m in page], "next_page_token": page.next_page_token}


@router.get("/registered-models/{name}", summary="Get a registered model", response_model=RegisteredModelAnswer)
@needs(Permission.READ, "model", "name")
def get_model(name: str, service: Registry) -> dict[str, object]:
    return {"registered_model": model_public(service.get_registered_model(name))}


@router.patch(
    "/registered-models/{name}", summary="Rename or describe a registered model", response_model=RegisteredModelAnswer
)
@needs(Permission.EDIT, "model", "name")
def update_model(name: str, body: RegisteredModelUpdate, service: Registry) -> dict[str, object]:
    model = None
    if body.description is not None:
        model = service.update_registered_model(name, body.description)
    if body.new_name is not None:
        model = service.rename_registered_model(name, body.new_name)
    return {"registered_model": model_public(model or service.get_registered_model(name))}


@router.delete("/registered-models/{name}", summary="Delete a registered model and its versions", response_model=Empty)
@needs(Permission.MANAGE, "model", "name")
def delete_model(name: str, service: Registry) -> dict[str, object]:
    service.delete_registered_model(name)
    return {}


@router.put("/registered-models/{name}/tags/{key:path}", summary="Set a registered model tag", response_model=Empty)
@needs(Permission.EDIT, "model", "name")
def set_model_tag(name: str, key: str, body: TagValueIn, service: Registry) -> dict[str, object]:
    service.set_registered_model_tag(name, key, body.value)
    return {}


@router.delete(
    "/registered-models/{name}/tags/{key:path}", summary="Delete a registered model tag", response_model=Empty
)
@needs(Permission.EDIT, "model", "name")
def delete_model_tag(name: str, key: str, service: Registry) -> dict[str, object]:
    service.delete_registered_model_tag(name, key)
    return {}


@router.get("/registered-models/{name}/policy", summary="The approval policy of a model", response_model=PolicyAnswer)
@needs(Permission.READ, "model", "name")
def get_policy(name: str, service: Registry) -> dict[str, object]:
    return {"policy": policy_public(service.policy(name))}


@router.put(
    "/registered-models/{name}/policy", summary="Set the approval policy of a model", response_model=PolicyAnswer
)
@needs(Permission.MANAGE, "model", "name")
def set_policy(name: str, body: PolicyIn, service: Registry) -> dict[str, object]:
    return {"policy": policy_public(service.set_policy(name, body.to_entity()))}


@router.get(
    "/registered-models/{name}/history",
    summary="Every stage and alias assignment of a model",
    response_model=AssignmentList,
)
@needs(Permission.READ, "model", "name")
def history(name: str, service: Registry, kind: str | None = None, target: str | None = None) -> dict[str, object]:
    return {"assignments": [assignment_public(a) for a in service.get_model_history(name, kind=kind, target=target)]}


@router.get(
    "/registered-models/{name}/holders",
    summary="Which versions held a stage or alias at a time",
    response_model=HolderList,
)
@needs(Permission.READ, "model", "name")
def holders(
    name: str, time: int, service: Registry, stage: str | None = None, alias: str | None = None
) -> dict[str, object]:
    return {"versions": service.holders_at(name, time=time, stage=stage, alias=alias)}


@router.get(
    "/registered-models/{name}/latest-versions",
    summary="The latest version in each stage",
    response_model=ModelVersionList,
)
@needs(Permission.READ, "model", "name")
def latest_versions(
    name: str, service: Registry, stages: Annotated[list[str] | None, Query()] = None
) -> dict[str, object]:
    return {"model_versions": [version_public(v) for v in service.get_latest_versions(name, stages)]}


@router.post(
    "/registered-models/{name}/rollback",
    summary="Move a stage or alias back to its previous version",
    response_model=ModelVersionAnswer,
)
@needs(Permission.EDIT, "model", "name")
def rollback(name: str, body: Rollback, service: Registry) -> dict[str, object]:
    return {
        "model_version": version_public(
            service.rollback(name, stage=body.stage, alias=body.alias, comment=body.comment)
        )
    }


# -------------------------------------------------------------------------- aliases
@router.get(
    "/registered-models/{name}/aliases/{alias}",
    summary="The version an alias points to",
    response_model=ModelVersionAnswer,
)
@needs(Permission.READ, "model", "name")
def get_alias(name: str, alias: str, service: Registry) -> dict[str, object]:
    return {"model_version": version_public(service.get_model_version_by_alias(name, alias))}


@router.put(
    "/registered-models/{name}/aliases/{alias}",
    summary="Point an alias at a version",
    response_model=ModelVersionAnswer,
)
@needs(Permission.EDIT, "model", "name")
def set_alias(name: str, alias: str, body: AliasAssignment, service: Registry) -> dict[str, object]:
    return {
        "model_version": version_public(
            service.set_registered_model_alias(name, alias, body.version, reason=body.reason)
        )
    }


@router.delete("/registered-models/{name}/aliases/{alias}", summary="Remove an alias", response_model=Empty)
@needs(Permission.EDIT, "model", "name")
def delete_alias(name: str, alias: str, service: Registry) -> dict[str, object]:
    service.delete_registered_model_alias(name, alias)
    return {}


# ------------------------------------------------------------------------- versions
@router.post(
    "/registered-models/{name}/versions",
    status_code=201,
    summary="Register a model logged in a run",
    response_model=ModelVersionAnswer,
)
@needs(Permission.EDIT, "model", "name")
@needs(Permission.READ, "run", "run_id", optional=True)
@needs(Permission.READ, "model_source", "source", optional=True)
def create_version(name: str, body: ModelVersionCreate, service: Registry) -> dict[str, object]:
    version = service.create_model_version(name, body.source, body.run_id, body.tags, body.description)
    return {"model_version": version_public(version)}


@router.get(
    "/registered-models/{name}/versions/{version}", summary="Get a model version", response_model=ModelVersionAnswer
)
@needs(Permission.READ, "model", "name")
def get_version(name: str, version: str, service: Registry) -> dict[str, object]:
    return {"model_version": version_public(service.get_model_version(name, version))}


@router.get(
    "/registered-models/{name}/versions/{version}/manifest",
    summary="The files of a model version, with the SHA-256 recorded when it was registered",
    response_model=ManifestAnswer,
)
@needs(Permission.READ, "model", "name")
def get_version_manifest(name: str, version: str, service: Registry) -> dict[str, object]:
    return {"manifest": service.get_model_version_manifest(name, version).to_json()}


@router.patch(
    "/registered-models/{name}/versions/{version}",
    summary="Describe a model version",
    response_model=ModelVersionAnswer,
)
@needs(Permission.EDIT, "model", "name")
def update_version(name: str, version: str, body: ModelVersionUpdate, service: Registry) -> dict[str, object]:
    return {"model_version": version_public(service.update_model_version(name, version, body.description))}


@router.delete("/registered-models/{name}/versions/{version}", summary="Delete a model version", response_model=Empty)
@needs(Permission.MANAGE, "model", "name")
def delete_version(name: str, version: str, service: Registry) -> dict[str, object]:
    service.delete_model_version(name, version)
    return {}


@router.put(
    "/registered-models/{name}/versions/{version}/tags/{key:path}",
    summary="Set a model version tag",
    response_model=Empty,
)
@needs(Permission.EDIT, "model", "name")
def set_version_tag(name: str, version: str, key: str, body: TagValueIn, service: Registry) -> dict[str, object]:
    service.set_model_version_tag(name, version, key, body.value)
    return {}


@router.delete(
    "/registered-models/{name}/versions/{version}/tags/{key:path}",
    summary="Delete a model version tag",
    response_model=Empty,
)
@needs(Permission.EDIT, "model", "name")
def delete_version_tag(name: str, version: str, key: str, service: Registry) -> dict[str, object]:
    service.delete_model_version_tag(name, version, key)
    return {}


@router.post(
    "/registered-models/{name}/versions/{version}/stage",
    summary="Move a version to a stage",
    response_model=ModelVersionAnswer,
)
@needs(Permission.EDIT, "model", "name")
def transition(name: str, version: str, body: StageTransition, service: Registry) -> dict[str, object]:
    moved = service.transition_model_version_stage(
        name, version, body.stage, body.archive_existing_versions, reason=body.reason
    )
    return {"model_version": version_public(moved)}


@router.post("/model-versions/search", summary="Search model versions", response_model=ModelVersionPage)
@signed_in
def search_versions(body: Search, service: Registry) -> dict[str, object]:
    page = service.search_model_versions(body.filter, body.max_results, body.order_by, body.page_token)
    return {"model_versions": [version_public(v) for v in page], "next_page_token": page.next_page_token}


# ------------------------------------------------------------------------ approvals
@router.post(
    "/approval-requests",
    status_code=201,
    summary="Request a stage or alias change",
    response_model=ApprovalRequestAnswer,
)
@needs(Permission.EDIT, "model", "name")
def create_request(body: RequestCreate, service: Registry) -> dict[str, object]:
    opened = service.request_transition(
        body.name,
        body.version,
        stage=body.stage,
        alias=body.alias,
        comment=body.comment,
        archive_existing_versions=body.archive_existing_versions,
    )
    return {"request": request_public(opened)}


@router.get("/approval-requests", summary="List approval requests", response_model=ApprovalRequestList)
@signed_in  # the service lists the requests of the models the caller may read
def list_requests(service: Registry, name: str | None = None, status: str | None = None) -> dict[str, object]:
    return {"requests": [request_public(r) for r in service.search_requests(name, status)]}


@router.get("/approval-requests/{request_id}", summary="Get an approval request", response_model=ApprovalRequestAnswer)
@needs(Permission.READ, "request", "request_id")
def get_request(request_id: int, service: Registry) -> dict[str, object]:
    return {"request": request_public(service.get_request(request_id))}


@router.post(
    "/approval-requests/{request_id}/approve", summary="Approve a request", response_model=ApprovalRequestAnswer
)
@needs(Permission.APPROVE, "request", "request_id")
def approve(request_id: int, body: Decision, service: Registry) -> dict[str, object]:
    return {"request": request_public(service.approve_request(request_id, body.comment))}


@router.post("/approval-requests/{request_id}/reject", summary="Reject a request", response_model=ApprovalRequestAnswer)
@needs(Permission.APPROVE, "request", "request_id")
def reject(request_id: int, body: Decision, service: Registry) -> dict[str, object]:
    return {"request": request_public(service.reject_request(request_id, body.comment))}


@router.post(
    "/approval-requests/{request_id}/cancel", summary="Cancel your own request", response_model=ApprovalRequestAnswer
)
@needs(Permission.EDIT, "request", "request_id")
def cancel(request_id: int, service: Registry) -> dict[str, object]:
    return {"request": request_public(service.cancel_request(request_id))}


# ------------------------------------------------------------------------- webhooks
@router.post(
    "/webhooks", status_code=201, summary="Register a webhook (the secret is shown once)", response_model=WebhookCreated
)
@admin_only
def create_webhook(body: WebhookCreate, service: Webhooks) -> dict[str, object]:
    created = service.create_webhook(body.name, body.url, body.events, model_name=body.model_name, secret=body.secret)
    return {"webhook": webhook_public(created.webhook), "secret": created.secret}


@router.get("/webhooks", summary="List webhooks", response_model=WebhookList)
@admin_only
def list_webhooks(service: Webhooks) -> dict[str, object]:
    return {"webhooks": [webhook_public(w) for w in service.list_webhooks()]}


@router.delete("/webhooks/{webhook_id}", summary="Delete a webhook", response_model=Empty)
@admin_only
def delete_webhook(webhook_id: int, service: Webhooks) -> dict[str, object]:
    service.delete_webhook(webhook_id)
    return {}


@router.get("/webhooks/{webhook_id}/deliveries", summary="Recent deliveries of a webhook", response_model=DeliveryList)
@admin_only
def deliveries(webhook_id: int, service: Webhooks) -> dict[str, object]:
    return {"deliveries": service.deliveries(webhook_id)}
