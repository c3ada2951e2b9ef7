"""OpenTelemetry's OTLP/HTTP trace endpoint, ``POST /v1/traces`` (protobuf bodies).

An OpenTelemetry exporter pointed at ``http://<runstone>/v1/traces`` stores its spans as
runstone traces, in the experiment named by the ``x-mlflow-experiment-id`` header (MLflow's) or
the ``Default`` experiment. Trace ids become MLflow's ``tr-<32 hex>``; attribute values are kept
as JSON text, as MLflow keeps them.
"""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from runstone import deps
from runstone.errors import InvalidInput
from runstone.governance.needs import needs
from runstone.governance.permissions import Permission
from runstone.server.http import Route
from runstone.tracking.traces import TraceService

if TYPE_CHECKING:
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import Span

# The protobuf classes are imported by the first OTLP request: they take about as long to
# import as a tenth of the server's start, and most servers never receive one.

EXPERIMENT_HEADER = "x-mlflow-experiment-id"
PROTOBUF = "application/x-protobuf"


async def traces(request: Request) -> TraceService:
    return deps.backend(request).traces(deps.context(request))


router = APIRouter(tags=["traces"], route_class=Route)


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return None if kind is None else getattr(value, kind)


def _b64(raw: bytes) -> str | None:
    return base64.b64encode(raw).decode() if raw else None


def span_dict(span: Span) -> dict[str, object]:
    """An OTLP span as MLflow's span dictionary."""
    return {
        "trace_id": _b64(span.trace_id),
        "span_id": _b64(span.span_id),
        "parent_span_id": _b64(span.parent_span_id),
        "name": span.name,
        "start_time_unix_nano": span.start_time_unix_nano,
        "end_time_unix_nano": span.end_time_unix_nano or None,
        "status": {"code": _status_name(span.status.code), "message": span.status.message},
        "attributes": {kv.key: json.dumps(_value(kv.value)) for kv in span.attributes},
        "events": [
            {
                "name": e.name,
                "time_unix_nano": e.time_unix_nano,
                "attributes": {a.key: _value(a.value) for a in e.attributes},
            }
            for e in span.events
        ],
    }


def _status_name(code: int) -> str:
    from opentelemetry.proto.trace.v1.trace_pb2 import Status

    return str(Status.StatusCode.Name(code))


def spans_by_trace(body: bytes) -> dict[str, list[dict[str, Any]]]:
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError:
        raise InvalidInput("The body is not an OTLP ExportTraceServiceRequest (protobuf).") from None
    found: dict[str, list[dict[str, object]]] = defaultdict(list)
    for resource in request.resource_spans:
        for scope in resource.scope_spans:
            for span in scope.spans:
                if len(span.trace_id) != 16 or len(span.span_id) != 8:
                    raise InvalidInput(f"Span {span.name!r} needs a 16-byte trace id and an 8-byte span id.")
                found["tr-" + span.trace_id.hex()].append(span_dict(span))
    return dict(found)


@router.post("/v1/traces", summary="Receive spans from OpenTelemetry exporters (OTLP/HTTP, protobuf)")
@needs(Permission.EDIT, "experiment", "header:x-mlflow-experiment-id", "default:0")
async def export_traces(request: Request, service: Annotated[TraceService, Depends(traces)]) -> Response:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != PROTOBUF:
        raise InvalidInput(f"OTLP/HTTP bodies must be {PROTOBUF}; got {kind or 'no content type'!r}.")
    found = spans_by_trace(await request.body())
    experiment_id = request.headers.get(EXPERIMENT_HEADER) or "0"
    if found:
        await run_in_threadpool(service.add_otel_spans, experiment_id, found)
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    return Response(ExportTraceServiceResponse().SerializeToString(), media_type=PROTOBUF)
