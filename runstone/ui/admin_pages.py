"""Admin pages of the UI (auth on, admins only): users and service accounts, API tokens, groups
and their members, and the audit trail filtered by actor, target and action.

Every page and form declares ``admin_only``, so the default-deny gate refuses anyone else with
a 403 page; the forms are CSRF-guarded posts that go back to the page with a message. A new
token's secret is shown once, on the answer to the form that made it, and never again.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request, Response

from runstone.deps import identity, permissions
from runstone.errors import InvalidInput, NotFound, RunstoneError
from runstone.governance.audit import AuditService
from runstone.governance.identity import IdentityService
from runstone.governance.needs import admin_only
from runstone.governance.permissions import PermissionService
from runstone.ui.web import PageRoute, act, check_csrf, redirect, render

router = APIRouter(include_in_schema=False, route_class=PageRoute, dependencies=[Depends(check_csrf)])
Identity = Annotated[IdentityService, Depends(identity)]
Permissions = Annotated[PermissionService, Depends(permissions)]
ADMIN = "/ui/admin"
AUDIT_ROWS = 300


def _auth_on(request: Request) -> None:
    if not request.app.state.settings.auth:
        raise NotFound("This server runs without authentication (single user): there are no users to manage.")


def _admin_page(request: Request, service: IdentityService, perms: PermissionService, **extra: object) -> Response:
    _auth_on(request)
    context = {
        "users": service.users(),
        "tokens": service.tokens(),
        "groups": perms.groups(),
        "new_token": None,
        **extra,
    }
    return render(request, "admin.html", context)


@router.get(ADMIN)
@admin_only
def admin(request: Request, service: Identity, perms: Permissions) -> Response:
    return _admin_page(request, service, perms)


@router.post(f"{ADMIN}/users")
@admin_only
def create_user(
    request: Request,
    service: Identity,
    name: Annotated[str, Form(max_length=256)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    kind: Annotated[str, Form(max_length=16)] = "user",
    admin: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    _auth_on(request)

    def run() -> str:
        service.create_user(
            name.strip(), password=password or None if kind == "user" else None, kind=kind, admin=admin == "on"
        )
        return f"Created {'service account' if kind == 'service' else 'user'} {name.strip()!r}."

    return act(request, ADMIN, run)


@router.post(f"{ADMIN}/users/{{name}}/disable")
@admin_only
def disable_user(request: Request, name: str, service: Identity) -> Response:
    _auth_on(request)
    return act(request, ADMIN, lambda: f"Disabled {service.set_disabled(name, True).name!r}.")


@router.post(f"{ADMIN}/users/{{name}}/enable")
@admin_only
def enable_user(request: Request, name: str, service: Identity) -> Response:
    _auth_on(request)
    return act(request, ADMIN, lambda: f"Enabled {service.set_disabled(name, False).name!r}.")


@router.post(f"{ADMIN}/users/{{name}}/password")
@admin_only
def reset_password(
    request: Request, name: str, service: Identity, password: Annotated[str, Form(max_length=1024)] = ""
) -> Response:
    _auth_on(request)

    def run() -> str:
        ended = service.set_password(name, password)
        return f"Set a new password for {name!r}" + (f" and ended {ended} UI session(s)." if ended else ".")

    return act(request, ADMIN, run)


@router.post(f"{ADMIN}/tokens")
@admin_only
def create_token(
    request: Request,
    service: Identity,
    perms: Permissions,
    user: Annotated[str, Form(max_length=256)] = "",
    name: Annotated[str, Form(max_length=250)] = "",
    days: Annotated[str, Form(max_length=8)] = "",
    read_only: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    _auth_on(request)
    try:
        expiry = None
        if days.strip():
            if not days.strip().isdigit() or not 1 <= int(days) <= 3650:
                raise InvalidInput("Expires in: a number of days from 1 to 3650, or empty for never.")
            expiry = int((time.time() + int(days) * 86400) * 1000)
        made = service.create_token(user.strip(), name.strip(), read_only=read_only == "on", expiry_time=expiry)
    except RunstoneError as exc:
        return redirect(request, ADMIN, error=exc.message)
    # The secret is shown on this answer only; the page is not cached (Cache-Control: no-store).
    return _admin_page(request, service, perms, new_token=made)


@router.post(f"{ADMIN}/tokens/{{token_id}}/revoke")
@admin_only
def revoke_token(request: Request, token_id: str, service: Identity) -> Response:
    _auth_on(request)
    return act(request, ADMIN, lambda: f"Revoked token {service.revoke_token(token_id).token_id}.")


@router.post(f"{ADMIN}/groups")
@admin_only
def create_group(request: Request, perms: Permissions, name: Annotated[str, Form(max_length=256)] = "") -> Response:
    _auth_on(request)

    def run() -> str:
        perms.create_group(name.strip())
        return f"Created group {name.strip()!r}."

    return act(request, ADMIN, run)


@router.post(f"{ADMIN}/groups/{{group}}/members")
@admin_only
def add_member(
    request: Request, group: str, perms: Permissions, user: Annotated[str, Form(max_length=256)] = ""
) -> Response:
    _auth_on(request)

    def run() -> str:
        perms.add_member(group, user.strip())
        return f"Added {user.strip()!r} to {group!r}."

    return act(request, ADMIN, run)


@router.post(f"{ADMIN}/groups/{{group}}/members/{{user}}/remove")
@admin_only
def remove_member(request: Request, group: str, user: str, perms: Permissions) -> Response:
    _auth_on(request)

    def run() -> str:
        perms.remove_member(group, user)
        return f"Removed {user!r} from {group!r}."

    return act(request, ADMIN, run)


@router.get(f"{ADMIN}/audit")
@admin_only
def audit(
    request: Request,
    actor: Annotated[str, Query(max_length=256)] = "",
    action: Annotated[str, Query(max_length=256)] = "",
    target: Annotated[str, Query(max_length=512)] = "",
) -> Response:
    """The newest audit events first; ``target`` is ``type`` or ``type:id`` (``user:alice``)."""
    _auth_on(request)
    target_type, _, target_id = target.strip().partition(":")
    events = AuditService(request.app.state.backend.db).events(
        actor=actor.strip() or None,
        action=action.strip() or None,
        target_type=target_type or None,
        target_id=target_id or None,
        limit=100_000,
    )
    shown = list(reversed(events[-AUDIT_ROWS:]))
    filters = {"actor": actor, "action": action, "target": target}
    return render(request, "admin_audit.html", {"events": shown, "total": len(events), "filters": filters})
