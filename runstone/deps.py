"""Request-scoped dependencies of the API and the web UI: who is calling, the request's Context,
and the services bound to it. Defined once here, for the native routes, the MLflow routes and the pages."""

from __future__ import annotations

import re

from fastapi import Request

from runstone.backend import Backend
from runstone.errors import InvalidInput, Unauthenticated
from runstone.governance.context import Context, Owed, Principal
from runstone.governance.identity import Authenticated, IdentityService
from runstone.governance.permissions import PermissionService
from runstone.registry.approvals import GovernedRegistry
from runstone.registry.deployments import DeploymentService
from runstone.registry.webhooks import WebhookService
from runstone.tracking.artifacts import ArtifactService
from runstone.tracking.browse import BrowseService
from runstone.tracking.logged_models import LoggedModelService
from runstone.tracking.reports import ReportService
from runstone.tracking.saved_views import SavedViewService
from runstone.tracking.service import TrackingService
from runstone.tracking.traces import TraceService

# Where runstone.server.auth keeps the verified caller in the ASGI scope.
AUTH_SCOPE_KEY = "runstone.auth"
# Where the request's caller (a Principal) and its owed permission checks are kept once made.
_PRINCIPAL_KEY = "runstone.principal"
_OWED_KEY = "runstone.owed"
_USER_RE = re.compile(r"^[\w.@+\- ]{1,256}$")
_KEY_RE = re.compile(r"^[\w\-]{8,64}$")
ANONYMOUS = "anonymous"


def backend(request: Request) -> Backend:
    return request.app.state.backend


def principal_of(request: Request) -> Principal:
    """Who is calling: the one place that decides it.

    With auth on, the caller is the user the credential proved (``runstone.server.auth`` put it
    in the request's scope) and X-Runstone-User is ignored; with auth off, the caller declares
    its user name in X-Runstone-User.
    """
    key = request.headers.get("idempotency-key")
    if key is not None and not _KEY_RE.match(key):
        raise InvalidInput("Idempotency-Key must be 8-64 letters, digits, '-' or '_'.")
    request_id = getattr(request.state, "request_id", None)
    who: Authenticated | None = request.scope.get(AUTH_SCOPE_KEY)
    if who is not None:
        return Principal(
            who.user.name,
            request_id,
            key,
            who.token.token_id if who.token else None,
            authenticated=True,
            is_admin=who.user.is_admin,
            default_permission=request.app.state.settings.auth_default_permission,
            client=request.client.host[:64] if request.client else None,
        )
    if request.app.state.settings.auth:
        raise Unauthenticated("This server requires a credential: an API token or a user name and password.")
    user = request.headers.get("x-runstone-user") or ANONYMOUS
    if not _USER_RE.match(user):
        raise InvalidInput("X-Runstone-User must be 1-256 letters, digits, spaces or . @ + - _ characters.")
    return Principal(user, request_id, key)


def owed(request: Request) -> Owed:
    """The permission checks of the request that its first transaction settles (with auth on,
    ``runstone.server.access`` leaves there those of routes declared ``in_transaction``)."""
    found: Owed | None = request.scope.get(_OWED_KEY)
    if found is None:
        found = request.scope[_OWED_KEY] = Owed()
    return found


def context(request: Request) -> Context:
    """The request's unit of work, built once per request (kept on ``request.state``)."""
    ctx: Context | None = getattr(request.state, "context", None)
    if ctx is None:
        signed = AUTH_SCOPE_KEY in request.scope
        ctx = backend(request).context(principal_of(request), owed=owed(request) if signed else None)
        request.state.context = ctx
    return ctx


# The dependencies below do no I/O. Declared async, FastAPI runs them on the event loop
# instead of handing each to the thread pool, one thread switch less per request.
async def tracking(request: Request) -> TrackingService:
    return backend(request).tracking(context(request))


async def artifacts(request: Request) -> ArtifactService:
    return backend(request).artifacts(context(request))


async def logged_models(request: Request) -> LoggedModelService:
    return backend(request).logged_models(context(request))


async def browse(request: Request) -> BrowseService:
    return backend(request).browse(context(request))


async def reports(request: Request) -> ReportService:
    return backend(request).reports(context(request))


async def saved_views(request: Request) -> SavedViewService:
    return backend(request).saved_views(context(request))


async def registry(request: Request) -> GovernedRegistry:
    return backend(request).registry(context(request))


async def deployments(request: Request) -> DeploymentService:
    return backend(request).deployments(context(request))


async def webhooks(request: Request) -> WebhookService:
    return backend(request).webhooks(context(request))


async def traces(request: Request) -> TraceService:
    return backend(request).traces(context(request))


async def identity(request: Request) -> IdentityService:
    return IdentityService(context(request))


async def permissions(request: Request) -> PermissionService:
    return PermissionService(context(request))
