"""The web UI: server-rendered pages under /ui with small progressive JavaScript.

Tables are plain HTML that read without JavaScript; scripts add charts (plotly.js, served from
the installed ``plotly`` package), the column picker's search and inline conveniences.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from runstone.ui.web import STATIC


class _Static(StaticFiles):
    """Our own static files; URLs carry a content fingerprint, so they may be cached for good."""

    async def get_response(self, path: str, scope: Scope) -> Any:
        response = await super().get_response(path, scope)
        if b"v=" in scope.get("query_string", b"") and response.status_code == 200:
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def mount(app: FastAPI) -> None:
    """Add the UI's pages, chart data and static files to the server."""
    from runstone.ui import (
        admin_pages,
        assets,
        compare,
        grant_pages,
        media,
        monitoring_pages,
        oidc,
        pages,
        registry_pages,
        report_pages,
        request_pages,
        run_pages,
        session,
        trace_pages,
        view_pages,
        workspace,
    )

    for router in (
        session.router,
        oidc.router,
        grant_pages.router,
        admin_pages.router,
        pages.router,
        run_pages.router,
        compare.router,
        compare.data_router,
        registry_pages.router,
        request_pages.router,
        trace_pages.router,
        monitoring_pages.router,
        assets.router,
        view_pages.router,
        workspace.data_router,
        media.data_router,
        report_pages.router,
        report_pages.data_router,
    ):
        app.include_router(router)
    app.mount("/ui/static", _Static(directory=STATIC), name="ui-static")
    app.include_router(pages.fallback)
