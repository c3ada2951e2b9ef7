"""Signing in to the UI with auth on: the sign-in page, sign-out, the session cookie.

A sign-in with user name and password makes a session: an API token of that user named
"UI session", expiring after ``ui_session_hours``, kept in the HttpOnly ``runstone_session``
cookie (SameSite=Lax, Secure when the server is reached over TLS directly or behind a proxy
named by ``external_url``). The database keeps only its hash, so sessions survive restarts and
are shared by every worker and replica; signing out revokes it at once. The auth gate
(``runstone.server.auth``) reads the cookie when a request has no Authorization header, and the
UI's CSRF tokens are derived from it (``runstone.ui.web``). Sign-ins and failed sign-ins are
audit events (``login.success``, ``login.failed``), the session's creation and revocation too.
After 10 wrong passwords for one name from one client address within 5 minutes, the form
refuses that pair (429) without checking the password until the window has passed; the count is
kept per worker process and shared with HTTP Basic auth on the API (``runstone.governance.guessing``).
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response

from runstone.backend import Backend
from runstone.deps import AUTH_SCOPE_KEY, identity
from runstone.entities import User
from runstone.errors import InvalidInput, NotFound, Unauthenticated
from runstone.governance.context import Principal
from runstone.governance.guessing import WrongPasswords
from runstone.governance.identity import SESSION_TOKEN_NAME, IdentityService
from runstone.governance.needs import signed_in
from runstone.ui.web import SESSION_COOKIE, PageRoute, check_csrf, over_tls, redirect, render, safe_next

router = APIRouter(include_in_schema=False, route_class=PageRoute, dependencies=[Depends(check_csrf)])


def wrong_passwords(request: Request) -> WrongPasswords:
    """The server process's count of wrong passwords, shared with HTTP Basic auth on the API."""
    state = request.app.state
    found: WrongPasswords | None = getattr(state, "wrong_passwords", None)
    if found is None:
        found = state.wrong_passwords = WrongPasswords()
    return found


@router.get("/ui/login")
@signed_in  # open: the auth gate lets this page through without a credential
def login_page(request: Request, next: str | None = None) -> Response:
    if not request.app.state.settings.auth:
        return redirect(request, "/ui/", message="This server runs without authentication: there is no sign-in.")
    return render(request, "login.html", _login_context(request, safe_next(next, "/ui/"), "", None))


def _login_context(request: Request, target: str, name: str, error: str | None) -> dict[str, object]:
    return {"next": target, "name": name, "error": error, "sso": bool(request.app.state.settings.oidc_issuer)}


@router.post("/ui/login")
@signed_in
def login(
    request: Request,
    name: Annotated[str, Form(max_length=256)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=4000)] = "/ui/",
) -> Response:
    settings = request.app.state.settings
    target = safe_next(next, "/ui/")
    if not settings.auth:
        return redirect(request, "/ui/")
    backend: Backend = request.app.state.backend
    client = request.client.host[:64] if request.client else None
    anonymous = IdentityService(backend.context(Principal("anonymous", client=client)))
    wrong = wrong_passwords(request)
    wait = wrong.wait(client, name)
    if wait is not None:
        message = f"Too many wrong passwords for {name!r} from this address: try again in {wait} s."
        return render(request, "login.html", _login_context(request, target, name, message), status=429)
    try:
        if not name or not password:
            raise InvalidInput("Give your user name and password.")
        who = anonymous.authenticate_password(name, password)
    except (Unauthenticated, InvalidInput) as exc:
        status = 401 if isinstance(exc, Unauthenticated) else 400
        if status == 401:
            wrong.add(client, name)
        return render(request, "login.html", _login_context(request, target, name, exc.message), status=status)
    return start_session(request, who.user, target)


def start_session(request: Request, user: User, target: str) -> Response:
    """Sign the browser in as ``user`` (whose credential was just verified) and send it on."""
    settings = request.app.state.settings
    backend: Backend = request.app.state.backend
    client = request.client.host[:64] if request.client else None
    acting = Principal(user.name, authenticated=True, is_admin=user.is_admin, client=client)
    lifetime = settings.ui_session_hours * 3600
    made = IdentityService(backend.context(acting)).create_token(
        user.name, SESSION_TOKEN_NAME, expiry_time=int((time.time() + lifetime) * 1000)
    )
    response = redirect(request, target)
    response.set_cookie(
        SESSION_COOKIE,
        made.secret,
        max_age=int(lifetime),
        path="/",
        httponly=True,
        samesite="lax",
        secure=over_tls(request),
    )
    return response


@router.post("/ui/logout")
@signed_in
def logout(request: Request, service: Annotated[IdentityService, Depends(identity)]) -> Response:
    who = request.scope.get(AUTH_SCOPE_KEY)
    if who is not None and who.token is not None and who.token.name == SESSION_TOKEN_NAME:
        try:
            service.revoke_token(who.token.token_id)
        except NotFound:
            pass
    response = redirect(request, "/ui/login" if request.app.state.settings.auth else "/ui/", message="Signed out.")
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=over_tls(request))
    return response
