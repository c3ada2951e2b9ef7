"""SIGTERM with a drain: the server keeps answering, fails readiness, then finishes what is in flight."""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from e2e_support import Servers

pytestmark = pytest.mark.e2e

HEADERS = {"X-Runstone-User": "operator"}
DRAIN = 3.0


def test_sigterm_drains_answering_new_requests_then_finishes_a_long_upload(servers: Servers) -> None:
    server = servers.start(env={"RUNSTONE_DRAIN_SECONDS": str(DRAIN)})
    with httpx.Client(base_url=server.url, timeout=60.0, headers=HEADERS) as http:
        run_id = http.post("/api/v1/runs", json={}).json()["run"]["info"]["run_id"]

    chunk = os.urandom(256 * 1024)
    chunks = 30  # 7.5 MB over about 6 s: in flight well past the end of the drain
    upload_started = threading.Event()
    result: dict[str, object] = {}

    def body() -> Iterator[bytes]:
        for i in range(chunks):
            if i == 2:
                upload_started.set()
            time.sleep(0.2)
            yield chunk

    def upload() -> None:
        with httpx.Client(base_url=server.url, timeout=60.0, headers=HEADERS) as uploader:
            response = uploader.put(f"/api/v1/runs/{run_id}/artifacts/weights.bin", content=body())
            result["status"] = response.status_code
            result["body"] = response.text
            result["at"] = time.monotonic()

    uploader = threading.Thread(target=upload)
    uploader.start()
    assert upload_started.wait(10)
    os.kill(server.process.pid, signal.SIGTERM)
    terminated_at = time.monotonic()

    # During the drain: new connections are accepted and answered; readiness says "go away".
    answered = 0
    while time.monotonic() - terminated_at < DRAIN - 1.0:
        with httpx.Client(base_url=server.url, timeout=10.0, headers=HEADERS) as fresh:
            assert fresh.get("/health").status_code == 200
            listed = fresh.get("/api/v1/experiments")
            assert listed.status_code == 200, listed.text
            ready = fresh.get("/health/ready")
            assert ready.status_code == 503
            assert ready.json()["error"]["details"]["checks"]["server"] == "shutting down"
            answered += 1
        time.sleep(0.2)
    assert answered >= 3

    # After it: no new connections, but the upload that was in flight completes.
    deadline = time.monotonic() + 10
    refused = False
    while time.monotonic() < deadline and not refused:
        try:
            httpx.get(f"{server.url}/health", timeout=1.0)
            time.sleep(0.1)
        except httpx.TransportError:
            refused = True
    assert refused, "the server kept accepting connections after the drain"
    assert time.monotonic() - terminated_at >= DRAIN - 0.2
    uploader.join(30)
    assert result.get("status") == 200, result
    assert float(result["at"]) - terminated_at > DRAIN  # type: ignore[arg-type]
    server.process.wait(30)

    # What the drained server acknowledged is there for the next one.
    restarted = servers.start(home=server.home)
    with httpx.Client(base_url=restarted.url, timeout=60.0, headers=HEADERS) as http:
        stored = http.get(f"/api/v1/runs/{run_id}/artifacts/weights.bin")
        assert hashlib.sha256(stored.content).digest() == hashlib.sha256(chunk * chunks).digest()


def test_without_a_drain_sigterm_stops_accepting_at_once(servers: Servers) -> None:
    server = servers.start()
    os.kill(server.process.pid, signal.SIGTERM)
    server.process.wait(15)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{server.url}/health", timeout=1.0)
