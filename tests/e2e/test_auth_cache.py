"""The permission decisions a ``runstone server --auth`` remembers (for
``auth_token_cache_seconds``, 5 s by default) stop counting within that time: a revoked grant,
and a run moved into an experiment the writer may not touch. On SQLite and PostgreSQL, with the
default cache, against a real server."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable

import httpx
import pytest
from e2e_support import Servers

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "admin password for the cache test"
CACHE_SECONDS = 5.0


@pytest.fixture(params=["sqlite", "postgresql"])
def store_args(request: pytest.FixtureRequest) -> list[str]:
    if request.param == "sqlite":
        return []
    return ["--backend-store-uri", request.getfixturevalue("pg_schema_url")]


def _log(client: httpx.Client, run_id: str, step: int) -> httpx.Response:
    return client.post("/api/2.0/mlflow/runs/log-batch", json={
        "run_id": run_id, "metrics": [{"key": "loss", "value": 1 / step, "timestamp": step, "step": step}]})  # fmt: skip


def _refused_within(seconds: float, attempt: Callable[[int], httpx.Response]) -> tuple[httpx.Response, float]:
    """Retry until the server refuses; the refusal and how long it took."""
    began = time.monotonic()
    step = 1000
    while True:
        step += 1
        answer = attempt(step)
        waited = time.monotonic() - began
        if answer.status_code != 200 or waited > seconds:
            return answer, waited
        time.sleep(0.2)


def test_a_revoked_grant_and_a_moved_run_stop_counting_within_the_cache_time(servers: Servers, store_args) -> None:
    server = servers.start("--auth", *store_args, env={"RUNSTONE_ADMIN_PASSWORD": ADMIN_PASSWORD})
    basic = base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
    with httpx.Client(base_url=server.url, timeout=30, headers={"Authorization": f"Basic {basic}"}) as admin:
        tokens = {}
        for name in ("alice", "bob"):
            assert admin.post("/api/v1/users", json={"name": name, "password": f"{name}'s long password"}).is_success
            tokens[name] = admin.post("/api/v1/tokens", json={"name": "t", "user": name}).json()["secret"]
    alice, bob = (
        httpx.Client(base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {tokens[n]}"})
        for n in ("alice", "bob")
    )
    with alice, bob:
        shared = alice.post("/api/2.0/mlflow/experiments/create", json={"name": "shared"}).json()["experiment_id"]
        private = alice.post("/api/2.0/mlflow/experiments/create", json={"name": "private"}).json()["experiment_id"]
        grant = {"resource_type": "experiment", "resource_id": shared, "principal": "bob", "permission": "EDIT"}
        assert alice.post("/api/v1/permissions/grant", json=grant).is_success
        runs = [
            alice.post("/api/2.0/mlflow/runs/create", json={"experiment_id": shared}).json()["run"]["info"]["run_id"]
            for _ in range(3)
        ]
        # bob writes to every run of the shared experiment: the server now remembers that he may.
        for step, run in enumerate(runs, 1):
            assert _log(bob, run, step).status_code == 200

        # A run moved into alice's private experiment is out of bob's reach within the cache time.
        moved = alice.post(f"/api/v1/runs/{runs[0]}/move", json={"experiment_id": private})
        assert moved.status_code == 200, moved.text
        refused, waited = _refused_within(CACHE_SECONDS + 3, lambda step: _log(bob, runs[0], step))
        assert refused.status_code == 403, (refused.status_code, refused.text, waited)
        assert f"experiment {private}" in refused.json()["message"]
        assert _log(bob, runs[1], 50).status_code == 200  # the runs left behind are still his to write

        # A revoked grant stops counting within the cache time, on every run of the experiment.
        revoke = {"resource_type": "experiment", "resource_id": shared, "principal": "bob"}
        assert alice.post("/api/v1/permissions/revoke", json=revoke).json() == {"revoked": 1}
        refused, waited = _refused_within(CACHE_SECONDS + 3, lambda step: _log(bob, runs[1], step))
        assert refused.status_code == 403, (refused.status_code, refused.text, waited)
        assert _log(bob, runs[2], 60).status_code == 403
        # What bob wrote before each refusal is all there is: nothing after it was stored.
        history = alice.get("/api/2.0/mlflow/metrics/get-history", params={"run_id": runs[2], "metric_key": "loss"})
        assert [m["step"] for m in history.json()["metrics"]] == [3]
