"""Bad input sent to a real server gets a 4xx with a JSON error saying what was wrong.

Never a 500, and nothing is partially written. Requests that HTTP clients would clean up
(dot segments, invalid UTF-8) are written byte for byte on a raw socket.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_support import Server, Servers

from runstone.config import Settings

pytestmark = pytest.mark.e2e

MAX_BODY: int = Settings.model_fields["max_request_bytes"].default


def raw_request(server: Server, request: bytes) -> tuple[int, dict[str, Any]]:
    """Send ``request`` exactly as given; return the status and the JSON body."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    headers = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:])
    assert headers[b"content-type"].startswith(b"application/json"), received[:500]
    return status, json.loads(body)


def raw(method: str, target: str, body: bytes = b"", content_type: str = "application/json") -> bytes:
    return (
        f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def error(response: httpx.Response, status: int, code: str) -> str:
    """Check a JSON error response; return its message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()["error"]
    assert body["code"] == code, body
    assert body["message"]
    return str(body["message"])


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    pool = Servers(tmp_path_factory.mktemp("bad-input"))
    try:
        yield pool.start()
    finally:
        pool.stop_all()
    log = pool.started[0].log()
    assert "Traceback" not in log, log[-20_000:]


@pytest.fixture
def http(shared_server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shared_server.url, timeout=30.0) as client:
        yield client


@pytest.fixture
def run_id(http: httpx.Client) -> str:
    response = http.post("/api/v1/runs", json={"experiment_id": "0"})
    assert response.status_code == 201, response.text
    return str(response.json()["run"]["info"]["run_id"])


def logged(http: httpx.Client, run_id: str) -> dict[str, Any]:
    run = http.get(f"/api/v1/runs/{run_id}").json()["run"]
    history = http.get(f"/api/v1/runs/{run_id}/metric-history", params={"key": "loss"}).json()
    return {"params": run["data"]["params"], "tags": run["data"]["tags"], "steps": history["steps"]}


def test_malformed_filter_names_the_position(http: httpx.Client) -> None:
    response = http.post("/api/v1/runs/search", json={"experiment_ids": ["0"], "filter": "metrics.loss <<< 1"})
    message = error(response, 400, "invalid_input")
    assert "position 15" in message
    assert response.json()["error"]["details"]["position"] == 15


def test_unknown_run(http: httpx.Client) -> None:
    unknown = "0123456789abcdef0123456789abcdef"
    assert unknown in error(http.get(f"/api/v1/runs/{unknown}"), 404, "not_found")
    batch = {"metrics": [{"key": "loss", "value": 1.0, "timestamp": 1, "step": 0}]}
    assert unknown in error(http.post(f"/api/v1/runs/{unknown}/batch", json=batch), 404, "not_found")
    assert unknown in error(http.get(f"/api/v1/runs/{unknown}/artifacts"), 404, "not_found")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"metrics": [', id="truncated"),
        pytest.param(b'{"metrics": [}', id="syntax"),
        pytest.param(b"\x00\x01", id="binary"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="deeply-nested-arrays"),
        pytest.param(b'{"a":' * 50_000 + b"1" + b"}" * 50_000, id="deeply-nested-objects"),
        pytest.param(b'{"params": [{"key": "a\xff\xfe", "value": "x"}]}', id="invalid-utf8"),
        pytest.param(b'{"tags": [{"key": "t", "value": "\\ud800"}]}', id="lone-surrogate"),
    ],
)
def test_invalid_json_bodies(http: httpx.Client, run_id: str, body: bytes) -> None:
    before = logged(http, run_id)
    response = http.post(f"/api/v1/runs/{run_id}/batch", content=body, headers={"content-type": "application/json"})
    assert "not valid JSON" in error(response, 400, "invalid_input")
    assert logged(http, run_id) == before


def test_invalid_utf8_in_the_request_line(shared_server: Server, run_id: str) -> None:
    # Percent-encoded invalid UTF-8 is decoded once, with replacement characters: no such file.
    status, body = raw_request(shared_server, raw("GET", f"/api/v1/runs/{run_id}/artifacts/%ff%fe.txt"))
    assert status == 404 and body["error"]["code"] == "not_found"
    # Raw bytes that are not ASCII are rejected by the HTTP parser, in the same JSON shape.
    for target in (b"/api/v1/runs/\xff\xfe", b"/api/v1/experiments/by-name?name=\xff"):
        request = b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        status, body = raw_request(shared_server, request)
        assert status == 400 and body["error"]["code"] == "invalid_input"


def test_oversized_bodies_get_413_and_write_nothing(http: httpx.Client, run_id: str) -> None:
    metrics = [{"key": "loss", "value": 0.5, "timestamp": 1, "step": s} for s in range(10)]
    padding = {"metrics": metrics, "tags": [{"key": "pad", "value": "x"}], "pad": " " * MAX_BODY}
    body = json.dumps(padding).encode()
    declared = http.post(f"/api/v1/runs/{run_id}/batch", content=body, headers={"content-type": "application/json"})
    assert "larger than the limit" in error(declared, 413, "payload_too_large")

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    # Without a Content-Length the limit is only found while the body streams in.
    streamed = http.post(f"/api/v1/runs/{run_id}/batch", content=chunks(), headers={"content-type": "application/json"})
    assert "larger than the limit" in error(streamed, 413, "payload_too_large")
    assert logged(http, run_id) == {"params": {}, "tags": {}, "steps": []}


@pytest.mark.parametrize(
    ("method", "target", "content_type"),
    [
        ("PUT", "/api/v1/runs/{run}/artifacts/half.bin", "application/octet-stream"),
        ("PUT", "/api/2.0/mlflow-artifacts/artifacts/0/{run}/artifacts/half.bin", "application/octet-stream"),
        ("POST", "/api/v1/runs/{run}/batch", "application/json"),
        ("POST", "/api/2.0/mlflow/runs/log-batch", "application/json"),
    ],
)
def test_a_client_that_hangs_up_halfway_through_its_body_leaves_nothing(
    shared_server: Server, http: httpx.Client, run_id: str, method: str, target: str, content_type: str
) -> None:
    half = json.dumps({"run_id": run_id, "metrics": [{"key": "loss", "value": 1, "timestamp": 1, "step": 1}]})[:40]
    path = target.format(run=run_id)
    finished = f'"path":"{path}"'  # the request log's line, written when the server is done with it
    before = shared_server.log().count(finished)
    head = raw(method, path, b"", content_type).replace(b"Content-Length: 0", b"Content-Length: 1000000")
    with socket.create_connection(("127.0.0.1", shared_server.port), timeout=10) as sock:
        sock.sendall(head + half.encode())
    deadline = time.monotonic() + 10
    while shared_server.log().count(finished) == before:
        assert time.monotonic() < deadline, shared_server.log()[-3000:]
        time.sleep(0.05)
    # Nothing of it is kept, the server goes on answering, and the module's check finds no
    # traceback in its log (a hang-up is the client's doing, not a server error).
    assert logged(http, run_id) == {"params": {}, "tags": {}, "steps": []}
    assert http.get(f"/api/v1/runs/{run_id}/artifacts").json()["files"] == []


def test_too_many_points_in_one_batch(http: httpx.Client, run_id: str) -> None:
    metrics = [{"key": "loss", "value": 0.5, "timestamp": 1, "step": s} for s in range(10_001)]
    response = http.post(f"/api/v1/runs/{run_id}/batch", json={"metrics": metrics})
    assert "at most 10000 metrics" in error(response, 413, "payload_too_large")
    assert logged(http, run_id)["steps"] == []


@pytest.mark.parametrize(
    "target",
    [
        "%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "../../../../etc/passwd",
        "a/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "%2fetc%2fpasswd",
        "..%2f..%2f..%2f..%2fetc%2fpasswd",
        "a/./b",
    ],
)
def test_artifact_path_traversal_sent_raw(shared_server: Server, run_id: str, target: str) -> None:
    status, body = raw_request(shared_server, raw("GET", f"/api/v1/runs/{run_id}/artifacts/{target}"))
    assert status == 400, body
    assert body["error"]["code"] == "invalid_input"
    assert "artifact path" in body["error"]["message"].lower()
    status, body = raw_request(
        shared_server, raw("PUT", f"/api/v1/runs/{run_id}/artifacts/{target}", b"owned", "application/octet-stream")
    )
    assert status == 400, body
    status, body = raw_request(shared_server, raw("GET", f"/api/v1/runs/{run_id}/artifacts-zip?path={target}"))
    assert status == 400, body


def test_traversal_upload_writes_nothing_outside_the_run(
    shared_server: Server, http: httpx.Client, run_id: str
) -> None:
    escape = "%2e%2e/%2e%2e/%2e%2e/escaped.txt"
    status, _ = raw_request(shared_server, raw("PUT", f"/api/v1/runs/{run_id}/artifacts/{escape}", b"x", "text/plain"))
    assert status == 400
    assert not any(p.name == "escaped.txt" for p in Path(shared_server.home).rglob("*"))
    assert http.get(f"/api/v1/runs/{run_id}/artifacts").json()["files"] == []


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        pytest.param(b"NaN", "not valid JSON", id="nan-literal"),
        pytest.param(b'"NaN"', "step", id="nan-string"),
        pytest.param(b"Infinity", "not valid JSON", id="infinity-literal"),
        pytest.param(b"1.5", "step", id="fraction"),
        pytest.param(b"9223372036854775808", "step", id="beyond-int64"),
    ],
)
def test_nan_and_other_invalid_steps(http: httpx.Client, run_id: str, step: bytes, expected: str) -> None:
    body = b'{"metrics": [{"key": "ok", "value": 1.0, "timestamp": 1, "step": 0}, ' + (
        b'{"key": "loss", "value": 1.0, "timestamp": 1, "step": ' + step + b"}]}"
    )
    response = http.post(f"/api/v1/runs/{run_id}/batch", content=body, headers={"content-type": "application/json"})
    assert expected in error(response, 400, "invalid_input")
    run = http.get(f"/api/v1/runs/{run_id}").json()["run"]
    assert run["data"]["metrics"] == {}  # the valid point of the batch was not written either


def test_nan_values_are_not_bad_input(http: httpx.Client, run_id: str) -> None:
    body = {"metrics": [{"key": "loss", "value": v, "timestamp": 1, "step": i} for i, v in enumerate(["NaN", 1.5])]}
    assert http.post(f"/api/v1/runs/{run_id}/batch", json=body).status_code == 200
    history = http.get(f"/api/v1/runs/{run_id}/metric-history", params={"key": "loss"}).json()
    assert history["values"] == ["NaN", 1.5]


def test_param_overwrite_rejects_the_whole_batch(http: httpx.Client, run_id: str) -> None:
    first = http.post(f"/api/v1/runs/{run_id}/batch", json={"params": [{"key": "C", "value": "1.0"}]})
    assert first.status_code == 200, first.text
    response = http.post(
        f"/api/v1/runs/{run_id}/batch",
        json={
            "metrics": [{"key": "loss", "value": 0.5, "timestamp": 1, "step": 0}],
            "params": [{"key": "penalty", "value": "l2"}, {"key": "C", "value": "2.0"}],
            "tags": [{"key": "team", "value": "vision"}],
        },
    )
    message = error(response, 400, "invalid_input")
    assert "'C'" in message and "immutable" in message
    after = logged(http, run_id)
    assert after["params"] == {"C": "1.0"}
    assert after["steps"] == []
    assert "team" not in after["tags"]


def test_out_of_range_numbers_in_queries(http: httpx.Client) -> None:
    error(http.get("/api/v1/audit", params={"after": 10**30}), 400, "invalid_input")
    error(http.get("/api/v1/experiments/99999999999999999999999"), 400, "invalid_input")
    error(http.post("/api/v1/runs/search", json={"experiment_ids": ["0"], "max_results": 10**9}), 400, "invalid_input")


def test_server_still_answers_after_bad_input(http: httpx.Client) -> None:
    assert http.get("/health").json() == {"status": "ok"}


def test_nul_characters_in_lookups_on_postgresql(pg_schema_url: str, servers: Servers) -> None:
    """PostgreSQL text cannot hold NUL: a lookup with one is bad input, not a server fault."""
    server = servers.start("--backend-store-uri", pg_schema_url)
    with httpx.Client(base_url=server.url, timeout=30.0) as http:
        run_id = http.post("/api/v1/runs", json={"experiment_id": "0"}).json()["run"]["info"]["run_id"]
        search = {"experiment_ids": ["0"], "filter": "params.a = '\x00'"}
        error(http.post("/api/v1/runs/search", json=search), 400, "invalid_input")
        error(http.get("/api/v1/experiments/by-name", params={"name": "a\x00"}), 400, "invalid_input")
        error(http.get(f"/api/v1/runs/{run_id}/metric-history", params={"key": "a\x00"}), 400, "invalid_input")
        error(http.get("/api/v1/runs/a%00b"), 400, "invalid_input")
        assert http.get("/health").status_code == 200
    assert "Traceback" not in server.log()
