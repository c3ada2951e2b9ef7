"""/api/v1/users, /tokens, /groups, /permissions: identities and who may do what (auth on).

Users and groups are an admin's; anyone signed in sees itself and its tokens, makes and revokes
its own tokens, and lists the grants of what it may read. A grant on one experiment or model is
given or taken by its MANAGE holders (the service checks that on the named resource).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from runstone.deps import identity, permissions
from runstone.governance.identity import IdentityService
from runstone.governance.needs import admin_only, signed_in
from runstone.governance.permissions import PermissionService
from runstone.schemas.access import (
    GrantIn,
    GrantList,
    GroupAnswer,
    GroupCreate,
    GroupList,
    PrefixGrantDeleted,
    PrefixGrantIn,
    PrefixGrantList,
    RevokedCount,
    Standing,
    TokenAnswer,
    TokenCreate,
    TokenCreated,
    TokenList,
    UserAnswer,
    UserCreate,
    UserList,
    UserUpdate,
    grant_public,
    token_public,
    user_public,
)
from runstone.schemas.common import Empty
from runstone.server.http import JSON, Route

Identity = Annotated[IdentityService, Depends(identity)]
Permissions = Annotated[PermissionService, Depends(permissions)]

router = APIRouter(prefix="/api/v1", tags=["access"], route_class=Route, default_response_class=JSON)


@router.get(
    "/users/me", summary="The signed-in caller, its groups and whether it is an admin", response_model=UserAnswer
)
@signed_in
def me(service: Identity, perms: Permissions) -> dict[str, object]:
    user = service.get_user(service.ctx.user)
    return {"user": user_public(user, perms.groups_of(user.name))}


@router.get("/users", summary="Users and service accounts (admin)", response_model=UserList)
@admin_only
def list_users(service: Identity) -> dict[str, object]:
    return {"users": [user_public(u) for u in service.users()]}


@router.post("/users", status_code=201, summary="Create a user or service account (admin)", response_model=UserAnswer)
@admin_only
def create_user(body: UserCreate, service: Identity) -> dict[str, object]:
    return {
        "user": user_public(service.create_user(body.name, password=body.password, kind=body.kind, admin=body.admin))
    }


@router.patch(
    "/users/{name}", summary="Change a user's password, admin flag or disabled state (admin)", response_model=UserAnswer
)
@admin_only
def update_user(name: str, body: UserUpdate, service: Identity) -> dict[str, object]:
    if body.password is not None:
        service.set_password(name, body.password)
    if body.admin is not None:
        service.set_admin(name, body.admin)
    if body.disabled is not None:
        service.set_disabled(name, body.disabled)
    return {"user": user_public(service.get_user(name))}


@router.get(
    "/tokens",
    summary="API tokens (never their secrets): the caller's, or anyone's for an admin",
    response_model=TokenList,
)
@signed_in
def list_tokens(service: Identity, user: str | None = None) -> dict[str, object]:
    return {"tokens": [token_public(t) for t in service.visible_tokens(user)]}


@router.post(
    "/tokens",
    status_code=201,
    summary="Create an API token; its secret is in this answer only",
    response_model=TokenCreated,
)
@signed_in
def create_token(body: TokenCreate, service: Identity) -> dict[str, object]:
    made = service.create_token(
        body.user or service.ctx.user,
        body.name,
        read_only=body.read_only,
        resources=body.resources,
        expiry_time=body.expiry_time,
    )
    return {"token": token_public(made.token), "secret": made.secret}


@router.post(
    "/tokens/{token_id}/revoke",
    summary="Revoke an API token (one's own, or any for an admin)",
    response_model=TokenAnswer,
)
@signed_in
def revoke_token(token_id: str, service: Identity) -> dict[str, object]:
    return {"token": token_public(service.revoke_token(token_id))}


@router.get("/groups", summary="Groups and their members (admin)", response_model=GroupList)
@admin_only
def list_groups(service: Permissions) -> dict[str, object]:
    return {"groups": [{"name": g, "members": m} for g, m in service.groups().items()]}


@router.post("/groups", status_code=201, summary="Create a group (admin)", response_model=GroupAnswer)
@admin_only
def create_group(body: GroupCreate, service: Permissions) -> dict[str, object]:
    service.create_group(body.name)
    return {"group": {"name": body.name, "members": []}}


@router.delete("/groups/{name}", summary="Delete a group and its grants (admin)", response_model=Empty)
@admin_only
def delete_group(name: str, service: Permissions) -> dict[str, object]:
    service.delete_group(name)
    return {}


@router.put("/groups/{name}/members/{user}", summary="Add a user to a group (admin)", response_model=Empty)
@admin_only
def add_member(name: str, user: str, service: Permissions) -> dict[str, object]:
    service.add_member(name, user)
    return {}


@router.delete("/groups/{name}/members/{user}", summary="Remove a user from a group (admin)", response_model=Empty)
@admin_only
def remove_member(name: str, user: str, service: Permissions) -> dict[str, object]:
    service.remove_member(name, user)
    return {}


@router.get(
    "/permissions", summary="Grants, filtered; a non-admin sees those of what it may read", response_model=GrantList
)
@signed_in
def list_permissions(
    service: Permissions,
    resource_type: str | None = None,
    resource_id: str | None = None,
    principal_type: str | None = None,
    principal: str | None = None,
) -> dict[str, object]:
    found = service.grants(
        resource_type=resource_type, resource_id=resource_id, principal_type=principal_type, principal_name=principal
    )
    return {"permissions": [grant_public(g) for g in found]}


@router.get(
    "/permissions/mine", summary="What the caller holds on one experiment or registered model", response_model=Standing
)
@signed_in
def my_permission(resource_type: str, resource_id: str, service: Permissions) -> dict[str, object]:
    standing = service.standing(resource_type, resource_id)
    return {"permission": standing.level.name, "approve": standing.approve}


@router.post(
    "/permissions/grant",
    summary="Grant a permission (by a MANAGE holder of the resource, or an admin)",
    response_model=Empty,
)
@signed_in  # the service requires MANAGE on the resource the body names
def grant(body: GrantIn, service: Permissions) -> dict[str, object]:
    service.grant(body.resource_type, body.resource_id, body.principal_type, body.principal, body.permission or "")
    return {}


@router.post(
    "/permissions/revoke",
    summary="Revoke a permission, or all of a principal's on a resource",
    response_model=RevokedCount,
)
@signed_in  # the service requires MANAGE on the resource the body names
def revoke(body: GrantIn, service: Permissions) -> dict[str, object]:
    gone = service.revoke(body.resource_type, body.resource_id, body.principal_type, body.principal, body.permission)
    return {"revoked": gone}


@router.get("/prefix-grants", summary="Team prefix grants (admin)", response_model=PrefixGrantList)
@admin_only
def list_prefix_grants(service: Permissions) -> dict[str, object]:
    keys = ("resource_type", "prefix", "group", "permission")
    return {"prefix_grants": [dict(zip(keys, g, strict=True)) for g in service.prefix_grants()]}


@router.put(
    "/prefix-grants",
    summary="Give a group a grant on everything created under a name prefix (admin)",
    response_model=Empty,
)
@admin_only
def set_prefix_grant(body: PrefixGrantIn, service: Permissions) -> dict[str, object]:
    service.set_prefix_grant(body.resource_type, body.prefix, body.group, body.permission)
    return {}


@router.post("/prefix-grants/delete", summary="Remove a team prefix grant (admin)", response_model=PrefixGrantDeleted)
@admin_only
def delete_prefix_grant(body: PrefixGrantIn, service: Permissions) -> dict[str, object]:
    return {"deleted": service.delete_prefix_grant(body.resource_type, body.prefix, body.group)}
