"""/api/v1/reports"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from runstone.deps import reports
from runstone.governance.needs import signed_in
from runstone.schemas.tracking import (
    ReportAnswer,
    ReportCreate,
    ReportList,
    ReportRevisions,
    ReportUpdate,
    report_public,
)
from runstone.server.http import JSON, Route
from runstone.tracking.reports import ReportService

router = APIRouter(prefix="/api/v1/reports", tags=["reports"], route_class=Route, default_response_class=JSON)
Reports = Annotated[ReportService, Depends(reports)]


@router.get("", summary="List reports, most recently edited first", response_model=ReportList)
@signed_in
def list_reports(service: Reports) -> dict[str, object]:
    return {"reports": [report_public(r) for r in service.list_reports()]}


@router.post("", status_code=201, summary="Create a report", response_model=ReportAnswer)
@signed_in
def create_report(body: ReportCreate, service: Reports) -> dict[str, object]:
    return {"report": report_public(service.create_report(body.title, body.body))}


@router.get("/{report_id}", summary="Get a report (its latest revision, or the one named)", response_model=ReportAnswer)
@signed_in
def get_report(report_id: str, service: Reports, revision: int | None = None) -> dict[str, object]:
    return {"report": report_public(service.get_report(report_id, revision))}


@router.patch("/{report_id}", summary="Edit a report: a new revision", response_model=ReportAnswer)
@signed_in
def update_report(report_id: str, body: ReportUpdate, service: Reports) -> dict[str, object]:
    current = service.get_report(report_id)
    title = current.title if body.title is None else body.title
    text = current.body if body.body is None else body.body
    return {"report": report_public(service.update_report(report_id, title, text))}


@router.get(
    "/{report_id}/revisions", summary="Every revision of a report, newest first", response_model=ReportRevisions
)
@signed_in
def report_revisions(report_id: str, service: Reports) -> dict[str, object]:
    return {"revisions": [report_public(r) for r in service.revisions(report_id)]}
