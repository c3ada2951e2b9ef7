"""Single sign-on to the UI through OpenID Connect (authorization-code flow with PKCE).

Set ``oidc_issuer``, ``oidc_client_id`` and ``oidc_client_secret`` (auth on) and the sign-in page
offers "Sign in with single sign-on": the browser goes to the provider's authorization endpoint
with a fresh state, nonce and PKCE challenge (kept in a short-lived HttpOnly cookie), comes back to
``/ui/login/oidc/callback``, and the server exchanges the code at the token endpoint with
Authlib's OAuth 2 client, then checks the ID token with joserfc: signature against the provider's
JWKS, issuer, audience, expiry and nonce. The ``oidc_user_claim`` names the runstone user (made
at its first sign-in, without a password); the ``oidc_groups_claim`` decides its membership of
existing runstone groups. Then a UI session starts as for a password sign-in.
"""

from __future__ import annotations

import secrets
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from runstone.config import Settings
from runstone.errors import InvalidInput, NotFound, PermissionDenied, Unauthenticated, Unavailable
from runstone.governance.context import Principal
from runstone.governance.identity import IdentityService, check_name
from runstone.governance.needs import signed_in
from runstone.governance.permissions import PermissionService
from runstone.ui.session import start_session
from runstone.ui.web import PageRoute, over_tls, safe_next

router = APIRouter(include_in_schema=False, route_class=PageRoute)
FLOW_COOKIE = "runstone_oidc"
FLOW_SECONDS = 600
CALLBACK = "/ui/login/oidc/callback"
DISCOVERY_SECONDS = 300.0
_discovered: dict[str, tuple[float, dict[str, Any]]] = {}


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    if not settings.auth or not settings.oidc_issuer or not settings.oidc_client_id:
        raise NotFound("Single sign-on is not set up on this server (oidc_issuer and oidc_client_id, with auth on).")
    try:
        import authlib  # noqa: F401
        import joserfc  # noqa: F401
    except ImportError:
        raise Unavailable("Single sign-on needs the oidc extra: pip install 'runstone[oidc]'.") from None
    return settings


def _provider(settings: Settings) -> dict[str, Any]:
    """The provider's discovery document (cached a few minutes)."""
    import requests

    issuer = (settings.oidc_issuer or "").rstrip("/")
    cached = _discovered.get(issuer)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    try:
        answer = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10)
        answer.raise_for_status()
        document = answer.json()
        for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(document.get(field), str):
                raise ValueError(f"it has no {field}")
    except (requests.RequestException, ValueError) as exc:
        raise Unavailable(
            f"The single sign-on provider {issuer} could not be reached or answered badly: {exc}"
        ) from None
    _discovered[issuer] = (time.monotonic() + DISCOVERY_SECONDS, document)
    return document


def _client(settings: Settings, state: str | None = None) -> Any:
    from authlib.integrations.requests_client import OAuth2Session

    return OAuth2Session(
        settings.oidc_client_id,
        settings.oidc_client_secret,
        scope=settings.oidc_scopes,
        redirect_uri=settings.public_url + CALLBACK,
        state=state,
        code_challenge_method="S256",
    )


@router.get("/ui/login/oidc")
@signed_in  # open: the auth gate lets the sign-in pages through without a credential
def start(request: Request, next: str | None = None) -> Response:
    settings = _settings(request)
    provider = _provider(settings)
    state, nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    url, _ = _client(settings).create_authorization_url(
        provider["authorization_endpoint"], state=state, nonce=nonce, code_verifier=verifier
    )
    response = RedirectResponse(url, status_code=303)
    flow = {"state": state, "nonce": nonce, "verifier": verifier, "next": safe_next(next, "/ui/")}
    response.set_cookie(
        FLOW_COOKIE,
        urllib.parse.quote(orjson.dumps(flow).decode()),
        max_age=FLOW_SECONDS,
        path=CALLBACK,
        httponly=True,
        samesite="lax",  # the provider's redirect back is a top-level navigation from its site
        secure=over_tls(request),
    )
    return response


@router.get(CALLBACK)
@signed_in
def callback(request: Request, state: str = "", code: str = "", error: str = "") -> Response:
    settings = _settings(request)
    try:
        flow = orjson.loads(urllib.parse.unquote(request.cookies.get(FLOW_COOKIE, "")))
        expected = str(flow["state"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise InvalidInput("This sign-in did not start here, or took too long: start again.") from None
    if error:
        raise Unauthenticated(f"The single sign-on provider refused the sign-in: {error[:200]}.")
    if not state or not secrets.compare_digest(state.encode(), expected.encode()) or not code:
        raise InvalidInput("The sign-in's state does not match the one this browser started with: start again.")
    claims = _id_token_claims(settings, code, str(flow["verifier"]), str(flow["nonce"]))
    user = _user_of(request, settings, claims)
    response = start_session(request, user, safe_next(str(flow.get("next", "")), "/ui/"))
    response.delete_cookie(FLOW_COOKIE, path=CALLBACK)
    return response


def _id_token_claims(settings: Settings, code: str, verifier: str, nonce: str) -> dict[str, object]:
    import requests
    from authlib.integrations.base_client.errors import OAuthError
    from joserfc import jwt
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    provider = _provider(settings)
    try:
        token = _client(settings).fetch_token(provider["token_endpoint"], code=code, code_verifier=verifier, timeout=10)
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise Unauthenticated("The single sign-on provider sent no ID token.")
        keys = KeySet.import_key_set(requests.get(provider["jwks_uri"], timeout=10).json())
        decoded = jwt.decode(id_token, keys, algorithms=["RS256", "ES256", "PS256"])
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": (settings.oidc_issuer or "").rstrip("/")},
            aud={"essential": True, "value": settings.oidc_client_id or ""},
            exp={"essential": True},
            nonce={"essential": True, "value": nonce},
        ).validate(decoded.claims)
    except (OAuthError, JoseError, requests.RequestException, ValueError) as exc:
        raise Unauthenticated(f"Single sign-on failed: the provider's answer was not accepted ({exc}).") from None
    return dict(decoded.claims)


def _user_of(request: Request, settings: Settings, claims: Mapping[str, object]) -> Any:
    name = claims.get(settings.oidc_user_claim)
    if not isinstance(name, str) or not name:
        raise Unauthenticated(f"The ID token has no {settings.oidc_user_claim!r} claim naming the user.")
    check_name(name)
    client = request.client.host[:64] if request.client else None
    # The provider proved who this is; this server's own bookkeeping acts as "oidc".
    ctx = request.app.state.backend.context(Principal("oidc", authenticated=True, is_admin=True, client=client))
    identity = IdentityService(ctx)
    try:
        user = identity.get_user(name)
    except NotFound:
        user = identity.create_user(name)
    if user.disabled_time is not None or user.kind != "user":
        raise PermissionDenied(f"The user {name!r} may not sign in (disabled, or a service account).")
    groups_claim = claims.get(settings.oidc_groups_claim, [])
    claimed = {g for g in groups_claim if isinstance(g, str)} if isinstance(groups_claim, list) else set()
    permissions = PermissionService(ctx)
    for group, members in permissions.groups().items():
        if group in claimed and name not in members:
            permissions.add_member(group, name)
        elif group not in claimed and name in members:
            permissions.remove_member(group, name)
    signed = ctx.acting_as(Principal(name, authenticated=True, client=client))
    with signed.transaction(write=True) as s:
        signed.audit.write(s, "login.success", "user", name, after={"method": "oidc", "groups": sorted(claimed)})
    return user
