"""Stock mlflow client: traces from @mlflow.trace and mlflow.start_span, in a run, for an active
logged model and on their own; then searched with MLflow's trace filters, read, tagged and deleted.

Run with MLFLOW_TRACKING_URI set; prints one JSON line of what it saw.
"""

from __future__ import annotations

import json
import time

import mlflow
from mlflow import MlflowClient

client = MlflowClient()
experiment_id = mlflow.set_experiment("stock-traces").experiment_id


@mlflow.trace(span_type="CHAIN")
def answer(question: str) -> str:
    with mlflow.start_span("retrieve", span_type="RETRIEVER") as span:
        span.set_inputs({"query": question})
        span.set_outputs(["doc-1", "doc-2"])
        span.set_attribute("top_k", 2)
    if question == "fail":
        raise ValueError("no answer")
    return f"answer to {question}"


def last_trace_id() -> str:
    mlflow.flush_trace_async_logging()
    trace_id = mlflow.get_last_active_trace_id()
    assert trace_id is not None
    return trace_id


with mlflow.start_run(run_name="traced-run") as run:
    answer("in a run")
in_run = last_trace_id()
before_failure = int(time.time() * 1000)
try:
    answer("fail")
except ValueError:
    pass
failed = last_trace_id()
model = mlflow.set_active_model(name="traced-agent")
answer("for a model")
for_model = last_trace_id()
mlflow.clear_active_model()

trace = mlflow.get_trace(in_run)
spans = {s.name: s for s in trace.data.spans}


def ids(**kwargs: object) -> list[str]:
    found = mlflow.search_traces(experiment_ids=[experiment_id], return_type="list", **kwargs)
    return sorted(t.info.trace_id for t in found)


seen = {
    "experiment_id": experiment_id,
    "run_id": run.info.run_id,
    "model_id": model.model_id,
    "ids": {"in_run": in_run, "failed": failed, "for_model": for_model},
    "state": str(trace.info.state),
    "span_names": sorted(spans),
    "retrieve_inputs": spans["retrieve"].inputs,
    "retrieve_outputs": spans["retrieve"].outputs,
    "retrieve_attribute": spans["retrieve"].get_attribute("top_k"),
    "root_outputs": spans["answer"].outputs,
    "parent_ok": spans["retrieve"].parent_id == spans["answer"].span_id,
    "by_run": ids(run_id=run.info.run_id),
    "by_run_filter": ids(filter_string=f"metadata.mlflow.sourceRun = '{run.info.run_id}'"),
    "by_model": ids(model_id=model.model_id),
    "errors": ids(filter_string="trace.status = 'ERROR'"),
    "ok": ids(filter_string="attributes.status = 'OK'"),
    "since_failure": ids(filter_string=f"trace.timestamp_ms >= {before_failure}"),
    "by_name": ids(filter_string="trace.name = 'answer'"),
}
client.set_trace_tag(failed, "triage", "open")
seen["tagged"] = ids(filter_string="tags.triage = 'open'")
client.delete_trace_tag(failed, "triage")
seen["untagged"] = ids(filter_string="tags.triage = 'open'")
seen["newest_first"] = [
    t.info.trace_id
    for t in mlflow.search_traces(experiment_ids=[experiment_id], return_type="list", order_by=["timestamp_ms DESC"])
]
seen["deleted"] = client.delete_traces(experiment_id=experiment_id, trace_ids=[failed])
seen["left"] = ids()
print(json.dumps(seen))
