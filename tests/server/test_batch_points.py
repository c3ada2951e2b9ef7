"""Batches of points as clients usually send them (float values) are checked as strictly as any other."""

from __future__ import annotations

import pytest


def _run(http) -> str:  # type: ignore[no-untyped-def]
    exp = http.post("/api/v1/experiments", json={"name": "points"}).json()["experiment"]["experiment_id"]
    return http.post("/api/v1/runs", json={"experiment_id": exp}).json()["run"]["info"]["run_id"]


GOOD = {"key": "ok", "value": 0.5, "timestamp": 1, "step": 0}


@pytest.mark.parametrize(
    ("point", "fragment"),
    [
        ({"key": "m", "value": 0.5, "timestamp": 1, "stp": 3}, "metrics.1.stp"),
        ({"key": "m", "value": 0.5, "timestamp": 1, "step": 2, "extra": 1}, "metrics.1.extra"),
        ({"key": "bad key!", "value": 0.5, "timestamp": 1}, "may contain only"),
        ({"key": "m", "value": 0.5, "timestamp": -1}, "timestamp"),
        ({"key": "m", "value": 0.5, "timestamp": 1, "step": 2**63}, "step"),
        ({"key": "m", "value": 0.5, "timestamp": 1, "step": None}, "metrics.1.step"),
        ({"key": 7, "value": 0.5, "timestamp": 1}, "metrics.1.key"),
    ],
)
def test_float_points_with_a_flaw_are_rejected_whole(http, point, fragment):
    run_id = _run(http)
    response = http.post(f"/api/v1/runs/{run_id}/batch", json={"metrics": [GOOD, point]})
    assert response.status_code == 400, response.text
    assert fragment in response.json()["error"]["message"]
    assert http.get(f"/api/v1/runs/{run_id}").json()["run"]["data"]["metrics"] == {}


def test_points_without_a_step_are_step_zero_and_mix_with_params(http):
    run_id = _run(http)
    body = {
        "metrics": [
            {"key": "loss", "value": 0.25, "timestamp": 5},
            {"key": "acc", "value": 0.75, "timestamp": 5, "step": 3},
        ],
        "params": [{"key": "C", "value": "1.0"}],
        "tags": [{"key": "team", "value": "vision"}],
    }
    assert http.post(f"/api/v1/runs/{run_id}/batch", json=body).status_code == 200
    data = http.get(f"/api/v1/runs/{run_id}").json()["run"]["data"]
    assert data["metrics"] == {"loss": 0.25, "acc": 0.75}
    assert data["params"] == {"C": "1.0"} and data["tags"]["team"] == "vision"
    history = http.get(f"/api/v1/runs/{run_id}/metric-history", params={"key": "loss"}).json()
    assert history["steps"] == [0] and history["values"] == [0.25]
