"""Stock mlflow client: one trace across two processes (MLflow's distributed tracing). The
caller's span sends its trace context as HTTP headers; the other process continues the trace
from them, and its span reaches the server on its own (OTLP), after the caller asked the
server's version.

Run with MLFLOW_TRACKING_URI set; prints one JSON line of what it saw.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import mlflow
from mlflow.tracing import get_tracing_context_headers_for_http_request, set_tracing_context_from_http_request_headers

if len(sys.argv) > 1:  # the remote handler, given the caller's headers
    mlflow.set_experiment(experiment_id=os.environ["TRACE_EXPERIMENT_ID"])
    context = set_tracing_context_from_http_request_headers(json.loads(sys.argv[1]))
    with context, mlflow.start_span("remote-handler") as span:
        span.set_inputs({"question": "what is the answer?"})
        span.set_outputs({"answer": 42})
    mlflow.flush_trace_async_logging()
    sys.exit(0)

experiment_id = mlflow.set_experiment("distributed-traces").experiment_id
with mlflow.start_span("caller") as root:
    headers = get_tracing_context_headers_for_http_request()
    remote = subprocess.run(
        [sys.executable, __file__, json.dumps(headers)],
        env={**os.environ, "TRACE_EXPERIMENT_ID": experiment_id},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert remote.returncode == 0, remote.stderr
mlflow.flush_trace_async_logging()
trace = mlflow.get_trace(root.trace_id)
spans = {span.name: span for span in trace.data.spans}
print(
    json.dumps(
        {
            "span_names": sorted(spans),
            "remote_parent_is_caller": spans["remote-handler"].parent_id == spans["caller"].span_id,
            "remote_outputs": spans["remote-handler"].outputs,
            "remote_warnings": [line for line in remote.stderr.splitlines() if "does not support" in line],
        }
    )
)
