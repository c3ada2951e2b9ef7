"""Default-deny: every route of the assembled app declares the permission it needs.

MLflow's own auth layer was bypassed more than once through routes it forgot; this inventory is
how runstone never does. It walks the app as served (every router, every prefix the MLflow
routes are mounted on, the UI, the docs, mounted sub-apps) and fails naming each undeclared route.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi.routing import APIRoute
from starlette.routing import Mount, Route

from runstone.config import Settings
from runstone.governance.needs import needs_of
from runstone.server.access import OTHER_ROUTES
from runstone.server.app import create_app


def _walk(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:  # FastAPI keeps included routers as branches
            yield from _walk(included.routes, prefix + (route.include_context.prefix or ""))
        else:
            yield prefix + getattr(route, "path", ""), route


def test_every_route_of_the_assembled_app_declares_what_it_needs(tmp_path: Path) -> None:
    app = create_app(Settings(home=tmp_path, auth=True))
    undeclared, seen = [], 0
    for path, route in _walk(app.routes):
        seen += 1
        if isinstance(route, APIRoute):
            if not needs_of(route.endpoint):
                undeclared.append(
                    f"{sorted(route.methods)} {path} ({route.endpoint.__module__}.{route.endpoint.__name__})"
                )
        elif isinstance(route, (Route, Mount)):
            if path not in OTHER_ROUTES:
                undeclared.append(f"{path} ({type(route).__name__})")
        else:
            undeclared.append(f"{path} ({type(route).__name__}: unknown kind of route)")
    assert not undeclared, "routes without a declared permission:\n" + "\n".join(undeclared)
    # Every MLflow prefix, the UI and the docs were walked, not just the top level.
    paths = [p for p, _ in _walk(app.routes)]
    for expected in (
        "/ajax-api/2.0/mlflow/runs/log-batch",
        "/api/2.0/mlflow-artifacts/artifacts/{path:path}",
        "/ui/runs/{run_id}",
        "/docs",
    ):
        assert expected in paths
    assert seen > 300
