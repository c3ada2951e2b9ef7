"""MLflow's tracking protocol through the real HTTP stack: shapes, errors, NaN, tags, paging."""

from __future__ import annotations

import math

import pytest
from mlflow_api import API, Mlflow

from runstone.backend import Backend


def test_experiments_round_trip_in_mlflow_shapes(mlflow_api: Mlflow, http):
    created = mlflow_api.post("experiments/create", name="iris", tags=[{"key": "mlflow.note.content", "value": "hi"}])
    experiment_id = created["experiment_id"]
    assert created == {"experiment_id": experiment_id} and experiment_id.isdigit()
    experiment = mlflow_api.get("experiments/get", experiment_id=experiment_id)["experiment"]
    assert experiment["name"] == "iris"
    assert experiment["artifact_location"] == f"mlflow-artifacts:/{experiment_id}"
    assert experiment["lifecycle_stage"] == "active"
    assert isinstance(experiment["creation_time"], int) and isinstance(experiment["last_update_time"], int)
    assert experiment["tags"] == [{"key": "mlflow.note.content", "value": "hi"}]
    # The description is runstone's note for runstone's own clients.
    native = http.get(f"/api/v1/experiments/{experiment_id}").json()["experiment"]
    assert native["tags"] == {"runstone.note.content": "hi"}
    assert mlflow_api.get("experiments/get-by-name", experiment_name="iris")["experiment"] == experiment

    default = mlflow_api.get("experiments/get", experiment_id="0")["experiment"]
    assert default["name"] == "Default"
    # Search answers GET and POST; view types go by name or by number.
    names = [e["name"] for e in mlflow_api.post("experiments/search", max_results=10)["experiments"]]
    assert sorted(names) == ["Default", "iris"]
    filtered = mlflow_api.get("experiments/search", filter="name LIKE 'ir%'", view_type="ACTIVE_ONLY")
    assert [e["name"] for e in filtered["experiments"]] == ["iris"]

    mlflow_api.post("experiments/update", experiment_id=experiment_id, new_name="iris2")
    assert mlflow_api.post("experiments/delete", experiment_id=experiment_id) == {}
    assert mlflow_api.post("experiments/search", view_type=2)["experiments"][0]["name"] == "iris2"
    assert "experiments" not in mlflow_api.post("experiments/search", view_type="DELETED_ONLY", filter="name = 'x'")
    mlflow_api.post("experiments/restore", experiment_id=experiment_id)
    mlflow_api.post("experiments/set-experiment-tag", experiment_id=experiment_id, key="team", value="a")
    mlflow_api.post("experiments/delete-experiment-tag", experiment_id=experiment_id, key="mlflow.note.content")
    tags = mlflow_api.get("experiments/get", experiment_id=experiment_id)["experiment"]["tags"]
    assert tags == [{"key": "team", "value": "a"}]


def test_errors_use_mlflow_codes_statuses_and_messages(mlflow_api: Mlflow, http):
    mlflow_api.post("experiments/create", name="dup")
    # MLflow's quirk, which its client relies on: a duplicate name is a 400.
    assert mlflow_api.error("POST", "experiments/create", 400, name="dup")["error_code"] == "RESOURCE_ALREADY_EXISTS"
    missing = mlflow_api.error("GET", "experiments/get-by-name", 404, experiment_name="nope")
    assert missing["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    body = mlflow_api.error("POST", "runs/log-metric", 400, key="m", value=1, timestamp=1)
    assert body == {
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": "Missing value for required parameter 'run_id'. "
        "See the API docs for more information about request parameters.",
    }
    body = mlflow_api.error("POST", "experiments/create", 400, name=123)
    assert body["message"].startswith("Invalid value 123 for parameter 'name' supplied")
    body = mlflow_api.error("POST", "experiments/create", 400, name="x", artifact_location="/etc")
    assert "artifact_location" in body["message"]
    # Unknown endpoints answer ENDPOINT_NOT_FOUND, on which the client falls back.
    assert mlflow_api.error("POST", "no/such/thing", 404)["error_code"] == "ENDPOINT_NOT_FOUND"
    malformed = http.post(
        f"{API}/experiments/create", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert malformed.status_code == 400 and malformed.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    # Old clients send the JSON body as a JSON string holding it.
    double = http.post(f"{API}/experiments/create", json='{"name": "double"}')
    assert double.status_code == 200 and double.json()["experiment_id"].isdigit()


def test_runs_report_mlflow_system_tags_stored_under_runstone_names(mlflow_api: Mlflow, backend: Backend):
    parent = mlflow_api.create_run(run_name="parent")
    run = mlflow_api.create_run(
        user_id="alice",
        tags=[
            {"key": "mlflow.runName", "value": "child"},
            {"key": "mlflow.parentRunId", "value": parent["info"]["run_id"]},
            {"key": "mlflow.source.git.commit", "value": "abc123"},
            {"key": "team", "value": "vision"},
        ],
    )
    info = run["info"]
    run_id = info["run_id"]
    assert info == {
        "run_id": run_id,
        "run_uuid": run_id,
        "run_name": "child",
        "experiment_id": "0",
        "user_id": "alice",
        "status": "RUNNING",
        "start_time": 1000,
        "artifact_uri": f"mlflow-artifacts:/0/{run_id}/artifacts",
        "lifecycle_stage": "active",
    }
    native = backend.tracking().get_run(run_id)
    assert native.info.run_name == "child" and native.info.user_id == "alice"
    assert native.data.tags == {
        "runstone.parentRunId": parent["info"]["run_id"],
        "runstone.source.git.commit": "abc123",
        "team": "vision",
    }
    assert backend.tracking().child_run_ids(parent["info"]["run_id"]) == [run_id]
    tags = {t["key"]: t["value"] for t in mlflow_api.get("runs/get", run_id=run_id)["run"]["data"]["tags"]}
    assert tags == {
        "mlflow.runName": "child",
        "mlflow.parentRunId": parent["info"]["run_id"],
        "mlflow.source.git.commit": "abc123",
        "mlflow.user": "alice",
        "team": "vision",
    }
    # Setting MLflow's run-name tag renames the run.
    mlflow_api.post("runs/set-tag", run_id=run_id, key="mlflow.runName", value="renamed")
    assert backend.tracking().get_run(run_id).info.run_name == "renamed"
    ended = mlflow_api.post("runs/update", run_id=run_id, status="FINISHED", end_time=2000)["run_info"]
    assert ended["status"] == "FINISHED" and ended["end_time"] == 2000


def test_runs_logged_natively_read_with_mlflow_names(mlflow_api: Mlflow, backend: Backend):
    tracking = backend.tracking()
    parent = tracking.create_run(run_name="p")
    child = tracking.create_run(run_name="c", parent_run_id=parent.info.run_id, tags={"runstone.note.content": "n"})
    tags = {t["key"]: t["value"] for t in mlflow_api.get("runs/get", run_id=child.info.run_id)["run"]["data"]["tags"]}
    assert tags["mlflow.parentRunId"] == parent.info.run_id
    assert tags["mlflow.note.content"] == "n"
    assert tags["mlflow.runName"] == "c"


def test_metrics_carry_nan_and_infinities_as_strings(mlflow_api: Mlflow, backend: Backend):
    run_id = mlflow_api.create_run()["info"]["run_id"]
    for step, value in enumerate(["NaN", "Infinity", "-Infinity", 0.5]):
        assert (
            mlflow_api.post("runs/log-metric", run_id=run_id, key=f"m{step}", value=value, timestamp=5, step=step) == {}
        )
    values = backend.tracking().get_run(run_id).data.metrics
    assert math.isnan(values["m0"]) and values["m1"] == math.inf and values["m2"] == -math.inf and values["m3"] == 0.5
    metrics = {m["key"]: m["value"] for m in mlflow_api.get("runs/get", run_id=run_id)["run"]["data"]["metrics"]}
    assert metrics == {"m0": "NaN", "m1": "Infinity", "m2": "-Infinity", "m3": 0.5}


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        ({"key": "m", "value": True, "timestamp": 1, "step": 0}, "'metrics[1].value'"),
        ({"key": "m", "value": 1.0, "timestamp": True, "step": 0}, "'metrics[1].timestamp'"),
        ({"key": "m", "value": 1.0, "timestamp": 1, "step": 1.5}, "'metrics[1].step'"),
        ({"key": "m", "value": 1.0, "timestamp": "soon", "step": 0}, "'metrics[1].timestamp'"),
        ({"key": "", "value": 1.0, "timestamp": 1, "step": 0}, "'metrics[1].key'"),
        ({"key": 7, "value": 1.0, "timestamp": 1, "step": 0}, "'metrics[1].key'"),
        ({"key": "m", "value": [1.0], "timestamp": 1, "step": 0}, "'metrics[1].value'"),
    ],
)
def test_log_batch_refuses_a_bad_point_by_its_place_and_writes_nothing(
    mlflow_api: Mlflow, backend: Backend, entry: dict[str, object], fragment: str
):
    run_id = mlflow_api.create_run()["info"]["run_id"]
    good = {"key": "m", "value": 0.5, "timestamp": 1, "step": 0}
    refused = mlflow_api.error("POST", "runs/log-batch", 400, run_id=run_id, metrics=[good, entry, good])
    assert refused["error_code"] == "INVALID_PARAMETER_VALUE" and fragment in refused["message"]
    assert backend.tracking().get_run(run_id).data.metrics == {}


def test_log_batch_reads_numbers_as_mlflow_clients_write_them(mlflow_api: Mlflow, backend: Backend):
    run_id = mlflow_api.create_run()["info"]["run_id"]
    metrics = [
        {"key": "plain", "value": 2, "timestamp": 10, "step": 3},  # an integer value
        {"key": "text", "value": "0.25", "timestamp": "11", "step": "4"},  # proto-JSON strings
        {"key": "whole", "value": 1.5, "timestamp": 12.0},  # an integral float, no step
    ]
    assert mlflow_api.post("runs/log-batch", run_id=run_id, metrics=metrics) == {}
    tracking = backend.tracking()
    found = {}
    for key in ("plain", "text", "whole"):
        h = tracking.get_metric_history(run_id, key)
        found[key] = (h.values, h.timestamps, h.steps)
    assert found == {"plain": ([2.0], [10], [3]), "text": ([0.25], [11], [4]), "whole": ([1.5], [12], [0])}


def test_log_batch_applies_mlflow_limits_and_semantics(mlflow_api: Mlflow, backend: Backend):
    run_id = mlflow_api.create_run()["info"]["run_id"]
    batch = {
        "metrics": [{"key": "loss", "value": 1 / (i + 1), "timestamp": i, "step": i} for i in range(899)],
        "params": [{"key": f"p{i}", "value": str(i)} for i in range(100)],
        "tags": [{"key": "mlflow.runName", "value": "batched"}],
    }
    assert mlflow_api.post("runs/log-batch", run_id=run_id, **batch) == {}
    run = backend.tracking().get_run(run_id)
    assert run.info.run_name == "batched" and len(run.data.params) == 100
    assert len(backend.tracking().get_metric_history(run_id, "loss")) == 899
    total = mlflow_api.error(
        "POST", "runs/log-batch", 400, run_id=run_id, **{**batch, "metrics": [*batch["metrics"], batch["metrics"][0]]}
    )
    assert "at most 1000 metrics, params, and tags. Got 1001" in total["message"]

    too_many = mlflow_api.error(
        "POST", "runs/log-batch", 400, run_id=run_id, metrics=[{"key": "x", "value": 1, "timestamp": 1}] * 1001
    )
    assert too_many["message"].startswith("A batch logging request can contain at most 1000 metrics. Got 1001")
    params = [{"key": f"q{i}", "value": "1"} for i in range(101)]
    assert (
        "at most 100 params" in mlflow_api.error("POST", "runs/log-batch", 400, run_id=run_id, params=params)["message"]
    )
    # Params are write-once; nothing of a rejected batch is written.
    changed = mlflow_api.error(
        "POST",
        "runs/log-batch",
        400,
        run_id=run_id,
        metrics=[{"key": "other", "value": 1, "timestamp": 1}],
        params=[{"key": "p1", "value": "changed"}],
    )
    assert changed["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "other" not in backend.tracking().get_run(run_id).data.metrics
    # A deleted run refuses writes with INVALID_PARAMETER_VALUE (not MLflow's retried 500).
    assert mlflow_api.post("runs/delete", run_id=run_id) == {}
    assert mlflow_api.post("runs/delete", run_id=run_id) == {}
    gone = mlflow_api.error("POST", "runs/log-parameter", 400, run_id=run_id, key="z", value="1")
    assert gone["error_code"] == "INVALID_PARAMETER_VALUE"
    mlflow_api.post("runs/restore", run_id=run_id)
    mlflow_api.post("runs/log-parameter", run_id=run_id, key="z", value="1")


def test_search_runs_with_mlflow_tag_names_ordering_and_pages(mlflow_api: Mlflow):
    experiment_id = mlflow_api.post("experiments/create", name="search")["experiment_id"]
    parent = mlflow_api.create_run(experiment_id, run_name="parent")["info"]["run_id"]
    for i in range(7):
        run_id = mlflow_api.create_run(
            experiment_id, run_name=f"r{i}", tags=[{"key": "mlflow.parentRunId", "value": parent}]
        )["info"]["run_id"]
        mlflow_api.post("runs/log-metric", run_id=run_id, key="acc", value=i / 10, timestamp=1)
        mlflow_api.post("runs/log-parameter", run_id=run_id, key="even", value=str(i % 2 == 0))
    found = mlflow_api.post(
        "runs/search",
        experiment_ids=[experiment_id],
        filter=f"tags.mlflow.parentRunId = '{parent}' and params.even = 'True' and metrics.acc > 0.1",
        order_by=["tags.`mlflow.runName` DESC"],
    )
    assert [r["info"]["run_name"] for r in found["runs"]] == ["r6", "r4", "r2"]
    assert "next_page_token" not in found
    by_name = mlflow_api.post("runs/search", experiment_ids=[experiment_id], filter="tags.mlflow.runName = 'r3'")
    assert [r["info"]["run_name"] for r in by_name["runs"]] == ["r3"]

    seen, token = [], None
    while True:
        page = mlflow_api.post(
            "runs/search", experiment_ids=[experiment_id], max_results=3, order_by=["metrics.acc ASC"], page_token=token
        )
        seen += [r["info"]["run_name"] for r in page.get("runs", [])]
        token = page.get("next_page_token")
        if not token:
            break
    assert seen == ["r0", "r1", "r2", "r3", "r4", "r5", "r6", "parent"]
    bad = mlflow_api.error("POST", "runs/search", 400, experiment_ids=[experiment_id], filter="metrics.acc >")
    assert bad["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "at most" not in bad["message"]
    assert mlflow_api.error("POST", "runs/search", 400, experiment_ids=["0"], max_results=50001)["message"].startswith(
        "Invalid value 50001 for parameter 'max_results'"
    )


def test_metric_history_pages_and_bulk_intervals(mlflow_api: Mlflow):
    run_id = mlflow_api.create_run()["info"]["run_id"]
    metrics = [{"key": "loss", "value": 100 - i, "timestamp": 10 + i, "step": i} for i in range(100)]
    mlflow_api.post("runs/log-batch", run_id=run_id, metrics=metrics)
    full = mlflow_api.get("metrics/get-history", run_id=run_id, metric_key="loss")
    assert full["metrics"][0] == {"key": "loss", "value": 100.0, "timestamp": 10, "step": 0}
    assert len(full["metrics"]) == 100 and "next_page_token" not in full

    # Pages cut through steps that hold several points without losing or repeating any.
    twice = [{"key": "twice", "value": i, "timestamp": i, "step": i // 3} for i in range(100)]
    mlflow_api.post("runs/log-batch", run_id=run_id, metrics=twice)
    pages, token = [], None
    while True:
        fields = {"run_id": run_id, "metric_key": "twice", "max_results": 30}
        page = mlflow_api.get("metrics/get-history", **fields, **({"page_token": token} if token else {}))
        pages.append([m["timestamp"] for m in page["metrics"]])
        token = page.get("next_page_token")
        if not token:
            break
    assert [len(p) for p in pages] == [30, 30, 30, 10] and [t for page in pages for t in page] == list(range(100))
    bad = mlflow_api.error("GET", "metrics/get-history", 400, run_id=run_id, metric_key="loss", page_token="zzz")
    assert bad["error_code"] == "INVALID_PARAMETER_VALUE"
    assert mlflow_api.get("metrics/get-history", run_id=run_id, metric_key="never") == {}
    assert mlflow_api.error("GET", "metrics/get-history", 404, run_id="0" * 32, metric_key="loss")

    other = mlflow_api.create_run()["info"]["run_id"]
    mlflow_api.post("runs/log-metric", run_id=other, key="loss", value=1, timestamp=1, step=5)
    bulk = mlflow_api.get(
        "metrics/get-history-bulk-interval", run_ids=[run_id, other], metric_key="loss", max_results=10
    )["metrics"]
    mine = [m for m in bulk if m["run_id"] == run_id]
    assert 2 <= len(mine) <= 10 and {m["step"] for m in mine} >= {0, 99}
    assert [m for m in bulk if m["run_id"] == other] == [
        {"key": "loss", "value": 1.0, "timestamp": 1, "step": 5, "run_id": other}
    ]
    one_sided = mlflow_api.error(
        "GET", "metrics/get-history-bulk-interval", 400, run_ids=[run_id], metric_key="loss", start_step=3
    )
    assert one_sided["message"] == "If either start step or end step are specified, both must be specified."
    window = mlflow_api.get(
        "metrics/get-history-bulk-interval", run_ids=[run_id], metric_key="loss", start_step=10, end_step=12
    )
    assert [m["step"] for m in window["metrics"]] == [10, 11, 12]


def test_inputs_and_outputs_appear_on_runs(mlflow_api: Mlflow, backend: Backend):
    run_id = mlflow_api.create_run()["info"]["run_id"]
    dataset = {"name": "iris", "digest": "abc", "source_type": "code", "source": "{}", "schema": "{}"}
    tags = [{"key": "mlflow.data.context", "value": "training"}]
    assert mlflow_api.post("runs/log-inputs", run_id=run_id, datasets=[{"dataset": dataset, "tags": tags}]) == {}
    native = backend.tracking().get_run(run_id).inputs.dataset_inputs[0]
    assert native.context == "training" and native.dataset.name == "iris"
    model = mlflow_api.post("logged-models", experiment_id="0", name="m", source_run_id=run_id)["model"]
    model_id = model["info"]["model_id"]
    assert mlflow_api.post("runs/outputs", run_id=run_id, models=[{"model_id": model_id, "step": 3}]) == {}
    run = mlflow_api.get("runs/get", run_id=run_id)["run"]
    assert run["inputs"]["dataset_inputs"] == [{"dataset": dataset, "tags": tags}]
    assert run["outputs"] == {"model_outputs": [{"model_id": model_id, "step": 3}]}


@pytest.mark.parametrize("api", ["/api/2.0", "/ajax-api/2.0"])
def test_both_prefixes_answer_every_group(http, api):
    """Each group of endpoints, and the artifact proxy, under both of MLflow's prefixes."""
    prefix = f"{api}/mlflow"
    response = http.get(f"{prefix}/experiments/get", params={"experiment_id": "0"})
    assert response.status_code == 200 and response.json()["experiment"]["name"] == "Default"
    run = http.post(f"{prefix}/runs/create", json={"experiment_id": "0"}).json()["run"]["info"]
    assert (
        http.post(
            f"{prefix}/runs/log-batch", json={"run_id": run["run_id"], "params": [{"key": "a", "value": "1"}]}
        ).json()
        == {}
    )
    found = http.post(f"{prefix}/runs/search", json={"experiment_ids": ["0"]}).json()["runs"]
    assert [r["data"]["params"] for r in found] == [[{"key": "a", "value": "1"}]]
    model = http.post(f"{prefix}/logged-models", json={"experiment_id": "0"}).json()["model"]["info"]
    assert (
        http.post(f"{prefix}/logged-models/search", json={"experiment_ids": ["0"]}).json()["models"][0]["info"] == model
    )
    assert http.post(f"{prefix}/registered-models/create", json={"name": "m"}).status_code == 200
    assert http.get(f"{prefix}/registered-models/search").json()["registered_models"][0]["name"] == "m"
    key = run["artifact_uri"].removeprefix("mlflow-artifacts:/")
    assert http.put(f"{api}/mlflow-artifacts/artifacts/{key}/f.txt", content=b"x").status_code == 200
    listed = http.get(f"{api}/mlflow-artifacts/artifacts", params={"path": key}).json()
    assert listed == {"files": [{"path": "f.txt", "is_dir": False, "file_size": 1}]}
    unknown = http.get(f"{prefix}/no-such-endpoint")
    assert unknown.status_code == 404 and unknown.json()["error_code"] == "ENDPOINT_NOT_FOUND"


def test_search_costs_the_same_queries_for_any_page_size(mlflow_api: Mlflow, backend: Backend):
    from sqlalchemy import event

    experiment_id = mlflow_api.post("experiments/create", name="queries")["experiment_id"]
    for i in range(12):
        run_id = mlflow_api.create_run(experiment_id, run_name=f"r{i}")["info"]["run_id"]
        batch = {
            "metrics": [{"key": "m", "value": i, "timestamp": 1}],
            "params": [{"key": "p", "value": "1"}],
            "tags": [{"key": "mlflow.parentRunId", "value": run_id}],
        }
        mlflow_api.post("runs/log-batch", run_id=run_id, **batch)

    def queries(max_results: int) -> int:
        seen = []

        def count(*_: object) -> None:
            seen.append(1)

        event.listen(backend.db.engine, "before_cursor_execute", count)
        try:
            runs = mlflow_api.post("runs/search", experiment_ids=[experiment_id], max_results=max_results)["runs"]
        finally:
            event.remove(backend.db.engine, "before_cursor_execute", count)
        assert len(runs) == max_results
        return len(seen)

    # The server's background rounds (retention, monitoring) share the engine, and one of them
    # can land inside a measurement; the fewest statements over a few searches is the search's
    # own cost, which an N+1 pattern would raise by ten every time.
    assert min(queries(2) for _ in range(3)) == min(queries(12) for _ in range(3))


def test_an_oversized_body_is_refused_in_mlflows_envelope(http, app):
    limit = app.state.settings.max_request_bytes
    huge = b'{"name": "' + b"x" * (limit + 1) + b'"}'
    paths = [f"{API}/experiments/create", "/ajax-api/2.0/mlflow/experiments/create", "/api/3.0/mlflow/logged-models"]
    for path in paths:
        response = http.post(path, content=huge, headers={"content-type": "application/json"})
        assert response.status_code == 413
        assert response.json() == {
            "error_code": "INVALID_PARAMETER_VALUE",
            "message": f"Request body is larger than the limit of {limit} bytes.",
        }
    native = http.post("/api/v1/experiments", content=huge, headers={"content-type": "application/json"})
    assert native.status_code == 413 and native.json()["error"]["code"] == "payload_too_large"
