"""Default-deny: every route of the assembled app declares the permission it needs.

MLflow's own auth layer was bypassed more than once through routes it forgot; this inventory is
how runstone never does. It walks the app as served (every router, every prefix the MLflow
routes are mounted on, the UI, the docs, mounted sub-apps) and fails naming each undeclared route.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi.routing import APIRoute
from starlette.routing import Mount, Route

from runstone.config import Settings
from runstone.governance.needs import needs_of
from runstone.server.access import OTHER_ROUTES
from runstone.server.app import create_app


def _walk(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:  # FastAPI keeps included routers as branches
            yield from _walk(included.routes, prefix + (route.include_context.prefix or ""))
        else:
            yield prefix + getattr(route, "path", ""), route


def test_every_route_of_the_assembled_app_declares_what_it_needs(tmp_path: Path) -> None:
    app = create_app(Settings(home=tmp_path, auth=True))
    undeclared, seen = [], 0
    for path, route in _walk(app.routes):
        seen += 1
        if isinstance(route, APIRoute):
            if not needs_of(route.endpoint):
                undeclared.append(
                    f"{sorted(route.methods)} {path} ({route.endpoint.__module__}.{route.endpoint.__name__})"
                )
        elif isinstance(route, (Route, Mount)):
            if path not in OTHER_ROUTES:
                undeclared.append(f"{path} ({type(route).__name__})")
        else:
            undeclared.append(f"{path} ({type(route).__name__}: unknown kind of route)")
    assert not undeclared, "routes without a declared permission:\n" + "\n".join(undeclared)
    # Every MLflow prefix, the UI and the docs were walked, not just the top level.
    paths = [p for p, _ in _walk(app.routes)]
    for expected in (
        "/ajax-api/2.0/mlflow/runs/log-batch",
        "/api/2.0/mlflow-artifacts/artifacts/{path:path}",
        "/ui/runs/{run_id}",
        "/docs",
    ):
        assert expected in paths
    assert seen > 300


# The routes whose permission check may be made in their own transaction (``in_transaction``),
# each with a request that writes to a run: adding the flag to another route fails the test
# below until a request for it is listed here.
RUN = "{run}"
IN_TRANSACTION = {
    "runstone.server.mlflow_compat.runs.log_batch": ("/api/2.0/mlflow/runs/log-batch", {
        "run_id": RUN, "metrics": [{"key": "m", "value": 1.0, "timestamp": 1, "step": 0}],
        "params": [{"key": "p", "value": "1"}], "tags": [{"key": "t", "value": "1"}]}),
    "runstone.server.mlflow_compat.runs.log_metric": ("/ajax-api/2.0/mlflow/runs/log-metric", {
        "run_uuid": RUN, "key": "m", "value": 1.0, "timestamp": 1}),
    "runstone.server.mlflow_compat.runs.log_param": ("/api/2.0/mlflow/runs/log-parameter", {
        "run_id": RUN, "key": "p", "value": "1"}),
    "runstone.server.mlflow_compat.runs.set_tag": ("/api/2.0/mlflow/runs/set-tag", {
        "run_id": RUN, "key": "t", "value": "1"}),
    "runstone.server.routes.runs.log_batch": (f"/api/v1/runs/{RUN}/batch", {
        "metrics": [{"key": "m", "value": 1.0, "timestamp": 1, "step": 0}],
        "params": [{"key": "p", "value": "1"}], "tags": [{"key": "t", "value": "1"}]}),
}  # fmt: skip


def _fill(value: Any, run: str) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, run) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, run) for v in value]
    return value.replace(RUN, run) if isinstance(value, str) else value


def test_a_check_made_in_the_routes_transaction_refuses_before_anything_is_written(settings, backend, bearer) -> None:  # type: ignore[no-untyped-def]
    """Routes declared ``in_transaction`` answer a caller without EDIT with 403 and write nothing,
    a run that does not exist with 404, and a caller with EDIT as before; on SQLite and PostgreSQL."""
    from fastapi.testclient import TestClient

    app = create_app(settings.model_copy(update={"auth": True}), backend=backend)
    declared = {
        f"{route.endpoint.__module__}.{route.endpoint.__name__}"
        for _, route in _walk(app.routes)
        if isinstance(route, APIRoute) and any(need.in_transaction for need in needs_of(route.endpoint))
    }
    assert declared == set(IN_TRANSACTION)

    as_ = bearer("alice", "bob").__getitem__
    with TestClient(app) as client:

        def run_data(run: str) -> dict[str, Any]:
            got = client.get("/api/2.0/mlflow/runs/get", params={"run_id": run}, headers=as_("alice"))
            assert got.status_code == 200, got.text
            return got.json()["run"]["data"]

        exp = client.post("/api/2.0/mlflow/experiments/create", json={"name": "e"}, headers=as_("alice"))
        exp_id = exp.json()["experiment_id"]
        run = client.post("/api/2.0/mlflow/runs/create", json={"experiment_id": exp_id}, headers=as_("alice"))
        run_id = run.json()["run"]["info"]["run_id"]
        before = run_data(run_id)
        for grant in (None, "READ"):
            if grant is not None:
                body = {"resource_type": "experiment", "resource_id": exp_id, "principal": "bob", "permission": grant}
                assert client.post("/api/v1/permissions/grant", json=body, headers=as_("alice")).is_success
            for endpoint, (path, body) in IN_TRANSACTION.items():
                refused = client.post(_fill(path, run_id), json=_fill(body, run_id), headers=as_("bob"))
                assert refused.status_code == 403, (endpoint, grant, refused.text)
                assert "EDIT permission on experiment" in refused.text, (endpoint, refused.text)
                assert run_data(run_id) == before, endpoint
        for endpoint, (path, body) in IN_TRANSACTION.items():
            missing = client.post(_fill(path, "0" * 32), json=_fill(body, "0" * 32), headers=as_("alice"))
            assert missing.status_code == 404, (endpoint, missing.text)
        body = {"resource_type": "experiment", "resource_id": exp_id, "principal": "bob", "permission": "EDIT"}
        assert client.post("/api/v1/permissions/grant", json=body, headers=as_("alice")).is_success
        for endpoint, (path, body) in IN_TRANSACTION.items():
            written = client.post(_fill(path, run_id), json=_fill(body, run_id), headers=as_("bob"))
            assert written.status_code == 200, (endpoint, written.text)
        data = run_data(run_id)
        assert [m["key"] for m in data["metrics"]] == ["m"]
        assert [p["key"] for p in data["params"]] == ["p"]
        assert "t" in [t["key"] for t in data["tags"]]
