"""The native REST API through the real HTTP stack (in-process): shapes, errors, limits."""

from __future__ import annotations

import pytest
from scrape import sample


def create_run(http, experiment_id="0"):
    response = http.post("/api/v1/runs", json={"experiment_id": experiment_id, "run_name": "r"})
    assert response.status_code == 201
    return response.json()["run"]["info"]["run_id"]


def test_health_version_and_openapi(http):
    assert http.get("/health").json() == {"status": "ok"}
    assert "version" in http.get("/version").json()
    spec = http.get("/openapi.json").json()
    assert "/api/v1/runs/search" in spec["paths"]
    assert http.get("/docs").status_code == 200


def _api_routes(routes, prefix=""):  # type: ignore[no-untyped-def]
    from fastapi.routing import APIRoute

    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:  # FastAPI keeps included routers as branches
            yield from _api_routes(included.routes, prefix + (route.include_context.prefix or ""))
        elif isinstance(route, APIRoute) and route.include_in_schema:
            yield prefix + route.path, route


def test_every_route_is_documented(app):
    routes = list(_api_routes(app.routes))
    assert len(routes) > 100  # the whole API, not an empty walk
    missing = [path for path, route in routes if not route.summary]
    assert not missing, f"routes without a summary for the REST reference: {missing}"


def test_experiment_and_run_flow(http):
    created = http.post("/api/v1/experiments", json={"name": "iris", "tags": {"team": "a"}})
    assert created.status_code == 201
    experiment = created.json()["experiment"]
    assert experiment["name"] == "iris" and experiment["tags"] == {"team": "a"}
    assert http.get("/api/v1/experiments/by-name", params={"name": "iris"}).json()["experiment"] == experiment
    run_id = create_run(http, experiment["experiment_id"])
    batch = {
        "metrics": [
            {"key": "loss", "value": 0.5, "timestamp": 1, "step": 0},
            {"key": "loss", "value": "NaN", "timestamp": 2, "step": 1},
            {"key": "big", "value": "Infinity", "timestamp": 2, "step": 1},
        ],
        "params": [{"key": "C", "value": "1.0"}],
        "tags": [{"key": "team", "value": "vision"}],
    }
    assert http.post(f"/api/v1/runs/{run_id}/batch", json=batch).json() == {}
    run = http.get(f"/api/v1/runs/{run_id}").json()["run"]
    assert run["data"] == {
        "metrics": {"loss": "NaN", "big": "Infinity"},
        "params": {"C": "1.0"},
        "tags": {"team": "vision"},
    }
    history = http.get(f"/api/v1/runs/{run_id}/metric-history", params={"key": "loss"}).json()
    assert history == {
        "key": "loss",
        "steps": [0, 1],
        "timestamps": [1, 2],
        "values": [0.5, "NaN"],
        "downsampled": False,
    }
    found = http.post(
        "/api/v1/runs/search",
        json={"experiment_names": ["iris"], "filter": "params.C = '1.0'", "order_by": ["metrics.big DESC"]},
    ).json()
    assert [r["info"]["run_id"] for r in found["runs"]] == [run_id] and found["next_page_token"] is None
    finished = http.patch(f"/api/v1/runs/{run_id}", json={"status": "FINISHED"}).json()["run"]
    assert finished["info"]["status"] == "FINISHED" and finished["info"]["end_time"] is not None


def test_caller_identity_is_recorded(http):
    run_id = create_run(http)
    run = http.get(f"/api/v1/runs/{run_id}").json()["run"]
    assert run["info"]["user_id"] == "tester"
    events = http.get("/api/v1/audit", params={"target_type": "run", "target_id": run_id}).json()["events"]
    assert events[0]["actor"] == "tester"
    bad = http.post("/api/v1/runs", json={}, headers={"X-Runstone-User": "a\tb"})
    assert bad.status_code == 400 and "X-Runstone-User" in bad.json()["error"]["message"]


def test_idempotency_key_header(http):
    run_id = create_run(http)
    body = {"metrics": [{"key": "m", "value": 1, "timestamp": 1, "step": 0}]}
    for _ in range(3):
        assert (
            http.post(f"/api/v1/runs/{run_id}/batch", json=body, headers={"Idempotency-Key": "retry-0001"}).status_code
            == 200
        )
    history = http.get(f"/api/v1/runs/{run_id}/metric-history", params={"key": "m"}).json()
    assert len(history["steps"]) == 1
    bad = http.post(f"/api/v1/runs/{run_id}/batch", json=body, headers={"Idempotency-Key": "x"})
    assert bad.status_code == 400


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code", "fragment"),
    [
        ("get", "/api/v1/runs/deadbeef", {}, 404, "not_found", "No run with id 'deadbeef'"),
        ("get", "/api/v1/experiments/777", {}, 404, "not_found", "No experiment with id 777"),
        ("get", "/api/v1/experiments/abc", {}, 400, "invalid_input", "decimal number"),
        ("post", "/api/v1/experiments", {"json": {}}, 400, "invalid_input", "name: Field required"),
        ("post", "/api/v1/experiments", {"json": {"name": "x", "extra": 1}}, 400, "invalid_input", "extra"),
        (
            "post",
            "/api/v1/experiments",
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
            400,
            "invalid_input",
            "not valid JSON",
        ),
        (
            "post",
            "/api/v1/experiments",
            {"content": b'{"name": "\xff"}', "headers": {"content-type": "application/json"}},
            400,
            "invalid_input",
            "not valid JSON",
        ),
        (
            "post",
            "/api/v1/experiments",
            {"content": b"[" * 5000 + b"]" * 5000, "headers": {"content-type": "application/json"}},
            400,
            "invalid_input",
            "not valid JSON",
        ),
        (
            "post",
            "/api/v1/runs/search",
            {"json": {"experiment_ids": ["0"], "filter": "metrics.loss < "}},
            400,
            "invalid_input",
            "position 16",
        ),
        (
            "post",
            "/api/v1/runs/search",
            {"json": {"experiment_ids": ["0"], "max_results": 100000}},
            400,
            "invalid_input",
            "max_results must be between",
        ),
        ("delete", "/api/v1/experiments/0/tags/nope", {}, 404, "not_found", "no tag 'nope'"),
        (
            "post",
            "/api/v1/gc",
            {"json": {"older_than_ms": -1}},
            400,
            "invalid_input",
            "older_than_ms -1 is out of range",
        ),
        ("post", "/api/v1/gc", {"json": {"run_ids": ["f00"]}}, 404, "not_found", "No run with id 'f00'"),
        (
            "post",
            "/api/v1/gc",
            {"json": {"experiment_ids": ["0"]}},
            409,
            "invalid_state",
            "Experiment 0 is not deleted",
        ),
        ("post", "/api/v1/gc", {"json": {"run_ids": "f00"}}, 400, "invalid_input", "run_ids"),
        ("post", "/api/v1/nope", {}, 404, "not_found", "Not Found"),
        ("get", "/api/v1/logged-models/m-" + "0" * 32, {}, 404, "not_found", "m-" + "0" * 32),
        ("get", "/api/v1/logged-models/m-" + "0" * 32 + "/artifacts/MLmodel", {}, 404, "not_found", "m-" + "0" * 32),
    ],
)
def test_bad_requests_get_clear_4xx(http, method, path, kwargs, status, code, fragment):
    response = getattr(http, method)(path, **kwargs)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert fragment in error["message"]
    assert error["request_id"] == response.headers["x-request-id"]


@pytest.mark.parametrize(
    ("metric", "fragment"),
    [
        ({"key": "m", "value": 1, "timestamp": 1, "step": "NaN"}, "metrics.1.step"),
        ({"key": "m", "value": 1, "timestamp": 1, "step": 1.5}, "metrics.1.step"),
        ({"key": "m", "value": "abc", "timestamp": 1}, "metrics.1.value"),
        ({"key": "m", "value": True, "timestamp": 1}, "metrics.1.value"),
        ({"key": "m", "value": 1}, "metrics.1.timestamp: Field required"),
        ({"key": "bad key!", "value": 1, "timestamp": 1}, "may contain only"),
    ],
)
def test_bad_metric_points_are_rejected_whole(http, metric, fragment):
    run_id = create_run(http)
    good = {"key": "ok", "value": 1, "timestamp": 1, "step": 0}
    response = http.post(f"/api/v1/runs/{run_id}/batch", json={"metrics": [good, metric]})
    assert response.status_code == 400 and fragment in response.json()["error"]["message"]
    run = http.get(f"/api/v1/runs/{run_id}").json()["run"]
    assert run["data"]["metrics"] == {}, "nothing of a rejected batch is written"


def test_param_overwrite_is_a_clear_400(http):
    run_id = create_run(http)
    http.post(f"/api/v1/runs/{run_id}/batch", json={"params": [{"key": "C", "value": "1"}]})
    response = http.post(f"/api/v1/runs/{run_id}/batch", json={"params": [{"key": "C", "value": "2"}]})
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"key": "C", "old_value": "1", "new_value": "2"}


def test_oversized_bodies(http, app):
    run_id = create_run(http)
    too_many = {"metrics": [{"key": "m", "value": 1, "timestamp": 1, "step": i} for i in range(10_001)]}
    response = http.post(f"/api/v1/runs/{run_id}/batch", json=too_many)
    assert response.status_code == 413 and "at most 10000 metrics" in response.json()["error"]["message"]
    limit = app.state.settings.max_request_bytes
    huge = b'{"name": "' + b"x" * (limit + 1) + b'"}'
    response = http.post("/api/v1/experiments", content=huge, headers={"content-type": "application/json"})
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"


def test_unexpected_errors_are_a_generic_500_without_internals(app, http, monkeypatch):
    from runstone.tracking.service import TrackingService

    def boom(self, *args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(TrackingService, "get_run", boom)
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/api/v1/runs/abc")
    assert response.status_code == 500
    body = response.json()["error"]
    assert "secret" not in response.text
    assert body["request_id"] in body["message"]


def test_prometheus_metrics_and_request_ids(http):
    response = http.get("/health", headers={"X-Request-Id": "trace-123"})
    assert response.headers["x-request-id"] == "trace-123"
    text = http.get("/metrics").text
    assert sample(text, "runstone_http_requests_total", method="GET", route="/health", status="200") == 1
    assert "runstone_http_request_duration_seconds_bucket" in text


def test_the_api_explorer_is_served_from_local_files(http):
    page = http.get("/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower() and "<script>" not in page.text  # no CDN, no inline script
    assert "script-src 'self';" in page.headers["content-security-policy"]
    bundle = http.get("/docs/assets/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and bundle.headers["content-type"].startswith("text/javascript")
    assert http.get("/docs/assets/..%2Fswagger-initializer.js").status_code == 404
    assert http.get("/redoc").status_code == 404
