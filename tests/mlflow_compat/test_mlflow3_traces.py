"""Traces end to end against a real ``runstone server``: the stock mlflow 3 client's
``@mlflow.trace`` / ``start_span`` traces stored, searched with MLflow's filter grammar, read,
tagged and deleted; OpenTelemetry's OTLP/HTTP ``/v1/traces`` storing spans of any exporter; and
old traces deleted by ``runstone traces prune`` and by the server's retention rounds."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_support import Server, Servers, run_cli
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from packaging.version import Version
from stock_client import run_client

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def seen(server: Server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return run_client("traces", server.url, cwd=tmp_path_factory.mktemp("client"))


def test_the_stock_clients_traces_are_stored_and_read_back_whole(seen):
    assert seen["state"] == "OK"
    assert seen["span_names"] == ["answer", "retrieve"] and seen["parent_ok"]
    assert seen["retrieve_inputs"] == {"query": "in a run"}
    assert seen["retrieve_outputs"] == ["doc-1", "doc-2"]
    assert seen["retrieve_attribute"] == 2
    assert seen["root_outputs"] == "answer to in a run"


def test_traces_are_searched_with_mlflows_filter_grammar(seen):
    ids = seen["ids"]
    assert seen["by_run"] == seen["by_run_filter"] == [ids["in_run"]]
    assert seen["by_model"] == [ids["for_model"]]
    assert seen["errors"] == [ids["failed"]]
    assert seen["ok"] == sorted([ids["in_run"], ids["for_model"]])
    assert seen["since_failure"] == sorted([ids["failed"], ids["for_model"]])
    assert seen["by_name"] == sorted(ids.values())
    assert seen["newest_first"] == [ids["for_model"], ids["failed"], ids["in_run"]]
    # Tags set and deleted by the client; deletion by id.
    assert seen["tagged"] == [ids["failed"]] and seen["untagged"] == []
    assert seen["deleted"] == 1 and seen["left"] == sorted([ids["in_run"], ids["for_model"]])


def test_mlflow_clients_read_the_server_version_they_need_for_span_logging(server):
    # MLflow's client sends spans to /v1/traces as they end only to a server of MLflow 3.4 or later.
    answer = httpx.get(f"{server.url}/version", headers={"X-MLflow-Client-Version": "3.17.2"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    assert Version(answer.text) >= Version("3.4")
    # Everyone else gets runstone's own version, as JSON.
    assert set(httpx.get(f"{server.url}/version").json()) == {"version"}


def test_a_trace_continued_in_another_process_keeps_that_processs_spans(server, tmp_path):
    # MLflow's batching span processor ends the remote context before exporting; span by span,
    # the remote process's span reaches the server on its own and joins the caller's trace.
    seen = run_client("distributed_trace", server.url, cwd=tmp_path, env={"MLFLOW_USE_BATCH_SPAN_PROCESSOR": "false"})
    assert seen["span_names"] == ["caller", "remote-handler"]
    assert seen["remote_parent_is_caller"] and seen["remote_outputs"] == {"answer": 42}
    assert seen["remote_warnings"] == []


def test_traces_are_linked_to_their_run_and_logged_model(server, seen):
    search = f"{server.url}/api/3.0/mlflow/traces/search"
    location = {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": seen["experiment_id"]}}
    answer = httpx.post(search, json={"locations": [location], "filter": f"trace.run_id = '{seen['run_id']}'"})
    assert [t["trace_id"] for t in answer.json()["traces"]] == [seen["ids"]["in_run"]]
    model = f"metadata.`mlflow.modelId` = '{seen['model_id']}'"
    answer = httpx.post(search, json={"locations": [location], "filter": model})
    assert [t["trace_id"] for t in answer.json()["traces"]] == [seen["ids"]["for_model"]]


def test_bad_trace_requests_get_clear_errors(server, seen):
    search = f"{server.url}/api/3.0/mlflow/traces/search"
    location = {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": seen["experiment_id"]}}
    bad = httpx.post(search, json={"locations": [location], "filter": "trace.timestamp_ms > 'yesterday'"})
    assert bad.status_code == 400 and "number" in bad.json()["message"]
    bad = httpx.post(search, json={"locations": [location], "filter": "metrics.x > 1"})
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    missing = httpx.get(f"{server.url}/api/3.0/mlflow/traces/tr-{'0' * 32}")
    assert missing.status_code == 404 and missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    # Trace data that is not MLflow's span list is refused and leaves the stored spans alone.
    data = f"{server.url}/api/2.0/mlflow-artifacts/artifacts/{seen['experiment_id']}/traces/{seen['ids']['in_run']}/artifacts/traces.json"
    for body in (b"not json", b'{"spans": [{"name": 1}]}', b'{"spans": {}}'):
        refused = httpx.put(data, content=body)
        assert refused.status_code == 400, refused.text
    assert [s["name"] for s in httpx.get(data).json()["spans"]] == ["answer", "retrieve"]
    # A trace is reported into an experiment that exists, never a made-up one.
    start = {"trace": {"trace_info": {"trace_id": "tr-" + "1" * 32, "request_time": "2026-01-01T00:00:00Z",
             "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": "999"}}}}}  # fmt: skip
    refused = httpx.post(f"{server.url}/api/3.0/mlflow/traces", json=start)
    assert refused.status_code == 404, refused.text


def _attribute(key: str, **value: Any) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(**value))


def _otlp_request(trace_id: bytes, *, failed: bool) -> bytes:
    start = 1_700_000_000_000_000_000
    root = Span(
        trace_id=trace_id,
        span_id=b"\x01" * 8,
        name="handle-request",
        start_time_unix_nano=start,
        end_time_unix_nano=start + 250_000_000,
        attributes=[_attribute("http.route", string_value="/predict"), _attribute("retries", int_value=2)],
        status=Status(code=Status.STATUS_CODE_ERROR if failed else Status.STATUS_CODE_OK),
    )
    child = Span(
        trace_id=trace_id,
        span_id=b"\x02" * 8,
        parent_span_id=b"\x01" * 8,
        name="query-db",
        start_time_unix_nano=start + 10_000_000,
        end_time_unix_nano=start + 60_000_000,
    )
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.extend([child, root])
    return request.SerializeToString()


def test_otlp_http_exporters_store_spans_as_traces(server):
    experiment = httpx.post(f"{server.url}/api/2.0/mlflow/experiments/create", json={"name": "otlp"}).json()
    trace_id = os.urandom(16)
    answer = httpx.post(
        f"{server.url}/v1/traces",
        content=_otlp_request(trace_id, failed=True),
        headers={"content-type": "application/x-protobuf", "x-mlflow-experiment-id": experiment["experiment_id"]},
    )
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/x-protobuf"
    info = httpx.get(f"{server.url}/api/3.0/mlflow/traces/tr-{trace_id.hex()}").json()["trace"]["trace_info"]
    assert info["state"] == "ERROR" and info["execution_duration"] == "0.250s"
    assert info["tags"]["mlflow.traceName"] == "handle-request"
    assert info["request_time"] == "2023-11-14T22:13:20.000Z"
    data = httpx.get(
        f"{server.url}/api/2.0/mlflow-artifacts/artifacts/{experiment['experiment_id']}/traces/tr-{trace_id.hex()}/artifacts/traces.json"
    ).json()
    by_name = {s["name"]: s for s in data["spans"]}
    assert by_name["handle-request"]["attributes"] == {"http.route": json.dumps("/predict"), "retries": "2"}
    assert by_name["query-db"]["parent_span_id"] == by_name["handle-request"]["span_id"]


def test_otlp_refuses_what_it_cannot_read_and_writes_nothing(server):
    url = f"{server.url}/v1/traces"
    trace_id = os.urandom(16)
    wrong_type = httpx.post(
        url, content=_otlp_request(trace_id, failed=False), headers={"content-type": "application/json"}
    )
    assert wrong_type.status_code == 400 and "application/x-protobuf" in wrong_type.json()["error"]["message"]
    garbage = httpx.post(url, content=b"\xff\xff\xff", headers={"content-type": "application/x-protobuf"})
    assert garbage.status_code == 400 and "OTLP" in garbage.json()["error"]["message"]
    unknown = httpx.post(
        url,
        content=_otlp_request(trace_id, failed=False),
        headers={"content-type": "application/x-protobuf", "x-mlflow-experiment-id": "424242"},
    )
    assert unknown.status_code == 404
    assert httpx.get(f"{server.url}/api/3.0/mlflow/traces/tr-{trace_id.hex()}").status_code == 404


DAY_S = 86_400


def _report_trace(url: str, experiment_id: str, age_days: float) -> str:
    """Report a trace that started ``age_days`` ago, as the stock client reports a trace's info."""
    trace_id = f"tr-{os.urandom(16).hex()}"
    started = datetime.fromtimestamp(time.time() - age_days * DAY_S, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    location = {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": experiment_id}}
    info = {"trace_id": trace_id, "request_time": started, "state": "OK", "trace_location": location}
    answer = httpx.post(f"{url}/api/3.0/mlflow/traces", json={"trace": {"trace_info": info}})
    assert answer.status_code == 200, answer.text
    return trace_id


def _trace_ids(url: str, experiment_id: str) -> set[str]:
    location = {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": experiment_id}}
    answer = httpx.post(f"{url}/api/3.0/mlflow/traces/search", json={"locations": [location], "max_results": 100})
    assert answer.status_code == 200, answer.text
    return {t["trace_id"] for t in answer.json().get("traces", [])}


def _experiment(url: str, name: str) -> str:
    answer = httpx.post(f"{url}/api/2.0/mlflow/experiments/create", json={"name": name})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["experiment_id"])


def test_traces_prune_deletes_old_traces_by_age_or_retention(server):
    chat, search = _experiment(server.url, "prune-chat"), _experiment(server.url, "prune-search")
    chat_old, chat_recent, chat_new = (_report_trace(server.url, chat, days) for days in (40, 10, 0))
    search_old, search_recent = (_report_trace(server.url, search, days) for days in (40, 10))

    def prune(*args: str) -> str:
        done = run_cli("traces", "prune", *args, "--tracking-uri", server.url)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    # A dry run counts and deletes nothing.
    assert prune("--older-than", "30d", "--experiment", "prune-chat", "--dry-run").startswith("Would delete 1 trace(s)")
    assert _trace_ids(server.url, chat) == {chat_old, chat_recent, chat_new}
    # By age, in the experiment named (by name or id) only.
    assert f"experiment {chat}: 1" in prune("--older-than", "30d", "--experiment", "prune-chat")
    assert _trace_ids(server.url, chat) == {chat_recent, chat_new}
    assert _trace_ids(server.url, search) == {search_old, search_recent}

    # Without --older-than, each experiment's retention; experiments without one keep everything.
    tag = {"experiment_id": search, "key": "runstone.traces.retentionDays", "value": "7"}
    assert httpx.post(f"{server.url}/api/2.0/mlflow/experiments/set-experiment-tag", json=tag).status_code == 200
    answer = json.loads(prune("--json"))
    assert answer == {"deleted": {search: 2}, "dry_run": False}
    assert _trace_ids(server.url, search) == set()
    assert _trace_ids(server.url, chat) == {chat_recent, chat_new}

    # Bad input is refused with what was wrong, and deletes nothing.
    for args, message in (
        (("--older-than", "a month"), "Invalid duration 'a month'"),
        (("--older-than", "30d", "--experiment", "no-such-experiment"), "No experiment with id or name"),
    ):
        done = run_cli("traces", "prune", *args, "--tracking-uri", server.url)
        assert done.returncode == 1 and message in done.stderr, done.stdout + done.stderr
    zero = httpx.post(f"{server.url}/api/v1/traces/prune", json={"older_than_ms": 0})
    assert zero.status_code == 400 and "older_than_ms" in zero.text, zero.text
    assert _trace_ids(server.url, chat) == {chat_recent, chat_new}


def test_the_server_applies_retention_on_its_own(tmp_path: Path):
    # An experiment no new trace arrives in still loses its traces past retention.
    pool = Servers(tmp_path)
    try:
        server = pool.start(env={"RUNSTONE_TRACE_RETENTION_INTERVAL": "0.5"})
        quiet = _experiment(server.url, "quiet")
        old, recent = _report_trace(server.url, quiet, 9), _report_trace(server.url, quiet, 1)
        tag = {"experiment_id": quiet, "key": "runstone.traces.retentionDays", "value": "7"}
        assert httpx.post(f"{server.url}/api/2.0/mlflow/experiments/set-experiment-tag", json=tag).status_code == 200
        deadline = time.monotonic() + 60  # generous: a loaded machine
        while _trace_ids(server.url, quiet) != {recent} and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _trace_ids(server.url, quiet) == {recent}, old
    finally:
        pool.stop_all()
