"""Pages of the model registry: registered models, a model with its versions and timeline, a version.

Stage and alias changes are form posts like every other change of the UI. A change to a target
that the model's policy protects is not attempted: the page says a request is needed and leads
to the request form, filled in with what was asked (see request_pages.py).
"""

from __future__ import annotations

import urllib.parse
from collections import Counter
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, Response

from runstone.deps import backend, browse, context, principal_of, registry, tracking
from runstone.entities import Assignment, ModelVersion, Policy, RegisteredModel, Run
from runstone.errors import InvalidState, NotFound, RunstoneError
from runstone.governance.needs import needs, signed_in
from runstone.governance.permissions import Permission
from runstone.registry.approvals import GovernedRegistry
from runstone.registry.service import canonical_stage, check_alias
from runstone.tracking import tags as system_tags
from runstone.tracking.browse import BrowseService
from runstone.tracking.service import TrackingService
from runstone.ui import registry_views as views
from runstone.ui.access_state import access_state
from runstone.ui.formatting import model_url
from runstone.ui.pages import name_filter
from runstone.ui.web import PageRoute, act, check_csrf, redirect, render, tag_remover, tag_setter

router = APIRouter(include_in_schema=False, route_class=PageRoute, dependencies=[Depends(check_csrf)])
Registry = Annotated[GovernedRegistry, Depends(registry)]
Tracking = Annotated[TrackingService, Depends(tracking)]
Browse = Annotated[BrowseService, Depends(browse)]
MODELS_PER_PAGE = 100
MAX_VERSIONS = 500
MAX_HISTORY_ROWS = 1000
HELD_STAGES = ("Production", "Staging")


@dataclass(frozen=True)
class Holder:
    """A stage or alias of the model, who holds it now and where a rollback would take it."""

    kind: str
    target: str
    versions: tuple[str, ...]
    protected: bool
    since: Assignment | None
    rollback_to: str | None
    rollback_needs_request: bool


@router.get("/ui/models")
@signed_in
def models_page(request: Request, service: Registry, q: str = "", page_token: str = "") -> Response:
    query = q.strip()
    page = service.search_registered_models(
        filter_string=name_filter(query) if query else None,
        max_results=MODELS_PER_PAGE,
        order_by=["last_updated_timestamp DESC"],
        page_token=page_token or None,
    )
    models: list[RegisteredModel] = list(page)
    pending = Counter(r.name for r in service.search_requests(status="open"))
    order = {stage: i for i, stage in enumerate(("Production", "Staging", "None", "Archived"))}
    rows = [
        {
            "model": m,
            "stages": sorted(m.latest_versions, key=lambda v: order.get(v.current_stage, 9)),
            "pending": pending.get(m.name, 0),
        }
        for m in models
    ]
    next_url = None
    if page.next_page_token:
        next_url = "/ui/models?" + urllib.parse.urlencode({"q": query, "page_token": page.next_page_token})
    return render(request, "models.html", {"rows": rows, "q": query, "next_url": next_url, "first": not page_token})


def _holders(
    service: GovernedRegistry,
    model: RegisteredModel,
    versions: list[ModelVersion],
    policy: Policy,
    history: list[Assignment],
) -> list[Holder]:
    def in_stage(stage: str) -> tuple[str, ...]:
        # ``versions`` are the newest ones: an older holder is still among the latest per stage.
        held = [v.version for v in versions if v.current_stage == stage]
        return tuple(held or [v.version for v in model.latest_versions if v.current_stage == stage])

    targets: list[tuple[str, str, tuple[str, ...]]] = [("stage", stage, in_stage(stage)) for stage in HELD_STAGES]
    targets += [("alias", alias, (version,)) for alias, version in model.aliases.items()]
    targets += [("alias", alias, ()) for alias in policy.protected_aliases if alias not in model.aliases]
    holders = []
    for kind, target, held in targets:
        rollback_to = None
        if held:
            try:
                rollback_to = service.rollback_target(model.name, **{kind: target})
            except InvalidState:
                rollback_to = None
        protected = policy.protects(kind, target)
        holders.append(
            Holder(
                kind=kind,
                target=target,
                versions=held,
                protected=protected,
                since=views.since(history, kind, target, held[0]) if held else None,
                rollback_to=rollback_to,
                rollback_needs_request=protected and policy.rollback_requires_approval,
            )
        )
    return holders


@router.get("/ui/models/{name}")
@needs(Permission.READ, "model", "name")
def model_page(request: Request, name: str, service: Registry, info: Browse) -> Response:
    model = service.get_registered_model(name)
    policy = service.policy(name)
    page = views.model_versions(service, name, MAX_VERSIONS)
    versions: list[ModelVersion] = list(page)
    runs = info.run_refs([v.run_id for v in versions if v.run_id])
    history = service.get_model_history(name)
    open_requests = service.search_requests(name, status="open")
    actor = principal_of(request).user
    cards = views.cards(service, open_requests, actor)
    return render(
        request,
        "model.html",
        {
            "model": model,
            "policy": policy,
            "versions": versions,
            "versions_truncated": page.next_page_token is not None,
            "runs": runs,
            "holders": _holders(service, model, versions, policy, history),
            "timeline": views.build_timeline(history, now=service.clock()),
            "history": history[::-1][:MAX_HISTORY_ROWS],
            "history_total": len(history),
            "cards": cards,
            "placed": {"holders", "description", "tags", *views.places(open_requests)},
            "stages": ("Staging", "Production", "Archived", "None"),
            "aliases": sorted({*model.aliases, *policy.protected_aliases}),
            "access": access_state(request, "model", name),
        },
    )


@router.post("/ui/models/{name}/description")
@needs(Permission.EDIT, "model", "name")
def set_description(
    request: Request, name: str, service: Registry, description: Annotated[str, Form()] = ""
) -> Response:
    def run() -> str:
        service.update_registered_model(name, description.replace("\r\n", "\n"))
        return "Saved the description."

    return act(request, model_url(name) + "#description", run, place="description")


@router.post("/ui/models/{name}/tags")
@needs(Permission.EDIT, "model", "name")
def set_tag(
    request: Request,
    name: str,
    service: Registry,
    key: Annotated[str, Form()] = "",
    value: Annotated[str, Form()] = "",
) -> Response:
    write = partial(service.set_registered_model_tag, name)
    return act(request, model_url(name) + "#tags", tag_setter(key, value, write), place="tags")


@router.post("/ui/models/{name}/tags/delete")
@needs(Permission.EDIT, "model", "name")
def delete_tag(request: Request, name: str, service: Registry, key: Annotated[str, Form()] = "") -> Response:
    remove = partial(service.delete_registered_model_tag, name)
    return act(request, model_url(name) + "#tags", tag_remover(key, remove), place="tags")


def _needs_request(
    request: Request,
    name: str,
    policy: Policy,
    kind: str,
    target: str,
    form: dict[str, str],
    *,
    what: str = "changes",
    leaving: str | None = None,
) -> Response:
    """Lead to the request form, filled in, saying why a direct change is not possible."""
    label = "Stage" if kind == "stage" else "Alias"
    approvals = policy.required_approvals
    by = f"a request approved by {approvals} approver{'s' if approvals != 1 else ''}"
    if leaving is not None:
        message = (
            f"Version {form.get('version')} of {name!r} is in the protected stage {leaving!r}: it leaves it only "
            f"through {by}. Review the request below and open it."
        )
    else:
        message = f"{label} {target!r} of {name!r} is protected: it {what} only through {by}."
        message += " Review the request below and open it."
    query = {k: v for k, v in {**form, kind: target}.items() if v}
    return redirect(request, f"{model_url(name)}/request?{urllib.parse.urlencode(query)}", message=message)


@router.post("/ui/models/{name}/alias")
@needs(Permission.EDIT, "model", "name")
def set_alias(
    request: Request,
    name: str,
    service: Registry,
    alias: Annotated[str, Form()] = "",
    version: Annotated[str, Form()] = "",
    comment: Annotated[str, Form()] = "",
) -> Response:
    back = model_url(name) + "#holders"
    alias = alias.strip()
    try:
        check_alias(alias)
        policy = service.policy(name)
    except RunstoneError as exc:
        return redirect(request, back, error=exc.message, place="holders")
    if policy.protects("alias", alias):
        return _needs_request(request, name, policy, "alias", alias, {"version": version, "comment": comment})

    def run() -> str:
        service.set_registered_model_alias(name, alias, version, reason=comment)
        return f"Alias {alias!r} now points to version {version}."

    return act(request, back, run, place="holders")


@router.post("/ui/models/{name}/alias/delete")
@needs(Permission.EDIT, "model", "name")
def delete_alias(
    request: Request,
    name: str,
    service: Registry,
    alias: Annotated[str, Form()] = "",
    comment: Annotated[str, Form()] = "",
) -> Response:
    def run() -> str:
        service.delete_registered_model_alias(name, alias, reason=comment)
        return f"Removed alias {alias!r}."

    return act(request, model_url(name) + "#holders", run, place="holders")


@router.post("/ui/models/{name}/stage")
@needs(Permission.EDIT, "model", "name")
def set_stage(
    request: Request,
    name: str,
    service: Registry,
    version: Annotated[str, Form()] = "",
    stage: Annotated[str, Form()] = "",
    archive_existing: Annotated[str, Form()] = "",
    comment: Annotated[str, Form()] = "",
) -> Response:
    back = model_url(name) + "#holders"
    try:
        stage = canonical_stage(stage)
        policy = service.policy(name)
        current = service.get_model_version(name, version).current_stage if version else stage
    except RunstoneError as exc:
        return redirect(request, back, error=exc.message, place="holders")
    archive = archive_existing == "1"
    # Leaving a protected stage changes it as much as entering it does.
    leaving = current if current != stage and policy.protects("stage", current) else None
    if policy.protects("stage", stage) or leaving:
        form = {"version": version, "comment": comment, "archive_existing": "1" if archive else ""}
        return _needs_request(request, name, policy, "stage", stage, form, leaving=leaving)

    def run() -> str:
        service.transition_model_version_stage(name, version, stage, archive, reason=comment)
        return f"Moved version {version} to {stage}" + (", archived the others there." if archive else ".")

    return act(request, back, run, place="holders")


@router.post("/ui/models/{name}/rollback")
@needs(Permission.EDIT, "model", "name")
def rollback(
    request: Request,
    name: str,
    service: Registry,
    kind: Annotated[str, Form()] = "",
    target: Annotated[str, Form()] = "",
    comment: Annotated[str, Form()] = "",
) -> Response:
    back = model_url(name) + "#holders"
    if kind not in ("stage", "alias"):
        return redirect(request, back, error="Roll back a stage or an alias.", place="holders")
    try:
        policy = service.policy(name)
        if policy.protects(kind, target) and policy.rollback_requires_approval:
            previous = service.rollback_target(name, **{kind: target})
            form = {"version": previous or "", "comment": comment or "rollback", "archive_existing": "1"}
            return _needs_request(request, name, policy, kind, target, form, what="is rolled back")
    except RunstoneError as exc:
        return redirect(request, back, error=exc.message, place="holders")

    def run() -> str:
        version = service.rollback(name, comment=comment, **{kind: target})
        return f"Rolled {target} back to version {version.version}."

    return act(request, back, run, place="holders")


# --------------------------------------------------------------------------- versions
def _deployments(request: Request, name: str, version: str) -> list[Any] | None:
    """Where the version is served, when the backend keeps deployment records (None: it does not)."""
    service = getattr(backend(request), "deployments", None)
    if service is None:
        return None
    records: list[object] = service(context(request)).list_deployments(model_name=name, version=version)
    return records


def _run_of(service: TrackingService, run_id: str | None) -> tuple[Run | None, Any]:
    if not run_id:
        return None, None
    try:
        run = service.get_run(run_id)
        return run, service.get_experiment(run.info.experiment_id)
    except NotFound:
        return None, None


def _source_path(source: str, run_id: str | None) -> str | None:
    """The artifact folder of a ``runs:/<run>/<path>`` source, for a link to the artifact browser."""
    prefix = f"runs:/{run_id}/"
    if not run_id or not source.startswith(prefix):
        return None
    return source[len(prefix) :].strip("/") or None


@router.get("/ui/models/{name}/versions/{version}")
@needs(Permission.READ, "model", "name")
def version_page(request: Request, name: str, version: str, service: Registry, runs: Tracking) -> Response:
    mv = service.get_model_version(name, version)
    policy = service.policy(name)
    run, experiment = _run_of(runs, mv.run_id)
    history = service.get_model_history(name)
    requests = [r for r in service.search_requests(name) if r.version == mv.version]
    run_tags = run.data.tags if run else {}
    return render(
        request,
        "model_version.html",
        {
            "mv": mv,
            "policy": policy,
            "run": run,
            "experiment": experiment,
            "metrics": sorted(run.data.metrics.items()) if run else [],
            "source_path": _source_path(mv.source, mv.run_id),
            "commit": run_tags.get(system_tags.GIT_COMMIT, ""),
            "dirty": run_tags.get(system_tags.GIT_DIRTY, ""),
            "source_name": run_tags.get(system_tags.SOURCE_NAME, ""),
            "history": views.version_history(history, mv.version),
            "requests": requests,
            "deployments": _deployments(request, name, mv.version),
            "placed": {"description", "tags"},
            "stages": ("Staging", "Production", "Archived", "None"),
        },
    )


def _version_url(name: str, version: str) -> str:
    return f"{model_url(name)}/versions/{urllib.parse.quote(version, safe='')}"


@router.post("/ui/models/{name}/versions/{version}/description")
@needs(Permission.EDIT, "model", "name")
def set_version_description(
    request: Request, name: str, version: str, service: Registry, description: Annotated[str, Form()] = ""
) -> Response:
    def run() -> str:
        service.update_model_version(name, version, description.replace("\r\n", "\n"))
        return "Saved the description."

    return act(request, _version_url(name, version) + "#description", run, place="description")


@router.post("/ui/models/{name}/versions/{version}/tags")
@needs(Permission.EDIT, "model", "name")
def set_version_tag(
    request: Request,
    name: str,
    version: str,
    service: Registry,
    key: Annotated[str, Form()] = "",
    value: Annotated[str, Form()] = "",
) -> Response:
    write = partial(service.set_model_version_tag, name, version)
    return act(request, _version_url(name, version) + "#tags", tag_setter(key, value, write), place="tags")


@router.post("/ui/models/{name}/versions/{version}/tags/delete")
@needs(Permission.EDIT, "model", "name")
def delete_version_tag(
    request: Request, name: str, version: str, service: Registry, key: Annotated[str, Form()] = ""
) -> Response:
    remove = partial(service.delete_model_version_tag, name, version)
    return act(request, _version_url(name, version) + "#tags", tag_remover(key, remove), place="tags")
