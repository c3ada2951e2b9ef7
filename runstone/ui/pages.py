"""Pages of experiments and of the runs table.

Routes stay thin: read the query string, call services, render a template. Every write is a
POST guarded by :func:`runstone.ui.web.check_csrf` that redirects back with a message.
"""

from __future__ import annotations

import csv
import io
import re
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse

from runstone.deps import browse, saved_views, tracking
from runstone.entities import Experiment, Run, ViewType
from runstone.errors import InvalidInput, NotFound, RunstoneError
from runstone.governance.needs import needs, signed_in
from runstone.governance.permissions import Permission
from runstone.tracking import tags as system_tags
from runstone.tracking.browse import MAX_COMPARED_RUNS, BrowseService
from runstone.tracking.saved_views import SavedViewService
from runstone.tracking.service import TrackingService
from runstone.ui import runs_table
from runstone.ui.access_state import access_state
from runstone.ui.web import PageRoute, act, check_csrf, redirect, render, safe_next

router = APIRouter(include_in_schema=False, route_class=PageRoute, dependencies=[Depends(check_csrf)])
Tracking = Annotated[TrackingService, Depends(tracking)]
Browse = Annotated[BrowseService, Depends(browse)]
Views = Annotated[SavedViewService, Depends(saved_views)]
EXPERIMENT_VIEWS = {"active": ViewType.ACTIVE_ONLY, "deleted": ViewType.DELETED_ONLY, "all": ViewType.ALL}
MAX_EXPERIMENTS = 1000
MAX_NESTED_SHOWN = 1000  # nested runs unfolded under one parent; the rest are a filter away


def name_filter(text: str) -> str:
    """An ILIKE filter on experiment names that finds ``text`` anywhere, quotes and all."""
    escaped = text.replace("\\", "\\\\").replace("'", "\\'")
    return f"name ILIKE '%{escaped}%'"


@router.get("/")
@signed_in
def root() -> Response:
    return RedirectResponse("/ui/", status_code=307)


@router.get("/ui")
@signed_in
def ui_root() -> Response:
    return RedirectResponse("/ui/", status_code=307)


@router.get("/ui/")
@signed_in
def experiments_page(request: Request, service: Tracking, info: Browse, q: str = "", view: str = "active") -> Response:
    if view not in EXPERIMENT_VIEWS:
        raise InvalidInput(f"Unknown view {view!r}; use active, deleted or all.")
    page = service.search_experiments(
        view_type=EXPERIMENT_VIEWS[view],
        filter_string=name_filter(q.strip()) if q.strip() else None,
        max_results=MAX_EXPERIMENTS,
        order_by=["last_update_time DESC"],
    )
    experiments: list[Experiment] = list(page)
    activity = info.activity([e.experiment_id for e in experiments])
    rows = []
    for e in experiments:
        a = activity[e.experiment_id]
        last = max(e.last_update_time, a.last_run_time or 0)
        rows.append({"experiment": e, "runs": a.active_runs, "last_activity": last})
    rows.sort(key=lambda r: int(r["last_activity"]), reverse=True)  # type: ignore[call-overload]
    return render(
        request,
        "experiments.html",
        {"rows": rows, "q": q, "view": view, "truncated": page.next_page_token is not None, "limit": MAX_EXPERIMENTS},
    )


@router.post("/ui/experiments")
@signed_in
def create_experiment(request: Request, service: Tracking, name: Annotated[str, Form()] = "") -> Response:
    try:
        experiment_id = service.create_experiment(name.strip())
    except RunstoneError as exc:
        return redirect(request, "/ui/", error=exc.message)
    return redirect(request, f"/ui/experiments/{experiment_id}", message=f"Created experiment {name.strip()!r}.")


@router.post("/ui/experiments/{experiment_id}/rename")
@needs(Permission.EDIT, "experiment", "experiment_id")
def rename_experiment(
    request: Request,
    experiment_id: str,
    service: Tracking,
    name: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    def run() -> str:
        service.rename_experiment(experiment_id, name.strip())
        return f"Renamed experiment {experiment_id} to {name.strip()!r}."

    return act(request, safe_next(next, "/ui/"), run)


@router.post("/ui/experiments/{experiment_id}/delete")
@needs(Permission.MANAGE, "experiment", "experiment_id")
def delete_experiment(
    request: Request, experiment_id: str, service: Tracking, next: Annotated[str, Form()] = ""
) -> Response:
    def run() -> str:
        service.delete_experiment(experiment_id)
        return f"Deleted experiment {experiment_id} and its runs; restore it from the deleted experiments."

    return act(request, safe_next(next, "/ui/"), run)


@router.post("/ui/experiments/{experiment_id}/restore")
@needs(Permission.MANAGE, "experiment", "experiment_id")
def restore_experiment(
    request: Request, experiment_id: str, service: Tracking, next: Annotated[str, Form()] = ""
) -> Response:
    def run() -> str:
        service.restore_experiment(experiment_id)
        return f"Restored experiment {experiment_id}."

    return act(request, safe_next(next, "/ui/"), run)


@router.post("/ui/experiments/{experiment_id}/note")
@needs(Permission.EDIT, "experiment", "experiment_id")
def set_experiment_note(
    request: Request,
    experiment_id: str,
    service: Tracking,
    note: Annotated[str, Form()] = "",
) -> Response:
    def run() -> str:
        service.set_experiment_tag(experiment_id, system_tags.NOTE, note.replace("\r\n", "\n"))
        return "Saved the description."

    return act(request, f"/ui/experiments/{experiment_id}", run)


@router.get("/ui/experiments/{experiment_id}")
@needs(Permission.READ, "experiment", "experiment_id")
def runs_page(
    request: Request,
    experiment_id: str,
    service: Tracking,
    info: Browse,
    views: Views,
    col: Annotated[list[str] | None, Query()] = None,
    saved_view: str = "",
) -> Response:
    experiment = service.get_experiment(experiment_id)
    saved = views.get_view(experiment_id, saved_view) if saved_view and saved_view != "none" else None
    state = _with_columns(info, experiment_id, runs_table.TableState.parse(request.query_params, col or []))
    columns = [runs_table.chosen_column(c) for c in state.columns]
    error: dict[str, object] | None = None
    runs: list[Run] = []
    next_token = previous_token = None
    matching = 0
    try:
        page = service.search_runs(
            [experiment_id],
            state.search_filter(),
            state.view_type,
            state.max,
            [state.order],
            state.page_token,
            **runs_table.projection(columns),
        )
        runs = list(page)
        next_token = page.next_page_token
        matching = info.count_runs(experiment_id, state.search_filter(), state.view_type)
        if state.page_token:
            previous_token = info.previous_page_token(
                experiment_id, state.search_filter(), state.view_type, state.max, [state.order], state.page_token
            )
    except InvalidInput as exc:
        error = {"message": exc.message, "position": exc.details.get("position"), "field": _error_field(exc)}
    rows: list[runs_table.Row] = []
    if state.nested:
        counts = info.child_counts(experiment_id, [r.info.run_id for r in runs], state.view_type) if runs else {}
        rows = [runs_table.Row(r, 0, None, counts.get(r.info.run_id, 0)) for r in runs]
    else:
        parent_ids = [p for r in runs if (p := r.data.tags.get(system_tags.PARENT_RUN_ID))]
        refs = info.run_refs(parent_ids) if parent_ids else {}
        for r in runs:
            parent_id = r.data.tags.get(system_tags.PARENT_RUN_ID)
            ref = refs.get(parent_id) if parent_id else None
            rows.append(runs_table.Row(r, 0, (parent_id, ref.name if ref else parent_id) if parent_id else None))
    experiments = list(service.search_experiments(max_results=MAX_EXPERIMENTS, order_by=["name ASC"]))
    total = info.count_runs(experiment_id, None, state.view_type) if state.filter or state.nested else matching
    return render(
        request,
        "runs.html",
        {
            "experiment": experiment,
            "state": state,
            "columns": columns,
            "fixed": runs_table.FIXED_COLUMNS,
            "rows": rows,
            "next_token": next_token,
            "previous_token": previous_token,
            "matching": matching,
            "pages": max(1, -(-matching // state.max)),
            "error": error,
            "targets": [e for e in experiments if e.experiment_id != experiment.experiment_id],
            "total": total,
            "note": experiment.tags.get(system_tags.NOTE, ""),
            "tags": system_tags,
            "max_compared": MAX_COMPARED_RUNS,
            "nested_filter": runs_table.nested_filter,
            "saved": saved,
            "saved_views": views.list_views(experiment_id),
            "access": access_state(request, "experiment", experiment_id),
        },
        status=400 if error else 200,
    )


def _with_columns(info: BrowseService, experiment_id: str, state: runs_table.TableState) -> runs_table.TableState:
    """The state with its columns chosen: without a choice in the URL, the metrics and params that
    vary across the experiment's runs. Every link of the page then names them, so sorting,
    paging and filtering keep the same columns."""
    if runs_table.has_choice(state):
        return state
    return replace(
        state, columns=runs_table.default_columns(info.key_spread(experiment_id, state.view_type)), picked=True
    )


@router.get("/ui/experiments/{experiment_id}/children")
@needs(Permission.READ, "experiment", "experiment_id")
@needs(Permission.READ, "run", "parent", optional=True)
def nested_rows(
    request: Request,
    experiment_id: str,
    info: Browse,
    parent: str,
    depth: Annotated[int, Query(ge=1, le=50)] = 1,
    col: Annotated[list[str] | None, Query()] = None,
) -> Response:
    """The rows of the runs nested under ``parent``, for the table to unfold in place."""
    state = _with_columns(info, experiment_id, runs_table.TableState.parse(request.query_params, col or []))
    columns = [runs_table.chosen_column(c) for c in state.columns]
    kids = info.children(
        experiment_id, [parent], state.view_type, limit=MAX_NESTED_SHOWN, **runs_table.projection(columns)
    )[parent]
    counts = info.child_counts(experiment_id, [k.info.run_id for k in kids], state.view_type) if kids else {}
    total = info.child_counts(experiment_id, [parent], state.view_type).get(parent, 0)
    return render(
        request,
        "runs_rows.html",
        {
            "state": state,
            "columns": columns,
            "fixed": runs_table.FIXED_COLUMNS,
            "rows": [runs_table.Row(k, depth, None, counts.get(k.info.run_id, 0)) for k in kids],
            "parent_id": parent,
            "more": total - len(kids),
            "tags": system_tags,
            "nested_filter": runs_table.nested_filter,
        },
    )


@router.get("/ui/experiments/{experiment_id}/runs.csv")
@needs(Permission.READ, "experiment", "experiment_id")
def export_runs(
    request: Request,
    experiment_id: str,
    service: Tracking,
    info: Browse,
    col: Annotated[list[str] | None, Query()] = None,
) -> Response:
    """The runs of the table's view (its filter, order and columns; every page, nested runs
    included) as CSV."""
    experiment = service.get_experiment(experiment_id)
    state = _with_columns(info, experiment_id, runs_table.TableState.parse(request.query_params, col or []))
    columns = [runs_table.chosen_column(c) for c in state.columns]
    projection = runs_table.projection(columns)
    projection["tags"] = [*(projection["tags"] or []), system_tags.PARENT_RUN_ID]
    filter_string = state.filter or None
    first = service.search_runs(
        [experiment_id], filter_string, state.view_type, runs_table.EXPORT_PAGE, [state.order], None, **projection
    )

    def lines() -> Iterator[str]:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(runs_table.export_header(columns))
        page = first
        while True:
            for run in page:
                writer.writerow(runs_table.export_row(run, columns))
            yield out.getvalue()
            out.seek(0)
            out.truncate()
            if not page.next_page_token:
                return
            page = service.search_runs(
                [experiment_id],
                filter_string,
                state.view_type,
                runs_table.EXPORT_PAGE,
                [state.order],
                page.next_page_token,
                **projection,
            )

    name = re.sub(r"[^A-Za-z0-9._-]+", "-", experiment.name).strip("-") or f"experiment-{experiment_id}"
    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}-runs.csv"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/ui/experiments/{experiment_id}/columns")
@needs(Permission.READ, "experiment", "experiment_id")
def columns_page(
    request: Request,
    experiment_id: str,
    service: Tracking,
    info: Browse,
    col: Annotated[list[str] | None, Query()] = None,
    fragment: str = "",
) -> Response:
    """The column picker: every metric, param and tag key of the experiment's runs."""
    experiment = service.get_experiment(experiment_id)
    state = runs_table.TableState.parse(request.query_params, col or [])
    keys = info.experiment_keys(experiment_id, state.view_type)
    return render(
        request,
        "columns_fragment.html" if fragment == "1" else "columns.html",
        {
            "experiment": experiment,
            "state": state,
            "picker": runs_table.picker_groups(keys),
            "chosen": set(state.columns),
        },
    )


def _error_field(exc: InvalidInput) -> str:
    return "filter" if "position" in exc.details or exc.message.startswith("Invalid filter") else "order"


def _each(run_ids: list[str], verb: str, change: Callable[[str], object]) -> None:
    """Apply a change run by run; a failure says how many runs were already changed."""
    for done, run_id in enumerate(run_ids):
        try:
            change(run_id)
        except RunstoneError as exc:
            if done:
                exc.message = f"{verb} {done} of {len(run_ids)} runs, then stopped: {exc.message}"
            raise


def _run_action(service: TrackingService, action: str, run_ids: list[str], form: dict[str, str]) -> str:
    if action == "delete":
        _each(run_ids, "Deleted", service.delete_run)
        return f"Deleted {len(run_ids)} run(s); show deleted runs to restore them."
    if action == "restore":
        _each(run_ids, "Restored", service.restore_run)
        return f"Restored {len(run_ids)} run(s)."
    if action == "tag":
        key = form["tag_key"].strip()
        if not key:
            raise InvalidInput("Give the tag a key.")
        _each(run_ids, "Tagged", lambda run_id: service.set_tag(run_id, key, form["tag_value"]))
        return f"Tagged {len(run_ids)} run(s) with {key}={form['tag_value']!r}."
    if action == "move":
        target = form["target"]
        if not target:
            raise InvalidInput("Choose the experiment to move the runs to.")
        name = service.get_experiment(target).name
        _each(run_ids, "Moved", lambda run_id: service.move_run(run_id, target))
        return f"Moved {len(run_ids)} run(s) to experiment {name!r}."
    raise InvalidInput(f"Unknown action {action!r}.")


@router.post("/ui/experiments/{experiment_id}/runs")
@needs(Permission.EDIT, "experiment", "experiment_id")
@needs(Permission.EDIT, "run", "run", optional=True)
@needs(Permission.EDIT, "experiment", "target", optional=True)
def runs_action(
    request: Request,
    experiment_id: str,
    service: Tracking,
    action: Annotated[str, Form()] = "",
    run: Annotated[list[str] | None, Form()] = None,
    tag_key: Annotated[str, Form()] = "",
    tag_value: Annotated[str, Form()] = "",
    target: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    back = safe_next(next, f"/ui/experiments/{experiment_id}")
    run_ids = list(dict.fromkeys(run or []))
    if not run_ids:
        return redirect(request, back, error="Select at least one run first.")
    if action == "compare":
        if len(run_ids) < 2:
            return redirect(request, back, error="Select at least 2 runs to compare.")
        if len(run_ids) > MAX_COMPARED_RUNS:
            return _compare_many(request, experiment_id, run_ids, back)
        return redirect(request, "/ui/compare?" + urllib.parse.urlencode([("run", r) for r in run_ids]))
    form = {"tag_key": tag_key, "tag_value": tag_value, "target": target}
    return act(request, back, lambda: _run_action(service, action, run_ids, form))


def _compare_many(request: Request, experiment_id: str, run_ids: list[str], back: str) -> Response:
    """More runs than compare puts side by side: the page of the ways forward (a link holds the
    first hundred of them and the table's view, not all of them)."""
    table = urllib.parse.parse_qs(urllib.parse.urlsplit(back).query)
    view = [(k, table[k][0]) for k in ("filter", "order", "view") if table.get(k)]
    first = [("run", r) for r in run_ids[:MAX_COMPARED_RUNS]]
    query = urllib.parse.urlencode([("selected", str(len(run_ids))), *view, *first])
    return redirect(request, f"/ui/experiments/{experiment_id}/compare-many?{query}")


@router.get("/ui/experiments/{experiment_id}/compare-many")
@needs(Permission.READ, "experiment", "experiment_id")
@needs(Permission.READ, "run", "run", optional=True)
@needs(Permission.READ, "run", "selected", optional=True)
def compare_many(
    request: Request,
    experiment_id: str,
    service: Tracking,
    selected: Annotated[int, Query(ge=0)] = 0,
    run: Annotated[list[str] | None, Query()] = None,
    filter: str = "",
    order: str = "",
    view: str = "",
) -> Response:
    """The ways forward when more runs are selected than compare puts side by side."""
    experiment = service.get_experiment(experiment_id)
    first = list(dict.fromkeys(run or []))[:MAX_COMPARED_RUNS]
    table = [(k, v) for k, v in (("filter", filter), ("order", order), ("view", view)) if v]
    return render(
        request,
        "compare_many.html",
        {
            "experiment": experiment,
            "selected": max(selected, len(first)),
            "limit": MAX_COMPARED_RUNS,
            "back": f"/ui/experiments/{experiment_id}?" + urllib.parse.urlencode(table),
            "filter": filter,
            "first": "/ui/compare?" + urllib.parse.urlencode([("run", r) for r in first]),
            "first_count": len(first),
            "experiment_view": "/ui/compare?" + urllib.parse.urlencode([("experiment", experiment_id), *table]),
        },
    )


fallback = APIRouter(include_in_schema=False, route_class=PageRoute)


@fallback.get("/ui/{path:path}")
@signed_in
def not_found(path: str) -> Response:
    raise NotFound(f"There is no page at /ui/{path}.")
