"""The run page (overview, params, tags, notes, metrics, datasets) and its artifact browser."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import StreamingResponse

from runstone.deps import artifacts, browse, logged_models, registry, tracking
from runstone.entities import FileInfo, ModelVersion, Run
from runstone.errors import NotFound
from runstone.governance.needs import needs
from runstone.governance.permissions import Permission
from runstone.registry.approvals import GovernedRegistry
from runstone.tracking import tags as system_tags
from runstone.tracking.artifacts import ArtifactService
from runstone.tracking.browse import BrowseService
from runstone.tracking.logged_models import LoggedModelService
from runstone.tracking.service import TrackingService
from runstone.ui import previews, project_views
from runstone.ui.web import ARTIFACT_CSP, PageRoute, act, check_csrf, render, safe_next, tag_remover, tag_setter

router = APIRouter(include_in_schema=False, route_class=PageRoute, dependencies=[Depends(check_csrf)])
Tracking = Annotated[TrackingService, Depends(tracking)]
Browse = Annotated[BrowseService, Depends(browse)]
Artifacts = Annotated[ArtifactService, Depends(artifacts)]
LoggedModels = Annotated[LoggedModelService, Depends(logged_models)]
Registry = Annotated[GovernedRegistry, Depends(registry)]
MAX_MODELS_SHOWN = 50
MAX_VERSIONS_SHOWN = 100
# Tags that runstone or MLflow set themselves: listed apart, not edited as the user's own.
SYSTEM_TAG_PREFIXES = (system_tags.PREFIX, "mlflow.")
MAX_MODEL_FILES_SHOWN = 30
MAX_CHILDREN_SHOWN = 200


def _system(run: Run) -> dict[str, str]:
    tags = run.data.tags
    return {
        "source": tags.get(system_tags.SOURCE_NAME, ""),
        "source_type": tags.get(system_tags.SOURCE_TYPE, ""),
        "commit": tags.get(system_tags.GIT_COMMIT, ""),
        "branch": tags.get(system_tags.GIT_BRANCH, ""),
        "repo": tags.get(system_tags.GIT_REPO_URL, ""),
        "dirty": tags.get(system_tags.GIT_DIRTY, ""),
        "host": tags.get(system_tags.HOST, ""),
        "python": tags.get(system_tags.PYTHON_VERSION, ""),
    }


def _models_of(run: Run, models: LoggedModelService) -> list[dict[str, Any]]:
    """The logged models (MLflow 3's ``log_model``) this run produced or used, with their files."""
    run_id = run.info.run_id
    produced = models.search([run.info.experiment_id], f"source_run_id = '{run_id}'", max_results=MAX_MODELS_SHOWN)
    links = models.links_for_runs([run_id]).get(run_id)
    found: dict[str, dict[str, Any]] = {m.model_id: {"model": m, "role": "produced", "step": None} for m in produced}
    wanted: list[tuple[str, str, int | None]] = [(m, "produced", step) for m, step in (links.outputs if links else ())]
    wanted += [(m, "used", None) for m in (links.inputs if links else ())]
    for model_id, role, step in wanted:
        if model_id in found:
            found[model_id]["step"] = step if step is not None else found[model_id]["step"]
            continue
        try:
            found[model_id] = {"model": models.get(model_id), "role": role, "step": step}
        except NotFound:  # deleted since
            continue
    out = list(found.values())[:MAX_MODELS_SHOWN]
    for entry in out:
        entry["files"] = [f for f in models.files(entry["model"].model_id) if not f.is_dir][:MAX_MODEL_FILES_SHOWN]
    return out


def _versions_of(run: Run, models: GovernedRegistry) -> list[ModelVersion]:
    """The registered model versions made from this run, newest first."""
    found = models.search_model_versions(
        f"run_id = '{run.info.run_id}'", max_results=MAX_VERSIONS_SHOWN, order_by=["creation_timestamp DESC"]
    )
    return list(found)


@router.get("/ui/runs/{run_id}")
@needs(Permission.READ, "run", "run_id")
def run_page(
    request: Request,
    run_id: str,
    service: Tracking,
    info: Browse,
    files: Artifacts,
    models: LoggedModels,
    versions: Registry,
) -> Response:
    run = service.get_run(run_id)
    experiment = service.get_experiment(run.info.experiment_id)
    parent_id = run.data.tags.get(system_tags.PARENT_RUN_ID)
    child_ids = service.child_run_ids(run_id)
    refs = info.run_refs([*([parent_id] if parent_id else []), *child_ids[:MAX_CHILDREN_SHOWN]])
    tags = sorted(run.data.tags.items())
    user_tags = {k: v for k, v in tags if not k.startswith(SYSTEM_TAG_PREFIXES)}
    system = {k: v for k, v in tags if k.startswith(SYSTEM_TAG_PREFIXES) and k != system_tags.NOTE}
    metrics = sorted(run.data.metrics.items())
    single = set(info.single_point_metrics(run_id)) if metrics else set()
    newer, older = _neighbours(service, run)
    return render(
        request,
        "run.html",
        {
            "run": run,
            "experiment": experiment,
            "system": _system(run),
            "parent": (parent_id, refs.get(parent_id)) if parent_id else None,
            "children": [(c, refs.get(c)) for c in child_ids[:MAX_CHILDREN_SHOWN]],
            "children_total": len(child_ids),
            "note": run.data.tags.get(system_tags.NOTE, ""),
            "user_tags": user_tags,
            "system_tags": system,
            "metrics": metrics,
            "charted": [(k, v) for k, v in metrics if k not in single],
            "single_values": [(k, v) for k, v in metrics if k in single],
            "params": sorted(run.data.params.items()),
            "artifacts": files.list_artifacts(run_id),
            "logged_models": _models_of(run, models),
            "versions": _versions_of(run, versions),
            "diff_artifact": system_tags.GIT_DIFF_ARTIFACT,
            "reproduction": project_views.reproduction(run, files),
            "sweep": project_views.sweep(run),
            "newer": newer,
            "older": older,
        },
    )


def _neighbours(service: TrackingService, run: Run) -> tuple[Run | None, Run | None]:
    """The runs of the experiment started just after and just before this one (the runs table's
    previous and next rows in its default order), for the page's links and j / k keys."""
    if run.info.start_time is None:
        return None, None
    found = []
    for op, direction in ((">", "ASC"), ("<", "DESC")):
        page = service.search_runs(
            [run.info.experiment_id], f"attributes.start_time {op} {run.info.start_time}", "ACTIVE_ONLY", 1,
            [f"attributes.start_time {direction}"], None, params=[], metrics=[], tags=[],
        )  # fmt: skip
        found.append(next(iter(page), None))
    return found[0], found[1]


@router.post("/ui/runs/{run_id}/tags")
@needs(Permission.EDIT, "run", "run_id")
def set_tag(
    request: Request,
    run_id: str,
    service: Tracking,
    key: Annotated[str, Form()] = "",
    value: Annotated[str, Form()] = "",
) -> Response:
    return act(request, f"/ui/runs/{run_id}#tags", tag_setter(key, value, partial(service.set_tag, run_id)))


@router.post("/ui/runs/{run_id}/tags/delete")
@needs(Permission.EDIT, "run", "run_id")
def delete_tag(request: Request, run_id: str, service: Tracking, key: Annotated[str, Form()] = "") -> Response:
    return act(request, f"/ui/runs/{run_id}#tags", tag_remover(key, partial(service.delete_tag, run_id)))


@router.post("/ui/runs/{run_id}/note")
@needs(Permission.EDIT, "run", "run_id")
def set_note(request: Request, run_id: str, service: Tracking, note: Annotated[str, Form()] = "") -> Response:
    def run() -> str:
        text = note.replace("\r\n", "\n")
        if text.strip():
            service.set_tag(run_id, system_tags.NOTE, text)
        elif system_tags.NOTE in service.get_run(run_id).data.tags:
            service.delete_tag(run_id, system_tags.NOTE)
        return "Saved the notes."

    return act(request, f"/ui/runs/{run_id}#notes", run)


@router.post("/ui/runs/{run_id}/rename")
@needs(Permission.EDIT, "run", "run_id")
def rename_run(request: Request, run_id: str, service: Tracking, name: Annotated[str, Form()] = "") -> Response:
    def run() -> str:
        service.update_run(run_id, run_name=name.strip())
        return f"Renamed the run to {name.strip()!r}."

    return act(request, f"/ui/runs/{run_id}", run)


@router.post("/ui/runs/{run_id}/delete")
@needs(Permission.EDIT, "run", "run_id")
def delete_run(request: Request, run_id: str, service: Tracking, next: Annotated[str, Form()] = "") -> Response:
    def run() -> str:
        service.delete_run(run_id)
        return "Deleted the run; it can be restored."

    return act(request, safe_next(next, f"/ui/runs/{run_id}"), run)


@router.post("/ui/runs/{run_id}/restore")
@needs(Permission.EDIT, "run", "run_id")
def restore_run(request: Request, run_id: str, service: Tracking, next: Annotated[str, Form()] = "") -> Response:
    def run() -> str:
        service.restore_run(run_id)
        return "Restored the run."

    return act(request, safe_next(next, f"/ui/runs/{run_id}"), run)


def _crumbs(path: str) -> list[tuple[str, str]]:
    parts = [p for p in path.split("/") if p]
    return [(name, "/".join(parts[: i + 1])) for i, name in enumerate(parts)]


@router.get("/ui/runs/{run_id}/artifacts")
@needs(Permission.READ, "run", "run_id")
def artifacts_page(request: Request, run_id: str, service: Tracking, files: Artifacts, path: str = "") -> Response:
    run = service.get_run(run_id)
    path = path.strip("/")
    listing = files.list_artifacts(run_id, path)
    selected: FileInfo | None = None
    preview: previews.Preview | None = None
    folder = path
    if path and len(listing) == 1 and listing[0].path == path and not listing[0].is_dir:
        selected = listing[0]
        folder = path.rsplit("/", 1)[0] if "/" in path else ""
        listing = files.list_artifacts(run_id, folder)
        preview = previews.preview(files, files.open(run_id, path))
    elif path and not listing:
        raise NotFound(f"Run {run_id} has no artifact at {path!r}.")
    return render(
        request,
        "artifacts.html",
        {
            "run": run,
            "path": path,
            "folder": folder,
            "crumbs": _crumbs(folder),
            "listing": listing,
            "selected": selected,
            "preview": preview,
        },
    )


@router.get("/ui/runs/{run_id}/raw")
@needs(Permission.READ, "run", "run_id")
def raw_artifact(run_id: str, files: Artifacts, path: str) -> Response:
    """An artifact as the browser may show it inline: images and HTML only, sandboxed."""
    artifact = files.open(run_id, path)
    media_type = previews.raw_media_type(artifact.info.path)
    headers = {
        "Content-Security-Policy": ARTIFACT_CSP,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-cache",
        "Cross-Origin-Resource-Policy": "same-origin",
    }
    if artifact.info.file_size is not None:
        headers["Content-Length"] = str(artifact.info.file_size)
    if media_type == "application/octet-stream":
        headers["Content-Disposition"] = "attachment"
    return StreamingResponse(files.read(artifact), media_type=media_type, headers=headers)
