"""The access panel's forms on experiment and model pages (auth on): MANAGE holders and admins
grant and revoke READ, EDIT, MANAGE (and APPROVE on models) to users and groups."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response

from runstone.deps import permissions
from runstone.governance.needs import needs
from runstone.governance.permissions import Permission, PermissionService
from runstone.ui.access_state import grant_action
from runstone.ui.formatting import model_url
from runstone.ui.web import PageRoute, act, check_csrf

router = APIRouter(include_in_schema=False, route_class=PageRoute, dependencies=[Depends(check_csrf)])
Permissions = Annotated[PermissionService, Depends(permissions)]
Field = Annotated[str, Form(max_length=256)]


@router.post("/ui/experiments/{experiment_id}/grants")
@needs(Permission.MANAGE, "experiment", "experiment_id")
def experiment_grants(
    request: Request,
    experiment_id: str,
    service: Permissions,
    principal: Field = "",
    principal_type: Field = "user",
    permission: Field = "",
    action: Field = "grant",
) -> Response:
    run = grant_action(
        service, "experiment", experiment_id, principal_type, principal, permission, revoke=action == "revoke"
    )
    return act(request, f"/ui/experiments/{experiment_id}#access", run)


@router.post("/ui/models/{name}/grants")
@needs(Permission.MANAGE, "model", "name")
def model_grants(
    request: Request,
    name: str,
    service: Permissions,
    principal: Field = "",
    principal_type: Field = "user",
    permission: Field = "",
    action: Field = "grant",
) -> Response:
    run = grant_action(service, "model", name, principal_type, principal, permission, revoke=action == "revoke")
    return act(request, model_url(name) + "#access", run)
