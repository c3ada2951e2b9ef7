"""Attacks on a running server, each of which once got through (issue "Hardening"), now each
refused with a clear 4xx while the server keeps answering."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from e2e_support import Server, Servers, wait_flushed

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    pool = Servers(tmp_path_factory.mktemp("hardening"))
    try:
        yield pool.start()
    finally:
        pool.stop_all()


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60, headers={"X-Runstone-User": "attacker"}) as client:
        yield client


def _clauses(count: int) -> str:
    return " and ".join(f"metrics.m{i} > 0" for i in range(count))


@pytest.mark.parametrize("count", [999, 60_000])
def test_a_filter_of_many_clauses_is_a_400_naming_the_limit_not_a_503(http, count):
    started = time.monotonic()
    native = http.post("/api/v1/runs/search", json={"experiment_ids": ["0"], "filter": _clauses(count)})
    mlflow = http.post("/api/2.0/mlflow/runs/search", json={"experiment_ids": ["0"], "filter": _clauses(count)})
    assert time.monotonic() - started < 10  # 60,000 clauses once took 50 s per request
    assert native.status_code == 400, native.text
    assert native.json()["error"]["code"] == "invalid_input"
    assert "at most" in native.json()["error"]["message"]
    assert mlflow.status_code == 400, mlflow.text
    assert mlflow.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert http.get("/health").status_code == 200


@pytest.mark.parametrize(
    "host",
    [
        "[::127.0.0.1]",  # IPv4-compatible form of loopback
        "[::ffff:127.0.0.1]",  # IPv4-mapped
        "[64:ff9b::7f00:1]",  # NAT64 of loopback
        "[64:ff9b::a9fe:a9fe]",  # NAT64 of a cloud metadata service
        "[2002:7f00:1::1]",  # 6to4 of loopback
        "[2002:a00:1::1]",  # 6to4 of 10.0.0.1
    ],
)
def test_webhooks_to_ipv6_forms_of_internal_ipv4_addresses_are_refused(http, host):
    answer = http.post(
        "/api/v1/webhooks",
        json={"name": "exfil", "url": f"http://{host}:8080/hook", "events": ["model_version.created"]},
    )
    assert answer.status_code == 400, answer.text
    assert "non-public address" in answer.json()["error"]["message"]
    assert http.get("/api/v1/webhooks").json()["webhooks"] == []


def test_a_zip_with_an_unreadable_or_altered_file_says_so_instead_of_breaking(http, server, tmp_path):
    import io
    import os
    import zipfile

    run_id = http.post("/api/v1/runs", json={"experiment_id": "0"}).json()["run"]["info"]["run_id"]
    for name, content in (("a/good.txt", b"good"), ("a/linked.txt", b"original"), ("a/swapped.txt", b"logged")):
        assert http.put(f"/api/v1/runs/{run_id}/artifacts/{name}", content=content).status_code == 200
    wait_flushed(server.home)
    stored = {p.name: p for p in (server.home / "artifacts").rglob("*.txt")}
    secret = tmp_path / "secret.txt"
    secret.write_text("outside the artifact root")
    # On disk, one file becomes a symlink leaving the artifact root, another one's bytes change.
    stored["linked.txt"].unlink()
    os.symlink(secret, stored["linked.txt"])
    stored["swapped.txt"].write_bytes(b"altered")

    answer = http.get(f"/api/v1/runs/{run_id}/artifacts-zip", params={"path": "a"})

    assert answer.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    assert archive.testzip() is None  # a whole, valid archive
    assert archive.read("good.txt") == b"good"
    assert "linked.txt" not in archive.namelist()
    assert b"outside the artifact root" not in answer.content
    errors = archive.read("runstone-errors.txt").decode()
    assert "linked.txt: left out" in errors and "leaves the artifact root" in errors
    assert "swapped.txt: its content does not match the SHA-256 recorded" in errors
    assert str(secret) not in errors


LONE_SURROGATE = b'{"name": "\\ud800x"}'  # the JSON escape, as a client would send it


@pytest.mark.parametrize(
    "path",
    [
        "/api/2.0/mlflow/experiments/create",
        "/api/2.0/mlflow/registered-models/create",
        "/ajax-api/2.0/mlflow/registered-models/create",
        "/api/v1/experiments",
        "/api/v1/registered-models",
    ],
)
@pytest.mark.parametrize(
    "body",
    [
        LONE_SURROGATE,
        b'{"name": "\\udfffx", "description": NaN}',  # a NaN literal: read by Python's JSON on MLflow routes
        b'"{\\"name\\": \\"\\ud800x\\"}"',  # a JSON string holding JSON, as old MLflow clients send
    ],
)
def test_a_lone_surrogate_in_a_name_is_a_400_on_every_route(http, path, body):
    answer = http.post(path, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    if path.startswith("/api/v1"):
        assert answer.json()["error"]["code"] == "invalid_input"
    else:
        assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert "lone surrogate" in answer.json()["message"]
    names = [
        e["name"]
        for e in http.post("/api/2.0/mlflow/experiments/search", json={"max_results": 1000}).json()["experiments"]
    ]
    assert not any(name.endswith("x") and len(name) == 2 for name in names)
    assert http.get("/health").status_code == 200


def _part_urls(server: Server, host: str) -> list[str]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        run_id = http.post("/api/v1/runs", json={"experiment_id": "0"}).json()["run"]["info"]["run_id"]
        answer = http.post(
            f"/api/2.0/mlflow-artifacts/mpu/create/0/{run_id}/artifacts/data",
            json={"path": "big.bin", "num_parts": 2},
            headers={"Host": host},
        )
    assert answer.status_code == 200, answer.text
    assert "evil" not in answer.text
    return [c["url"].split("/api/2.0/")[0] for c in answer.json()["credentials"]]


def test_multipart_part_urls_never_come_from_a_hostile_host_header(tmp_path_factory):
    # A server that answers to any Host (RUNSTONE_ALLOWED_HOSTS=*, as behind a proxy that passes
    # the client's on): the part URLs name the server itself, or the URL its operator configured.
    pool = Servers(tmp_path_factory.mktemp("any-host"))
    try:
        listening = pool.start(env={"RUNSTONE_ALLOWED_HOSTS": "*"})
        assert _part_urls(listening, "evil.example:666") == [listening.url, listening.url]
        proxied = pool.start(env={"RUNSTONE_ALLOWED_HOSTS": "*", "RUNSTONE_EXTERNAL_URL": "https://mlops.example.com/"})
        assert _part_urls(proxied, "evil.example") == ["https://mlops.example.com"] * 2
    finally:
        pool.stop_all()


# ---------------------------------------------------------------- artifact limits
@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose operator allows 1,000 bytes per file and 2,500 bytes per run."""
    pool = Servers(tmp_path_factory.mktemp("limited"))
    limits = {"RUNSTONE_MAX_ARTIFACT_BYTES": "1000", "RUNSTONE_MAX_RUN_ARTIFACT_BYTES": "2500"}
    try:
        yield pool.start(env=limits)
    finally:
        pool.stop_all()


def _stored_files(server: Server, run_id: str) -> list[str]:
    folder = server.home / "artifacts" / "0" / run_id / "artifacts"
    leftovers = list((server.home / "artifacts" / ".tmp").glob("*"))
    assert leftovers == [], "a refused upload left a partial file"
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_artifacts_over_the_per_file_and_per_run_limits_are_413s_that_keep_nothing(limited):
    from runstone.config import Settings
    from runstone.errors import PayloadTooLarge
    from runstone.sdk.client import RunstoneClient

    with httpx.Client(base_url=limited.url, timeout=30) as http:
        run_id = http.post("/api/v1/runs", json={"experiment_id": "0"}).json()["run"]["info"]["run_id"]
        native = f"/api/v1/runs/{run_id}/artifacts"
        proxy = f"/api/2.0/mlflow-artifacts/artifacts/0/{run_id}/artifacts"

        big = http.put(f"{native}/big.bin", content=b"x" * 1001)
        assert big.status_code == 413
        assert "limit of 1000 bytes per file (RUNSTONE_MAX_ARTIFACT_BYTES)" in big.json()["error"]["message"]
        streamed = http.put(f"{native}/big.bin", content=iter([b"x" * 600, b"x" * 600]))  # no Content-Length
        assert streamed.status_code == 413

        for name in ("a.bin", "b.bin"):
            assert http.put(f"{native}/{name}", content=b"x" * 1000).status_code == 200
        assert http.put(f"{native}/a.bin", content=b"y" * 1000).status_code == 200  # a replacement fits
        over = http.put(f"{native}/c.bin", content=b"x" * 600)
        assert over.status_code == 413, over.text
        message = over.json()["error"]["message"]
        assert f"Run {run_id} would hold more than its limit of 2500 bytes" in message
        assert "RUNSTONE_MAX_RUN_ARTIFACT_BYTES" in message and "holds 2000 bytes" in message
        mlflow = http.put(f"{proxy}/c.bin", content=b"x" * 600)
        assert mlflow.status_code == 413 and mlflow.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert "limit of 2500 bytes" in mlflow.json()["message"]

        mpu = "/api/2.0/mlflow-artifacts/mpu"
        created = http.post(f"{mpu}/create/0/{run_id}/artifacts", json={"path": "c.bin", "num_parts": 2}).json()
        etags = [
            http.put(c["url"].replace(limited.url, ""), content=b"x" * 400).headers["etag"]
            for c in created["credentials"]
        ]
        parts = [{"part_number": n, "etag": e} for n, e in enumerate(etags, 1)]
        done = http.post(
            f"{mpu}/complete/0/{run_id}/artifacts",
            json={"path": "c.bin", "upload_id": created["upload_id"], "parts": parts},
        )
        assert done.status_code == 413 and "limit of 2500 bytes" in done.json()["message"]
        assert http.put(f"{native}/c.bin", content=b"x" * 500).status_code == 200  # exactly up to the limit

        listed = http.get(native, params={"recursive": True}).json()["files"]
        assert sorted((f["path"], f["file_size"]) for f in listed) == [
            ("a.bin", 1000), ("b.bin", 1000), ("c.bin", 500)
        ]  # fmt: skip
        assert http.get(f"{native}/a.bin").content == b"y" * 1000
    assert _stored_files(limited, run_id) == ["a.bin", "b.bin", "c.bin"]

    # The embedded store enforces the same settings.
    local = RunstoneClient(settings=Settings(home=limited.home, max_run_artifact_bytes=2500, max_artifact_bytes=1000))
    extra = limited.home / "extra.bin"
    extra.write_bytes(b"x" * 10)
    with pytest.raises(PayloadTooLarge, match="limit of 2500 bytes"):
        local.log_artifact(run_id, extra)
    assert _stored_files(limited, run_id) == ["a.bin", "b.bin", "c.bin"]


# ---------------------------------------------------------------- the HTTP layer
@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with short header and body deadlines, so that the tests need not wait 20 s."""
    pool = Servers(tmp_path_factory.mktemp("strict"))
    limits = {"RUNSTONE_HEADER_TIMEOUT": "1.5", "RUNSTONE_BODY_TIMEOUT": "1.5", "RUNSTONE_BODY_MIN_RATE": "1000"}
    try:
        yield pool.start(env=limits)
    finally:
        pool.stop_all()


def _exchange(server: Server, data: bytes, *, timeout: float = 10) -> bytes:
    import socket

    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def test_a_megabyte_of_headers_is_refused_with_431(server):
    big = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 1_000_000 + b"\r\n\r\n"
    answer = _exchange(server, big)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b"at most 65536 bytes" in answer
    many = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(150)) + b"\r\n"
    answer = _exchange(server, many)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b"at most 100 headers" in answer


def _health_latency(url: str) -> float:
    """The median time of ten /health calls (the machine is shared: one may be unlucky)."""
    import statistics

    times = []
    for _ in range(10):
        started = time.monotonic()
        assert httpx.get(url, timeout=5).status_code == 200
        times.append(time.monotonic() - started)
    return statistics.median(times)


def _open_many(server: Server, count: int, first: bytes) -> list:
    import socket

    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        sock.sendall(first)
        sockets.append(sock)
    return sockets


def _closed_by_server(sock, drip: bytes) -> bytes:
    """Keep dripping until the server answers and closes; what it answered."""
    received = b""
    deadline = time.monotonic() + 15
    sock.settimeout(0.2)
    while time.monotonic() < deadline:
        try:
            sock.sendall(drip)
        except OSError:
            break
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            break
        if not chunk:
            break
        received += chunk
    return received


def test_half_sent_headers_are_cut_off_and_health_keeps_answering(strict):
    sockets = _open_many(strict, 200, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    try:
        assert _health_latency(f"{strict.url}/health") < 0.1
        answers = [_closed_by_server(s, b"X-Drip: 1\r\n") for s in sockets[:5]]
    finally:
        for s in sockets:
            s.close()
    assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers), answers[0][:200]
    assert b"did not arrive within 1.5 s" in answers[0]


def test_a_trickled_upload_is_cut_off_and_health_keeps_answering(strict):
    with httpx.Client(base_url=strict.url) as http:
        run_id = http.post("/api/v1/runs", json={"experiment_id": "0"}).json()["run"]["info"]["run_id"]
    head = (
        f"PUT /api/v1/runs/{run_id}/artifacts/slow.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n"
    ).encode()
    sockets = _open_many(strict, 200, head + b"x")
    try:
        assert _health_latency(f"{strict.url}/health") < 0.1
        started = time.monotonic()
        made = httpx.post(f"{strict.url}/api/v1/experiments", json={"name": "during-the-attack"}, timeout=10)
        assert made.status_code in (200, 201) and time.monotonic() - started < 1.0  # the API answers too
        answers = [_closed_by_server(s, b"x") for s in sockets[:5]]
    finally:
        for s in sockets:
            s.close()
    assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers), answers[0][:200]
    assert b"slower than 1000 bytes per second" in answers[0]
    with httpx.Client(base_url=strict.url) as http:
        assert http.get(f"/api/v1/runs/{run_id}/artifacts").json()["files"] == []  # nothing half-written
