"""Route lookup by path prefix: each request is matched only against the routes that could match it.

The app's router tries its included routers one after another, and each of those tries its own
routes, so a request for one of the last routes (MLflow's artifact uploads, its run routes)
paid for matching a few hundred path patterns first: about half a millisecond per request,
more than the durable commit of a small write. Every route path begins with a fixed text before
its first ``{parameter}``; a route whose fixed beginning is not the beginning of the request's
path can match it neither fully nor partly, so leaving it out changes no answer. As the router's own
lookup does, a route that matches the path but not the method is passed over for a later one
that matches both. Requests that no remaining route matches fully (405s, 404s, slash redirects)
go to the router's own lookup unchanged.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send


def _fixed(path: str) -> str:
    return path.split("{", 1)[0]


def _prefixes(route: BaseRoute) -> tuple[str, ...]:
    """The fixed texts every path this route matches begins with one of (("",) when it cannot be
    told): one per route of an included router.

    A router included with include_router is read from its include prefix and its routes'
    own paths, which is what FastAPI joins into each route's path: not from the routes FastAPI
    builds for it, which it builds on first use (a few hundred of them, a quarter of a second),
    so that the first request to one route does not build those of every other."""
    original = getattr(route, "original_router", None)
    context = getattr(route, "include_context", None)
    if original is not None and context is not None:
        prefix = str(getattr(context, "prefix", ""))
        paths = []
        for inner in original.routes:
            path = getattr(inner, "path", None)
            if not isinstance(path, str) or hasattr(inner, "original_router"):
                return (_fixed(prefix),)  # a router included in it: its own prefix only
            paths.append(_fixed(prefix + path))
        return tuple(sorted(set(paths))) if paths else (_fixed(prefix),)
    path = getattr(route, "path_format", None)
    return (_fixed(path),) if isinstance(path, str) else ("",)


# How many of a path's first segments pick its candidate routes, and how many such beginnings
# are kept.
_SEGMENTS = 3
_HEADS = 256


def _head(path: str) -> str:
    """``path`` up to and including the slash that ends its first ``_SEGMENTS`` segments (the
    whole path when it is shorter): "/api/2.0/mlflow/runs/get" gives "/api/2.0/mlflow/"."""
    end = 0
    for _ in range(_SEGMENTS + 1):
        end = path.find("/", end) + 1
        if end == 0:
            return path
    return path[:end]


class PrefixDispatch:
    """Stands in for the app router's lookup (``app.router.middleware_stack``)."""

    def __init__(self, router: Any) -> None:
        self.router = router
        self.fallback: ASGIApp = router.middleware_stack
        self._index: list[tuple[tuple[str, ...], BaseRoute]] = []
        self._indexed_count = -1
        self._by_head: dict[str, list[tuple[tuple[str, ...], BaseRoute]]] = {}

    def _candidates(self, path: str) -> list[tuple[tuple[str, ...], BaseRoute]]:
        """The routes, in order, that a path beginning with this one's first segments could
        match: every route with a fixed beginning that starts those segments or lies within them.
        Kept per beginning (of at most ``_HEADS`` of them), so that a request is matched against
        a few dozen routes rather than the few hundred of the app."""
        routes = self.router.routes
        if len(routes) != self._indexed_count:  # routes are added until the app first serves
            self._index = [(_prefixes(route), route) for route in routes]
            self._indexed_count = len(routes)
            self._by_head = {}
        head = _head(path)
        found = self._by_head.get(head)
        if found is None:
            found = [
                (prefixes, route)
                for prefixes, route in self._index
                if any(p.startswith(head) or head.startswith(p) for p in prefixes)
            ]
            if len(self._by_head) < _HEADS:  # beginnings come from clients: keep a bounded few
                self._by_head[head] = found
        return found

    def select(self, scope: Scope) -> tuple[BaseRoute, Scope] | None:
        """The first route that matches the request fully, as the router's own lookup would find
        it (which also passes over routes that match the path but not the method); None when the
        router's lookup must answer (405s, slash redirects, no route at all)."""
        path: str = scope["path"]
        for prefixes, route in self._candidates(path):
            if not path.startswith(prefixes):
                continue
            match, child_scope = route.matches(scope)
            if match == Match.FULL:
                return route, child_scope
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        selected = None
        if scope["type"] == "http" and not scope.get("root_path"):
            selected = self.select(scope)
        if selected is None:
            await self.fallback(scope, receive, send)
            return
        route, child_scope = selected
        scope.setdefault("router", self.router)
        scope.update(child_scope)
        await route.handle(scope, receive, send)


def install(app: Any) -> None:
    app.router.middleware_stack = PrefixDispatch(app.router)
