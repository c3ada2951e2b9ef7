"""One MLflow request is one service command: all of it is written, or none of it (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from mlflow_api import Mlflow

from runstone.backend import Backend
from runstone.governance.audit import AuditService


def _state(mlflow_api: Mlflow, backend: Backend, run_id: str) -> tuple[object, ...]:
    run = mlflow_api.get("runs/get", run_id=run_id)["run"]
    history = mlflow_api.get("metrics/get-history", run_id=run_id, metric_key="loss").get("metrics", [])
    events = len(AuditService(backend.db).events(target_type="run", target_id=run_id))
    return run["info"]["run_name"], run["data"], history, events


def test_a_log_batch_with_one_bad_item_changes_nothing(mlflow_api: Mlflow, backend: Backend):
    run_id = mlflow_api.create_run(run_name="before")["info"]["run_id"]
    before = _state(mlflow_api, backend, run_id)
    good = {
        "run_id": run_id,
        "metrics": [{"key": "loss", "value": 0.5, "timestamp": 1, "step": 0}],
        "params": [{"key": "lr", "value": "0.1"}],
        "tags": [{"key": "team", "value": "a"}],
    }
    # The run's new name (MLflow's run-name tag) is too long: the metric, param and tag that
    # came with it are not written either.
    bad_name = {**good, "tags": [*good["tags"], {"key": "mlflow.runName", "value": "n" * 300}]}
    assert "Run name" in mlflow_api.error("POST", "runs/log-batch", 400, **bad_name)["message"]
    assert _state(mlflow_api, backend, run_id) == before
    # A point reported for a logged model that does not exist.
    bad_model = {**good, "metrics": [*good["metrics"], {"key": "acc", "value": 1, "timestamp": 1, "model_id": "m-0"}]}
    assert mlflow_api.error("POST", "runs/log-batch", 404, **bad_model)["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert _state(mlflow_api, backend, run_id) == before

    # The same batch with a good name is written whole, in one audit-logged command.
    renamed = {**good, "tags": [*good["tags"], {"key": "mlflow.runName", "value": "after"}]}
    assert mlflow_api.post("runs/log-batch", **renamed) == {}
    name, data, history, _ = _state(mlflow_api, backend, run_id)
    assert name == "after" and [m["value"] for m in history] == [0.5]
    assert data["params"] == [{"key": "lr", "value": "0.1"}]
    assert {"key": "team", "value": "a"} in data["tags"]


def test_a_logged_models_points_and_the_runs_are_written_together(mlflow_api: Mlflow, backend: Backend):
    run_id = mlflow_api.create_run()["info"]["run_id"]
    model_id = mlflow_api.post("logged-models", experiment_id="0", name="m", source_run_id=run_id)["model"]["info"][
        "model_id"
    ]
    point = {"key": "loss", "value": 0.25, "timestamp": 5, "step": 1, "model_id": model_id}
    # The run already holds the point: it keeps one copy, the model gets it.
    mlflow_api.post("runs/log-batch", run_id=run_id, metrics=[{k: v for k, v in point.items() if k != "model_id"}])
    mlflow_api.post("runs/log-batch", run_id=run_id, metrics=[point])
    history = mlflow_api.get("metrics/get-history", run_id=run_id, metric_key="loss")["metrics"]
    assert [(m["value"], m["step"]) for m in history] == [(0.25, 1)]
    model = mlflow_api.get(f"logged-models/{model_id}")["model"]
    assert [(m["key"], m["value"]) for m in model["data"]["metrics"]] == [("loss", 0.25)]


def test_concurrent_log_model_calls_each_keep_their_model(mlflow_api: Mlflow):
    run_id = mlflow_api.create_run()["info"]["run_id"]

    def log_model(i: int) -> None:
        model = {"artifact_path": f"model{i}", "flavors": {}, "utc_time_created": "2026-01-01 00:00:00"}
        mlflow_api.post("runs/log-model", run_id=run_id, model_json=json.dumps(model))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(log_model, range(8)))
    tags = {t["key"]: t["value"] for t in mlflow_api.get("runs/get", run_id=run_id)["run"]["data"]["tags"]}
    history = json.loads(tags["mlflow.log-model.history"])
    assert sorted(m["artifact_path"] for m in history) == [f"model{i}" for i in range(8)]


def test_deleting_and_restoring_twice_answer_like_mlflow(mlflow_api: Mlflow, backend: Backend):
    run_id = mlflow_api.create_run()["info"]["run_id"]
    assert mlflow_api.post("runs/delete", run_id=run_id) == {}
    assert mlflow_api.post("runs/delete", run_id=run_id) == {}
    assert mlflow_api.get("runs/get", run_id=run_id)["run"]["info"]["lifecycle_stage"] == "deleted"
    assert mlflow_api.post("runs/restore", run_id=run_id) == {}
    assert mlflow_api.post("runs/restore", run_id=run_id) == {}
    assert mlflow_api.get("runs/get", run_id=run_id)["run"]["info"]["lifecycle_stage"] == "active"
    actions = [e.action for e in AuditService(backend.db).events(target_type="run", target_id=run_id)]
    assert actions == ["run.create", "run.delete", "run.restore"]
    assert mlflow_api.error("POST", "runs/delete", 404, run_id="f" * 32)["error_code"] == "RESOURCE_DOES_NOT_EXIST"
