"""The permission state an experiment or model page shows with auth on: what the signed-in user
holds there, and the grants on it (users and groups), read through the permission service."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request

from runstone.deps import context
from runstone.errors import InvalidInput
from runstone.governance.permissions import PermissionService


@dataclass(frozen=True)
class AccessState:
    level: str  # NONE, READ, EDIT or MANAGE
    approve: bool  # may approve the model's requests
    admin: bool
    grants: list[tuple[str, str, str]]  # (principal type, principal name, permission)


def access_state(request: Request, resource_type: str, resource_id: str) -> AccessState | None:
    """None with auth off: every caller may do everything then, and the page says auth is off."""
    if not request.app.state.settings.auth:
        return None
    ctx = context(request)
    service = PermissionService(ctx)
    standing = service.standing(resource_type, resource_id)
    grants = service.grants(resource_type=resource_type, resource_id=str(resource_id))
    return AccessState(
        standing.level.name,
        standing.approve,
        ctx.principal.is_admin,
        sorted((g[2], g[3], g[4]) for g in grants),
    )


def grant_action(
    service: PermissionService,
    resource_type: str,
    resource_id: str,
    principal_type: str,
    principal: str,
    permission: str,
    *,
    revoke: bool,
) -> Callable[[], str]:
    """The action of the access panel's grant and revoke forms (the service checks MANAGE)."""

    def run() -> str:
        who = principal.strip()
        if not who:
            raise InvalidInput("Name the user or group.")
        if revoke:
            service.revoke(resource_type, resource_id, principal_type, who, permission or None)
            return f"Revoked {permission or 'every permission'} of {principal_type} {who!r}."
        service.grant(resource_type, resource_id, principal_type, who, permission)
        return f"Granted {permission.upper()} to {principal_type} {who!r}."

    return run
