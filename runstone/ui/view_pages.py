"""Saved views of an experiment page: save the page as it is under a name, reopen it by its
stable URL (``/ui/experiments/<id>/views/<view id>``), save changes to it, delete it.

A view holds the runs table's query string and the workspace's settings; opening its URL leads
to the experiment page with that query and ``saved_view=<id>``, whose workspace then takes the
view's settings.
"""

from __future__ import annotations

import urllib.parse
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import RedirectResponse

from runstone.deps import saved_views
from runstone.entities import SavedView
from runstone.errors import InvalidInput, RunstoneError
from runstone.governance.needs import needs
from runstone.governance.permissions import Permission
from runstone.tracking.saved_views import SavedViewService
from runstone.ui.web import PageRoute, check_csrf, redirect

router = APIRouter(include_in_schema=False, route_class=PageRoute, dependencies=[Depends(check_csrf)])
Views = Annotated[SavedViewService, Depends(saved_views)]


def page_url(view: SavedView) -> str:
    """The experiment page showing a saved view."""
    query = str(view.state.get("query", "")).lstrip("?")
    pairs = [(k, v) for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True) if k != "saved_view"]
    pairs.append(("saved_view", view.view_id))
    return f"/ui/experiments/{view.experiment_id}?{urllib.parse.urlencode(pairs)}"


def _state(query: str, workspace: str) -> dict[str, object]:
    settings: object = {}
    if workspace.strip():
        try:
            settings = orjson.loads(workspace)
        except orjson.JSONDecodeError:
            raise InvalidInput("The workspace settings of the view are not JSON.") from None
    return {"query": query.lstrip("?"), "workspace": settings}


@router.get("/ui/experiments/{experiment_id}/views/{view_id}")
@needs(Permission.READ, "experiment", "experiment_id")
def open_view(experiment_id: str, view_id: str, service: Views) -> Response:
    return RedirectResponse(page_url(service.get_view(experiment_id, view_id)), status_code=303)


@router.post("/ui/experiments/{experiment_id}/views")
@needs(Permission.EDIT, "experiment", "experiment_id")
def save_view(
    request: Request,
    experiment_id: str,
    service: Views,
    name: Annotated[str, Form()] = "",
    query: Annotated[str, Form()] = "",
    workspace: Annotated[str, Form()] = "",
) -> Response:
    back = f"/ui/experiments/{experiment_id}?{query.lstrip('?')}"
    try:
        view = service.create_view(experiment_id, name, _state(query, workspace))
    except RunstoneError as exc:
        return redirect(request, back, error=exc.message, place="views")
    return redirect(request, page_url(view), message=f"Saved the view {view.name!r}.", place="views")


@router.post("/ui/experiments/{experiment_id}/views/{view_id}")
@needs(Permission.EDIT, "experiment", "experiment_id")
def update_view(
    request: Request,
    experiment_id: str,
    view_id: str,
    service: Views,
    query: Annotated[str, Form()] = "",
    workspace: Annotated[str, Form()] = "",
) -> Response:
    back = f"/ui/experiments/{experiment_id}?{query.lstrip('?')}"
    try:
        view = service.update_view(experiment_id, view_id, state=_state(query, workspace))
    except RunstoneError as exc:
        return redirect(request, back, error=exc.message, place="views")
    return redirect(request, page_url(view), message=f"Saved the changes to the view {view.name!r}.", place="views")


@router.post("/ui/experiments/{experiment_id}/views/{view_id}/delete")
@needs(Permission.EDIT, "experiment", "experiment_id")
def delete_view(request: Request, experiment_id: str, view_id: str, service: Views) -> Response:
    target = f"/ui/experiments/{experiment_id}?saved_view=none"
    try:
        view = service.get_view(experiment_id, view_id)
        service.delete_view(experiment_id, view_id)
    except RunstoneError as exc:
        return redirect(request, target, error=exc.message, place="views")
    return redirect(request, target, message=f"Deleted the view {view.name!r}.", place="views")
