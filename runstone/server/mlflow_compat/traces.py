"""MLflow 3's trace endpoints over runstone's trace service.

The stock client reports a finished trace's info (``POST /api/3.0/mlflow/traces``) and then
uploads its spans as ``traces.json`` to the artifact location the answer names
(``mlflow-artifacts:/<experiment>/traces/<trace id>/artifacts``). Both land in the trace
store: the upload is parsed into spans, and reading that file back (``get_trace``,
``search_traces``) renders them from the store. Tags and deletion live under ``/api/2.0``, the
rest under ``/api/3.0``; this router answers under both.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from runstone import deps
from runstone.entities import TraceInfo
from runstone.errors import InvalidInput
from runstone.governance.needs import needs
from runstone.governance.permissions import Permission
from runstone.server import uploads
from runstone.server.http import JSON
from runstone.server.mlflow_compat.protocol import MlflowRoute, invalid, missing
from runstone.server.mlflow_compat.services import Msg
from runstone.tracking.traces import NewTrace, TraceService

ARTIFACT_LOCATION = "mlflow.artifactLocation"
TRACE_DATA_LIMIT = 64 * 1024 * 1024


async def traces(request: Request) -> TraceService:
    return deps.backend(request).traces(deps.context(request))


Traces = Annotated[TraceService, Depends(traces)]
router = APIRouter(route_class=MlflowRoute, default_response_class=JSON, include_in_schema=False)
# Mounted under the mlflow-artifacts prefixes, ahead of the run and model artifact routes.
data_router = APIRouter(route_class=MlflowRoute, default_response_class=JSON, include_in_schema=False)

_DURATION = re.compile(r"^(?P<seconds>-?\d+(?:\.\d+)?)s$")


def _millis(timestamp: object, name: str) -> int:
    if not isinstance(timestamp, str):
        raise invalid(name, timestamp)
    try:
        parsed = dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(name, timestamp, "an RFC 3339 time such as 2026-01-31T12:00:00.000Z") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp() * 1000)


def _duration_ms(value: object, name: str) -> int | None:
    if value is None:
        return None
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise invalid(name, value, "a duration such as 1.5s")
    return max(0, round(float(match["seconds"]) * 1000))


def _strings(value: object, name: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise invalid(name, value, "an object of strings")
    return {str(k): v for k, v in value.items()}


def _timestamp(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def artifact_location(info: TraceInfo) -> str:
    return f"mlflow-artifacts:/{info.experiment_id}/traces/{info.trace_id}/artifacts"


def trace_info(info: TraceInfo) -> dict[str, object]:
    out: dict[str, object] = {
        "trace_id": info.trace_id,
        "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": info.experiment_id}},
        "request_time": _timestamp(info.request_time),
        "state": info.state,
        "trace_metadata": info.metadata,
        "tags": {**info.tags, ARTIFACT_LOCATION: artifact_location(info)},
    }
    if info.execution_time is not None:
        out["execution_duration"] = f"{info.execution_time / 1000:.3f}s"
    for key in ("client_request_id", "request_preview", "response_preview"):
        if getattr(info, key):
            out[key] = getattr(info, key)
    return out


@router.post("/traces")
@needs(Permission.EDIT, "experiment", "trace.trace_info.trace_location.mlflow_experiment.experiment_id")
def start_trace(msg: Msg, service: Traces) -> dict[str, object]:
    trace = msg.raw("trace")
    if not isinstance(trace, dict) or not isinstance(trace.get("trace_info"), dict):
        raise missing("trace.trace_info")
    raw = trace["trace_info"]
    location = raw.get("trace_location") or {}
    experiment_id = (location.get("mlflow_experiment") or {}).get("experiment_id")
    if location.get("type") not in (None, "MLFLOW_EXPERIMENT") or not experiment_id:
        raise InvalidInput("This server stores traces of MLflow experiments: name one in trace_location.")
    if not raw.get("trace_id"):
        raise missing("trace.trace_info.trace_id")
    tags = _strings(raw.get("tags"), "trace_info.tags")
    tags.pop(ARTIFACT_LOCATION, None)  # the server decides where trace data lives
    new = NewTrace(
        trace_id=str(raw["trace_id"]),
        experiment_id=str(experiment_id),
        request_time=_millis(raw.get("request_time"), "trace_info.request_time"),
        execution_time=_duration_ms(raw.get("execution_duration"), "trace_info.execution_duration"),
        state=str(raw.get("state") or "STATE_UNSPECIFIED"),
        client_request_id=raw.get("client_request_id") or None,
        request_preview=raw.get("request_preview") or None,
        response_preview=raw.get("response_preview") or None,
        tags=tags,
        metadata=_strings(raw.get("trace_metadata"), "trace_info.trace_metadata"),
    )
    return {"trace": {"trace_info": trace_info(service.start(new))}}


@router.post("/traces/search")
@needs(Permission.READ, "experiment", "locations[].mlflow_experiment.experiment_id")
def search_traces(msg: Msg, service: Traces) -> dict[str, object]:
    experiment_ids = []
    for i, location in enumerate(msg.objects("locations")):
        experiment = (location.get("mlflow_experiment") or {}).get("experiment_id")
        if not experiment:
            raise missing(f"locations[{i}].mlflow_experiment.experiment_id")
        experiment_ids.append(str(experiment))
    if not experiment_ids:
        raise missing("locations")
    page = service.search(
        experiment_ids,
        msg.string("filter"),
        msg.strings("order_by"),
        msg.integer("max_results"),
        msg.string("page_token") or None,
    )
    out: dict[str, object] = {}
    if page.items:
        out["traces"] = [trace_info(t) for t in page]
    if page.next_page_token:
        out["next_page_token"] = page.next_page_token
    return out


@router.post("/traces/delete-traces")
@needs(Permission.EDIT, "experiment", "experiment_id")
def delete_traces(msg: Msg, service: Traces) -> dict[str, object]:
    deleted = service.delete(
        msg.required("experiment_id"),
        max_time=msg.integer("max_timestamp_millis"),
        max_traces=msg.integer("max_traces"),
        trace_ids=msg.strings("request_ids") or None,
    )
    return {"traces_deleted": deleted}


@router.post("/traces/link-to-run")
@needs(Permission.EDIT, "run", "run_id")
@needs(Permission.EDIT, "trace", "trace_ids")
def link_traces_to_run(msg: Msg, service: Traces) -> dict[str, object]:
    service.link_to_run(msg.strings("trace_ids"), msg.required("run_id"))
    return {}


@router.get("/traces/{trace_id}")
@needs(Permission.READ, "trace", "trace_id")
def get_trace_info(trace_id: str, service: Traces) -> dict[str, object]:
    return {"trace": {"trace_info": trace_info(service.get(trace_id))}}


@router.patch("/traces/{trace_id}/tags")
@needs(Permission.EDIT, "trace", "trace_id")
def set_trace_tag(trace_id: str, msg: Msg, service: Traces) -> dict[str, object]:
    service.set_tag(trace_id, msg.required("key"), msg.string("value") or "")
    return {}


@router.delete("/traces/{trace_id}/tags")
@needs(Permission.EDIT, "trace", "trace_id")
def delete_trace_tag(trace_id: str, msg: Msg, service: Traces) -> dict[str, object]:
    service.delete_tag(trace_id, msg.required("key"))
    return {}


# ------------------------------------------------------------------ trace data (traces.json)
def _check_location(service: TraceService, experiment_id: str, trace_id: str) -> None:
    if service.get(trace_id).experiment_id != experiment_id:
        raise InvalidInput(f"Trace {trace_id} is not in experiment {experiment_id}.")


@data_router.put("/artifacts/{experiment_id}/traces/{trace_id}/artifacts/traces.json")
@needs(Permission.EDIT, "trace", "trace_id")
async def upload_trace_data(experiment_id: str, trace_id: str, request: Request, service: Traces) -> dict[str, object]:
    uploads.check_declared(request, TRACE_DATA_LIMIT)
    await run_in_threadpool(_check_location, service, experiment_id, trace_id)
    spool = await uploads.receive(request, TRACE_DATA_LIMIT)
    try:
        body = b"".join(spool.chunks())
    finally:
        spool.close()
    await run_in_threadpool(_store_trace_data, service, trace_id, body)
    return {}


@data_router.get("/artifacts/{experiment_id}/traces/{trace_id}/artifacts/traces.json", response_model=None)
@needs(Permission.READ, "trace", "trace_id")
def download_trace_data(experiment_id: str, trace_id: str, service: Traces) -> Response:
    _check_location(service, experiment_id, trace_id)
    body = orjson.dumps({"spans": service.spans(trace_id)})
    return Response(body, media_type="application/json", headers={"X-Content-Type-Options": "nosniff"})


def _store_trace_data(service: TraceService, trace_id: str, body: bytes) -> None:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidInput('Trace data must be JSON: {"spans": [...]}.') from None
    if not isinstance(document, dict):
        raise InvalidInput('Trace data must be an object with a list of spans: {"spans": [...]}.')
    service.upload(trace_id, document.get("spans"))
