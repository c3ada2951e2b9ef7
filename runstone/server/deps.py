"""Request-scoped dependencies: who is calling, and the services bound to them."""

from __future__ import annotations

import re

from fastapi import Request

from runstone.backend import Backend
from runstone.errors import InvalidInput
from runstone.tracking.artifacts import ArtifactService
from runstone.tracking.service import Caller, TrackingService

_USER_RE = re.compile(r"^[\w.@+\- ]{1,256}$")
_KEY_RE = re.compile(r"^[\w\-]{8,64}$")
ANONYMOUS = "anonymous"


def backend(request: Request) -> Backend:
    return request.app.state.backend  # type: ignore[no-any-return]


def caller(request: Request) -> Caller:
    # Until authentication exists the caller declares its user name; the same interface
    # will carry the authenticated identity.
    user = request.headers.get("x-runstone-user") or ANONYMOUS
    if not _USER_RE.match(user):
        raise InvalidInput("X-Runstone-User must be 1-256 letters, digits, spaces or . @ + - _ characters.")
    key = request.headers.get("idempotency-key")
    if key is not None and not _KEY_RE.match(key):
        raise InvalidInput("Idempotency-Key must be 8-64 letters, digits, '-' or '_'.")
    return Caller(user, getattr(request.state, "request_id", None), key)


# The two dependencies below do no I/O. Declared async, FastAPI runs them on the event loop
# instead of handing each to the thread pool, one thread switch less per request.
async def tracking(request: Request) -> TrackingService:
    return backend(request).tracking(caller(request))


async def artifacts(request: Request) -> ArtifactService:
    return backend(request).artifacts(caller(request))
