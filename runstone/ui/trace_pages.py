"""Trace pages: an experiment's traces, and one trace as a span tree with timing, inputs and
outputs, and attributes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from runstone import deps
from runstone.governance.needs import needs
from runstone.governance.permissions import Permission
from runstone.tracking.service import TrackingService
from runstone.tracking.traces import TraceService
from runstone.ui.web import PageRoute, check_csrf, render

router = APIRouter(include_in_schema=False, route_class=PageRoute, dependencies=[Depends(check_csrf)])
MAX_TRACES_SHOWN = 200
INPUTS = "mlflow.spanInputs"
OUTPUTS = "mlflow.spanOutputs"
SPAN_TYPE = "mlflow.spanType"


async def traces(request: Request) -> TraceService:
    return deps.backend(request).traces(deps.context(request))


Traces = Annotated[TraceService, Depends(traces)]
Tracking = Annotated[TrackingService, Depends(deps.tracking)]


def _decoded(text: object) -> Any:
    """An attribute value as MLflow keeps it (JSON text), decoded when it is JSON."""
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _shown(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)


@dataclass
class SpanView:
    span_id: str
    name: str
    kind: str
    status: str
    start: int  # ns
    end: int | None
    depth: int = 0
    inputs: str | None = None
    outputs: str | None = None
    attributes: list[tuple[str, str]] = field(default_factory=list)
    left: float = 0.0  # percent of the trace
    width: float = 0.0

    @property
    def duration_ms(self) -> float | None:
        return None if self.end is None else (self.end - self.start) / 1e6


def span_tree(spans: list[dict[str, Any]]) -> list[SpanView]:
    """Spans in tree order (each parent before its children, siblings by start time), with their
    depth and their place on the trace's timeline."""
    views: dict[str, SpanView] = {}
    parents: dict[str, str | None] = {}
    for span in spans:
        attributes = {k: _decoded(v) for k, v in (span.get("attributes") or {}).items()}
        inputs, outputs = attributes.pop(INPUTS, None), attributes.pop(OUTPUTS, None)
        kind = attributes.pop(SPAN_TYPE, None)
        view = SpanView(
            span_id=str(span["span_id"]),
            name=str(span.get("name", "")),
            kind=str(kind or ""),
            status=str((span.get("status") or {}).get("code", "")).removeprefix("STATUS_CODE_"),
            start=int(span.get("start_time_unix_nano") or 0),
            end=span.get("end_time_unix_nano"),
            inputs=None if inputs is None else _shown(inputs),
            outputs=None if outputs is None else _shown(outputs),
            attributes=sorted((k, _shown(v)) for k, v in attributes.items()),
        )
        views[view.span_id] = view
        parents[view.span_id] = span.get("parent_span_id") or None
    children: dict[str | None, list[SpanView]] = {}
    for span_id, view in views.items():
        parent = parents[span_id] if parents[span_id] in views else None
        children.setdefault(parent, []).append(view)
    if not views:
        return []
    first = min(v.start for v in views.values())
    last = max((v.end or v.start) for v in views.values())
    total = max(last - first, 1)
    ordered: list[SpanView] = []

    def walk(parent: str | None, depth: int) -> None:
        for view in sorted(children.get(parent, []), key=lambda v: (v.start, v.name)):
            view.depth = depth
            view.width = max(100 * ((view.end or view.start) - view.start) / total, 0.5)
            view.left = min(100 * (view.start - first) / total, 100 - view.width)
            ordered.append(view)
            walk(view.span_id, depth + 1)

    walk(None, 0)
    return ordered


@router.get("/ui/experiments/{experiment_id}/traces")
@needs(Permission.READ, "experiment", "experiment_id")
def traces_page(request: Request, experiment_id: str, service: Traces, tracking: Tracking, q: str = "") -> Response:
    experiment = tracking.get_experiment(experiment_id)
    page = service.search([experiment.experiment_id], q.strip() or None, max_results=MAX_TRACES_SHOWN)
    return render(request, "traces.html", {"experiment": experiment, "traces": list(page), "q": q})


@router.get("/ui/traces/{trace_id}")
@needs(Permission.READ, "trace", "trace_id")
def trace_page(request: Request, trace_id: str, service: Traces, tracking: Tracking) -> Response:
    info = service.get(trace_id)
    experiment = tracking.get_experiment(info.experiment_id)
    spans = span_tree(service.spans(trace_id))
    return render(request, "trace.html", {"trace": info, "experiment": experiment, "spans": spans})
