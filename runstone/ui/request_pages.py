"""Approval requests: the form that opens one, the list of requests, one request, and decisions.

Decisions are form posts; a refusal (approving your own request, a failing gate, a request that
is no longer open) comes back as a message beside the request it concerns.
"""

from __future__ import annotations

import urllib.parse
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response

from runstone.deps import principal_of, registry
from runstone.errors import InvalidInput, RunstoneError
from runstone.governance.needs import needs, signed_in
from runstone.governance.permissions import Permission
from runstone.registry.approvals import GovernedRegistry
from runstone.ui.formatting import model_url
from runstone.ui.registry_views import cards, model_versions, places
from runstone.ui.web import PageRoute, act, check_csrf, redirect, render, safe_next

router = APIRouter(include_in_schema=False, route_class=PageRoute, dependencies=[Depends(check_csrf)])
Registry = Annotated[GovernedRegistry, Depends(registry)]
STATUSES = ("open", "approved", "rejected", "cancelled", "all")
MAX_FORM_VERSIONS = 500


def form_url(name: str, values: dict[str, str]) -> str:
    query = urllib.parse.urlencode({k: v for k, v in values.items() if v})
    return f"{model_url(name)}/request" + (f"?{query}" if query else "")


@router.get("/ui/models/{name}/request")
@needs(Permission.READ, "model", "name")
def request_form(
    request: Request,
    name: str,
    service: Registry,
    version: str = "",
    stage: str = "",
    alias: str = "",
    archive_existing: str = "",
    comment: str = "",
) -> Response:
    model = service.get_registered_model(name)
    policy = service.policy(name)
    versions = list(model_versions(service, name, MAX_FORM_VERSIONS))
    kind, target = ("stage", stage) if stage else ("alias", alias) if alias else ("", "")
    holder = None
    if kind == "stage":
        holder = next((v.version for v in versions if v.current_stage == stage), None)
    elif kind == "alias":
        holder = model.aliases.get(alias)
    return render(
        request,
        "request_form.html",
        {
            "model": model,
            "policy": policy,
            "versions": versions,
            "chosen": version,
            "stage": stage,
            "alias": alias,
            "kind": kind,
            "target": target,
            "holder": holder,
            "archive_existing": archive_existing == "1",
            "comment": comment,
            "stages": ("Production", "Staging", "Archived", "None"),
            "aliases": sorted({*model.aliases, *policy.protected_aliases}),
        },
    )


@router.post("/ui/models/{name}/requests")
@needs(Permission.EDIT, "model", "name")
def open_request(
    request: Request,
    name: str,
    service: Registry,
    version: Annotated[str, Form()] = "",
    stage: Annotated[str, Form()] = "",
    alias: Annotated[str, Form()] = "",
    archive_existing: Annotated[str, Form()] = "",
    comment: Annotated[str, Form()] = "",
) -> Response:
    values = {"version": version, "stage": stage, "alias": alias.strip(), "archive_existing": archive_existing}
    try:
        if not version:
            raise InvalidInput("Choose the version to promote.")
        opened = service.request_transition(
            name,
            version,
            stage=stage or None,
            alias=alias.strip() or None,
            comment=comment,
            archive_existing_versions=archive_existing == "1",
        )
    except RunstoneError as exc:
        return redirect(request, form_url(name, {**values, "comment": comment}), error=exc.message)
    what = f"{'stage' if opened.kind == 'stage' else 'alias'} {opened.target!r}"
    if opened.status == "approved":
        message = (
            f"Version {opened.version} now holds {what}: it is not protected, so request {opened.id} applied at once."
        )
        return redirect(request, model_url(name) + "#holders", message=message, place="holders")
    policy = service.policy(name)
    needed = policy.required_approvals
    message = f"Opened request {opened.id}: it needs {needed} approval{'s' if needed != 1 else ''} by someone else."
    return redirect(request, f"/ui/requests/{opened.id}", message=message, place=f"request-{opened.id}")


@router.get("/ui/requests")
@signed_in  # the service lists the requests of the models the caller may read
def requests_page(request: Request, service: Registry, status: str = "open", model: str = "") -> Response:
    if status not in STATUSES:
        raise InvalidInput(f"Unknown status {status!r}; use one of {', '.join(STATUSES)}.")
    found = service.search_requests(model or None, None if status == "all" else status)
    return render(
        request,
        "requests.html",
        {
            "cards": cards(service, found, principal_of(request).user),
            "status": status,
            "statuses": STATUSES,
            "model": model,
            "placed": places(found),
        },
    )


@router.get("/ui/requests/{request_id}")
@needs(Permission.READ, "request", "request_id")
def request_page(request: Request, request_id: int, service: Registry) -> Response:
    found = service.get_request(request_id)
    return render(
        request,
        "request.html",
        {"card": cards(service, [found], principal_of(request).user)[0], "placed": places([found])},
    )


def _back(next: str, request_id: int) -> str:
    return safe_next(next, f"/ui/requests/{request_id}").split("#", 1)[0] + f"#request-{request_id}"


@router.post("/ui/requests/{request_id}/approve")
@needs(Permission.APPROVE, "request", "request_id")
def approve(
    request: Request,
    request_id: int,
    service: Registry,
    comment: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    def run() -> str:
        decided = service.approve_request(request_id, comment)
        if decided.status == "approved":
            return f"Approved request {request_id}: version {decided.version} now holds {decided.target}."
        return f"Approved request {request_id}; it needs more approvals before it applies."

    return act(request, _back(next, request_id), run, place=f"request-{request_id}")


@router.post("/ui/requests/{request_id}/reject")
@needs(Permission.APPROVE, "request", "request_id")
def reject(
    request: Request,
    request_id: int,
    service: Registry,
    comment: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    def run() -> str:
        service.reject_request(request_id, comment)
        return f"Rejected request {request_id}."

    return act(request, _back(next, request_id), run, place=f"request-{request_id}")


@router.post("/ui/requests/{request_id}/cancel")
@needs(Permission.EDIT, "request", "request_id")
def cancel(request: Request, request_id: int, service: Registry, next: Annotated[str, Form()] = "") -> Response:
    def run() -> str:
        service.cancel_request(request_id)
        return f"Cancelled request {request_id}."

    return act(request, _back(next, request_id), run, place=f"request-{request_id}")
