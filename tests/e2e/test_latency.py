"""Small requests answer in milliseconds, and the server is ready soon after it starts."""

from __future__ import annotations

import functools
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from e2e_support import Servers

pytestmark = pytest.mark.e2e

REQUESTS = 50


def timed(call: Callable[[], httpx.Response], connections: set[object]) -> float:
    started = time.perf_counter()
    response = call()
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    connections.add(response.extensions["network_stream"].get_extra_info("client_addr"))
    return elapsed


@pytest.mark.parametrize("event_loop", ["default", "asyncio"])
def test_small_requests_on_one_kept_alive_connection_do_not_wait_for_delayed_acks(
    servers: Servers, tmp_path: Path, event_loop: str
) -> None:
    """With Nagle's algorithm left on, each small reply on a kept-alive connection waits for the
    client's delayed ACK (~40 ms); the server sets TCP_NODELAY so that never happens.

    uvloop (the default where it is installed) sets TCP_NODELAY on its own; the standard asyncio
    loop (used where uvloop is missing, e.g. on Windows) does not on the sockets that workers
    accept from an inherited listening socket. The "asyncio" case hides uvloop from the server
    so that the server's own TCP_NODELAY is what keeps requests fast.
    """
    env = {}
    if event_loop == "asyncio":
        hidden = tmp_path / "no-uvloop"
        hidden.mkdir()
        (hidden / "uvloop.py").write_text('raise ImportError("uvloop is hidden from this server")\n')
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(hidden), os.environ.get("PYTHONPATH")) if p)
    server = servers.start("--workers", "2", env=env)
    with httpx.Client(base_url=server.url, timeout=10.0, limits=httpx.Limits(max_connections=1)) as http:
        run_id = http.post("/api/v1/runs", json={"experiment_id": "0"}).json()["run"]["info"]["run_id"]
        connections: set[object] = set()

        def log_point(step: int) -> httpx.Response:
            point = {"key": "loss", "value": 0.5, "timestamp": 1, "step": step}
            return http.post(f"/api/v1/runs/{run_id}/batch", json={"metrics": [point]})

        health = [timed(lambda: http.get("/health"), connections) for _ in range(REQUESTS)]
        batches = [timed(functools.partial(log_point, step), connections) for step in range(REQUESTS)]
        run = http.get(f"/api/v1/runs/{run_id}")
    assert run.json()["run"]["data"]["metrics"]["loss"] == 0.5
    assert len(connections) == 1  # every request went over the same kept-alive connection
    health_ms, batch_ms = statistics.median(health) * 1000, statistics.median(batches) * 1000
    print(f"median over one kept-alive connection: GET /health {health_ms:.1f} ms, log-batch {batch_ms:.1f} ms")
    assert health_ms < 15, f"GET /health takes {health_ms:.1f} ms (median) on a kept-alive connection"
    # A log-batch also waits for the database to sync its commit to disk: a looser bound, still
    # below the ~40 ms that a delayed ACK alone would add.
    assert batch_ms < 30, f"a small log-batch takes {batch_ms:.1f} ms (median) on a kept-alive connection"


def test_server_answers_soon_after_it_starts(servers: Servers, record_property: Callable[[str, object], None]) -> None:
    server = servers.start()
    record_property("seconds_to_first_answer", round(server.seconds_to_ready, 3))
    print(f"runstone server answered its first request {server.seconds_to_ready:.2f} s after it was started")
    # The 1-second target is measured in bench/; this bound only catches a gross regression.
    assert server.seconds_to_ready < 5
