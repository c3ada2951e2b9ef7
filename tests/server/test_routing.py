"""Route lookup by path prefix finds, for every route of the assembled app, the route that the
router's own lookup finds: no request is answered by another route than before."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from starlette.routing import Match

from runstone.config import Settings
from runstone.server.app import create_app
from runstone.server.routing import PrefixDispatch


def _paths(routes: list[Any], prefix: str = "") -> list[tuple[str, set[str]]]:
    found = []
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            found += _paths(included.routes, prefix + (route.include_context.prefix or ""))
        elif hasattr(route, "path"):
            found.append((prefix + route.path, set(getattr(route, "methods", None) or {"GET"})))
    return found


def _routers_choice(routes: list[Any], scope: dict[str, Any]) -> Any:
    """The route Starlette's router answers with when one matches fully: the first that does,
    even after routes that match the path but not the method (those answer 405 only when no
    route matches fully, which the router's own lookup then does)."""
    for route in routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return route
    return None


def test_prefix_lookup_picks_the_same_route_as_the_router_for_every_route_and_method(tmp_path: Path) -> None:
    app = create_app(Settings(home=tmp_path))
    dispatch = app.router.middleware_stack
    assert isinstance(dispatch, PrefixDispatch)
    checked = 0
    for template, methods in _paths(app.router.routes):
        path = re.sub(r"\{[^}]+\}", "x1", template)
        for method in {*methods, "DELETE", "PATCH"}:
            scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}
            selected = dispatch.select(dict(scope))
            expected = _routers_choice(app.router.routes, dict(scope))
            assert (selected[0] if selected else None) is expected, f"{method} {path}"
            checked += 1
    assert checked > 300
