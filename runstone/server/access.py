"""Default-deny authorization: ``enforce`` runs before every route of the assembled app (an
app-wide dependency) and applies the needs the route declares (``runstone.governance.needs``).

With auth off it lets everything through. With auth on, a route that declares nothing is
refused, and ``tests/server/test_route_permissions.py`` fails while any route lacks a
declaration. Routes that are not endpoints (the OpenAPI document, static files) are listed in
``OTHER_ROUTES``: the auth gate asks every one of them for a credential.
"""

from __future__ import annotations

import time
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from fastapi import Request

from runstone.backend import Backend
from runstone.deps import AUTH_SCOPE_KEY, owed, principal_of
from runstone.errors import InvalidInput, PermissionDenied
from runstone.governance import permissions, resources
from runstone.governance.context import Owed, Principal
from runstone.governance.identity import Authenticated
from runstone.governance.needs import Need, needs_of
from runstone.governance.permissions import Permission
from runstone.server.http import PARSED_JSON, decode_json

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

OTHER_ROUTES = {"/openapi.json": "signed in", "/ui/static": "open: the UI's own scripts and styles"}
_CACHE_SIZE = 4096
Resource = tuple[str, str]  # ("experiment", id) or ("model", name): what permissions are granted on


class Gate:
    """Decides permission checks. For ``cache_seconds`` it remembers which experiment or model
    an object belongs to (a run's experiment, a version's model) and each decision, made per
    experiment or model: a client logging to a run costs no database read or thread switch, and
    one cycling through many runs of an experiment one indexed read per run and period (made in
    the route's own transaction for the routes declared ``in_transaction``). A revoked grant stops
    counting, and a run moved to another experiment follows its new one, within that time."""

    def __init__(self, backend: Backend, cache_seconds: float) -> None:
        self.backend = backend
        self.cache_seconds = cache_seconds
        self._owners: dict[tuple[str, str], tuple[float, Resource]] = {}
        self._decisions: dict[tuple[str, str, str, str, int], float] = {}

    async def check(
        self,
        principal: Principal,
        need: Need,
        values: list[str],
        limits: list[str] | None = None,
        owed: Owed | None = None,
    ) -> None:
        """Raise PermissionDenied unless the caller holds the need on every value; ``limits``: the
        resources (``experiment:<id>``, ``model:<name>``) a resource-limited token is fenced to.
        What must be read from the database is left to ``owed`` (the request's first transaction
        settles it) when given and the need is declared ``in_transaction``."""
        assert need.permission is not None and need.kind is not None
        now = time.monotonic()
        undecided = []
        for value in values:
            resource = self._owner(need.kind, value, now)
            if resource is None:
                undecided.append(value)
                continue
            _within(principal, resource, limits)
            if self._decisions.get(_decision(principal, need.permission, resource), 0.0) <= now:
                undecided.append(value)
        if not undecided:
            return
        if owed is not None and need.in_transaction:
            owed.add(partial(self._decide, principal, need, undecided, limits, now))
            return
        await anyio.to_thread.run_sync(self._check, principal, need, undecided, limits, now)

    def _owner(self, kind: str, value: str, now: float) -> Resource | None:
        """The resource ruling an object, when known without reading the database."""
        named = resources.named_owner(kind, value)
        if named is not None:
            return named
        remembered = self._owners.get((kind, value))
        return remembered[1] if remembered is not None and remembered[0] > now else None

    def _check(self, principal: Principal, need: Need, values: list[str], limits: list[str] | None, now: float) -> None:
        with self.backend.db.transaction() as s:
            self._decide(principal, need, values, limits, now, s)

    def _decide(
        self, principal: Principal, need: Need, values: list[str], limits: list[str] | None, now: float, s: Session
    ) -> None:
        assert need.permission is not None and need.kind is not None
        remember = self.cache_seconds > 0
        expiry = now + self.cache_seconds
        for value in values:
            resource = self._owner(need.kind, value, now)
            if resource is None:
                resource = resources.owner(s, need.kind, value)
                if remember:
                    _bounded(self._owners)[(need.kind, value)] = (expiry, resource)
            _within(principal, resource, limits)
            decision = _decision(principal, need.permission, resource)
            if self._decisions.get(decision, 0.0) > now:
                continue
            permissions.require(s, principal, need.permission, *resource)
            if remember:
                _bounded(self._decisions)[decision] = expiry


def _decision(principal: Principal, permission: Permission, resource: Resource) -> tuple[str, str, str, str, int]:
    # Remembered per token too: a resource-limited token decides differently.
    return (principal.user, principal.token_id or "", resource[0], resource[1], permission)


def _bounded(cache: dict[Any, Any]) -> dict[Any, Any]:
    if len(cache) >= _CACHE_SIZE:
        cache.clear()
    return cache


def _within(principal: Principal, resource: Resource, limits: list[str] | None) -> None:
    if limits is not None and f"{resource[0]}:{resource[1]}" not in limits:
        raise PermissionDenied(
            f"The API token {principal.token_id} is limited to {', '.join(limits)}, not "
            f"{permissions.describe(*resource)}.",
            {"token_id": principal.token_id},
        )


async def enforce(request: Request) -> None:
    """The app-wide dependency that applies each route's declared needs."""
    who: Authenticated | None = request.scope.get(AUTH_SCOPE_KEY)
    if who is None:
        return  # auth off (with auth on, the gate has refused every request without a credential)
    declared = needs_of(request.scope.get("endpoint"))
    principal = principal_of(request)
    if not declared:
        raise PermissionDenied(f"{_where(request)} declares no permission, so nobody may use it.")
    limits = who.token.resources if who.token is not None else None
    if principal.is_admin and limits is None:
        return
    for need in declared:
        if limits is not None and need.permission is None:
            assert who.token is not None
            raise PermissionDenied(
                f"The API token {who.token.token_id} is limited to {', '.join(limits)}; {_where(request)} is not "
                "about one of them (searches and lists need a token without --resource).",
                {"token_id": who.token.token_id},
            )
        if need.admin:
            raise PermissionDenied(f"Only an admin may {_where(request)}; {principal.user!r} is not one.")
        if need.permission is None:
            continue
        values = await _values(request, need)
        if values is not None:
            owing = owed(request) if need.in_transaction else None
            await request.app.state.access.check(principal, need, values, limits, owing)


def _where(request: Request) -> str:
    return f"{request.method} {request.url.path[:200]}"


async def _body(request: Request) -> Any:
    if request.method not in ("POST", "PUT", "PATCH", "DELETE"):
        return {}
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        return {key: form.getlist(key) if len(form.getlist(key)) > 1 else form[key] for key in form}
    if PARSED_JSON in request.scope:
        return request.scope[PARSED_JSON]
    body = await request.body()
    data = decode_json(body, nan_literals=True) if body.strip() else {}
    if isinstance(data, str):  # old MLflow clients send JSON inside a JSON string
        data = decode_json(data.encode(), nan_literals=True) if data.strip() else {}
    request.scope[PARSED_JSON] = data  # MLflow's routes read their fields from it, not parsing twice
    return data


def _dig(data: object, path: str) -> Any:
    """A nested field: ``a.b`` reads b of a, ``a[].b`` b of every element of the list a."""
    head, _, rest = path.partition(".")
    if head.endswith("[]"):
        items = data.get(head[:-2]) if isinstance(data, dict) else None
        if not isinstance(items, list):
            return None
        found = [_dig(item, rest) for item in items]
        return [v for v in found if v is not None]
    value = data.get(head) if isinstance(data, dict) else None
    return _dig(value, rest) if rest and value is not None else value


async def _values(request: Request, need: Need) -> list[str] | None:
    """The ids the need names in this request (None: an optional need with nothing named)."""
    fields = need.fields
    for field in fields:
        if field in request.path_params:
            return [str(request.path_params[field])]
    if request.scope.get("query_string"):
        query = request.query_params
        for field in fields:
            if field in query:
                return query.getlist(field)
    data: object = None
    for field in fields:
        if field.startswith("header:"):
            header = request.headers.get(field.removeprefix("header:"))
            if header:
                return [header]
            continue
        if field.startswith("default:"):
            return [field.removeprefix("default:")]
        if data is None:
            data = await _body(request)
        value = _dig(data, field)
        if value is None or value == "":
            continue
        items = value if isinstance(value, list) else [value]
        if all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in items):
            return [str(v) for v in items]
        raise InvalidInput(f"Invalid value for parameter '{field}': expected a string or an id.")
    if need.optional:
        return None
    raise InvalidInput(f"Missing value for required parameter '{fields[0]}'.")
