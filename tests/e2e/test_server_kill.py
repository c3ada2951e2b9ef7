"""A 2xx means durable: a server killed with SIGKILL in the middle of a stream of writes keeps every
write it acknowledged, on SQLite and on PostgreSQL.

One client streams single-metric writes, run creations and 1 KiB artifact uploads through MLflow's
routes on one kept-alive connection, as fast as the server answers; another thread SIGKILLs the
server's process group once enough of them were acknowledged. A new server on the same store must
then show every acknowledged metric point, run and file, byte for byte.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import httpx
import pytest
from e2e_support import Servers

M = "/api/2.0/mlflow"
KILL_AFTER = 120  # acknowledged writes before the kill


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_every_acknowledged_write_survives_sigkill_of_the_server(
    servers: Servers, tmp_path: Path, store: str, request: pytest.FixtureRequest
) -> None:
    args: tuple[str, ...] = ()
    if store == "postgresql":
        args = ("--backend-store-uri", request.getfixturevalue("pg_schema_url"))
    home = tmp_path / "home"
    server = servers.start(*args, home=home)
    http = httpx.Client(base_url=server.url, timeout=30)
    experiment = http.post(f"{M}/experiments/create", json={"name": "kill"}).json()["experiment_id"]
    run_id = http.post(f"{M}/runs/create", json={"experiment_id": experiment}).json()["run"]["info"]["run_id"]

    steps: list[int] = []
    runs: list[str] = []
    files: dict[str, bytes] = {}
    acknowledged = threading.Semaphore(0)

    def kill_when_enough_were_acknowledged() -> None:
        for _ in range(KILL_AFTER):
            acknowledged.acquire()
        os.killpg(server.process.pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_when_enough_were_acknowledged)
    killer.start()
    i = 0
    try:
        while True:
            i += 1
            kind = i % 3
            if kind == 0:
                body = {"run_id": run_id, "key": "loss", "value": i / 7, "timestamp": 1_700_000_000_000 + i, "step": i}
                response = http.post(f"{M}/runs/log-metric", json=body)
            elif kind == 1:
                response = http.post(f"{M}/runs/create", json={"experiment_id": experiment, "run_name": f"r{i}"})
            else:
                content = os.urandom(1024)
                path = f"/api/2.0/mlflow-artifacts/artifacts/{experiment}/{run_id}/artifacts/f{i}.bin"
                response = http.put(path, content=content)
            assert response.status_code == 200, response.text
            if kind == 0:
                steps.append(i)
            elif kind == 1:
                runs.append(response.json()["run"]["info"]["run_id"])
            else:
                files[f"f{i}.bin"] = content
            acknowledged.release()
    except httpx.TransportError:
        pass  # the kill came; the request in flight was never acknowledged
    killer.join()
    http.close()
    server.process.wait(timeout=30)
    assert len(steps) + len(runs) + len(files) >= KILL_AFTER

    again = servers.start(*args, home=home)
    with httpx.Client(base_url=again.url, timeout=30) as http:
        history = http.get(f"{M}/metrics/get-history", params={"run_id": run_id, "metric_key": "loss"}).json()
        found = {int(point["step"]) for point in history.get("metrics", [])}
        assert set(steps) <= found, f"acknowledged steps lost: {sorted(set(steps) - found)}"
        for created in runs:
            assert http.get(f"{M}/runs/get", params={"run_id": created}).status_code == 200, created
        for name, content in files.items():
            got = http.get(f"/api/2.0/mlflow-artifacts/artifacts/{experiment}/{run_id}/artifacts/{name}")
            assert got.status_code == 200, name
            assert got.content == content, name


def test_small_files_whose_bytes_a_power_cut_lost_are_written_again_when_the_server_starts(
    servers: Servers, tmp_path: Path
) -> None:
    """A small upload's 2xx comes once its bytes are committed with its manifest row; the file is
    flushed later. A power cut before that loses what the disk had not received: here the server
    is killed at once and the files still waiting are emptied or removed, as such a cut can
    leave them. The next server writes them again from the database before it serves."""
    import sqlite3

    home = tmp_path / "home"
    server = servers.start(home=home)
    files: dict[str, bytes] = {}
    with httpx.Client(base_url=server.url, timeout=30) as http:
        experiment = http.post(f"{M}/experiments/create", json={"name": "cut"}).json()["experiment_id"]
        run_id = http.post(f"{M}/runs/create", json={"experiment_id": experiment}).json()["run"]["info"]["run_id"]
        for i in range(40):
            files[f"d/f{i}.bin"] = os.urandom(1000 + i)
            url = f"/api/2.0/mlflow-artifacts/artifacts/{experiment}/{run_id}/artifacts/d/f{i}.bin"
            assert http.put(url, content=files[f"d/f{i}.bin"]).status_code == 200
    os.killpg(server.process.pid, signal.SIGKILL)
    server.process.wait(timeout=30)
    with sqlite3.connect(home / "runstone.db") as db:
        waiting = [row[0] for row in db.execute("SELECT path FROM artifact_pending")]
    assert waiting, "the server flushed every file before the kill; nothing left to check"
    for n, path in enumerate(waiting):
        target = home / "artifacts" / experiment / run_id / "artifacts" / path
        if n % 2:
            target.unlink()
        else:
            target.write_bytes(b"")

    again = servers.start(home=home)
    with httpx.Client(base_url=again.url, timeout=30) as http:
        for path, content in files.items():
            got = http.get(f"/api/2.0/mlflow-artifacts/artifacts/{experiment}/{run_id}/artifacts/{path}")
            assert got.status_code == 200, path
            assert got.content == content, path
    with sqlite3.connect(home / "runstone.db") as db:
        assert db.execute("SELECT count(*) FROM artifact_pending").fetchone()[0] == 0
