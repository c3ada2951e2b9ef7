"""Concurrent writers on two ``runstone server`` replicas sharing one PostgreSQL database.

Each race is run for several trials; writers are released together by a barrier. The database
decides every race (row locks, unique keys), so the answers hold under PostgreSQL's default
isolation (READ COMMITTED), whichever replica each request reaches.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_support import Server, Servers

pytestmark = pytest.mark.e2e

HEADERS = {"X-Runstone-User": "racer"}


@pytest.fixture
def replicas(pg_schema_url: str, servers: Servers, tmp_path: Path) -> list[Server]:
    shared = tmp_path / "shared-artifacts"
    return servers.start_many(2, "--backend-store-uri", pg_schema_url, "--artifacts-destination", str(shared))


@pytest.fixture
def clients(replicas: list[Server]) -> Iterator[list[httpx.Client]]:
    pool = [httpx.Client(base_url=s.url, timeout=60.0, headers=HEADERS) for s in replicas for _ in range(4)]
    try:
        yield pool
    finally:
        for c in pool:
            c.close()


Call = tuple[httpx.Client, str, str, dict[str, Any]]  # client, method, path, request arguments


def race(calls: list[Call]) -> list[httpx.Response]:
    """Send the requests at the same moment, one thread each; their answers in order."""
    barrier = threading.Barrier(len(calls))

    def released(call: Call) -> httpx.Response:
        client, method, path, kwargs = call
        barrier.wait()
        return client.request(method, path, **kwargs)

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(released, calls))


def ok(response: httpx.Response) -> Any:
    assert response.status_code < 300, response.text
    return response.json()


def new_run(http: httpx.Client, experiment_id: str) -> str:
    created = ok(http.post("/api/v1/runs", json={"experiment_id": experiment_id}))
    return str(created["run"]["info"]["run_id"])


def new_experiment(http: httpx.Client) -> str:
    return str(
        ok(http.post("/api/v1/experiments", json={"name": f"race-{uuid.uuid4().hex[:8]}"}))["experiment"][
            "experiment_id"
        ]
    )


def test_a_run_restored_while_gc_runs_is_kept_whole(clients: list[httpx.Client], tmp_path: Path) -> None:
    a, b = clients[0], clients[-1]  # two replicas
    experiment_id = new_experiment(a)
    restored_and_kept = 0
    for trial in range(15):
        runs = [new_run(a, experiment_id) for _ in range(4)]
        for run_id in runs:
            metrics = [
                {"key": "loss", "value": 1.0 / (s + 1), "timestamp": 1_700_000_000_000, "step": s} for s in range(200)
            ]
            ok(
                a.post(
                    f"/api/v1/runs/{run_id}/batch",
                    json={"metrics": metrics, "params": [{"key": "trial", "value": str(trial)}]},
                )
            )
            ok(a.put(f"/api/v1/runs/{run_id}/artifacts/weights.bin", content=b"w" * 10_000))
            ok(a.post(f"/api/v1/runs/{run_id}/delete"))
        restorers: list[Call] = [(clients[i], "POST", f"/api/v1/runs/{r}/restore", {}) for i, r in enumerate(runs)]
        answers = race([*restorers, (b, "POST", "/api/v1/gc", {"json": {}})])
        assert answers[-1].status_code == 200, answers[-1].text
        purged = set(answers[-1].json()["run_ids"])
        for run_id, answer in zip(runs, answers, strict=False):
            if answer.status_code == 200:
                # A restore that answered 200 keeps the run: its row, points, params and files.
                assert run_id not in purged, f"trial {trial}: gc purged {run_id} after its restore answered 200"
                run = ok(a.get(f"/api/v1/runs/{run_id}"))["run"]
                assert run["info"]["lifecycle_stage"] == "active"
                assert run["data"]["params"] == {"trial": str(trial)}
                history = ok(a.get(f"/api/v1/runs/{run_id}/metric-history", params={"key": "loss"}))
                assert len(history["steps"]) == 200
                assert a.get(f"/api/v1/runs/{run_id}/artifacts/weights.bin").content == b"w" * 10_000
                restored_and_kept += 1
            else:
                # Otherwise gc won: the restore says the run is gone, and it is.
                assert answer.status_code == 404, answer.text
                assert run_id in purged
                assert a.get(f"/api/v1/runs/{run_id}").status_code == 404
    assert restored_and_kept > 0  # the races were not all won by gc


def test_concurrent_writes_of_one_param_key_let_exactly_one_value_win(clients: list[httpx.Client]) -> None:
    experiment_id = new_experiment(clients[0])
    for trial in range(12):
        run_id = new_run(clients[0], experiment_id)
        answers = race(
            [
                (c, "POST", f"/api/v1/runs/{run_id}/batch", {"json": {"params": [{"key": "lr", "value": f"0.{i}"}]}})
                for i, c in enumerate(clients[:6])
            ]
        )
        codes = sorted(r.status_code for r in answers)
        assert codes == [200, 400, 400, 400, 400, 400], f"trial {trial}: {codes}"
        winner = next(i for i, r in enumerate(answers) if r.status_code == 200)
        run = ok(clients[0].get(f"/api/v1/runs/{run_id}"))["run"]
        stored = run["data"]["params"]["lr"]
        assert stored == f"0.{winner}"
        for loser in (r for r in answers if r.status_code == 400):
            assert loser.json()["error"]["code"] == "invalid_input"
            assert "immutable" in loser.json()["error"]["message"]
        # The same value again is still accepted.
        ok(clients[-1].post(f"/api/v1/runs/{run_id}/batch", json={"params": [{"key": "lr", "value": stored}]}))


def test_concurrent_creation_of_one_registered_model_name_answers_409_to_the_losers(
    clients: list[httpx.Client],
) -> None:
    for trial in range(10):
        name = f"model-{trial}-{uuid.uuid4().hex[:6]}"
        answers = race([(c, "POST", "/api/v1/registered-models", {"json": {"name": name}}) for c in clients[:6]])
        codes = sorted(r.status_code for r in answers)
        assert codes == [201, 409, 409, 409, 409, 409], f"trial {trial}: {codes} {[r.text for r in answers]}"
        for loser in (r for r in answers if r.status_code == 409):
            assert loser.json()["error"]["code"] == "already_exists"


def test_concurrent_renames_to_one_registered_model_name_answer_409_to_the_losers(
    clients: list[httpx.Client],
) -> None:
    for trial in range(6):
        names = [f"old-{trial}-{i}-{uuid.uuid4().hex[:6]}" for i in range(4)]
        for name in names:
            ok(clients[0].post("/api/v1/registered-models", json={"name": name}))
        target = f"new-{trial}-{uuid.uuid4().hex[:6]}"
        answers = race(
            [
                (c, "PATCH", f"/api/v1/registered-models/{n}", {"json": {"new_name": target}})
                for c, n in zip(clients[::2], names, strict=True)
            ]
        )
        codes = sorted(r.status_code for r in answers)
        assert codes == [200, 409, 409, 409], f"trial {trial}: {codes} {[r.text for r in answers]}"


def test_concurrent_creation_and_renames_of_experiments_answer_409_to_the_losers(
    clients: list[httpx.Client],
) -> None:
    for trial in range(6):
        name = f"exp-{trial}-{uuid.uuid4().hex[:6]}"
        answers = race([(c, "POST", "/api/v1/experiments", {"json": {"name": name}}) for c in clients[:6]])
        assert sorted(r.status_code for r in answers) == [201, 409, 409, 409, 409, 409]
        others = [new_experiment(clients[0]) for _ in range(4)]
        target = f"renamed-{trial}-{uuid.uuid4().hex[:6]}"
        answers = race(
            [
                (c, "PATCH", f"/api/v1/experiments/{e}", {"json": {"name": target}})
                for c, e in zip(clients[::2], others, strict=True)
            ]
        )
        codes = sorted(r.status_code for r in answers)
        assert codes == [200, 409, 409, 409], f"trial {trial}: {codes} {[r.text for r in answers]}"


def test_a_batch_resent_concurrently_with_one_idempotency_key_is_applied_once(clients: list[httpx.Client]) -> None:
    experiment_id = new_experiment(clients[0])
    for trial in range(8):
        run_id = new_run(clients[0], experiment_id)
        key = uuid.uuid4().hex
        body = {"metrics": [{"key": "x", "value": float(s), "timestamp": 1, "step": s} for s in range(50)]}
        answers = race(
            [
                (c, "POST", f"/api/v1/runs/{run_id}/batch", {"json": body, "headers": {"Idempotency-Key": key}})
                for c in clients[:6]
            ]
        )
        assert [r.status_code for r in answers] == [200] * 6, f"trial {trial}: {[r.text for r in answers]}"
        assert len(ok(clients[0].get(f"/api/v1/runs/{run_id}/metric-history", params={"key": "x"}))["steps"]) == 50


def test_concurrent_links_of_one_dataset_to_one_run_all_succeed(clients: list[httpx.Client]) -> None:
    experiment_id = new_experiment(clients[0])
    for trial in range(6):
        run_id = new_run(clients[0], experiment_id)
        dataset = {"name": "iris", "digest": f"d{trial}", "source_type": "local", "source": "/data/iris.csv"}
        answers = race(
            [
                (c, "POST", f"/api/v1/runs/{run_id}/inputs", {"json": {"datasets": [{"dataset": dataset, "tags": {}}]}})
                for c in clients[:6]
            ]
        )
        assert [r.status_code for r in answers] == [200] * 6, f"trial {trial}: {[r.text for r in answers]}"
        inputs = ok(clients[0].get(f"/api/v1/runs/{run_id}"))["run"]["inputs"]
        assert len(inputs["dataset_inputs"]) == 1
