"""Reports: Markdown pages with live panels and tables of experiments, edited in the browser,
kept with every revision, shared by URL and exported as one self-contained HTML file.

The page draws its panels and tables in the browser from the same data routes as the workspace
(so each reader sees only what they may read); the export reads that data on the server, once
the caller is known to read every experiment the report embeds, and writes it into the file with
plotly.js and the page's styles, so it opens with no network.
"""

from __future__ import annotations

import html
import re
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Form, Query, Request, Response

from runstone.deps import browse, reports, tracking
from runstone.entities import Report
from runstone.errors import RunstoneError
from runstone.governance.needs import needs, signed_in
from runstone.governance.permissions import Permission
from runstone.tracking.browse import BrowseService
from runstone.tracking.reports import Panel, ReportService, RunsTable, blocks
from runstone.tracking.service import TrackingService
from runstone.ui import assets, runs_table
from runstone.ui.web import STATIC, PageRoute, check_csrf, environment, json_response, redirect, render

router = APIRouter(include_in_schema=False, route_class=PageRoute, dependencies=[Depends(check_csrf)])
data_router = APIRouter(include_in_schema=False)
Reports = Annotated[ReportService, Depends(reports)]
Tracking = Annotated[TrackingService, Depends(tracking)]
Browse = Annotated[BrowseService, Depends(browse)]
EXPORT_POINTS = 500


def _runs(service: TrackingService, experiment_id: str, count: int, columns: list[str]) -> list[dict[str, Any]]:
    picked = [runs_table.chosen_column(c) for c in columns]
    found = service.search_runs(
        [experiment_id], None, "ACTIVE_ONLY", count, [runs_table.DEFAULT_ORDER], None, **runs_table.projection(picked)
    )
    return [{"id": r.info.run_id, "name": r.info.run_name, "values": {c.id: c.value(r) for c in picked}} for r in found]


@data_router.get("/ui/data/experiment-runs")
@needs(Permission.READ, "experiment", "experiment")
def experiment_runs(
    service: Tracking,
    experiment: str,
    runs: Annotated[int, Query(ge=1, le=100)] = 10,
    col: Annotated[list[str] | None, Query()] = None,
) -> Response:
    """An experiment's most recent runs with the values of the named columns (a report's embed)."""
    return json_response({"runs": _runs(service, experiment, runs, list(dict.fromkeys(col or [])))})


@router.get("/ui/reports")
@signed_in
def reports_page(request: Request, service: Reports) -> Response:
    return render(request, "reports.html", {"reports": service.list_reports()})


@router.post("/ui/reports")
@signed_in
def create_report(request: Request, service: Reports, title: Annotated[str, Form()] = "") -> Response:
    try:
        report = service.create_report(title, "")
    except RunstoneError as exc:
        return redirect(request, "/ui/reports", error=exc.message)
    return redirect(request, f"/ui/reports/{report.report_id}/edit", message=f"Created the report {report.title!r}.")


def _view(request: Request, report: Report, **extra: object) -> Response:
    try:
        parsed: list[Any] = blocks(report.body)
    except RunstoneError:  # written under other rules: shown as text
        parsed = []
    return render(
        request, "report.html", {"report": report, "blocks": parsed, "Panel": Panel, "RunsTable": RunsTable, **extra}
    )


@router.get("/ui/reports/{report_id}")
@signed_in
def report_page(request: Request, report_id: str, service: Reports, revision: int | None = None) -> Response:
    return _view(request, service.get_report(report_id, revision))


@router.get("/ui/reports/{report_id}/edit")
@signed_in
def edit_page(request: Request, report_id: str, service: Reports) -> Response:
    report = service.get_report(report_id)
    return render(
        request, "report_edit.html", {"report": report, "title": report.title, "body": report.body, "error": None}
    )


@router.post("/ui/reports/{report_id}")
@signed_in
def save_report(
    request: Request,
    report_id: str,
    service: Reports,
    title: Annotated[str, Form()] = "",
    body: Annotated[str, Form()] = "",
) -> Response:
    try:
        report = service.update_report(report_id, title, body)
    except RunstoneError as exc:
        current = service.get_report(report_id)
        # The text typed stays in the box, with what is wrong above it.
        return render(
            request, "report_edit.html", {"report": current, "title": title, "body": body, "error": exc.message},
            status=exc.status,
        )  # fmt: skip
    return redirect(request, f"/ui/reports/{report.report_id}", message=f"Saved revision {report.revision}.")


@router.get("/ui/reports/{report_id}/history")
@signed_in
def history_page(request: Request, report_id: str, service: Reports) -> Response:
    revisions = service.revisions(report_id)
    return render(request, "report_history.html", {"report": revisions[0], "revisions": revisions})


def _inline(text: str) -> str:
    """Text for an inline <script>: nothing in it may close the element."""
    return re.sub(r"</(script)", r"<\\/\1", text, flags=re.IGNORECASE)


@router.get("/ui/reports/{report_id}/export.html")
@signed_in
def export_report(
    request: Request,
    report_id: str,
    service: Reports,
    runs_service: Tracking,
    info: Browse,
    revision: int | None = None,
) -> Response:
    """The report as one HTML file: text, charts and tables as they are now, working offline."""
    report = service.get_report(report_id, revision)
    parsed = service.require_readable(report)
    data: list[dict[str, object]] = []
    for block in parsed:
        if isinstance(block, Panel):
            found = _runs(runs_service, block.experiment_id, block.runs, [])
            ids = [r["id"] for r in found]
            grid = info.history_grid(ids, [block.key], max_points=EXPORT_POINTS)[block.key] if ids else {}
            series = {r: {"steps": h.steps, "values": h.values} for r, h in grid.items()}
            data.append({"kind": "panel", "key": block.key, "runs": found, "series": series})
        elif isinstance(block, RunsTable):
            data.append(
                {
                    "kind": "table",
                    "columns": list(block.columns),
                    "runs": _runs(runs_service, block.experiment_id, block.runs, list(block.columns)),
                }
            )
    page = (
        environment()
        .get_template("report_export.html")
        .render(
            report=report,
            blocks=parsed,
            Panel=Panel,
            RunsTable=RunsTable,
            style=(STATIC / "runstone.css").read_text(),
            plotly=_inline(assets.plotly_path().read_text()),
            colors=_inline((STATIC / "run_colors.js").read_text()),
            script=_inline((STATIC / "report_export.js").read_text()),
            data=_inline(orjson.dumps(data).decode()),
        )
    )
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", report.title).strip("-") or f"report-{report.report_id}"
    return Response(
        page,
        media_type="text/html; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{html.escape(name)}.html"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
        },
    )
